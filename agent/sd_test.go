package agent

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"testing"
	"time"

	vigilhttp "github.com/vigil-agent/vigil/http"
	"github.com/vigil-agent/vigil/probes"
)

// sdTargets asks an agent's GET /v1/sd/prometheus (with query) and
// returns the targets, sorted, and each target's health label.
func sdTargets(t *testing.T, a *testAgent, query string) ([]string, map[string]string) {
	t.Helper()
	resp, err := http.Get("http://" + a.http + "/v1/sd/prometheus" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var groups []vigilhttp.TargetGroup
	if err := json.NewDecoder(resp.Body).Decode(&groups); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /v1/sd/prometheus%s: %d %v", query, resp.StatusCode, err)
	}
	targets := []string{}
	health := map[string]string{}
	for _, g := range groups {
		for _, tg := range g.Targets {
			targets = append(targets, tg)
			health[tg] = g.Labels[vigilhttp.SDHealthLabel]
		}
	}
	sort.Strings(targets)
	return targets, health
}

// TestPrometheusSDFollowsHealth: on a real cluster of three agents, GET
// /v1/sd/prometheus lists the passing instances of every agent, drops
// one whose TTL check fails and lists it again when it passes;
// passing=false lists them all with their health.
func TestPrometheusSDFollowsHealth(t *testing.T) {
	agents := dnsCluster(t, nil)
	all := []string{"127.0.0.1:8081", "127.0.0.2:8082", "127.0.0.3:8083"}
	wait := func(what, query string, want []string) {
		t.Helper()
		waitUntil(t, 20*time.Second, what, func() bool {
			for _, a := range agents {
				if got, _ := sdTargets(t, a, query); !slices.Equal(got, want) {
					return false
				}
			}
			return true
		})
	}
	wait("no target while every check is critical", "", []string{})
	for _, a := range agents {
		if err := a.UpdateTTL("ready", probes.Passing, ""); err != nil {
			t.Fatal(err)
		}
	}
	wait("every instance a target", "", all)
	if err := agents[1].UpdateTTL("ready", probes.Critical, "down"); err != nil {
		t.Fatal(err)
	}
	wait("the failed instance gone", "?service=web", []string{all[0], all[2]})
	got, health := sdTargets(t, agents[0], "?passing=false")
	if !slices.Equal(got, all) || health[all[1]] != "critical" || health[all[0]] != "passing" {
		t.Errorf("passing=false: %v %v", got, health)
	}
	if err := agents[1].UpdateTTL("ready", probes.Passing, ""); err != nil {
		t.Fatal(err)
	}
	wait("the instance back", "", all)
	if got, _ := sdTargets(t, agents[2], "?service=nosuch"); len(got) != 0 {
		t.Errorf("unknown service: %v", got)
	}
}
