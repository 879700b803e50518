package membership

import (
	"bytes"
	"log"

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
}

func newStdLogger(l zerolog.Logger, component string) *log.Logger {
	return log.New(&logWriter{logger: l.With().Str("component", component).Logger()}, "", 0)
}

// newMemberlistLogger is newStdLogger for memberlist, calling onRefute for
// each refutation it logs.
func newMemberlistLogger(l zerolog.Logger, onRefute func(dead bool)) *log.Logger {
	return log.New(&logWriter{logger: l.With().Str("component", "memberlist").Logger(), onRefute: onRefute}, "", 0)
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
