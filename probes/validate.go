package probes

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var (
	idRe    = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	tokenRe = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

// Validate reports every problem of the definition, defaults applied, in
// one error whose parts name the field ("interval 500ms: below the 1s
// minimum; tcp \"db\": want host:port"). It checks that exactly one kind is
// set; the id is non-empty and only letters, digits, '_', '.' and '-';
// interval and ttl are at least 1s; the timeout is positive; thresholds are
// not negative; the initial status is valid; an HTTP URL parses with an http
// or https scheme; TCP and gRPC addresses are host:port; and fields of one
// kind are not set on another.
func (d *Definition) Validate() error {
	def := d.WithDefaults()
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }

	switch {
	case def.ID == "":
		add("id: required")
	case !idRe.MatchString(def.ID):
		add("id %q: want letters, digits, '_', '.' or '-'", def.ID)
	}

	kinds := def.kinds()
	switch len(kinds) {
	case 0:
		add("kind: set one of http, tcp, exec, grpc or ttl")
	case 1:
	default:
		add("kind: %s are all set; set exactly one", strings.Join(kinds, ", "))
	}
	kind := def.Kind()

	if def.HTTP != "" {
		if err := validateURL(def.HTTP); err != nil {
			add("http %q: %v", def.HTTP, err)
		}
	}
	if def.TCP != "" {
		if err := validateHostPort(def.TCP); err != nil {
			add("tcp %q: %v", def.TCP, err)
		}
	}
	if def.GRPC != "" {
		if err := validateHostPort(def.GRPC); err != nil {
			add("grpc %q: %v", def.GRPC, err)
		}
	}
	if len(def.Exec) > 0 && def.Exec[0] == "" {
		add("exec: the program (first element) is empty")
	}
	if def.TTL < 0 || (def.TTL > 0 && time.Duration(def.TTL) < MinInterval) {
		add("ttl %s: below the %s minimum", def.TTL, MinInterval)
	}

	// Fields of one kind set on another are mistakes, not harmless extras.
	if kind != "" && kind != KindHTTP {
		for _, f := range []struct {
			name string
			set  bool
		}{{"method", def.Method != ""}, {"header", len(def.Header) > 0}, {"body", def.Body != ""}, {"tls_skip_verify", def.TLSSkipVerify}} {
			if f.set {
				add("%s: only http checks use it", f.name)
			}
		}
	}
	if kind == KindHTTP {
		if !tokenRe.MatchString(def.Method) {
			add("method %q: not an HTTP method", def.Method)
		}
		for k := range def.Header {
			if !tokenRe.MatchString(k) {
				add("header %q: not a valid header name", k)
			}
			for _, v := range def.Header[k] {
				if strings.ContainsAny(v, "\r\n\x00") {
					add("header %q: value has a line break or NUL", k)
				}
			}
		}
	}
	if kind != "" && kind != KindGRPC && def.GRPCService != "" {
		add("grpc_service: only grpc checks use it")
	}

	if kind == KindTTL {
		for _, f := range []struct {
			name string
			v    Duration
		}{{"interval", def.Interval}, {"timeout", def.Timeout}} {
			if f.v != 0 {
				add("%s: ttl checks are not probed; leave it out", f.name)
			}
		}
		if def.SuccessBeforePassing != 0 || def.FailuresBeforeWarning != 0 || def.FailuresBeforeCritical != 0 {
			add("success_before_passing, failures_before_warning, failures_before_critical: do not apply to ttl checks")
		}
	} else if kind != "" {
		if time.Duration(def.Interval) < MinInterval {
			add("interval %s: below the %s minimum", def.Interval, MinInterval)
		}
		if def.Timeout <= 0 {
			add("timeout %s: must be positive", def.Timeout)
		}
	}

	for _, f := range []struct {
		name string
		v    int
	}{{"success_before_passing", def.SuccessBeforePassing}, {"failures_before_warning", def.FailuresBeforeWarning}, {"failures_before_critical", def.FailuresBeforeCritical}} {
		if f.v < 0 {
			add("%s %d: must not be negative", f.name, f.v)
		}
	}
	if def.FailuresBeforeWarning > def.FailuresBeforeCritical && def.FailuresBeforeCritical >= 0 {
		add("failures_before_warning %d: above failures_before_critical %d, so warning could never apply",
			def.FailuresBeforeWarning, def.FailuresBeforeCritical)
	}
	if !def.InitialStatus.Valid() {
		add("initial_status %q: want passing, warning or critical", def.InitialStatus)
	}

	if len(p) == 0 {
		return nil
	}
	return errors.New(strings.Join(p, "; "))
}

// validateURL checks an HTTP check's URL.
func validateURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.Unwrap(err) // url.Error repeats the URL we already name
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scheme %q: want http or https", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("no host")
	}
	return nil
}

// validateHostPort checks a TCP or gRPC check's address.
func validateHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("want host:port")
	}
	if host == "" {
		return errors.New("want host:port; the host is empty")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q: want 1 to 65535", port)
	}
	return nil
}
