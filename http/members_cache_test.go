package http

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/events"
)

// membersFilters are the status filters of GET /v1/members.
var membersFilters = func() []string {
	out := []string{""}
	for _, s := range MemberStatuses {
		out = append(out, string(s))
	}
	return out
}()

// wantMembersBody is what GET /v1/members?status=status answers for ms,
// encoded the way the handler did before it had a cache.
func wantMembersBody(t testing.TB, ms []events.Member, status string) string {
	t.Helper()
	out := []events.Member{}
	for _, m := range ms {
		if status == "" || m.Status == events.MemberStatus(status) {
			out = append(out, normalize(m))
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

// getMembers answers GET /v1/members?status=status through h.
func getMembers(t testing.TB, h http.Handler, status string) string {
	t.Helper()
	path := "/v1/members"
	if status != "" {
		path += "?status=" + status
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, localRequest("GET", path, nil))
	if rec.Code != 200 {
		t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("GET %s: Content-Type %q", path, ct)
	}
	if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("GET %s: no X-Content-Type-Options: nosniff", path)
	}
	return rec.Body.String()
}

// TestMembersCacheFollowsView changes the agent's member list in every way
// serf can (tag updates such as a health change, a status change with no
// event, a new address, a join, a reap) and checks that the first request
// after each change sees it, for every filter, while a repeated request
// with no change encodes nothing.
func TestMembersCacheFollowsView(t *testing.T) {
	f := newFakeAgent()
	f.members = benchMembers(5)
	srv := New(f, zerolog.Nop())
	h := srv.Handler()

	check := func(step string) {
		t.Helper()
		f.mu.Lock()
		want := map[string]string{}
		for _, st := range membersFilters {
			want[st] = wantMembersBody(t, f.members, st)
		}
		f.mu.Unlock()
		for _, st := range membersFilters {
			if got := getMembers(t, h, st); got != want[st] {
				t.Fatalf("%s: GET /v1/members?status=%s\n got %s\nwant %s", step, st, got, want[st])
			}
		}
		before := srv.members.encodes.Load()
		for _, st := range membersFilters {
			if got := getMembers(t, h, st); got != want[st] {
				t.Fatalf("%s, again: GET /v1/members?status=%s\n got %s\nwant %s", step, st, got, want[st])
			}
		}
		if n := srv.members.encodes.Load() - before; n != 0 {
			t.Errorf("%s: %d bodies encoded again with no change", step, n)
		}
	}
	change := func(step string, fn func(ms []events.Member) []events.Member) {
		t.Helper()
		f.mu.Lock()
		f.members = fn(f.members)
		f.mu.Unlock()
		check(step)
	}

	check("start")
	// The fake hands out its own tag maps, so these change the very maps
	// an earlier response was made from.
	change("health tag changed in place", func(ms []events.Member) []events.Member {
		ms[1].Tags["health"] = "critical"
		return ms
	})
	change("health_seq bumped in place", func(ms []events.Member) []events.Member {
		ms[1].Tags["health_seq"] = "4"
		return ms
	})
	change("tag added", func(ms []events.Member) []events.Member {
		ms[2].Tags["maintenance"] = "draining"
		return ms
	})
	change("tag removed", func(ms []events.Member) []events.Member {
		delete(ms[2].Tags, "maintenance")
		return ms
	})
	change("tag map replaced, same content", func(ms []events.Member) []events.Member {
		ms[3].Tags = maps.Clone(ms[3].Tags)
		return ms
	})
	change("leaving with no event", func(ms []events.Member) []events.Member {
		ms[0].Status = "leaving"
		return ms
	})
	change("alive again", func(ms []events.Member) []events.Member {
		ms[0].Status = "alive"
		return ms
	})
	change("failed", func(ms []events.Member) []events.Member {
		ms[4].Status = "failed"
		return ms
	})
	change("left", func(ms []events.Member) []events.Member {
		ms[4].Status = "left"
		return ms
	})
	change("new address", func(ms []events.Member) []events.Member {
		ms[3].Addr = "10.9.9.9"
		return ms
	})
	change("new port", func(ms []events.Member) []events.Member {
		ms[3].Port = 7950
		return ms
	})
	change("join", func(ms []events.Member) []events.Member {
		ms = append(ms, events.Member{Name: "node-002a", Addr: "10.0.0.99", Port: 7946, Status: "alive"})
		sort.Slice(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
		return ms
	})
	change("renamed", func(ms []events.Member) []events.Member {
		ms[0].Name = "node-000x"
		return ms
	})
	change("reaped", func(ms []events.Member) []events.Member {
		return append(ms[:4:4], ms[5:]...)
	})
	change("nil tags to empty", func(ms []events.Member) []events.Member {
		for i := range ms {
			if ms[i].Tags == nil {
				ms[i].Tags = map[string]string{}
			}
		}
		return ms
	})
	change("everyone gone", func([]events.Member) []events.Member { return nil })
	change("back", func([]events.Member) []events.Member { return benchMembers(3) })
}

// TestMembersCacheConcurrent reads GET /v1/members from many goroutines
// while the view changes (run with -race): every body is the encoding of
// one of the views, and once a change is made, the next request sees it.
func TestMembersCacheConcurrent(t *testing.T) {
	f := newFakeAgent()
	const versions = 50
	view := func(v int) []events.Member {
		ms := benchMembers(20)
		ms[7].Tags["health_seq"] = strconv.Itoa(v)
		return ms
	}
	valid := map[string]int{}
	for v := range versions {
		valid[wantMembersBody(t, view(v), "")] = v
	}
	f.members = view(0)
	h := New(f, zerolog.Nop()).Handler()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, localRequest("GET", "/v1/members", nil))
				if _, ok := valid[rec.Body.String()]; rec.Code != 200 || !ok {
					t.Errorf("status %d and a body that is no view: %.200s", rec.Code, rec.Body)
					return
				}
			}
		})
	}
	for v := 1; v < versions; v++ {
		f.mu.Lock()
		f.members = view(v)
		f.mu.Unlock()
		if got := getMembers(t, h, ""); valid[got] != v {
			t.Fatalf("after the change to view %d, a request got view %d", v, valid[got])
		}
	}
	close(stop)
	wg.Wait()
}

// TestMembersCacheTwoAgents: servers of two agents with different views
// in one process each answer their own view, request after request.
func TestMembersCacheTwoAgents(t *testing.T) {
	f1, f2 := newFakeAgent(), newFakeAgent()
	f2.members = benchMembers(4)
	h1, h2 := New(f1, zerolog.Nop()).Handler(), New(f2, zerolog.Nop()).Handler()
	want1, want2 := wantMembersBody(t, f1.members, "alive"), wantMembersBody(t, f2.members, "alive")
	for i := range 5 {
		if got := getMembers(t, h1, "alive"); got != want1 {
			t.Fatalf("round %d, agent 1: %s, want %s", i, got, want1)
		}
		if got := getMembers(t, h2, "alive"); got != want2 {
			t.Fatalf("round %d, agent 2: %s, want %s", i, got, want2)
		}
	}
}

// copyingAgent returns its members the way the real agent does
// (membership.Cluster.Members): each member and its tags copied, sorted.
type copyingAgent struct{ *fakeAgent }

// Members returns a fresh copy of the fake's members, tags included.
func (c copyingAgent) Members() []events.Member {
	ms := c.fakeAgent.Members()
	for i := range ms {
		ms[i].Tags = maps.Clone(ms[i].Tags)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
	return ms
}

// BenchmarkMembersJSONCache measures GET /v1/members end to end, as
// BenchmarkMembersJSON does, in three cases: the view does not change
// between requests (the cached body is served); the agent copies its
// members as the real one does, so the comparison runs on fresh maps; and
// one member's health_seq tag changes before every request, so every
// request encodes (the cost without a cache, plus the comparison and the
// copy the cache makes).
func BenchmarkMembersJSONCache(b *testing.B) {
	for _, n := range []int{50, 500} {
		for _, mode := range []string{"unchanged", "copying-agent", "changing"} {
			b.Run(fmt.Sprintf("members=%d/%s", n, mode), func(b *testing.B) {
				f := newFakeAgent()
				f.members = benchMembers(n)
				var agent Agent = f
				if mode == "copying-agent" {
					agent = copyingAgent{f}
				}
				h := New(agent, zerolog.Nop()).Handler()
				b.ReportAllocs()
				seq := 0
				var size int
				for b.Loop() {
					if mode == "changing" {
						seq++
						f.mu.Lock()
						f.members[n/2].Tags["health_seq"] = strconv.Itoa(seq)
						f.mu.Unlock()
					}
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, localRequest("GET", "/v1/members", nil))
					if rec.Code != 200 {
						b.Fatalf("status %d", rec.Code)
					}
					size = rec.Body.Len()
				}
				b.ReportMetric(float64(size), "bytes/resp")
			})
		}
	}
}
