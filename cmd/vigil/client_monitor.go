package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	cli "github.com/vigil-agent/vigil/third_party/urfave-cli"

	"github.com/vigil-agent/vigil/events"
)

// Reconnect pacing of vigil monitor.
const (
	// monitorQuickRetry is the pause after a stream that ended without
	// delivering anything, so a server that keeps closing at once is not
	// hammered.
	monitorQuickRetry = 100 * time.Millisecond
	// monitorMinBackoff and monitorMaxBackoff bound the wait between tries
	// while no agent answers.
	monitorMinBackoff = 500 * time.Millisecond
	monitorMaxBackoff = 5 * time.Second
)

func monitorCommand() *cli.Command {
	return &cli.Command{
		Name:  "monitor",
		Usage: "print the agent's events as they happen",
		UsageText: `vigil monitor [-format text|json] [-since ID] [-http-addr ADDR]

Prints the events the agent still keeps, then new ones as they happen, one
line each, until interrupted (Ctrl-C). When the stream ends (the agent
restarted, or the monitor fell behind) it reconnects and resumes after the
last event it printed. When the agent has as many streams open as it
serves (http_max_streams), it says so and retries.

Example:
   vigil monitor -format json | jq .`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Usage: "output `FORMAT`: text (one line per event) or json (each event's JSON)", Value: "text"},
			&cli.Uint64Flag{Name: "since", Usage: "start after event `ID` (0: every event the agent still keeps)"},
			httpAddrFlag(),
		},
		Action: func(cCtx *cli.Context) error {
			if cCtx.NArg() > 0 {
				return usageError("monitor takes no arguments (got %q); flags go before arguments", cCtx.Args().Slice())
			}
			format := cCtx.String("format")
			if format != "text" && format != "json" {
				return usageError("-format %q: want text or json", format)
			}
			c, err := newAPIClient(cCtx)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cCtx.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			m := &monitor{c: c, out: cCtx.App.Writer, errOut: cCtx.App.ErrWriter, json: format == "json", lastID: cCtx.Uint64("since")}
			return m.run(ctx)
		},
	}
}

// monitor follows the agent's event stream across reconnects.
type monitor struct {
	c      *apiClient
	out    io.Writer
	errOut io.Writer
	json   bool
	lastID uint64
}

// run streams until ctx is done (nil) or an error that retrying won't fix:
// no agent at the first try, an API error, or a failed write.
func (m *monitor) run(ctx context.Context) error {
	everConnected, lost := false, false
	var delay time.Duration
	for {
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
		connected, got, err := m.streamOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if !connected {
			var busy *busyError
			if errors.As(err, &busy) {
				// Too many streams or connections: wait for one to close.
				if !lost {
					fmt.Fprintf(m.errOut, "vigil: %s; retrying (Ctrl-C to stop)\n", busy.msg)
					lost = true
				}
				delay = min(max(2*delay, monitorMinBackoff), monitorMaxBackoff)
				continue
			}
			var na *noAnswerError
			if !errors.As(err, &na) {
				return err // the agent answered with an error
			}
			if !everConnected {
				return m.c.transportError(na.err)
			}
			if !lost {
				fmt.Fprintf(m.errOut, "vigil: lost the agent at %s; retrying until it answers (Ctrl-C to stop)\n", m.c.addr)
				lost = true
			}
			delay = min(max(2*delay, monitorMinBackoff), monitorMaxBackoff)
			continue
		}
		if err != nil {
			return err
		}
		if lost {
			fmt.Fprintf(m.errOut, "vigil: reconnected to %s\n", m.c.addr)
			lost = false
		}
		everConnected = true
		delay = 0
		if got == 0 {
			delay = monitorQuickRetry
		}
	}
}

// busyError is a stream request the agent turned away for now: 429 (its
// http_max_streams streams are open) or 503 (its connections are).
type busyError struct{ msg string }

func (e *busyError) Error() string { return e.msg }

// noAnswerError is a stream request that got no HTTP answer at all.
type noAnswerError struct{ err error }

func (e *noAnswerError) Error() string { return e.err.Error() }

// streamOnce reads one event stream until it ends. connected says whether
// the agent answered 200; got counts the events printed. With connected
// false, err is a *noAnswerError when the agent could not be reached, a
// *busyError when it turned the stream away for now, and an API error
// otherwise. With connected true, err is a failed write.
func (m *monitor) streamOnce(ctx context.Context) (connected bool, got int, err error) {
	req, err := http.NewRequestWithContext(ctx, "GET", m.c.base+"/v1/events/stream", nil)
	if err != nil {
		return false, 0, usageError("-http-addr %q: %v", m.c.addr, err)
	}
	req.Header.Set("Accept", "text/event-stream")
	if m.lastID > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatUint(m.lastID, 10))
	}
	resp, err := m.c.hc.Do(req)
	if err != nil {
		return false, 0, &noAnswerError{err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		err := m.c.statusError(resp)
		return false, 0, &busyError{msg: strings.TrimPrefix(err.Error(), "vigil: ")}
	}
	if resp.StatusCode != http.StatusOK {
		return false, 0, m.c.statusError(resp)
	}

	br := bufio.NewReader(resp.Body)
	var id, data string
	var hasData bool
	for {
		line, rerr := br.ReadString('\n')
		if rerr != nil {
			// The stream ended: the server closed it, the connection
			// broke, or ctx was cancelled. A partial frame is dropped;
			// resuming from lastID fetches it again.
			return true, got, nil
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if hasData {
				if err := m.print(id, data); err != nil {
					return true, got, cli.Exit("vigil: write output: "+err.Error(), 1)
				}
				got++
			}
			if n, err := strconv.ParseUint(id, 10, 64); err == nil {
				m.lastID = n
			}
			id, data, hasData = "", "", false
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue // comment (keepalive)
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			id = value
		case "data":
			if hasData {
				data += "\n" + value
			} else {
				data = value
			}
			hasData = true
		}
	}
}

// print writes one event: its JSON, or a line of text.
func (m *monitor) print(id, data string) error {
	if m.json {
		_, err := fmt.Fprintln(m.out, string(safeJSON([]byte(data))))
		return err
	}
	var ev events.Event
	if err := json.Unmarshal([]byte(data), &ev); err != nil {
		_, err := fmt.Fprintf(m.out, "event %s: %s\n", safeText(id), safeText(data))
		return err
	}
	_, err := fmt.Fprintln(m.out, formatEventLine(&ev))
	return err
}

// formatEventLine renders an event as one line: time, id, type, and the
// members or the user event's name and payload, escaped (safeText,
// strconv.Quote) so that the line stays one line.
func formatEventLine(ev *events.Event) string {
	var detail string
	switch {
	case ev.User != nil:
		detail = safeText(ev.User.Name)
		if ev.User.Payload != "" {
			detail += " payload=" + strconv.Quote(ev.User.Payload)
		}
	default:
		names := make([]string, len(ev.Members))
		for i, mem := range ev.Members {
			names[i] = safeText(mem.Name)
		}
		detail = strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s %6d %-13s %s", ev.Time.Local().Format(time.RFC3339), ev.ID, safeText(string(ev.Type)), detail)
}
