package etcdlock

import (
	"errors"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/events/failover"
	"github.com/vigil-agent/vigil/internal/etcdtest"
)

// TestTLS: against an etcd that serves TLS only and requires a client
// certificate, a lock with LoadTLS's configuration claims and completes;
// one without the client certificate is held, with a reason.
func TestTLS(t *testing.T) {
	srv := etcdtest.StartTLS(t)
	for _, tc := range []struct {
		name       string
		cert, key  string
		wantRefuse bool
	}{
		{name: "client certificate", cert: srv.CertFile, key: srv.KeyFile},
		{name: "no client certificate", wantRefuse: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tlsConfig, err := LoadTLS(srv.CertFile, tc.cert, tc.key)
			if err != nil {
				t.Fatal(err)
			}
			l, err := New(Config{Endpoints: []string{srv.Endpoint()}, TLS: tlsConfig, Holder: "a", Lease: testLease, RequestTimeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			task := failover.TaskID{Hook: "promote", Key: tc.name}
			lease, err := l.Acquire(t.Context(), task, failover.ClaimOptions{})
			if tc.wantRefuse {
				if !errors.As(err, new(*failover.UnavailableError)) {
					t.Fatalf("claim without a client certificate: %v, want unavailable", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := lease.Complete(t.Context(), "ok"); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Acquire(t.Context(), task, failover.ClaimOptions{}); !errors.As(err, new(*failover.DoneError)) {
				t.Fatalf("claim after completion: %v, want done", err)
			}
		})
	}
}
