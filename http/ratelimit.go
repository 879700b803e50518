package http

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"
)

// ErrRateLimited is wrapped by an Agent's UserEvent error when the
// event's name is over the user event rate limit: POST /v1/event answers
// it 429, with a Retry-After header when the error also has a
// RetryAfter() time.Duration method.
var ErrRateLimited = errors.New("too many user events")

// writeRateLimited answers a user event refused by the rate limit: 429,
// {"error": ...} naming the limit, and Retry-After in whole seconds (at
// least 1).
func writeRateLimited(w http.ResponseWriter, err error) {
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) && ra.RetryAfter() > 0 {
		secs := max(1, int(math.Ceil(ra.RetryAfter().Seconds())))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	writeError(w, http.StatusTooManyRequests, err.Error())
}
