package membership

import (
	"bytes"
	"log"
	"sync"

	"github.com/rs/zerolog"
)

// logWriter routes the standard-library log lines of serf and memberlist
// ("[WARN] memberlist: ...") into zerolog at the matching level.
type logWriter struct {
	logger zerolog.Logger
	// onRefute, when set, is called for every line that reports a
	// refutation (see reannounce.go), whatever the log level. It runs on
	// memberlist's goroutine with memberlist's locks held.
	onRefute func(dead bool)
	// refusals, when set, takes memberlist's "ignoring alive message"
	// lines (a member refused, by vigil's gate or by serf), which repeat
	// at every announcement and carry the whole name: each is logged once
	// per member by refusals instead (validate.go).
	refusals *refusals

	rejectOnce sync.Once
	rejected   *rejectLimiter // lines about rejected input (loglimit.go)
}

// rejects returns the writer's limiter of lines about rejected input.
func (w *logWriter) rejects() *rejectLimiter {
	w.rejectOnce.Do(func() { w.rejected = newRejectLimiter(w.logger) })
	return w.rejected
}

func newStdLogger(l zerolog.Logger, component string) *log.Logger {
	return log.New(&logWriter{logger: l.With().Str("component", component).Logger()}, "", 0)
}

// newMemberlistLogger is newStdLogger for memberlist, calling onRefute for
// each refutation it logs.
func newMemberlistLogger(l zerolog.Logger, onRefute func(dead bool)) *log.Logger {
	return log.New(&logWriter{logger: l.With().Str("component", "memberlist").Logger(), onRefute: onRefute}, "", 0)
}

// ignoredAlivePrefix starts memberlist's line for an alive message its
// alive delegate (serf, and vigil's gate through serf) refused.
var ignoredAlivePrefix = []byte("memberlist: ignoring alive message for '")

// refusedLine reports whether line (without its level) is a refusal of a
// member, which it hands to w.refusals: then the line is not logged.
func (w *logWriter) refusedLine(line []byte) bool {
	if w.refusals == nil {
		return false
	}
	if bytes.Contains(line, []byte(refusedMark)) {
		return true // the gate has logged it
	}
	rest, ok := bytes.CutPrefix(line, ignoredAlivePrefix)
	if !ok {
		return false
	}
	name, reason := rest, []byte("refused by serf")
	if i := bytes.LastIndex(rest, []byte("': ")); i >= 0 {
		name, reason = rest[:i], rest[i+3:]
	} else if i := bytes.LastIndex(rest, []byte("' (")); i >= 0 {
		name, reason = rest[:i], rest[i+2:]
	}
	w.refusals.report(true, string(name), "", string(reason))
	return true
}

var levelPrefixes = []struct {
	prefix []byte
	level  zerolog.Level
}{
	{[]byte("[TRACE]"), zerolog.TraceLevel},
	{[]byte("[DEBUG]"), zerolog.DebugLevel},
	{[]byte("[INFO]"), zerolog.InfoLevel},
	{[]byte("[WARN]"), zerolog.WarnLevel},
	{[]byte("[ERR]"), zerolog.ErrorLevel},
	{[]byte("[ERROR]"), zerolog.ErrorLevel},
}

// Write implements io.Writer, one log line per call as package log does.
func (w *logWriter) Write(p []byte) (int, error) {
	line := bytes.TrimSpace(p)
	if w.onRefute != nil && isRefutation(line) {
		w.onRefute(bytes.Contains(line, deadRefutationMark))
	}
	level := zerolog.InfoLevel
	for _, lp := range levelPrefixes {
		if bytes.HasPrefix(line, lp.prefix) {
			level = lp.level
			line = bytes.TrimSpace(line[len(lp.prefix):])
			break
		}
	}
	if w.refusedLine(line) {
		return len(p), nil
	}
	if kind := rejectedKind(line); kind != "" && !w.rejects().allow(kind, line, level) {
		return len(p), nil
	}
	ev := w.logger.WithLevel(level)
	if hint := encryptionHint(string(line)); hint != "" {
		// memberlist says only that it could not decrypt; say why, and make
		// sure it is seen even when memberlist logged it below warn.
		if level < zerolog.WarnLevel {
			ev = w.logger.WithLevel(zerolog.WarnLevel)
		}
		ev = ev.Str("hint", hint)
	}
	ev.Msg(string(line))
	return len(p), nil
}
