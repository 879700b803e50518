package etcdlock

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/vigil-agent/vigil/events/failover"
	"github.com/vigil-agent/vigil/internal/etcdtest"
)

// testLease is the claims' lease in these tests: etcd's minimum with its
// default election timeout.
const testLease = 2 * time.Second

var task = failover.TaskID{Hook: "promote", Key: "db-1@b1.0:member-failed"}

// newLock returns an etcd lock of holder on srv, closed at the test's end.
func newLock(t *testing.T, srv *etcdtest.Server, holder string) *Etcd {
	t.Helper()
	l, err := New(Config{Endpoints: []string{srv.Endpoint()}, Holder: holder, Lease: testLease, RequestTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// admin returns a plain etcd client, closed at the test's end.
func admin(t *testing.T, srv *etcdtest.Server) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{srv.Endpoint()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func acquire(t *testing.T, l *Etcd) failover.Lease {
	t.Helper()
	lease, err := l.Acquire(t.Context(), task, failover.ClaimOptions{})
	if err != nil {
		t.Fatalf("%s: acquire: %v", l.cfg.Holder, err)
	}
	return lease
}

// waitAcquire claims until the claim is granted (a lease ended) or the
// deadline passes.
func waitAcquire(t *testing.T, l *Etcd, d time.Duration) failover.Lease {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		lease, err := l.Acquire(t.Context(), task, failover.ClaimOptions{})
		if err == nil {
			return lease
		}
		var held *failover.HeldError
		var unavail *failover.UnavailableError
		if !errors.As(err, &held) && !errors.As(err, &unavail) {
			t.Fatalf("%s: acquire: %v", l.cfg.Holder, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no grant after %s: %v", l.cfg.Holder, d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitLost waits until the lease is lost, or fails the test after d.
func waitLost(t *testing.T, lease failover.Lease, d time.Duration) {
	t.Helper()
	select {
	case <-lease.Lost():
	case <-time.After(d):
		t.Fatalf("lease (fence %d) not lost after %s", lease.Fence(), d)
	}
}

func notLost(t *testing.T, lease failover.Lease) {
	t.Helper()
	select {
	case <-lease.Lost():
		t.Fatalf("lease (fence %d) lost", lease.Fence())
	default:
	}
}

// TestAcquireIsExclusive: of many concurrent claimants exactly one gets
// the lease, and the others are told who holds it, with its fence and
// what is left of its lease; the holder keeps it past its TTL.
func TestAcquireIsExclusive(t *testing.T) {
	srv := etcdtest.Start(t)
	names := []string{"r1", "r2", "r3", "r4", "r5"}
	var mu sync.Mutex
	var leases []failover.Lease
	var holder string
	var helds []*failover.HeldError
	var wg sync.WaitGroup
	for _, n := range names {
		l := newLock(t, srv, n)
		wg.Go(func() {
			lease, err := l.Acquire(t.Context(), task, failover.ClaimOptions{})
			mu.Lock()
			defer mu.Unlock()
			var held *failover.HeldError
			switch {
			case err == nil:
				leases = append(leases, lease)
				holder = n
			case errors.As(err, &held):
				helds = append(helds, held)
			default:
				t.Errorf("%s: %v", n, err)
			}
		})
	}
	wg.Wait()
	if len(leases) != 1 || len(helds) != len(names)-1 {
		t.Fatalf("%d leases and %d refusals, want 1 and %d", len(leases), len(helds), len(names)-1)
	}
	for _, h := range helds {
		if h.Holder != holder || h.Fence != leases[0].Fence() || h.Left <= 0 || h.Left > testLease {
			t.Errorf("refusal %+v, want holder %s, fence %d, 0 < left <= %s", h, holder, leases[0].Fence(), testLease)
		}
		if !strings.Contains(h.Error(), "claimed by "+holder) {
			t.Errorf("refusal says %q", h.Error())
		}
	}
	// Renewed: still held after twice the TTL.
	time.Sleep(2 * testLease)
	notLost(t, leases[0])
	if _, err := newLock(t, srv, "late").Acquire(t.Context(), task, failover.ClaimOptions{}); !errors.As(err, new(*failover.HeldError)) {
		t.Fatalf("a claim after 2 TTLs: %v, want held", err)
	}
}

// TestFencesGrowAcrossTakeovers: every grant of one task gets a larger
// fence than the one before, whether the previous holder released it,
// crashed (its lease expired) or was cut off.
func TestFencesGrowAcrossTakeovers(t *testing.T) {
	srv := etcdtest.Start(t)
	a, b, c := newLock(t, srv, "a"), newLock(t, srv, "b"), newLock(t, srv, "c")

	la := acquire(t, a)
	fences := []uint64{la.Fence()}
	la.Release(t.Context()) // released: the next claim wins at once
	lb := acquire(t, b)
	fences = append(fences, lb.Fence())

	b.Close() // b "crashes": no more renewals; its lease expires in etcd
	start := time.Now()
	lc := waitAcquire(t, c, 3*testLease)
	if waited := time.Since(start); waited < testLease/2 {
		t.Errorf("c took over after %s, before b's lease (%s) could have ended", waited, testLease)
	}
	fences = append(fences, lc.Fence())
	waitLost(t, lb, testLease)

	lc.Release(t.Context())
	la2 := acquire(t, a)
	fences = append(fences, la2.Fence())
	for i := 1; i < len(fences); i++ {
		if fences[i] <= fences[i-1] {
			t.Fatalf("fences %v: not strictly increasing", fences)
		}
	}
	// The fence is the revision that wrote the claim.
	resp, err := admin(t, srv).Get(t.Context(), a.Key(task))
	if err != nil || len(resp.Kvs) != 1 || uint64(resp.Kvs[0].ModRevision) != la2.Fence() {
		t.Fatalf("key %s: %v %v, want mod revision %d", a.Key(task), resp, err, la2.Fence())
	}
}

// TestDoneAfterComplete: a completed task is refused to every later
// claim with its runner, fence and outcome; the done key lives under a
// lease of DoneTTL, not the run's.
func TestDoneAfterComplete(t *testing.T) {
	srv := etcdtest.Start(t)
	a, b := newLock(t, srv, "a"), newLock(t, srv, "b")
	la := acquire(t, a)
	if err := la.Complete(t.Context(), "ok"); err != nil {
		t.Fatal(err)
	}
	for _, l := range []*Etcd{a, b} {
		_, err := l.Acquire(t.Context(), task, failover.ClaimOptions{})
		var done *failover.DoneError
		if !errors.As(err, &done) || done.Runner != "a" || done.Fence != la.Fence() || done.Outcome != "ok" {
			t.Fatalf("%s: claim after completion: %v, want done by a (fence %d, ok)", l.cfg.Holder, err, la.Fence())
		}
	}
	adm := admin(t, srv)
	resp, err := adm.Get(t.Context(), a.Key(task))
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("done key: %v %v", resp, err)
	}
	var r record
	if err := json.Unmarshal(resp.Kvs[0].Value, &r); err != nil || r.State != stateDone {
		t.Fatalf("done key holds %s (%v)", resp.Kvs[0].Value, err)
	}
	ttl, err := adm.TimeToLive(t.Context(), clientv3.LeaseID(resp.Kvs[0].Lease))
	if err != nil || time.Duration(ttl.TTL)*time.Second < DoneTTL-time.Minute {
		t.Fatalf("done key's lease: %+v %v, want about %s", ttl, err, DoneTTL)
	}
}

// TestCompletion: a completion is recorded only while the key still
// carries the run's fence, or when nobody claimed the task after the
// run's lease ended; a newer claim refuses it with a StaleError.
func TestCompletion(t *testing.T) {
	for _, tc := range []struct {
		name     string
		takeover bool
	}{
		{name: "lease ended, no takeover: recorded"},
		{name: "after a takeover: stale", takeover: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := etcdtest.Start(t)
			a, b := newLock(t, srv, "a"), newLock(t, srv, "b")
			la := acquire(t, a)
			// a's lease ends in etcd while its hook still runs (as
			// after a pause): simulated by revoking it.
			resp, err := admin(t, srv).Get(t.Context(), a.Key(task))
			if err != nil || len(resp.Kvs) != 1 {
				t.Fatal(resp, err)
			}
			if _, err := admin(t, srv).Revoke(t.Context(), clientv3.LeaseID(resp.Kvs[0].Lease)); err != nil {
				t.Fatal(err)
			}
			waitLost(t, la, 2*testLease)
			var lb failover.Lease
			if tc.takeover {
				lb = acquire(t, b)
			}
			err = la.Complete(t.Context(), "ok")
			if !tc.takeover {
				if err != nil {
					t.Fatalf("completion: %v", err)
				}
				if _, err := b.Acquire(t.Context(), task, failover.ClaimOptions{}); !errors.As(err, new(*failover.DoneError)) {
					t.Fatalf("claim after the completion: %v, want done", err)
				}
				return
			}
			var stale *failover.StaleError
			if !errors.As(err, &stale) || stale.Fence != la.Fence() || stale.Newer != lb.Fence() {
				t.Fatalf("completion after a takeover: %v, want stale (fence %d, newer %d)", err, la.Fence(), lb.Fence())
			}
			if err := lb.Complete(t.Context(), "ok"); err != nil {
				t.Fatalf("the takeover's completion: %v", err)
			}
			_, err = a.Acquire(t.Context(), task, failover.ClaimOptions{})
			var done *failover.DoneError
			if !errors.As(err, &done) || done.Runner != "b" || done.Fence != lb.Fence() {
				t.Fatalf("claim after b's completion: %v, want done by b", err)
			}
		})
	}
}

// TestEtcdUnreachable: when etcd stops, a held lease is lost before its
// TTL could have ended in etcd, and a claim fails with an
// UnavailableError saying the failover is held; once etcd is back a claim
// is granted again, with a larger fence.
func TestEtcdUnreachable(t *testing.T) {
	srv := etcdtest.Start(t)
	a, b := newLock(t, srv, "a"), newLock(t, srv, "b")
	la := acquire(t, a)
	stopped := time.Now()
	srv.Stop()
	waitLost(t, la, 2*testLease)
	if d := time.Since(stopped); d > testLease {
		t.Errorf("lost %s after etcd stopped, after the lease (%s) could have ended", d, testLease)
	}
	_, err := b.Acquire(t.Context(), task, failover.ClaimOptions{})
	var unavail *failover.UnavailableError
	if !errors.As(err, &unavail) {
		t.Fatalf("claim with etcd down: %v, want unavailable", err)
	}
	for _, want := range []string{"etcd unreachable at " + srv.Endpoint(), "the failover is held, never run unclaimed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	srv.Restart()
	lb := waitAcquire(t, b, 5*testLease)
	if lb.Fence() <= la.Fence() {
		t.Fatalf("fence after the outage %d, not above %d", lb.Fence(), la.Fence())
	}
}

// TestNewRejects: configurations New refuses.
func TestNewRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no endpoints", Config{}},
		{"username without password", Config{Endpoints: []string{"127.0.0.1:2379"}, Username: "vigil"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// TestKeyEscapes: a hook or key with a slash cannot name another task's key.
func TestKeyEscapes(t *testing.T) {
	l, err := New(Config{Endpoints: []string{"127.0.0.1:2379"}})
	if err != nil {
		t.Fatal(err)
	}
	a := l.Key(failover.TaskID{Hook: "a/b", Key: "c"})
	b := l.Key(failover.TaskID{Hook: "a", Key: "b/c"})
	if a == b || !strings.HasPrefix(a, DefaultPrefix) {
		t.Fatalf("keys %q and %q", a, b)
	}
}

// TestAuth: with etcd's auth on, a lock with the user's password claims
// (and authenticates again after etcd restarted and forgot its token); a
// wrong password is refused, held, with a reason that says so.
func TestAuth(t *testing.T) {
	srv := etcdtest.Start(t)
	adm := admin(t, srv)
	for _, step := range []func() error{
		func() error { _, err := adm.UserAdd(t.Context(), "root", "root-pw"); return err },
		func() error { _, err := adm.UserGrantRole(t.Context(), "root", "root"); return err },
		func() error { _, err := adm.AuthEnable(t.Context()); return err },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	newAuthLock := func(holder, password string) *Etcd {
		l, err := New(Config{Endpoints: []string{srv.Endpoint()}, Holder: holder, Lease: testLease, RequestTimeout: time.Second,
			Username: "root", Password: password})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}
	_, err := newAuthLock("bad", "wrong").Acquire(t.Context(), task, failover.ClaimOptions{})
	var unavail *failover.UnavailableError
	if !errors.As(err, &unavail) || !strings.Contains(err.Error(), "refused") || !strings.Contains(err.Error(), "authentication") {
		t.Fatalf("claim with a wrong password: %v, want a refusal that names the authentication", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Fatalf("the error shows the password: %v", err)
	}
	good := newAuthLock("a", "root-pw")
	la := acquire(t, good)
	la.Release(t.Context())
	srv.Stop()
	srv.Restart()
	la2 := waitAcquire(t, good, 5*testLease)
	if la2.Fence() <= la.Fence() {
		t.Fatalf("fence %d after the restart, not above %d", la2.Fence(), la.Fence())
	}
}

// TestEndpointFailover: a claim goes to the next endpoint when the first
// does not answer.
func TestEndpointFailover(t *testing.T) {
	srv := etcdtest.Start(t)
	dead := "http://127.0.0.1:1" // nothing listens on port 1
	l, err := New(Config{Endpoints: []string{dead, srv.Endpoint()}, Holder: "a", Lease: testLease, RequestTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	la := acquire(t, l)
	if err := la.Complete(t.Context(), "ok"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Acquire(t.Context(), task, failover.ClaimOptions{}); !errors.As(err, new(*failover.DoneError)) {
		t.Fatalf("claim after completion: %v, want done", err)
	}
}
