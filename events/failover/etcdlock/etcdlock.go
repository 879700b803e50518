// Package etcdlock is the etcd-backed failover.Lock: a claim is an etcd
// lease plus a compare-and-set on one key per task, and the etcd revision
// that created the claim is the run's fence. While etcd is reachable at
// most one agent holds a task at a time, and a completed task stays done.
// When etcd cannot be reached nothing is granted: the coordinator holds the
// failover (the reason is the *failover.UnavailableError's text) and never
// runs it unclaimed.
//
// It speaks to etcd through etcd's JSON gateway over net/http rather than
// etcd's Go client, which would add gRPC, protobuf descriptors and zap to
// every agent (about 6 MB of binary and 4 MiB of idle RSS, measured in
// docs/failover.md, etcd mode). It is a package of its own so that package
// events and the gossip lock do not depend on it.
package etcdlock

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/events/failover"
)

// Defaults of Config.
const (
	// DefaultPrefix is where the task keys live: PREFIX HOOK/KEY. Give
	// each vigil cluster that shares an etcd its own prefix.
	DefaultPrefix = "/vigil/failover/"
	// DefaultRequestTimeout bounds one request to etcd (a grant, the
	// claim's transaction, a completion). Longer rides out a slow etcd
	// (a leader election takes about a second); shorter says sooner that
	// etcd is unreachable. Either way nothing runs without a claim.
	DefaultRequestTimeout = 3 * time.Second
	// DoneTTL is how long a completed task's key is kept: it is written
	// with a lease of its own this long, so keys do not pile up forever,
	// and a claim within that time learns that the task was done. It
	// matches the gossip lock's memory of grants (a day); the coordinator
	// itself forgets a waiting task after an hour.
	DoneTTL = 24 * time.Hour
)

// Config configures an Etcd lock.
type Config struct {
	// Endpoints are etcd's client URLs (https://10.0.0.1:2379), or
	// HOST:PORT (https when TLS is set). etcd's JSON gateway must be on
	// (it is unless etcd runs with --enable-grpc-gateway=false).
	Endpoints []string
	// Prefix is prepended to every task key (DefaultPrefix when empty).
	Prefix string
	// TLS, when set, is used for every endpoint that is not http://.
	TLS *tls.Config
	// TLSFiles names the PEM files TLS was loaded from (LoadTLS): the
	// hook guard process, which records a completion by itself, loads
	// them again. Without them a guard uses TLS only with the system's
	// CAs.
	TLSFiles TLSFiles
	// Username and Password authenticate with etcd's auth (both or none).
	Username, Password string
	// Holder names this agent in the claims (its member name).
	Holder string
	// Lease is the claim's lease (failover.DefaultLease when zero). etcd
	// counts it in whole seconds, rounded up, at least its minimum (about
	// 2 s with etcd's default election timeout).
	Lease time.Duration
	// RequestTimeout bounds each request (DefaultRequestTimeout when zero).
	RequestTimeout time.Duration
	// Logger receives lease losses and refused completions.
	Logger zerolog.Logger
}

// TLSFiles are the PEM files of a client TLS configuration (LoadTLS).
type TLSFiles struct {
	CA   string `json:"ca,omitempty"`
	Cert string `json:"cert,omitempty"`
	Key  string `json:"key,omitempty"`
}

// LoadTLS builds the client TLS configuration from PEM files: caFile
// verifies etcd's certificate (the system's roots when empty); certFile
// and keyFile, both or neither, are this client's certificate.
func LoadTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("etcd CA file: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcd CA file %s: no PEM certificate in it", caFile)
		}
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("etcd client certificate: set cert_file and key_file together")
	}
	if certFile != "" {
		kp, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("etcd client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{kp}
	}
	return c, nil
}

// Etcd is the etcd-backed failover.Lock. Each task is one key,
// PREFIX HOOK/KEY (both path-escaped). A claim grants an etcd lease and,
// in one transaction, creates the key {holder, state: running} attached to
// it only if the key does not exist; the transaction's revision is the
// fence, and etcd revisions only grow, so a later claim of the task always
// gets a larger fence. The key disappears with the lease (a release, an
// expiry), and a completion replaces it, only while it still carries the
// run's fence, by {state: done} under a lease of DoneTTL.
type Etcd struct {
	cfg Config
	ttl int64 // the lease in seconds
	gw  *gateway

	mu     sync.Mutex
	closed bool
}

// New returns an etcd lock. It does not contact etcd: an unreachable etcd
// shows in each claim's error, and the agent starts anyway.
func New(cfg Config) (*Etcd, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("etcd lock: no endpoints")
	}
	if (cfg.Username == "") != (cfg.Password == "") {
		return nil, errors.New("etcd lock: set the username and the password together")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.Lease <= 0 {
		cfg.Lease = failover.DefaultLease
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	ttl := int64((cfg.Lease + time.Second - 1) / time.Second)
	return &Etcd{cfg: cfg, ttl: ttl, gw: newGateway(cfg.Endpoints, cfg.TLS, cfg.Username, cfg.Password)}, nil
}

// Key returns the etcd key of a task.
func (e *Etcd) Key(task failover.TaskID) string {
	return e.cfg.Prefix + url.PathEscape(task.Hook) + "/" + url.PathEscape(task.Key)
}

// Close stops new claims and renewals, and closes idle connections:
// leases still held are lost and end in etcd with their TTL.
func (e *Etcd) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	e.gw.close()
	return nil
}

func (e *Etcd) isClosed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed
}

// record is a task key's value.
type record struct {
	// State is running (the key lives with the holder's lease) or done.
	State string `json:"state"`
	// Holder is the agent that holds the running claim.
	Holder string `json:"holder,omitempty"`
	// Runner, Outcome and Fence describe a completed run.
	Runner  string    `json:"runner,omitempty"`
	Outcome string    `json:"outcome,omitempty"`
	Fence   uint64    `json:"fence,omitempty"`
	At      time.Time `json:"at"`
}

const (
	stateRunning = "running"
	stateDone    = "done"
)

// unavailable wraps a failure to reach etcd in the error the coordinator
// shows as the reason a failover is held.
func (e *Etcd) unavailable(what string, err error) error {
	eps := strings.Join(e.cfg.Endpoints, ",")
	if api := (*apiError)(nil); errors.As(err, &api) {
		// etcd answered, with an error (auth, no leader, a gateway that
		// is off): the same hold, a different reason.
		return &failover.UnavailableError{Err: fmt.Errorf("etcd at %s refused to %s: %w; the failover is held, never run unclaimed", eps, what, err)}
	}
	return &failover.UnavailableError{Err: fmt.Errorf("etcd unreachable at %s (%s: %w); the failover is held, never run unclaimed", eps, what, err)}
}

// revoke ends a lease, bounded by the request timeout (in the background
// when a claim gives up a lease it did not use).
func (e *Etcd) revoke(id int64) {
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.RequestTimeout)
	defer cancel()
	_ = e.gw.revoke(ctx, id)
}

// Acquire implements failover.Lock. The options are ignored: etcd, not
// the gossip view, decides who holds the task.
func (e *Etcd) Acquire(ctx context.Context, task failover.TaskID, _ failover.ClaimOptions) (failover.Lease, error) {
	if e.isClosed() {
		return nil, errors.New("the etcd lock is closed")
	}
	key := e.Key(task)
	sent := time.Now()
	gctx, cancel := context.WithTimeout(ctx, e.cfg.RequestTimeout)
	g, err := e.gw.grant(gctx, e.ttl)
	cancel()
	if err != nil {
		return nil, e.unavailable("grant a lease", err)
	}
	id, ttl := int64(g.ID), min(int64(g.TTL), e.ttl)
	val, _ := json.Marshal(record{State: stateRunning, Holder: e.cfg.Holder, At: time.Now().UTC()})
	tctx, cancel := context.WithTimeout(ctx, e.cfg.RequestTimeout)
	resp, err := e.gw.txnIfAbsent(tctx, key, val, id)
	cancel()
	if err != nil {
		// The put may have been applied: the lease is revoked (or
		// expires), which deletes the key again.
		go e.revoke(id)
		return nil, e.unavailable("claim "+key, err)
	}
	fence := uint64(resp.Header.Revision)
	kv := resp.kv()
	if !resp.Succeeded && kv != nil && int64(kv.Lease) == id {
		// The transaction was applied by an attempt whose answer was
		// lost, and sent again: the key is ours.
		fence, resp.Succeeded = uint64(kv.ModRevision), true
	}
	if resp.Succeeded {
		log := e.cfg.Logger.With().Str("hook", task.Hook).Str("key", task.Key).Uint64("fence", fence).Logger()
		l := &lease{LeaseKeeper: failover.NewLeaseKeeper(sent, time.Duration(ttl)*time.Second, log), e: e, task: task, key: key, id: id, fence: fence}
		go l.Run(time.Duration(ttl)*time.Second/3, "could not renew the etcd lease in time (etcd unreachable)", l.renew)
		return l, nil
	}
	go e.revoke(id)
	if kv == nil {
		// Cannot happen: the get runs in the transaction whose compare
		// found the key. Held, and tried again, like any other error.
		return nil, fmt.Errorf("etcd key %s: the claim failed but the key is missing", key)
	}
	var r record
	if err := json.Unmarshal(kv.Value, &r); err != nil {
		return nil, fmt.Errorf("etcd key %s: not a vigil claim: %w", key, err)
	}
	if r.State == stateDone {
		return nil, &failover.DoneError{Runner: r.Runner, Fence: r.Fence, Outcome: r.Outcome}
	}
	held := &failover.HeldError{Holder: r.Holder, Fence: uint64(kv.ModRevision), Left: time.Duration(e.ttl) * time.Second}
	if kv.Lease != 0 {
		lctx, cancel := context.WithTimeout(ctx, e.cfg.RequestTimeout)
		if left, err := e.gw.timeToLive(lctx, int64(kv.Lease)); err == nil {
			held.Left = max(time.Duration(left)*time.Second, 0)
		}
		cancel()
	}
	return nil, held
}

// lease is a claim held in etcd.
type lease struct {
	*failover.LeaseKeeper
	e     *Etcd
	task  failover.TaskID
	key   string
	id    int64
	fence uint64
}

// Fence implements failover.Lease: the revision that created the claim.
func (l *lease) Fence() uint64 { return l.fence }

// renew is one keep-alive of the etcd lease (failover.LeaseKeeper).
func (l *lease) renew(ctx context.Context) failover.Renewal {
	if l.e.isClosed() {
		return failover.Renewal{} // no more renewals: lost at the deadline
	}
	sent := time.Now()
	left, err := l.e.gw.keepAlive(ctx, l.id)
	var api *apiError
	switch {
	case err == nil && left <= 0, errors.As(err, &api) && api.Code == codeNotFound:
		return failover.Renewal{Gone: "the etcd lease expired or was revoked"}
	case err == nil:
		return failover.Renewal{Deadline: failover.Deadline(sent, time.Duration(min(left, l.e.ttl))*time.Second)}
	}
	return failover.Renewal{}
}

// Complete implements failover.Lease: the key becomes {state: done} if it
// still carries this run's fence, or if it is gone (the lease ended just
// as the run finished and nobody claimed since); then the run's lease is
// revoked. A key changed by a newer claim refuses it: *failover.StaleError.
func (l *lease) Complete(ctx context.Context, outcome string) error {
	l.Stop()
	defer func() { go l.e.revoke(l.id) }()
	return l.e.recordDone(ctx, l.key, l.fence, outcome)
}

// recordDone replaces key by {state: done} (under a lease of DoneTTL) if
// it still carries fence, or if it is gone. Recording it again is no
// error.
func (e *Etcd) recordDone(ctx context.Context, key string, fence uint64, outcome string) error {
	val, _ := json.Marshal(record{State: stateDone, Runner: e.cfg.Holder, Outcome: outcome, Fence: fence, At: time.Now().UTC()})
	ctx, cancel := context.WithTimeout(ctx, e.cfg.RequestTimeout)
	defer cancel()
	g, err := e.gw.grant(ctx, int64(DoneTTL/time.Second))
	if err != nil {
		return e.unavailable("record the completion of "+key, err)
	}
	doneLease := int64(g.ID)
	resp, err := e.gw.txnIfModRevision(ctx, key, int64(fence), val, doneLease)
	if err == nil && !resp.Succeeded && resp.kv() == nil {
		resp, err = e.gw.txnIfAbsent(ctx, key, val, doneLease)
	}
	if err != nil {
		go e.revoke(doneLease)
		return e.unavailable("record the completion of "+key, err)
	}
	if resp.Succeeded {
		return nil
	}
	kv := resp.kv()
	var r record
	if kv != nil && json.Unmarshal(kv.Value, &r) == nil && r.State == stateDone && r.Fence == fence && r.Runner == e.cfg.Holder {
		return nil // recorded already: by the hook guard, or by an attempt whose answer was lost
	}
	go e.revoke(doneLease)
	stale := &failover.StaleError{Fence: fence}
	if kv != nil {
		stale.Newer = uint64(kv.ModRevision)
		if r.State == stateDone {
			stale.Newer = r.Fence
		}
	}
	return stale
}

// Release implements failover.Lease: the lease is revoked, and the key
// with it, so another agent may claim the task at once.
func (l *lease) Release(ctx context.Context) {
	if !l.Stop() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, l.e.cfg.RequestTimeout)
	defer cancel()
	_ = l.e.gw.revoke(ctx, l.id)
}
