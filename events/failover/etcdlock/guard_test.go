package etcdlock

import (
	"errors"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/vigil-agent/vigil/events/failover"
	"github.com/vigil-agent/vigil/internal/etcdtest"
)

// TestGuardCompletion: the completion the hook guard records from its
// spec alone (CompleteFromGuard, in a process of its own) is the agent's:
// the task is done, the agent's own completion afterwards agrees, and a
// completion after a takeover is refused as stale. Over TLS the guard
// loads the same PEM files.
func TestGuardCompletion(t *testing.T) {
	for _, tc := range []struct {
		name     string
		tls      bool
		takeover bool
	}{
		{name: "recorded"},
		{name: "recorded over TLS with a client certificate", tls: true},
		{name: "after a takeover: stale", takeover: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var srv *etcdtest.Server
			cfg := Config{Holder: "a", Lease: testLease, RequestTimeout: time.Second}
			if tc.tls {
				srv = etcdtest.StartTLS(t)
				tlsConfig, err := LoadTLS(srv.CertFile, srv.CertFile, srv.KeyFile)
				if err != nil {
					t.Fatal(err)
				}
				cfg.TLS, cfg.TLSFiles = tlsConfig, TLSFiles{CA: srv.CertFile, Cert: srv.CertFile, Key: srv.KeyFile}
			} else {
				srv = etcdtest.Start(t)
			}
			cfg.Endpoints = []string{srv.Endpoint()}
			a, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { a.Close() })
			cfg.Holder = "b"
			b, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })

			la := acquire(t, a)
			kind, spec := la.(failover.GuardCompleter).GuardCompletion()
			if kind != GuardKind {
				t.Fatalf("kind %q", kind)
			}
			var lb failover.Lease
			if tc.takeover {
				resp, err := admin(t, srv).Get(t.Context(), a.Key(task))
				if err != nil || len(resp.Kvs) != 1 {
					t.Fatal(resp, err)
				}
				if _, err := admin(t, srv).Revoke(t.Context(), clientv3.LeaseID(resp.Kvs[0].Lease)); err != nil {
					t.Fatal(err)
				}
				lb = waitAcquire(t, b, 2*testLease)
			}
			err = CompleteFromGuard(t.Context(), spec)
			if tc.takeover {
				var stale *failover.StaleError
				if !errors.As(err, &stale) || stale.Fence != la.Fence() || stale.Newer != lb.Fence() {
					t.Fatalf("the guard's completion after a takeover: %v, want stale (fence %d, newer %d)", err, la.Fence(), lb.Fence())
				}
				return
			}
			if err != nil {
				t.Fatalf("the guard's completion: %v", err)
			}
			_, err = b.Acquire(t.Context(), task, failover.ClaimOptions{})
			var done *failover.DoneError
			if !errors.As(err, &done) || done.Runner != "a" || done.Fence != la.Fence() || done.Outcome != "ok" {
				t.Fatalf("claim after the guard's completion: %v, want done by a (fence %d)", err, la.Fence())
			}
			if err := la.Complete(t.Context(), "ok"); err != nil {
				t.Fatalf("the agent's completion after the guard's: %v", err)
			}
		})
	}
}
