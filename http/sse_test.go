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
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/vigil-agent/vigil/events"
)

const waitFor = 5 * time.Second

// sseFrame is one parsed Server-Sent Events frame, or a comment.
type sseFrame struct {
	id, event, data string
	comment         string
}

// sseClient reads an event stream in the background.
type sseClient struct {
	resp   *http.Response
	frames chan sseFrame
	ended  chan error // receives the read error (io.EOF on a clean end)
}

func openStream(t *testing.T, ctx context.Context, url string, lastEventID string) *sseClient {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type = %q", ct)
	}
	c := &sseClient{resp: resp, frames: make(chan sseFrame, 1024), ended: make(chan error, 1)}
	go func() {
		br := bufio.NewReader(resp.Body)
		var f sseFrame
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				c.ended <- err
				return
			}
			line = strings.TrimSuffix(line, "\n")
			switch {
			case line == "":
				if f != (sseFrame{}) {
					c.frames <- f
				}
				f = sseFrame{}
			case strings.HasPrefix(line, ":"):
				f.comment = strings.TrimSpace(line[1:])
			default:
				k, v, _ := strings.Cut(line, ":")
				v = strings.TrimPrefix(v, " ")
				switch k {
				case "id":
					f.id = v
				case "event":
					f.event = v
				case "data":
					f.data = v
				}
			}
		}
	}()
	return c
}

// next returns the next event frame, skipping comments.
func (c *sseClient) next(t *testing.T) sseFrame {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		select {
		case f := <-c.frames:
			if f.comment != "" && f.id == "" {
				continue
			}
			return f
		case err := <-c.ended:
			t.Fatalf("stream ended while waiting for an event: %v", err)
		case <-deadline:
			t.Fatalf("no event within %s", waitFor)
		}
	}
}

// expectIDs reads events and checks their ids, types and data.
func (c *sseClient) expectIDs(t *testing.T, ids ...uint64) {
	t.Helper()
	for _, id := range ids {
		f := c.next(t)
		if f.id != strconv.FormatUint(id, 10) {
			t.Fatalf("event id %q, want %d", f.id, id)
		}
		var ev events.Event
		if err := json.Unmarshal([]byte(f.data), &ev); err != nil {
			t.Fatalf("event %s data %q: %v", f.id, f.data, err)
		}
		if ev.ID != id || string(ev.Type) != f.event {
			t.Fatalf("event frame id=%s event=%s has data id=%d type=%s", f.id, f.event, ev.ID, ev.Type)
		}
	}
}

// expectQuiet checks no event frame is pending.
func (c *sseClient) expectQuiet(t *testing.T) {
	t.Helper()
	for {
		select {
		case f := <-c.frames:
			if f.id != "" {
				t.Fatalf("unexpected event %+v", f)
			}
		default:
			return
		}
	}
}

func (c *sseClient) expectEnd(t *testing.T) {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		select {
		case <-c.frames:
		case <-c.ended:
			return
		case <-deadline:
			t.Fatalf("stream still open after %s", waitFor)
		}
	}
}

func member(name string) []events.Member {
	return []events.Member{{Name: name, Addr: "10.0.0.1", Port: 7946, Status: "alive"}}
}

func newStreamServer(t *testing.T) (*fakeAgent, *Server, *httptest.Server) {
	t.Helper()
	f := newFakeAgent()
	s := New(f, zerolog.Nop())
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return f, s, ts
}

func TestStreamBacklogThenLive(t *testing.T) {
	f, _, ts := newStreamServer(t)
	f.ring.Publish(events.Event{Type: events.MemberJoin, Members: member("a")})
	f.ring.Publish(events.Event{Type: events.MemberFailed, Members: member("b")})

	c := openStream(t, t.Context(), ts.URL+"/v1/events/stream", "")
	c.expectIDs(t, 1, 2)

	f.ring.Publish(events.Event{Type: events.User, User: &events.UserEvent{Name: "deploy", Payload: "v2"}})
	c.expectIDs(t, 3)
	f.ring.Publish(events.Event{Type: events.MemberLeave, Members: member("c")})
	c.expectIDs(t, 4)
	c.expectQuiet(t)
}

func TestStreamSinceAndLastEventID(t *testing.T) {
	cases := []struct {
		name   string
		query  string
		header string
		first  uint64
	}{
		{name: "since query", query: "?since=2", first: 3},
		{name: "Last-Event-ID header", header: "3", first: 4},
		{name: "header wins over query", query: "?since=1", header: "4", first: 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, _, ts := newStreamServer(t)
			for i := 0; i < 5; i++ {
				f.ring.Publish(events.Event{Type: events.MemberJoin, Members: member(fmt.Sprint("n", i))})
			}
			c := openStream(t, t.Context(), ts.URL+"/v1/events/stream"+tc.query, tc.header)
			var want []uint64
			for id := tc.first; id <= 5; id++ {
				want = append(want, id)
			}
			c.expectIDs(t, want...)
			f.ring.Publish(events.Event{Type: events.MemberUpdate, Members: member("n0")})
			c.expectIDs(t, 6)
			c.expectQuiet(t)
		})
	}
}

// TestStreamResume reads part of a stream, disconnects, and resumes with the
// last id seen: every event arrives exactly once.
func TestStreamResume(t *testing.T) {
	f, _, ts := newStreamServer(t)
	for i := 0; i < 3; i++ {
		f.ring.Publish(events.Event{Type: events.MemberJoin, Members: member(fmt.Sprint("n", i))})
	}
	ctx, cancel := context.WithCancel(t.Context())
	c := openStream(t, ctx, ts.URL+"/v1/events/stream", "")
	c.expectIDs(t, 1, 2, 3)
	cancel()
	c.expectEnd(t)

	f.ring.Publish(events.Event{Type: events.MemberFailed, Members: member("n1")})
	f.ring.Publish(events.Event{Type: events.MemberLeave, Members: member("n2")})
	c2 := openStream(t, t.Context(), ts.URL+"/v1/events/stream", "3")
	c2.expectIDs(t, 4, 5)
	c2.expectQuiet(t)
}

func TestStreamBadLastEventID(t *testing.T) {
	_, _, ts := newStreamServer(t)
	req, _ := http.NewRequest("GET", ts.URL+"/v1/events/stream", nil)
	req.Header.Set("Last-Event-ID", "nope")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || !strings.Contains(string(body), `Last-Event-ID \"nope\"`) {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
}

func TestStreamKeepalive(t *testing.T) {
	f := newFakeAgent()
	s := New(f, zerolog.Nop())
	s.keepalive = 10 * time.Millisecond
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	c := openStream(t, t.Context(), ts.URL+"/v1/events/stream", "")
	deadline := time.After(waitFor)
	for {
		select {
		case fr := <-c.frames:
			if fr.comment == "keepalive" {
				return
			}
		case <-deadline:
			t.Fatal("no keepalive comment")
		}
	}
}

// TestShutdownEndsStream serves on a real listener: Shutdown must end an
// open stream promptly, and Serve must then return nil.
func TestShutdownEndsStream(t *testing.T) {
	f := newFakeAgent()
	s := New(f, zerolog.Nop())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })

	f.ring.Publish(events.Event{Type: events.MemberJoin, Members: member("a")})
	c := openStream(t, t.Context(), "http://"+ln.Addr().String()+"/v1/events/stream", "")
	c.expectIDs(t, 1)

	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v (after %s)", err, time.Since(start))
	}
	c.expectEnd(t)
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve returned %v, want nil", err)
		}
	case <-time.After(waitFor):
		t.Fatal("Serve did not return after Shutdown")
	}
	// Shutdown twice is fine.
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}

// TestStreamClientGoneEndsHandler checks the handler returns (and so cancels
// its subscription) when the client disconnects.
func TestStreamClientGoneEndsHandler(t *testing.T) {
	f := newFakeAgent()
	s := New(f, zerolog.Nop())
	returned := make(chan struct{}, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Handler().ServeHTTP(w, r)
		returned <- struct{}{}
	}))
	t.Cleanup(ts.Close)
	ctx, cancel := context.WithCancel(t.Context())
	c := openStream(t, ctx, ts.URL+"/v1/events/stream", "")
	f.ring.Publish(events.Event{Type: events.MemberJoin, Members: member("a")})
	c.expectIDs(t, 1)
	cancel()
	select {
	case <-returned:
	case <-time.After(waitFor):
		t.Fatal("stream handler still running after the client left")
	}
}

// gatedWriter is a ResponseWriter whose writes after the first flush block
// until released, to stand for a client that stopped reading.
type gatedWriter struct {
	header  http.Header
	mu      sync.Mutex
	body    strings.Builder
	block   bool
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (g *gatedWriter) Header() http.Header { return g.header }
func (g *gatedWriter) WriteHeader(int)     {}
func (g *gatedWriter) Flush()              {}
func (g *gatedWriter) Write(p []byte) (int, error) {
	g.mu.Lock()
	block := g.block
	g.mu.Unlock()
	if block {
		g.once.Do(func() { close(g.entered) })
		<-g.release
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.body.Write(p)
}

// TestStreamLaggedEnds: a client so slow that the ring cuts its
// subscription off gets the events that were queued, then the response
// ends, so it reconnects with Last-Event-ID.
func TestStreamLaggedEnds(t *testing.T) {
	f := newFakeAgent()
	s := New(f, zerolog.Nop())
	g := &gatedWriter{header: http.Header{}, entered: make(chan struct{}), release: make(chan struct{})}
	g.block = true
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Handler().ServeHTTP(g, localRequest("GET", "/v1/events/stream", nil))
	}()
	// Wait until the handler is subscribed: the first publish reaches it and
	// its write blocks.
	deadline := time.Now().Add(waitFor)
	for {
		f.ring.Publish(events.Event{Type: events.MemberJoin, Members: member("a")})
		select {
		case <-g.entered:
		case <-time.After(10 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("stream handler never wrote")
			}
			continue
		}
		break
	}
	// Overflow the subscriber's buffer while the handler is stuck.
	for i := 0; i < 1000; i++ {
		f.ring.Publish(events.Event{Type: events.MemberUpdate, Members: member("a")})
	}
	last := f.ring.LastID()
	close(g.release)
	select {
	case <-done:
	case <-time.After(waitFor):
		t.Fatal("lagged stream did not end")
	}
	g.mu.Lock()
	body := g.body.String()
	g.mu.Unlock()
	if n := strings.Count(body, "\nevent: "); n == 0 || uint64(n) >= last {
		t.Fatalf("lagged stream sent %d of %d events", n, last)
	}
}
