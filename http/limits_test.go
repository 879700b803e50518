package http

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// limitedServer serves the API with opts on a 127.0.0.1 listener capped
// at maxConns connections, through Serve as the agent does.
func limitedServer(t *testing.T, maxConns int, opts ...Option) (string, *Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(newFakeAgent(), zerolog.Nop(), opts...)
	served := make(chan error, 1)
	go func() { served <- s.Serve(LimitListener(ln, maxConns, nil)) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String(), s
}

// getStatus sends one GET on a new connection and returns the status and
// the JSON error, if any.
func getStatus(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: waitFor}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var e ErrorResponse
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("GET %s: %s, body %q is not a JSON error", url, resp.Status, b)
		}
	}
	return resp.StatusCode, e.Error
}

// eventually retries f until it returns nil or waitFor passes.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStreamCap: with http_max_streams 2, two streams are held open, the
// third is a 429 with a JSON error, ordinary requests still work, and
// once a stream ends a new one is served.
func TestStreamCap(t *testing.T) {
	base, s := limitedServer(t, 8, WithMaxStreams(2))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	first := openStream(t, ctx, base+"/v1/events/stream", "")
	openStream(t, t.Context(), base+"/v1/events/stream", "")

	st, msg := getStatus(t, base+"/v1/events/stream")
	if st != http.StatusTooManyRequests || !strings.Contains(msg, "too many event streams: this agent serves at most 2 at once (http_max_streams)") {
		t.Errorf("third stream: %d %q, want 429 naming http_max_streams", st, msg)
	}
	for _, path := range []string{"/v1/members", "/healthz", "/v1/events"} {
		if st, msg := getStatus(t, base+path); st != 200 {
			t.Errorf("GET %s while the streams are capped: %d %s", path, st, msg)
		}
	}

	cancel()
	<-first.ended
	eventually(t, "a stream after one ended", func() error {
		if n := s.streams.Load(); n != 1 {
			return fmt.Errorf("%d streams open, want 1", n)
		}
		return nil
	})
	openStream(t, t.Context(), base+"/v1/events/stream", "")
}

// TestConnectionCap: with http_max_connections 3, three connections held
// open (sending nothing, like a flood) leave a fourth a 503 with a JSON
// error; closing one lets requests through again.
func TestConnectionCap(t *testing.T) {
	base, _ := limitedServer(t, 3)
	addr := strings.TrimPrefix(base, "http://")
	var held []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		held = append(held, c)
	}

	// The fourth connection: its request is answered 503.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(waitFor))
	fmt.Fprintf(c, "GET /v1/members HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("fourth connection: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var e ErrorResponse
	if resp.StatusCode != http.StatusServiceUnavailable || json.Unmarshal(b, &e) != nil ||
		!strings.Contains(e.Error, "at most 3 API connections at once (http_max_connections)") ||
		resp.Header.Get("Retry-After") != "1" || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("fourth connection: %s %v %s, want a 503 JSON error naming http_max_connections", resp.Status, resp.Header, b)
	}

	// A Go client over the cap gets the 503 as an answer, not an error.
	if st, msg := getStatus(t, base+"/healthz"); st != http.StatusServiceUnavailable || !strings.Contains(msg, "http_max_connections") {
		t.Errorf("GET over the cap: %d %q, want 503", st, msg)
	}

	held[0].Close()
	eventually(t, "a request once a connection closed", func() error {
		if st, msg := getStatus(t, base+"/v1/members"); st != 200 {
			return fmt.Errorf("%d %s", st, msg)
		}
		return nil
	})
}

// TestConnectionCapFlood: a burst of connections far over the cap that
// send nothing is closed, never queued: each is closed within a second or
// so, and the server serves again afterwards.
func TestConnectionCapFlood(t *testing.T) {
	base, _ := limitedServer(t, 2)
	addr := strings.TrimPrefix(base, "http://")
	const n = 100
	var conns []net.Conn
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	start := time.Now()
	closed := 0
	for _, c := range conns[2:] {
		_ = c.SetReadDeadline(time.Now().Add(waitFor))
		if _, err := io.Copy(io.Discard, c); err == nil || !isTimeout(err) {
			closed++
		}
	}
	if closed != n-2 {
		t.Errorf("%d of %d connections over the cap were closed by the server", closed, n-2)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("closing the connections over the cap took %s", d)
	}
	for _, c := range conns {
		c.Close()
	}
	eventually(t, "a request after the flood", func() error {
		if st, msg := getStatus(t, base+"/healthz"); st != 200 {
			return fmt.Errorf("%d %s", st, msg)
		}
		return nil
	})
}

func isTimeout(err error) bool {
	var ne net.Error
	return err != nil && errors.As(err, &ne) && ne.Timeout()
}
