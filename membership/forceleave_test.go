package membership

import (
	"errors"
	"testing"
	"time"
)

func TestForceLeaveRefusesAndRemoves(t *testing.T) {
	a, aAddr := startTestCluster(t, "a", nil)
	b, _ := startTestCluster(t, "b", nil)
	c, _ := startTestCluster(t, "c", nil)
	for _, m := range []*Cluster{b, c} {
		if _, err := m.Join([]string{aAddr}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "a to see b and c", func() bool { return statusIn(a, "b") == "alive" && statusIn(a, "c") == "alive" })

	for _, tt := range []struct {
		name string
		want error
	}{{"nope", ErrUnknownMember}, {"b", ErrNotFailed}, {"a", ErrNotFailed}} {
		if err := a.ForceLeave(tt.name, false); !errors.Is(err, tt.want) {
			t.Errorf("ForceLeave(%q) = %v, want %v", tt.name, err, tt.want)
		}
	}
	if statusIn(a, "b") != "alive" || statusIn(b, "b") != "alive" {
		t.Fatalf("a refused force-leave changed b: %q on a", statusIn(a, "b"))
	}

	if err := c.Shutdown(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "a and b to see c fail", func() bool { return statusIn(a, "c") == "failed" && statusIn(b, "c") == "failed" })
	if err := a.ForceLeave("c", false); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "a and b to see c left", func() bool { return statusIn(a, "c") == "left" && statusIn(b, "c") == "left" })
	if err := b.ForceLeave("c", true); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "a and b to forget c", func() bool { return statusIn(a, "c") == "" && statusIn(b, "c") == "" })
}
