package membership

import (
	"maps"
	"strings"
	"testing"
)

// TestEncodedTagsSizeAtFormatBoundaries: msgpack switches to a longer
// header at 16 map entries and at 32 and 65,536 bytes of string; the size
// grows across each switch, never shrinks, and CheckTagsSize refuses
// exactly what is over serf's limit.
func TestEncodedTagsSizeAtFormatBoundaries(t *testing.T) {
	for _, n := range []int{30, 31, 32, 33, 255, 256, 65534, 65535, 65536, 65537} {
		small := EncodedTagsSize(map[string]string{"k": strings.Repeat("v", n)})
		big := EncodedTagsSize(map[string]string{"k": strings.Repeat("v", n+1)})
		if big <= small {
			t.Errorf("value of %d bytes: %d, of %d bytes: %d", n, small, n+1, big)
		}
		keyed := EncodedTagsSize(map[string]string{strings.Repeat("k", n+1): "v"})
		if keyed <= EncodedTagsSize(map[string]string{strings.Repeat("k", n): "v"}) {
			t.Errorf("key of %d bytes does not grow the size", n+1)
		}
	}
	tags := map[string]string{}
	prev := EncodedTagsSize(tags)
	for i := range 20 {
		tags[strings.Repeat("k", i+1)] = ""
		n := EncodedTagsSize(tags)
		if n <= prev {
			t.Errorf("%d keys: %d bytes, %d keys: %d", i, prev, i+1, n)
		}
		prev = n
	}
	// Exactly at the limit passes; one byte over fails.
	at := map[string]string{"k": ""}
	for EncodedTagsSize(at) < MaxTagsSize {
		at["k"] += "v"
	}
	if EncodedTagsSize(at) != MaxTagsSize {
		t.Fatalf("could not build tags of exactly %d bytes: %d", MaxTagsSize, EncodedTagsSize(at))
	}
	if err := CheckTagsSize(at); err != nil {
		t.Errorf("tags of exactly %d bytes refused: %v", MaxTagsSize, err)
	}
	over := maps.Clone(at)
	over["k"] += "v"
	if err := CheckTagsSize(over); err == nil {
		t.Errorf("tags of %d bytes accepted", EncodedTagsSize(over))
	}
}
