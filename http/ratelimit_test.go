package http

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// limitedErr is what an agent's UserEvent returns past the rate limit
// (the agent's is a *hook.RateLimitedError wrapped with ErrRateLimited).
type limitedErr struct{ after time.Duration }

func (e limitedErr) Error() string {
	return `user event "deploy" is over the rate limit (10/s per name, burst 50): not fired; try again in a moment`
}
func (e limitedErr) RetryAfter() time.Duration { return e.after }

// TestEventRateLimited: POST /v1/event answers an agent's ErrRateLimited
// 429 with {"error": ...} naming the rate and Retry-After in whole
// seconds (at least 1); other UserEvent errors stay 400.
func TestEventRateLimited(t *testing.T) {
	for _, tc := range []struct {
		name       string
		err        error
		status     int
		retryAfter string
		errHas     string
	}{
		{"over the rate", fmt.Errorf("%w: %w", ErrRateLimited, limitedErr{100 * time.Millisecond}), 429, "1", `too many user events: user event "deploy" is over the rate limit (10/s per name, burst 50)`},
		{"slow rate", fmt.Errorf("%w: %w", ErrRateLimited, limitedErr{2500 * time.Millisecond}), 429, "3", "over the rate limit"},
		{"no retry time", ErrRateLimited, 429, "", "too many user events"},
		{"other error", fmt.Errorf("user event exceeds limit of 512 bytes"), 400, "", "512 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAgent()
			f.userErr = tc.err
			rec := httptest.NewRecorder()
			New(f, zerolog.Nop()).Handler().ServeHTTP(rec, localRequest("POST", "/v1/event", strings.NewReader(`{"name":"deploy"}`)))
			var body ErrorResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if rec.Code != tc.status || !strings.Contains(body.Error, tc.errHas) {
				t.Errorf("%d %q, want %d with %q", rec.Code, body.Error, tc.status, tc.errHas)
			}
			if got := rec.Header().Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tc.retryAfter)
			}
		})
	}
}
