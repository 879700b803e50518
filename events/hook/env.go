package hook

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/vigil-agent/vigil/events"
)

var envKeyUnsafe = regexp.MustCompile(`[^A-Z0-9_]`)

// envKeyPart turns a tag key into the part of an environment variable name
// after SERF_TAG_: upper case, every character outside [A-Z0-9_] becomes _,
// as serf does.
func envKeyPart(key string) string {
	return envKeyUnsafe.ReplaceAllString(strings.ToUpper(key), "_")
}

// envValue makes a value safe for execve: a NUL byte would end the string
// early (and make exec fail), so NULs are dropped. Newlines, '=' and quotes
// are harmless inside a value: each variable is a separate execve string.
func envValue(v string) string {
	return strings.ReplaceAll(v, "\x00", "")
}

// HookEnv returns the variables vigil adds to a hook's environment for ev.
// self is the local member; httpAddr is the agent's HTTP address.
func HookEnv(ev *events.Event, self events.Member, httpAddr string) []string {
	env := []string{
		"VIGIL_EVENT=" + string(ev.Type),
		"VIGIL_EVENT_ID=" + eventID(ev),
		"VIGIL_LOCAL_EVENT_ID=" + strconv.FormatUint(ev.ID, 10),
		"VIGIL_SELF_NAME=" + envValue(self.Name),
		"VIGIL_SELF_ADDR=" + envValue(self.Addr),
		"VIGIL_HTTP_ADDR=" + envValue(httpAddr),
		"SERF_EVENT=" + string(ev.Type),
		"SERF_SELF_NAME=" + envValue(self.Name),
		"SERF_SELF_ROLE=" + envValue(self.Tags["role"]),
	}
	if m, ok := ev.Subject(); ok {
		env = append(env,
			"VIGIL_MEMBER_NAME="+envValue(m.Name),
			"VIGIL_MEMBER_ADDR="+envValue(m.Addr),
			"VIGIL_MEMBER_PORT="+strconv.Itoa(int(m.Port)),
			"VIGIL_MEMBER_STATUS="+envValue(string(m.Status)),
		)
	}
	if ev.User != nil {
		env = append(env,
			"VIGIL_USER_EVENT="+envValue(ev.User.Name),
			"VIGIL_LTIME="+strconv.FormatUint(ev.User.LTime, 10),
			"SERF_USER_EVENT="+envValue(ev.User.Name),
			"SERF_USER_LTIME="+strconv.FormatUint(ev.User.LTime, 10),
		)
	}
	if ev.Fence != 0 {
		env = append(env, "VIGIL_FENCE="+strconv.FormatUint(ev.Fence, 10))
	}
	if ev.TakeoverFrom != "" {
		env = append(env, "VIGIL_TAKEOVER_FROM="+envValue(ev.TakeoverFrom))
	}
	if ev.Check != nil {
		env = append(env,
			"VIGIL_CHECK_ID="+envValue(ev.Check.ID),
			"VIGIL_CHECK_STATUS="+envValue(string(ev.Check.Status)),
		)
	}
	if ev.Health != nil {
		env = append(env,
			"VIGIL_HEALTH="+envValue(string(ev.Health.Status)),
			"VIGIL_SERVICE="+envValue(ev.Health.Service),
		)
	} else if svc := self.Tags[events.ServiceTag]; svc != "" {
		env = append(env, "VIGIL_SERVICE="+envValue(svc))
	}
	keys := make([]string, 0, len(self.Tags))
	for k := range self.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, fmt.Sprintf("SERF_TAG_%s=%s", envKeyPart(k), envValue(self.Tags[k])))
	}
	return env
}

// eventID is VIGIL_EVENT_ID: the failure's cluster-wide key for a
// run_on: one hook (the same on every agent, so a script can be
// idempotent), else the event's id on this agent.
func eventID(ev *events.Event) string {
	if ev.Key != "" {
		return ev.Key
	}
	return strconv.FormatUint(ev.ID, 10)
}
