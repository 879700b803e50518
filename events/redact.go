package events

import "strings"

// Redacted is what a secret (the agent's API token) is replaced by in hook
// output, errors and reasons, wherever they are shown or logged.
const Redacted = "[redacted]"

// RedactString returns s with every occurrence of secret replaced by
// Redacted. An empty secret changes nothing.
func RedactString(s, secret string) string {
	if secret == "" || !strings.Contains(s, secret) {
		return s
	}
	return strings.ReplaceAll(s, secret, Redacted)
}

// Redact returns r with every occurrence of secret in its Output, Error
// and Reason replaced by Redacted (RedactString), and whether any was.
func (r Run) Redact(secret string) (Run, bool) {
	if secret == "" || (!strings.Contains(r.Output, secret) && !strings.Contains(r.Error, secret) && !strings.Contains(r.Reason, secret)) {
		return r, false
	}
	r.Output = RedactString(r.Output, secret)
	r.Error = RedactString(r.Error, secret)
	r.Reason = RedactString(r.Reason, secret)
	return r, true
}

// RedactRuns returns runs with secret redacted from each (Run.Redact).
// runs itself is never changed (a history may be shared): when a run
// holds the secret, the result is a copy; when none does, it is runs.
func RedactRuns(runs []Run, secret string) []Run {
	if secret == "" {
		return runs
	}
	var out []Run
	for i, r := range runs {
		red, changed := r.Redact(secret)
		if changed && out == nil {
			out = append(make([]Run, 0, len(runs)), runs[:i]...)
		}
		if out != nil {
			out = append(out, red)
		}
	}
	if out == nil {
		return runs
	}
	return out
}
