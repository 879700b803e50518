package probes

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// statusServer answers every request with code and body.
func statusServer(t *testing.T, code int, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestHTTPStatusMapping(t *testing.T) {
	tests := []struct {
		code int
		want Status
	}{
		{200, Passing},
		{201, Passing},
		{204, Passing},
		{299, Passing},
		{429, Warning},
		{301, Critical}, // a redirect without Location is not followed
		{404, Critical},
		{500, Critical},
		{503, Critical},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.code), func(t *testing.T) {
			srv := statusServer(t, tt.code, "")
			res := runProbe(t, Definition{ID: "web", HTTP: srv.URL + "/health"})
			if res.status != tt.want {
				t.Errorf("%d: status %s, want %s (output %q)", tt.code, res.status, tt.want, res.output)
			}
			wantPrefix := "HTTP GET " + srv.URL + "/health: " + strconv.Itoa(tt.code) + " "
			if !strings.HasPrefix(res.output, wantPrefix) || !strings.HasSuffix(res.output, " Output: ") {
				t.Errorf("output %q, want %q...%q", res.output, wantPrefix, " Output: ")
			}
		})
	}
}

func TestHTTPRedirectFollowed(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/old", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/new", http.StatusFound)
	})
	mux.HandleFunc("/new", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "moved here") })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	res := runProbe(t, Definition{ID: "web", HTTP: srv.URL + "/old"})
	if res.status != Passing || !strings.HasSuffix(res.output, "200 OK Output: moved here") {
		t.Errorf("status %s output %q, want passing after the redirect", res.status, res.output)
	}
}

func TestHTTPTimeout(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	t.Cleanup(srv.Close)

	start := time.Now()
	res := runProbe(t, Definition{ID: "slow", HTTP: srv.URL, Timeout: Duration(200 * time.Millisecond)})
	if res.status != Critical || !strings.Contains(res.output, "timed out after 200ms") {
		t.Errorf("status %s output %q, want critical timed out", res.status, res.output)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("took %s for a 200ms timeout", el)
	}
}

func TestHTTPRequestSent(t *testing.T) {
	type seen struct {
		method, body, token, host, ua string
		accept                        []string
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, string(b), r.Header.Get("X-Token"), r.Host, r.UserAgent(), r.Header.Values("Accept")}
	}))
	t.Cleanup(srv.Close)

	res := runProbe(t, Definition{
		ID: "web", HTTP: srv.URL + "/deep", Method: "POST", Body: `{"deep":true}`,
		Header: map[string][]string{"X-Token": {"s3cret"}, "Host": {"svc.local"}, "accept": {"application/json"}},
	})
	if res.status != Passing {
		t.Fatalf("status %s output %q", res.status, res.output)
	}
	s := <-got
	if s.method != "POST" || s.body != `{"deep":true}` || s.token != "s3cret" || s.host != "svc.local" ||
		s.ua != "vigil-health-check" || len(s.accept) != 1 || s.accept[0] != "application/json" {
		t.Errorf("server saw %+v", s)
	}
	if !strings.HasPrefix(res.output, "HTTP POST "+srv.URL+"/deep: 200 OK") {
		t.Errorf("output %q", res.output)
	}
}

func TestHTTPBodyTruncated(t *testing.T) {
	body := strings.Repeat("a", MaxOutput) + "TAIL-NOT-KEPT"
	srv := statusServer(t, 500, body)
	res := runProbe(t, Definition{ID: "web", HTTP: srv.URL})
	_, out, ok := strings.Cut(res.output, " Output: ")
	if !ok || len(out) != MaxOutput || strings.Contains(out, "TAIL") {
		t.Errorf("output body of %d bytes (want %d), ok %v", len(out), MaxOutput, ok)
	}
	if res.status != Critical {
		t.Errorf("status %s", res.status)
	}
}

func TestHTTPNoKeepAlive(t *testing.T) {
	conns := make(chan string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conns <- r.RemoteAddr
	}))
	t.Cleanup(srv.Close)
	d := Definition{ID: "web", HTTP: srv.URL}.WithDefaults()
	p := newProber(d)
	t.Cleanup(p.close)
	for range 2 {
		if res := p.probe(t.Context()); res.status != Passing {
			t.Fatalf("status %s output %q", res.status, res.output)
		}
	}
	if a, b := <-conns, <-conns; a == b {
		t.Errorf("both runs came from %s: the connection was reused", a)
	}
}

func TestHTTPConnectionRefused(t *testing.T) {
	srv := statusServer(t, 200, "")
	url := srv.URL
	srv.Close()
	res := runProbe(t, Definition{ID: "web", HTTP: url})
	if res.status != Critical || !strings.Contains(res.output, "HTTP GET "+url+": ") {
		t.Errorf("status %s output %q", res.status, res.output)
	}
}
