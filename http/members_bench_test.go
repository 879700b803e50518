package http

import (
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/rs/zerolog"
	"github.com/vigil-agent/vigil/events"
)

// benchMembers returns n members with the tags a vigil agent with a
// service gossips.
func benchMembers(n int) []events.Member {
	out := make([]events.Member, n)
	for i := range out {
		out[i] = events.Member{
			Name: fmt.Sprintf("node-%03d", i), Addr: fmt.Sprintf("10.0.%d.%d", i/250, i%250+1), Port: 7946, Status: "alive",
			Tags: map[string]string{"service": "web", "service_port": "8080", "health": "passing", "boot": "1795766676", "health_seq": "3", "svc:version": "1.4.2"},
		}
	}
	return out
}

// BenchmarkMembersJSON measures GET /v1/members end to end through the
// API's handler chain (routing, logging middleware, JSON encoding), for a
// 50- and a 500-member cluster.
func BenchmarkMembersJSON(b *testing.B) {
	for _, n := range []int{50, 500} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			f := newFakeAgent()
			f.members = benchMembers(n)
			h := New(f, zerolog.Nop()).Handler()
			b.ReportAllocs()
			var size int
			for b.Loop() {
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

// BenchmarkHealthServiceJSON measures GET /v1/health/service/web with 50
// and 500 instances.
func BenchmarkHealthServiceJSON(b *testing.B) {
	for _, n := range []int{50, 500} {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			f := newFakeAgent()
			for _, m := range benchMembers(n) {
				f.instances = append(f.instances, Instance{Node: m.Name, Addr: m.Addr, Port: 8080, Tags: m.Tags, Health: "passing", Status: "alive"})
			}
			h := New(f, zerolog.Nop()).Handler()
			b.ReportAllocs()
			var size int
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, localRequest("GET", "/v1/health/service/web", nil))
				if rec.Code != 200 {
					b.Fatalf("status %d", rec.Code)
				}
				size = rec.Body.Len()
			}
			b.ReportMetric(float64(size), "bytes/resp")
		})
	}
}
