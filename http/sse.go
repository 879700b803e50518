package http

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/vigil-agent/vigil/events"
)

// handleStream serves GET /v1/events/stream: the kept events above since
// (the Last-Event-ID header, else ?since=, else 0), then live events, as
// Server-Sent Events. The response ends when the client goes away, the
// server shuts down, or the client falls so far behind that the ring cuts it
// off; in the last case the client reconnects with Last-Event-ID and loses
// nothing the ring still keeps. Past WithMaxStreams open streams, a new
// one is answered 429.
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) {
	since, err := parseSince("since", r.URL.Query().Get("since"))
	if err != nil {
		writeAPIError(w, err)
		return
	}
	if h := r.Header.Get("Last-Event-ID"); h != "" {
		if since, err = parseSince("Last-Event-ID", h); err != nil {
			writeAPIError(w, err)
			return
		}
	}

	if !s.acquireStream(w) {
		return
	}
	defer s.releaseStream()

	backlog, sub := s.agent.Events().Subscribe(since)
	defer sub.Cancel()

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// A write deadline per write cuts off a client that stops reading, so
	// the handler can't block forever; clear it when done so the
	// connection's later use isn't affected.
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()
	if err := s.flushStream(rc); err != nil {
		return
	}

	last := since
	var buf bytes.Buffer
	send := func(ev events.Event) error {
		if ev.ID <= last {
			return nil
		}
		buf.Reset()
		if err := writeSSE(&buf, ev); err != nil {
			return err
		}
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteStall))
		if _, err := w.Write(buf.Bytes()); err != nil {
			return err
		}
		last = ev.ID
		return nil
	}
	for _, ev := range backlog {
		if err := send(ev); err != nil {
			return
		}
	}
	if err := s.flushStream(rc); err != nil {
		return
	}

	keepalive := time.NewTicker(s.keepalive)
	defer keepalive.Stop()
	for {
		select {
		case ev, ok := <-sub.C():
			if !ok {
				// Lagged (or cancelled): end the response; the client
				// resumes from the last id it saw.
				if sub.Lagged() {
					s.log.Debug().Uint64("last_id", last).Msg("event stream client fell behind; ending stream")
				}
				return
			}
			if err := send(ev); err != nil {
				return
			}
			// Send whatever else is already queued before flushing.
			for drained := false; !drained; {
				select {
				case ev, ok := <-sub.C():
					if !ok {
						_ = s.flushStream(rc)
						return
					}
					if err := send(ev); err != nil {
						return
					}
				default:
					drained = true
				}
			}
			if err := s.flushStream(rc); err != nil {
				return
			}
		case <-keepalive.C:
			_ = rc.SetWriteDeadline(time.Now().Add(streamWriteStall))
			if _, err := w.Write([]byte(": keepalive\n\n")); err != nil {
				return
			}
			if err := s.flushStream(rc); err != nil {
				return
			}
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
	}
}

// flushStream pushes what was written to the client. A writer that can't
// flush can't stream, so its error ends the stream too.
func (s *Server) flushStream(rc *http.ResponseController) error {
	return rc.Flush()
}

// writeSSE appends one event in Server-Sent Events form. The JSON encoding
// has no raw newlines, so one data line carries it.
func writeSSE(buf *bytes.Buffer, ev events.Event) error {
	data, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	buf.WriteString("id: ")
	buf.WriteString(strconv.FormatUint(ev.ID, 10))
	buf.WriteString("\nevent: ")
	buf.WriteString(string(ev.Type))
	buf.WriteString("\ndata: ")
	buf.Write(data)
	buf.WriteString("\n\n")
	return nil
}
