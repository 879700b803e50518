package membership

import (
	"strings"
	"testing"
	"time"
)

// TestClusterNameKeepsClustersApart: a join reaches only a member with the
// same cluster name; one with another name, or none, is refused with an
// error that names cluster_name, and neither side lists the other.
func TestClusterNameKeepsClustersApart(t *testing.T) {
	a, aAddr := startTestCluster(t, "a", func(c *Config) { c.ClusterName = "one" })
	tests := []struct {
		name, clusterName string
		joins             bool
		hint              string
	}{
		{"same name", "one", true, ""},
		{"another name", "two", false, `this agent's cluster_name is "two"`},
		{"no name", "", false, "if the peer's agents set cluster_name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node := "x-" + strings.ReplaceAll(tt.name, " ", "-")
			x, _ := startTestCluster(t, node, func(c *Config) { c.ClusterName = tt.clusterName })
			n, err := x.Join([]string{aAddr})
			if tt.joins {
				if err != nil || n != 1 {
					t.Fatalf("join with the same cluster name: %d joined, %v", n, err)
				}
				eventually(t, 5*time.Second, "a to list "+node, func() bool { return statusIn(a, node) == "alive" })
				return
			}
			if err == nil || n != 0 {
				t.Fatalf("join across cluster names: %d joined, err %v; want a refusal", n, err)
			}
			if !strings.Contains(err.Error(), tt.hint) {
				t.Errorf("join error %q does not say %q", err, tt.hint)
			}
			if got := statusIn(a, node); got != "" {
				t.Errorf("a lists %s as %s", node, got)
			}
			if got := statusIn(x, "a"); got != "" {
				t.Errorf("%s lists a as %s", node, got)
			}
		})
	}
}

func TestValidateClusterName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"", true},
		{"prod-eu.db_1", true},
		{strings.Repeat("a", ClusterNameMaxLen), true},
		{strings.Repeat("a", ClusterNameMaxLen+1), false},
		{"two words", false},
		{"tab\t", false},
		{"é", false},
	}
	for _, tt := range tests {
		err := ValidateClusterName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateClusterName(%q) = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
	if _, err := Start(Config{NodeName: "a", BindAddr: "127.0.0.1", BindPort: loopbackPort(t), ClusterName: "bad name"}, nil); err == nil || !strings.Contains(err.Error(), "cluster name") {
		t.Errorf("Start with an invalid cluster name: %v", err)
	}
}
