package hook

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/events"
)

// FuzzHookSpec feeds arbitrary -hook specs to ParseHookSpec. It must never
// panic, and a spec it accepts must make a usable hook whose script is the
// end of the spec, and that reads back the same from its canonical form
// FILTERS=SCRIPT.
func FuzzHookSpec(f *testing.F) {
	for _, s := range []string{
		"/path/script",
		"member-failed,member-leave=/path/script",
		"user:deploy=./deploy.sh --now",
		"/bin/notify --level=warn",
		"member-fialed=/x",
		"=x",
		"member-join=",
		"*=echo hi",
		"health:critical,check:web-http=./page.sh",
		"health:sleepy=x",
		"user:=x",
		"member-join:x=y",
		"query=x",
		" \t member-join , user \t= \t echo a=b \n",
		"FOO=bar ./run",
		"user:a\nb=x",
		"user:a:b=x",
		"damped,brake=logger -t vigil",
		",=x",
		"\x00=\xff",
	} {
		f.Add(s)
	}
	samples := []*events.Event{
		{Type: events.MemberFailed, Members: []events.Member{{Name: "a"}}},
		{Type: events.User, User: &events.UserEvent{Name: "deploy"}},
		{Type: events.Check, Check: &events.CheckChange{ID: "web-http"}},
		{Type: events.Health, Health: &events.HealthChange{Status: "critical"}},
		{Type: events.User},
		{Type: events.Health},
	}
	f.Fuzz(func(t *testing.T, spec string) {
		h, err := ParseHookSpec(spec)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("empty error for %q", spec)
			}
			return
		}
		trimmed := strings.TrimSpace(spec)
		switch {
		case h.Shell == "":
			t.Fatalf("%q: accepted with an empty script", spec)
		case h.Shell != strings.TrimSpace(h.Shell):
			t.Fatalf("%q: script %q has surrounding space", spec, h.Shell)
		case !strings.HasSuffix(trimmed, h.Shell):
			t.Fatalf("%q: script %q is not the end of the spec", spec, h.Shell)
		case h.Stdin != StdinSerf:
			t.Fatalf("%q: stdin %q, want serf", spec, h.Stdin)
		case len(h.Filters) == 0:
			t.Fatalf("%q: no filters", spec)
		case len(h.Command) > 0 || h.Builtin != nil:
			t.Fatalf("%q: not a shell hook", spec)
		}
		// The script is the whole spec, or what follows the first '='.
		if h.Shell != trimmed {
			before, _, ok := strings.Cut(trimmed, "=")
			if !ok || strings.ContainsAny(before, " \t/") {
				t.Fatalf("%q: script %q cut from a spec without a filter list", spec, h.Shell)
			}
		}
		named := h
		named.Name = "hook-1"
		if err := named.Validate(); err != nil {
			t.Fatalf("%q: parsed hook does not validate: %v", spec, err)
		}
		// Each filter reads back as itself from its text form.
		for _, fl := range h.Filters {
			back, err := events.ParseFilter(fl.String())
			if err != nil || back != fl {
				t.Fatalf("%q: filter %#v reads back as %#v, %v", spec, fl, back, err)
			}
			for _, ev := range samples {
				fl.Match(ev)
			}
		}
		// The canonical spec parses to the same hook.
		canon := strings.Join(h.Filters.Strings(), ",") + "=" + h.Shell
		again, err := ParseHookSpec(canon)
		if err != nil {
			t.Fatalf("%q: canonical form %q fails: %v", spec, canon, err)
		}
		if !reflect.DeepEqual(again, h) {
			t.Fatalf("%q: canonical form %q parses to %#v, want %#v", spec, canon, again, h)
		}
		// A runner accepts it.
		r, err := NewRunner(RunnerConfig{Env: []string{}, DefaultTimeout: time.Second}, []Hook{named})
		if err != nil {
			t.Fatalf("%q: runner refuses the hook: %v", spec, err)
		}
		r.Close(t.Context())
	})
}
