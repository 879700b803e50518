package http

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"sync/atomic"

	"github.com/vigil-agent/vigil/events"
)

// GET /v1/members spends most of its time encoding every member's tags to
// JSON, while the member list changes only now and then. The encoded body
// is therefore kept and served again for as long as the agent returns the
// same member list.
//
// The cache is validated by content, not by an event or generation
// counter: each request still asks the agent for its members and compares
// them, field by field and tag by tag, with the list the kept body was
// made from. That costs a fraction of encoding, and it can never serve a
// view older than the one the agent returns. A counter bumped on member
// events could: serf changes some statuses with no event at all (a
// member's leave intent makes it "leaving", and a later join intent
// "alive" again; vigil's announced-leave tracking turns "failed" into
// "left"), and serf updates its member list before its event reaches the
// agent.
//
// Each Server has its own cache (Server.members).

// membersCache keeps the encoded GET /v1/members bodies of the last member
// view served.
type membersCache struct {
	cur atomic.Pointer[membersView]
	// encodes counts the bodies encoded, for tests.
	encodes atomic.Uint64
}

// membersView is one member list and its encoded bodies, by filter (see
// membersFilter). A view never changes once stored, except that its bodies
// are encoded on first request; every body in it encodes its members.
type membersView struct {
	members []events.Member // a deep copy of the agent's list
	bodies  []atomic.Pointer[[]byte]
}

// membersFilter maps the status query parameter of GET /v1/members to the
// index of its body in a membersView: 0 for no filter, 1 + its position in
// MemberStatuses for a status. It is false for anything else.
func membersFilter(status string) (int, bool) {
	if status == "" {
		return 0, true
	}
	for i, v := range MemberStatuses {
		if events.MemberStatus(status) == v {
			return i + 1, true
		}
	}
	return 0, false
}

// body returns the JSON body (with its trailing newline) of GET
// /v1/members?status=status for the agent's member list all, with filter
// its membersFilter index. The returned slice is shared: read it only.
func (c *membersCache) body(all []events.Member, status string, filter int) ([]byte, error) {
	v := c.cur.Load()
	if v == nil || !sameMembers(v.members, all) {
		v = &membersView{members: cloneMembers(all), bodies: make([]atomic.Pointer[[]byte], len(MemberStatuses)+1)}
		// Last store wins; a request holding an older view still serves
		// a body consistent with what its agent returned.
		c.cur.Store(v)
	}
	if b := v.bodies[filter].Load(); b != nil {
		return *b, nil
	}
	out := make([]events.Member, 0, len(v.members))
	for _, m := range v.members {
		if status == "" || m.Status == events.MemberStatus(status) {
			out = append(out, normalize(m))
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode %d members: %w", len(out), err)
	}
	b = append(b, '\n')
	c.encodes.Add(1)
	v.bodies[filter].Store(&b)
	return b, nil
}

// sameMembers reports whether a and b list the same members, in the same
// order, with the same fields and tags. Nil and empty tags are the same:
// both encode as {}.
func sameMembers(a, b []events.Member) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := &a[i], &b[i]
		if x.Name != y.Name || x.Addr != y.Addr || x.Port != y.Port || x.Status != y.Status || !maps.Equal(x.Tags, y.Tags) {
			return false
		}
	}
	return true
}

// cloneMembers copies ms and their tags, so a later change to the agent's
// maps cannot change the kept view unseen.
func cloneMembers(ms []events.Member) []events.Member {
	out := make([]events.Member, len(ms))
	for i, m := range ms {
		m.Tags = maps.Clone(m.Tags)
		out[i] = m
	}
	return out
}

// writeJSONBody answers status with an already encoded JSON body, with the
// headers writeJSON sets.
func writeJSONBody(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
