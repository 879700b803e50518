package membership

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkEncodedTagsSize measures the size check every tag change goes
// through: typical tags of an agent with a service, and tags close to
// serf's 512-byte limit.
func BenchmarkEncodedTagsSize(b *testing.B) {
	typical := map[string]string{"service": "web", "service_port": "8080", "health": "passing", "boot": "1795766676", "health_seq": "3", "role": "replica"}
	large := map[string]string{}
	for i := range 12 {
		large[fmt.Sprintf("tag%02d", i)] = strings.Repeat("x", 28)
	}
	for _, tc := range []struct {
		name string
		tags map[string]string
	}{{"typical", typical}, {"near-limit", large}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			var n int
			for b.Loop() {
				n = EncodedTagsSize(tc.tags)
			}
			if n > MaxTagsSize {
				b.Fatalf("%s: %d bytes, over the limit", tc.name, n)
			}
			b.ReportMetric(float64(n), "bytes")
		})
	}
}
