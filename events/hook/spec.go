package hook

import (
	"fmt"
	"strings"

	"github.com/vigil-agent/vigil/events"
)

// ParseHookSpec parses a serf-style handler spec, `[filter,filter=]script`,
// into a hook run by /bin/sh -c with serf's stdin format.
//
// Serf splits on the first `=` whatever precedes it, so serf reads
// `/bin/notify --level=warn` as a filter named `/bin/notify --level`. vigil
// takes the text before the first `=` as a filter list only when it has no
// spaces or slashes; otherwise the whole spec is the script and every event
// matches. A prefix that looks like a filter list but names an unknown event
// is an error, so a typo such as `member-fialed=...` is not silently a script.
func ParseHookSpec(spec string) (Hook, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return Hook{}, fmt.Errorf("hook spec is empty")
	}
	script := spec
	var filterList []string
	if before, after, ok := strings.Cut(spec, "="); ok && !strings.ContainsAny(before, " \t/") {
		filterList = strings.Split(before, ",")
		script = after
	}
	script = strings.TrimSpace(script)
	if script == "" {
		return Hook{}, fmt.Errorf("hook spec %q: no script after the filter", spec)
	}
	filters, err := events.ParseFilters(filterList)
	if err != nil {
		return Hook{}, fmt.Errorf("hook spec %q: %w", spec, err)
	}
	return Hook{
		Name:    "",
		Filters: filters,
		Shell:   script,
		Stdin:   StdinSerf,
	}, nil
}
