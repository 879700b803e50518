package etcdlock

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// gateway speaks etcd's v3 API through its JSON gateway (the gRPC
// gateway every etcd serves on its client URLs unless started with
// --enable-grpc-gateway=false): POST /v3/... with protobuf JSON bodies.
// It needs only net/http, where etcd's Go client would link gRPC, its
// protobuf descriptors and zap into every agent (docs/failover.md, etcd
// mode, has the numbers). Only the calls the lock makes are here.
type gateway struct {
	endpoints []string // base URLs, http(s)://HOST:PORT
	http      *http.Client
	username  string
	password  string

	mu    sync.Mutex
	cur   int    // the endpoint that answered last
	token string // etcd auth token, "" until authenticated
}

func newGateway(endpoints []string, tlsConfig *tls.Config, username, password string) *gateway {
	g := &gateway{username: username, password: password}
	for _, ep := range endpoints {
		ep = strings.TrimSuffix(ep, "/")
		if !strings.Contains(ep, "://") {
			if tlsConfig != nil {
				ep = "https://" + ep
			} else {
				ep = "http://" + ep
			}
		}
		g.endpoints = append(g.endpoints, ep)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConfig
	tr.MaxIdleConnsPerHost = 4
	// Close idle connections well before etcd's server (its read
	// timeout, 5 minutes) or a middlebox does.
	tr.IdleConnTimeout = 30 * time.Second
	g.http = &http.Client{Transport: tr}
	return g
}

func (g *gateway) close() { g.http.CloseIdleConnections() }

// apiError is an error etcd answered (not a failure to reach it).
type apiError struct {
	Status  int
	Code    int    `json:"code"`
	Message string `json:"message"`
	Err     string `json:"error"`
}

func (e *apiError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.Err
	}
	if e.Status == http.StatusNotFound && msg == "" {
		return "HTTP 404: is etcd's JSON gateway off (--enable-grpc-gateway=false)?"
	}
	return fmt.Sprintf("HTTP %d: %s", e.Status, msg)
}

// gRPC codes etcd's gateway reports.
const (
	codeNotFound        = 5
	codeUnavailable     = 14
	codeUnauthenticated = 16
)

// authFailed reports whether etcd refused the token (expired, or the
// server restarted and forgot it): authenticating again may help.
func (e *apiError) authFailed() bool {
	m := e.Message + e.Err
	return e.Code == codeUnauthenticated || strings.Contains(m, "invalid auth token") || strings.Contains(m, "user name is empty")
}

// retryElsewhere reports whether another etcd member may answer: this
// one has no leader or timed out.
func (e *apiError) retryElsewhere() bool {
	return e.Code == codeUnavailable || e.Status >= 500 && e.Status != http.StatusNotImplemented
}

// call POSTs req to path and decodes the answer into resp, trying the
// endpoints in turn from the last one that answered, until one answers or
// ctx ends. A stream's answer ({"result": ...}) is unwrapped.
func (g *gateway) call(ctx context.Context, path string, req, resp any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	reauthed := false
	g.mu.Lock()
	start := g.cur
	g.mu.Unlock()
	var last error
	for i := 0; i < len(g.endpoints); i++ {
		if ctx.Err() != nil {
			break
		}
		n := (start + i) % len(g.endpoints)
		// Leave the later endpoints their share of the time.
		actx, cancel := ctx, context.CancelFunc(func() {})
		if dl, ok := ctx.Deadline(); ok && i < len(g.endpoints)-1 {
			actx, cancel = context.WithTimeout(ctx, time.Until(dl)/time.Duration(len(g.endpoints)-i))
		}
		err := g.post(actx, g.endpoints[n], path, body, resp, true)
		cancel()
		var api *apiError
		if errors.As(err, &api) && api.authFailed() && g.username != "" && !reauthed {
			reauthed = true
			if err = g.authenticate(ctx, g.endpoints[n]); err == nil {
				err = g.post(ctx, g.endpoints[n], path, body, resp, true)
			}
		}
		if err == nil {
			g.mu.Lock()
			g.cur = n
			g.mu.Unlock()
			return nil
		}
		last = err
		if errors.As(err, &api) && !api.retryElsewhere() {
			return err
		}
	}
	if last == nil {
		last = ctx.Err()
	}
	return last
}

// post makes one request to one endpoint, with the auth token when
// withToken (authenticating first if there is none yet).
func (g *gateway) post(ctx context.Context, base, path string, body []byte, resp any, withToken bool) error {
	if withToken && g.username != "" {
		g.mu.Lock()
		tok := g.token
		g.mu.Unlock()
		if tok == "" {
			if err := g.authenticate(ctx, base); err != nil {
				return err
			}
		}
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	hreq.Header.Set("Content-Type", "application/json")
	// Every call the lock makes is safe to send again (a claim or a
	// completion recognizes its own earlier write); this entry, never
	// sent, lets net/http resend a request that met a kept-alive
	// connection etcd had just closed, instead of failing it.
	hreq.Header["X-Idempotency-Key"] = nil
	if withToken {
		g.mu.Lock()
		if g.token != "" {
			hreq.Header.Set("Authorization", g.token)
		}
		g.mu.Unlock()
	}
	hresp, err := g.http.Do(hreq)
	if err != nil {
		return err
	}
	defer hresp.Body.Close()
	dec := json.NewDecoder(io.LimitReader(hresp.Body, 4<<20))
	if hresp.StatusCode != http.StatusOK {
		api := &apiError{Status: hresp.StatusCode}
		_ = dec.Decode(api)
		return api
	}
	if strings.HasSuffix(path, "/keepalive") {
		// A stream: one message, {"result": ...} or {"error": ...}.
		var msg struct {
			Result json.RawMessage `json:"result"`
			Error  *apiError       `json:"error"`
		}
		if err := dec.Decode(&msg); err != nil {
			return fmt.Errorf("etcd %s: %w", path, err)
		}
		if msg.Error != nil {
			msg.Error.Status = http.StatusOK
			return msg.Error
		}
		return json.Unmarshal(msg.Result, resp)
	}
	if err := dec.Decode(resp); err != nil {
		return fmt.Errorf("etcd %s: %w", path, err)
	}
	return nil
}

// authenticate gets a token with the username and password.
func (g *gateway) authenticate(ctx context.Context, base string) error {
	g.mu.Lock()
	g.token = ""
	g.mu.Unlock()
	body, _ := json.Marshal(map[string]string{"name": g.username, "password": g.password})
	var resp struct {
		Token string `json:"token"`
	}
	if err := g.post(ctx, base, "/v3/auth/authenticate", body, &resp, false); err != nil {
		return fmt.Errorf("etcd authentication as %s: %w", g.username, err)
	}
	g.mu.Lock()
	g.token = resp.Token
	g.mu.Unlock()
	return nil
}

// The protobuf JSON of the messages used: field names as in the .proto,
// 64-bit integers as strings, bytes as base64, zero values left out.

type i64 int64

func (v *i64) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	n, err := strconv.ParseInt(s, 10, 64)
	*v = i64(n)
	return err
}

func (v i64) MarshalJSON() ([]byte, error) {
	return []byte(`"` + strconv.FormatInt(int64(v), 10) + `"`), nil
}

type respHeader struct {
	Revision i64 `json:"revision"`
}

type leaseGrantResp struct {
	Header respHeader `json:"header"`
	ID     i64        `json:"ID"`
	TTL    i64        `json:"TTL"`
}

type leaseResp struct {
	ID  i64 `json:"ID"`
	TTL i64 `json:"TTL"`
}

type keyValue struct {
	Key            []byte `json:"key"`
	CreateRevision i64    `json:"create_revision"`
	ModRevision    i64    `json:"mod_revision"`
	Value          []byte `json:"value"`
	Lease          i64    `json:"lease"`
}

type compare struct {
	Result string `json:"result"`
	Target string `json:"target"`
	Key    []byte `json:"key"`
	// One of these, by Target.
	CreateRevision *i64 `json:"create_revision,omitempty"`
	ModRevision    *i64 `json:"mod_revision,omitempty"`
}

type putRequest struct {
	Key   []byte `json:"key"`
	Value []byte `json:"value"`
	Lease i64    `json:"lease,omitempty"`
}

type rangeRequest struct {
	Key []byte `json:"key"`
}

type requestOp struct {
	Put   *putRequest   `json:"request_put,omitempty"`
	Range *rangeRequest `json:"request_range,omitempty"`
}

type txnRequest struct {
	Compare []compare   `json:"compare"`
	Success []requestOp `json:"success"`
	Failure []requestOp `json:"failure"`
}

type txnResp struct {
	Header    respHeader `json:"header"`
	Succeeded bool       `json:"succeeded"`
	Responses []struct {
		Range *struct {
			Kvs []keyValue `json:"kvs"`
		} `json:"response_range"`
	} `json:"responses"`
}

// kv returns the key a failed transaction's get found, or nil.
func (r *txnResp) kv() *keyValue {
	if len(r.Responses) == 0 || r.Responses[0].Range == nil || len(r.Responses[0].Range.Kvs) == 0 {
		return nil
	}
	return &r.Responses[0].Range.Kvs[0]
}

func (g *gateway) grant(ctx context.Context, ttl int64) (leaseGrantResp, error) {
	var r leaseGrantResp
	err := g.call(ctx, "/v3/lease/grant", map[string]i64{"TTL": i64(ttl)}, &r)
	return r, err
}

func (g *gateway) revoke(ctx context.Context, id int64) error {
	err := g.call(ctx, "/v3/lease/revoke", map[string]i64{"ID": i64(id)}, &struct{}{})
	var api *apiError
	if errors.As(err, &api) && api.Code == codeNotFound {
		return nil // expired already
	}
	return err
}

// keepAlive renews a lease once; a TTL of 0 means the lease is gone.
func (g *gateway) keepAlive(ctx context.Context, id int64) (int64, error) {
	var r leaseResp
	err := g.call(ctx, "/v3/lease/keepalive", map[string]i64{"ID": i64(id)}, &r)
	return int64(r.TTL), err
}

// timeToLive returns a lease's remaining seconds (-1: expired).
func (g *gateway) timeToLive(ctx context.Context, id int64) (int64, error) {
	var r leaseResp
	err := g.call(ctx, "/v3/lease/timetolive", map[string]i64{"ID": i64(id)}, &r)
	return int64(r.TTL), err
}

// txnIfAbsent puts key=value (with lease) if key does not exist, and
// otherwise gets it.
func (g *gateway) txnIfAbsent(ctx context.Context, key string, value []byte, lease int64) (txnResp, error) {
	zero := i64(0)
	return g.txn(ctx, compare{Result: "EQUAL", Target: "CREATE", Key: []byte(key), CreateRevision: &zero}, key, value, lease)
}

// txnIfModRevision puts key=value (with lease) if key's mod revision is
// rev, and otherwise gets it.
func (g *gateway) txnIfModRevision(ctx context.Context, key string, rev int64, value []byte, lease int64) (txnResp, error) {
	r := i64(rev)
	return g.txn(ctx, compare{Result: "EQUAL", Target: "MOD", Key: []byte(key), ModRevision: &r}, key, value, lease)
}

func (g *gateway) txn(ctx context.Context, c compare, key string, value []byte, lease int64) (txnResp, error) {
	req := txnRequest{
		Compare: []compare{c},
		Success: []requestOp{{Put: &putRequest{Key: []byte(key), Value: value, Lease: i64(lease)}}},
		Failure: []requestOp{{Range: &rangeRequest{Key: []byte(key)}}},
	}
	var r txnResp
	err := g.call(ctx, "/v3/kv/txn", req, &r)
	return r, err
}
