package consul

import "github.com/vigil-agent/vigil/events"

// The JSON shapes of Consul's HTTP API that this package answers with,
// field for field as Consul's Go client (github.com/hashicorp/consul/api)
// decodes them. Fields vigil has nothing for are left at their zero value
// but kept, so clients that read them find what Consul would send.

// Weights are a service's DNS SRV weights: vigil gives every instance
// Consul's default, 1 passing and 1 warning.
type Weights struct {
	Passing int
	Warning int
}

// Node is a node of a health entry.
type Node struct {
	ID              string
	Node            string
	Address         string
	Datacenter      string
	TaggedAddresses map[string]string
	Meta            map[string]string
	CreateIndex     uint64
	ModifyIndex     uint64
}

// AgentService is the service of a health entry.
type AgentService struct {
	ID                string
	Service           string
	Tags              []string
	Meta              map[string]string
	Port              int
	Address           string
	Weights           Weights
	EnableTagOverride bool
	CreateIndex       uint64
	ModifyIndex       uint64
	Datacenter        string
}

// HealthCheck is one check of a health entry.
type HealthCheck struct {
	Node        string
	CheckID     string
	Name        string
	Status      events.HealthStatus
	Notes       string
	Output      string
	ServiceID   string
	ServiceName string
	ServiceTags []string
	Type        string
	CreateIndex uint64
	ModifyIndex uint64
}

// ServiceEntry is one element of GET /v1/health/service/NAME.
type ServiceEntry struct {
	Node    *Node
	Service *AgentService
	Checks  []HealthCheck
}

// CatalogService is one element of GET /v1/catalog/service/NAME.
type CatalogService struct {
	ID                       string
	Node                     string
	Address                  string
	Datacenter               string
	TaggedAddresses          map[string]string
	NodeMeta                 map[string]string
	ServiceID                string
	ServiceName              string
	ServiceAddress           string
	ServiceTags              []string
	ServiceMeta              map[string]string
	ServicePort              int
	ServiceWeights           Weights
	ServiceEnableTagOverride bool
	CreateIndex              uint64
	ModifyIndex              uint64
}
