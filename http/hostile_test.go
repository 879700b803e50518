package http

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/probes"
)

// Hostile input against a real server on 127.0.0.1: what a buggy or
// malicious local client can send. docs/reliability.md lists the
// decisions these tests pin down.

// countingListener counts the bytes the server reads from its connections.
type countingListener struct {
	net.Listener
	read atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, n: &l.read}, nil
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// hostileServer serves the real handler, with a fake agent that has a TTL
// check "x", on 127.0.0.1 through httptest; it counts what the server reads.
func hostileServer(t *testing.T) (*httptest.Server, *fakeAgent, *countingListener) {
	t.Helper()
	fa := newFakeAgent()
	fa.checks = []probes.State{{ID: "x", Kind: "ttl", Status: probes.Passing}}
	ts := httptest.NewUnstartedServer(New(fa, zerolog.Nop()).Handler())
	cl := &countingListener{Listener: ts.Listener}
	ts.Listener = cl
	ts.Start()
	t.Cleanup(ts.Close)
	return ts, fa, cl
}

// rawRequest dials addr and writes head (request line and headers, without
// the blank line that ends them).
func rawRequest(t *testing.T, addr, head string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := io.WriteString(conn, head+"\r\n"); err != nil {
		t.Fatal(err)
	}
	return conn
}

// errorBody reads an answer's body and returns its "error" message,
// failing unless the body is exactly {"error": "..."}.
func errorBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	var e map[string]string
	if err := json.Unmarshal(body, &e); err != nil || len(e) != 1 || e["error"] == "" {
		t.Fatalf("answer %d %q is not {\"error\": ...}", resp.StatusCode, body)
	}
	return e["error"]
}

// heapStats is a snapshot of the heap for a bounded-memory assertion.
type heapStats struct{ heap, total uint64 }

func readHeap(gc bool) heapStats {
	if gc {
		runtime.GC()
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return heapStats{heap: m.HeapAlloc, total: m.TotalAlloc}
}

const mib = 1 << 20

// TestHostileHugeBody: a 100 MiB body is answered 413 after the server
// has read at most a little over the 1 MiB limit (none of it when the
// length is declared), and the process's memory does not grow with it.
func TestHostileHugeBody(t *testing.T) {
	const size = 100 * mib
	for _, tc := range []struct {
		name      string
		chunked   bool
		maxServed int64 // bytes the server may read, headers included
	}{
		// Content-Length over the limit: refused before reading the body.
		{name: "content-length", maxServed: 64 << 10},
		// Chunked, length unknown: read up to the limit, then refused;
		// net/http's read buffer adds a little.
		{name: "chunked", chunked: true, maxServed: 2 * MaxBodyBytes},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, fa, cl := hostileServer(t)
			before := readHeap(true)
			start := time.Now()

			head := "POST /v1/event HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
			if tc.chunked {
				head += "Transfer-Encoding: chunked\r\n"
			} else {
				head += fmt.Sprintf("Content-Length: %d\r\n", size)
			}
			conn := rawRequest(t, ts.Listener.Addr().String(), head)

			// Send the body until it is all sent or the server hangs up.
			var sent atomic.Int64
			writerDone := make(chan error, 1)
			go func() {
				chunk := []byte(`{"name":"x","payload":"` + strings.Repeat("a", 64<<10-23))
				prefix := []byte(fmt.Sprintf("%x\r\n", len(chunk)))
				for sent.Load() < size {
					if tc.chunked {
						if _, err := conn.Write(prefix); err != nil {
							writerDone <- err
							return
						}
					}
					n, err := conn.Write(chunk)
					sent.Add(int64(n))
					if err != nil {
						writerDone <- err
						return
					}
					if tc.chunked {
						if _, err := conn.Write([]byte("\r\n")); err != nil {
							writerDone <- err
							return
						}
					}
				}
				writerDone <- nil
			}()

			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer: %v (sent %d bytes)", err, sent.Load())
			}
			msg := errorBody(t, resp)
			resp.Body.Close()
			elapsed := time.Since(start)
			conn.Close()
			<-writerDone
			after := readHeap(false)

			if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "larger than 1048576 bytes") {
				t.Fatalf("answer %d %q, want 413 naming the limit", resp.StatusCode, msg)
			}
			served := cl.read.Load()
			allocated := after.total - before.total
			growth := int64(after.heap) - int64(before.heap)
			t.Logf("413 after %s; client sent %.1f MiB, server read %.2f MiB; allocated %.2f MiB, HeapAlloc %+.2f MiB",
				elapsed.Round(time.Millisecond), float64(sent.Load())/mib, float64(served)/mib,
				float64(allocated)/mib, float64(growth)/mib)
			if served > tc.maxServed {
				t.Errorf("server read %d bytes of a %d-byte body, want at most %d", served, size, tc.maxServed)
			}
			if sent.Load() >= size {
				t.Errorf("the client could send all %d bytes: the server read or buffered them", size)
			}
			// What the whole process allocated while the request ran,
			// client included, bounds the heap's growth: far below the
			// body's 100 MiB.
			if allocated > 16*mib || growth > 16*mib {
				t.Errorf("allocated %.1f MiB, HeapAlloc grew %.1f MiB during the request, want < 16 MiB", float64(allocated)/mib, float64(growth)/mib)
			}
			if len(fa.userEvents) != 0 {
				t.Errorf("the agent got an event: %+v", fa.userEvents)
			}
		})
	}
}

// TestHostileDeepNesting: JSON nested 100,000 deep is a quick 400, not a
// stack overflow or a long parse: encoding/json stops at depth 10,000.
func TestHostileDeepNesting(t *testing.T) {
	ts, fa, _ := hostileServer(t)
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/v1/event", strings.Repeat("[", 100_000)},
		{"POST", "/v1/join", `{"addrs":` + strings.Repeat("[", 100_000)},
		{"PUT", "/v1/maintenance", strings.Repeat(`{"enable":`, 100_000)},
		{"PUT", "/v1/checks/x/pass", strings.Repeat(`{"note":`, 100_000) + `"x"` + strings.Repeat("}", 100_000)},
	} {
		start := time.Now()
		req, _ := http.NewRequest(tc.method, ts.URL+tc.path, strings.NewReader(tc.body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		msg := errorBody(t, resp)
		resp.Body.Close()
		elapsed := time.Since(start)
		t.Logf("%s %s, %d bytes nested: %d in %s: %s", tc.method, tc.path, len(tc.body), resp.StatusCode, elapsed.Round(time.Millisecond), msg)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(msg, "depth") {
			t.Errorf("%s %s: %d %q, want 400 naming the depth", tc.method, tc.path, resp.StatusCode, msg)
		}
		if elapsed > 5*time.Second {
			t.Errorf("%s %s: took %s", tc.method, tc.path, elapsed)
		}
	}
	if len(fa.joins)+len(fa.userEvents)+len(fa.maintenance)+len(fa.ttl) != 0 {
		t.Errorf("the agent was called: %v %v %v %v", fa.joins, fa.userEvents, fa.maintenance, fa.ttl)
	}
}

// TestHostileInvalidUTF8: a body that is not valid UTF-8 is a 400 naming
// the offset, never a request with the bad bytes silently replaced by
// U+FFFD (what encoding/json would do). Valid non-ASCII text reaches the
// agent byte for byte. A JSON escape of a lone surrogate (\ud800) is valid
// UTF-8 on the wire and is decoded as U+FFFD, as encoding/json does: a
// known limit, pinned here.
func TestHostileInvalidUTF8(t *testing.T) {
	ts, fa, _ := hostileServer(t)
	post := func(path, method, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode >= 400 {
			return resp.StatusCode, errorBody(t, resp)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, ""
	}
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/v1/event", "{\"name\":\"dep\xffloy\"}"},
		{"POST", "/v1/event", "{\"name\":\"x\",\"payload\":\"\xc0\x80\"}"},      // overlong NUL
		{"POST", "/v1/event", "{\"name\":\"x\",\"payload\":\"\xed\xa0\x80\"}"},  // raw surrogate
		{"POST", "/v1/join", "{\"addrs\":[\"h\xfe:1\"]}"},                       // bad byte in a list
		{"PUT", "/v1/maintenance", "{\"enable\":true,\"reason\":\"\xe2\x82\"}"}, // cut-off sequence
		{"PUT", "/v1/checks/x/pass", "{\"note\":\"\xf8\x88\x80\x80\x80\"}"},     // 5-byte form
		{"POST", "/v1/event", "{\"name\":\"x\"}\xff"},                           // after the object
	} {
		code, msg := post(tc.path, tc.method, tc.body)
		if code != http.StatusBadRequest || !strings.Contains(msg, "not valid UTF-8") {
			t.Errorf("%s %s %q: %d %q, want 400 naming UTF-8", tc.method, tc.path, tc.body, code, msg)
		}
	}
	if len(fa.joins)+len(fa.userEvents)+len(fa.maintenance)+len(fa.ttl) != 0 {
		t.Fatalf("the agent got something: %v %v %v %v", fa.joins, fa.userEvents, fa.maintenance, fa.ttl)
	}
	if _, msg := post("/v1/event", "POST", "{\"name\":\"ab\xffc\"}"); !strings.Contains(msg, "offset 11") {
		t.Errorf("error %q does not name offset 11", msg)
	}

	name, payload := "déploiement-🚀", "日本語\u2028\x7f"
	body, _ := json.Marshal(EventRequest{Name: name, Payload: payload})
	if code, msg := post("/v1/event", "POST", string(body)); code != 200 {
		t.Fatalf("valid UTF-8: %d %s", code, msg)
	}
	if code, msg := post("/v1/event", "POST", `{"name":"surrogate","payload":"\ud800"}`); code != 200 {
		t.Fatalf("escaped lone surrogate: %d %s", code, msg)
	}
	fa.mu.Lock()
	defer fa.mu.Unlock()
	if len(fa.userEvents) != 2 || fa.userEvents[0].Name != name || fa.userEvents[0].Payload != payload {
		t.Fatalf("agent got %+v, want %q %q", fa.userEvents, name, payload)
	}
	if got := fa.userEvents[1].Payload; got != "\uFFFD" {
		t.Fatalf("escaped lone surrogate decoded as %q, want U+FFFD", got)
	}
}

// TestHostileSlowHeaders: a client that trickles its request headers is
// cut off at the server's ReadHeaderTimeout (10 s; shortened here), with
// no answer, while it is still sending.
func TestHostileSlowHeaders(t *testing.T) {
	fa := newFakeAgent()
	s := New(fa, zerolog.Nop())
	if s.srv.ReadHeaderTimeout != 10*time.Second {
		t.Fatalf("ReadHeaderTimeout = %s, want 10s", s.srv.ReadHeaderTimeout)
	}
	const timeout = 300 * time.Millisecond
	s.srv.ReadHeaderTimeout = timeout
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	start := time.Now()
	conn := rawRequest(t, ln.Addr().String(), "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1")
	var lines atomic.Int64
	stop := make(chan struct{})
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := fmt.Fprintf(conn, "X-Slow-%d: y\r\n", i); err != nil {
				return
			}
			lines.Add(1)
		}
	}()
	defer close(stop)
	got, err := io.ReadAll(conn)
	elapsed := time.Since(start)
	t.Logf("cut off after %s, %d header lines trickled, read %q, %v", elapsed.Round(time.Millisecond), lines.Load(), got, err)
	if len(got) != 0 {
		t.Errorf("server answered %q, want a silent close", got)
	}
	if elapsed < timeout || elapsed > timeout+3*time.Second {
		t.Errorf("cut off after %s, want about %s", elapsed, timeout)
	}
	if lines.Load() < 3 {
		t.Errorf("only %d header lines were trickled before the cut", lines.Load())
	}
	// The server still answers others.
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz after the slow client: %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestHostileSlowBody: a client that sends its headers and then trickles
// the body is answered 408 once bodyReadTimeout (10 s; shortened here)
// has passed since the handler started reading, on every endpoint that
// reads a body; the agent is not called. The deadline is cleared once the
// body is read, so a keep-alive connection that idles longer than it
// still works.
func TestHostileSlowBody(t *testing.T) {
	const timeout = 400 * time.Millisecond
	saved := bodyReadTimeout
	if saved != 10*time.Second {
		t.Fatalf("bodyReadTimeout = %s, want 10s", saved)
	}
	bodyReadTimeout = timeout
	t.Cleanup(func() { bodyReadTimeout = saved })
	ts, fa, _ := hostileServer(t)

	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/v1/event", `{"name":"slow","payload":"` + strings.Repeat("s", 64) + `"}`},
		{"PUT", "/v1/checks/x/pass", `{"note":"` + strings.Repeat("s", 64) + `"}`},
		{"POST", "/v1/join", `{"addrs":["10.0.0.1:7946"]}`},
		{"PUT", "/v1/maintenance", `{"enable":true,"reason":"` + strings.Repeat("s", 64) + `"}`},
	} {
		start := time.Now()
		conn := rawRequest(t, ts.Listener.Addr().String(), fmt.Sprintf("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", tc.method, tc.path, len(tc.body)))
		stop := make(chan struct{})
		go func() {
			for i := 0; i < len(tc.body); i++ {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
				if _, err := conn.Write([]byte{tc.body[i]}); err != nil {
					return
				}
			}
		}()
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		close(stop)
		if err != nil {
			t.Fatalf("%s %s: no answer: %v", tc.method, tc.path, err)
		}
		msg := errorBody(t, resp)
		elapsed := time.Since(start)
		t.Logf("%s %s trickled: %d after %s: %s", tc.method, tc.path, resp.StatusCode, elapsed.Round(time.Millisecond), msg)
		if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(msg, "not received within") {
			t.Errorf("%s %s: %d %q, want 408", tc.method, tc.path, resp.StatusCode, msg)
		}
		if elapsed < timeout || elapsed > timeout+3*time.Second {
			t.Errorf("%s %s: answered after %s, want about %s", tc.method, tc.path, elapsed, timeout)
		}
		conn.Close()
	}
	fa.mu.Lock()
	called := len(fa.joins) + len(fa.userEvents) + len(fa.maintenance) + len(fa.ttl)
	fa.mu.Unlock()
	if called != 0 {
		t.Fatalf("the agent was called with a body that never arrived")
	}

	// A quick body, then an idle keep-alive connection past the deadline,
	// then a second request on it.
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	for i := range 2 {
		body := fmt.Sprintf(`{"name":"ok-%d"}`, i)
		fmt.Fprintf(conn, "POST /v1/event HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("keep-alive request %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("keep-alive request %d: %d", i, resp.StatusCode)
		}
		time.Sleep(2 * timeout)
	}
}

// TestBodyDeadlineDoesNotCancelSlowHandlers: the body deadline covers the
// reading only. A handler still working after it (a join that dials for a
// while) keeps its request context and answers normally, with a body or
// without one (then net/http's background read is already waiting on the
// connection, and a deadline left behind would cancel the request).
func TestBodyDeadlineDoesNotCancelSlowHandlers(t *testing.T) {
	const timeout = 200 * time.Millisecond
	saved := bodyReadTimeout
	bodyReadTimeout = timeout
	t.Cleanup(func() { bodyReadTimeout = saved })
	ctxErrs := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req TTLRequest
		if err := decodeOptionalBody(w, r, &req); err != nil {
			writeAPIError(w, err)
			return
		}
		time.Sleep(3 * timeout)
		ctxErrs <- r.Context().Err()
		writeJSON(w, http.StatusOK, req)
	})
	ts := httptest.NewServer(h)
	defer ts.Close()
	for _, body := range []string{`{"note":"x"}`, ""} {
		req, _ := http.NewRequest(http.MethodPut, ts.URL, strings.NewReader(body))
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatalf("body %q: %v", body, err)
		}
		resp.Body.Close()
		if ctxErr := <-ctxErrs; resp.StatusCode != 200 || ctxErr != nil {
			t.Fatalf("slow handler, body %q: %d, context %v", body, resp.StatusCode, ctxErr)
		}
	}
}
