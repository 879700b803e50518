package agent

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/events"
	"github.com/vigil-agent/vigil/events/hook"
	vigilhttp "github.com/vigil-agent/vigil/http"
)

// TestDocsUserEventLimitExample validates configuration.md's
// user_event_rate example.
func TestDocsUserEventLimitExample(t *testing.T) {
	example := docBlock(t, "../docs/configuration.md", "### `user_event_rate`")
	checkValidate(t, "name: db-2\n"+example, "")
	cfg := Default()
	if err := cfg.LoadFile(writeFile(t, example)); err != nil {
		t.Fatal(err)
	}
	if cfg.UserEventRate != 2 || cfg.UserEventBurst != 100 {
		t.Errorf("the example sets rate %v, burst %d; the doc says 2 and 100", cfg.UserEventRate, cfg.UserEventBurst)
	}
}

func TestUserEventLimitValidation(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"user_event_rate: 10\nuser_event_burst: 50\n", ""},
		{"user_event_rate: 0.5\nuser_event_burst: 1\n", ""},
		{"user_event_rate: 0\nuser_event_burst: 0\n", ""},
		{"user_event_rate: 0\n", ""},
		{"user_event_rate: -1\n", "user_event_rate: -1: must not be negative"},
		{"user_event_rate: .nan\n", "user_event_rate: NaN: want a number"},
		{"user_event_rate: .inf\n", "user_event_rate: +Inf: want a number"},
		{"user_event_burst: -3\n", "user_event_burst: -3: must not be negative"},
		{"user_event_burst: 0\n", "user_event_burst: 0 with user_event_rate 10: must be at least 1"},
	} {
		t.Run(tc.body, func(t *testing.T) { checkValidate(t, "name: n\n"+tc.body, tc.want) })
	}
}

func TestUserEventLimitDefaultsAndEnv(t *testing.T) {
	cfg := Default()
	if cfg.UserEventRate != 10 || cfg.UserEventBurst != 50 {
		t.Errorf("defaults rate %v, burst %d; want 10 and 50", cfg.UserEventRate, cfg.UserEventBurst)
	}
	env := map[string]string{"VIGIL_USER_EVENT_RATE": "0.25", "VIGIL_USER_EVENT_BURST": "7"}
	if err := cfg.ApplyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if cfg.UserEventRate != 0.25 || cfg.UserEventBurst != 7 {
		t.Errorf("from the environment: rate %v, burst %d; want 0.25 and 7", cfg.UserEventRate, cfg.UserEventBurst)
	}
	env = map[string]string{"VIGIL_USER_EVENT_RATE": "fast"}
	if err := cfg.ApplyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err == nil || !strings.Contains(err.Error(), `"fast" is not a number`) {
		t.Errorf("VIGIL_USER_EVENT_RATE=fast: %v", err)
	}
}

// TestUserEventRateLimitOnAgent: on a running agent with a limit of 1/s
// and a burst of 3, POST /v1/event answers 429 past the burst (naming the
// rate, with Retry-After), other names are limited apart; received events
// over the limit run no hook but stay in the event ring, and both kinds
// are counted in vigil_user_events_limited_total.
func TestUserEventRateLimitOnAgent(t *testing.T) {
	out := filepath.Join(t.TempDir(), "runs")
	a := startTestAgent(t, http.DefaultClient, func(c *Config) {
		c.UserEventRate, c.UserEventBurst = 1, 3
		c.Hooks = []HookConfig{{Name: "log", On: []string{"user"}, Shell: `echo "$VIGIL_USER_EVENT" >> "` + out + `"`}}
	})
	fire := func(name string) (int, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+a.http+"/v1/event", strings.NewReader(`{"name":"`+name+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+a.token) // the token the agent made
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), resp.Header
	}
	for i := range 3 {
		if st, body, _ := fire("deploy"); st != 200 {
			t.Fatalf("event %d of the burst: %d %s", i+1, st, body)
		}
	}
	for range 2 {
		st, body, h := fire("deploy")
		var e struct{ Error string }
		if st != 429 || json.Unmarshal([]byte(body), &e) != nil || !strings.Contains(e.Error, `user event "deploy" is over the rate limit (1/s per name, burst 3)`) {
			t.Fatalf("past the burst: %d %s, want 429 naming the rate", st, body)
		}
		if h.Get("Retry-After") != "1" {
			t.Errorf("Retry-After %q, want 1", h.Get("Retry-After"))
		}
	}
	if st, body, _ := fire("restart"); st != 200 {
		t.Fatalf("another name: %d %s, want 200", st, body)
	}
	waitUntil(t, 10*time.Second, "the hook's runs for the 4 fired events", func() bool {
		b, _ := os.ReadFile(out)
		return strings.Count(string(b), "\n") == 4
	})

	// Received: 10 events of one name from the gossip layer, as a flooding
	// member would send them.
	for range 10 {
		a.publish(events.Event{Type: events.User, Time: time.Now(), User: &events.UserEvent{Name: "flood"}})
	}
	var dropped []events.Run
	waitUntil(t, 10*time.Second, "the limited events' dropped record", func() bool {
		dropped = nil
		for _, run := range a.HookRuns() {
			if run.Outcome == events.OutcomeDropped {
				dropped = append(dropped, run)
			}
		}
		return len(dropped) > 0
	})
	if len(dropped) != 1 || !strings.Contains(dropped[0].Reason, "7 user events not run") {
		t.Errorf("dropped records %+v, want one counting 7 events", dropped)
	}
	b, _ := os.ReadFile(out)
	if n := strings.Count(string(b), "flood\n"); n != 3 {
		t.Errorf("the hook ran %d times for flood, want the burst, 3", n)
	}
	inRing := 0
	for _, ev := range a.Events().Since(0) {
		if ev.User != nil && ev.User.Name == "flood" {
			inRing++
		}
	}
	if inRing != 10 {
		t.Errorf("%d flood events in the ring, want all 10", inRing)
	}
	fams := scrape(t, a.http)
	for dir, want := range map[string]float64{"fired": 2, "received": 7} {
		if v, ok := value(fams, "vigil_user_events_limited_total", "direction", dir); !ok || v != want {
			t.Errorf("vigil_user_events_limited_total{direction=%q} = %v (%v), want %v", dir, v, ok, want)
		}
	}
}

// TestReloadUserEventLimit: a reload applies a changed limit to received
// and fired events alike.
func TestReloadUserEventLimit(t *testing.T) {
	cfg := Default()
	cfg.Name = "reload-limit"
	a, err := New(cfg, zerolog.Nop(), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer a.runner.Close(context.Background())
	next := cfg
	next.UserEventRate, next.UserEventBurst = 0.5, 2
	a.reloadUserEventLimit(&next)
	want := hook.RateLimit{Rate: 0.5, Burst: 2}
	if got := a.runner.UserEventLimit(); got != want {
		t.Errorf("received events' limit %v, want %v", got, want)
	}
	if got := a.fired.Limit(); got != want {
		t.Errorf("fired events' limit %v, want %v", got, want)
	}
	if err := a.allowFire("x"); err != nil {
		t.Fatal(err)
	}
	if err := a.allowFire("x"); err != nil {
		t.Fatal(err)
	}
	if err := a.allowFire("x"); !errors.Is(err, vigilhttp.ErrRateLimited) {
		t.Errorf("third event past a burst of 2: %v, want ErrRateLimited", err)
	}
}
