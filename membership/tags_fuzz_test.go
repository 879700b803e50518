package membership

import (
	"bytes"
	"maps"
	"strings"
	"testing"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// fuzzTags turns fuzz input into a tag map: data is split at NUL bytes
// into alternating keys and values (a trailing key gets an empty value).
func fuzzTags(data []byte) map[string]string {
	parts := strings.Split(string(data), "\x00")
	tags := make(map[string]string, len(parts)/2+1)
	for i := 0; i < len(parts); i += 2 {
		v := ""
		if i+1 < len(parts) {
			v = parts[i+1]
		}
		tags[parts[i]] = v
	}
	return tags
}

// FuzzTagEncoding checks the tag size check on arbitrary maps: it never
// panics, it agrees with serf's own encoding (a 0xff byte and a msgpack
// map) byte for byte, CheckTagsSize refuses exactly what is over the
// limit, and the size is monotone: adding a key, or lengthening a value,
// never makes the tags smaller, so a set that passes never hides a
// subset that fails.
func FuzzTagEncoding(f *testing.F) {
	f.Add([]byte(""), "", "")
	f.Add([]byte("role\x00web\x00dc\x00east"), "service", "db")
	f.Add([]byte("vigil.health\x00passing\x00vigil.boot\x001795766676\x00vigil.service\x00web"), "k", strings.Repeat("x", 500))
	f.Add([]byte(strings.Repeat("k\x00", 15)), "sixteenth", "")
	f.Add([]byte("\xff\xfe\x00\xc0\x80"), "\xed\xa0\x80", "\U0010ffff")
	f.Add([]byte(strings.Repeat("a", 31)+"\x00"+strings.Repeat("b", 32)), strings.Repeat("c", 255), strings.Repeat("d", 256))
	f.Fuzz(func(t *testing.T, data []byte, key, value string) {
		tags := fuzzTags(data)
		n := EncodedTagsSize(tags)

		// The same bytes as serf's encodeTags (serf.go), which is what
		// memberlist compares with MetaMaxSize.
		var buf bytes.Buffer
		buf.WriteByte(0xff)
		if err := codec.NewEncoder(&buf, &codec.MsgpackHandle{}).Encode(tags); err != nil {
			t.Fatalf("serf's encoding fails: %v", err)
		}
		if n != buf.Len() {
			t.Fatalf("EncodedTagsSize = %d, serf encodes %d bytes", n, buf.Len())
		}
		if err := CheckTagsSize(tags); (err != nil) != (n > MaxTagsSize) {
			t.Fatalf("size %d (limit %d): CheckTagsSize = %v", n, MaxTagsSize, err)
		}

		// Adding a key never shrinks the encoding.
		if _, ok := tags[key]; !ok {
			more := maps.Clone(tags)
			more[key] = value
			if m := EncodedTagsSize(more); m <= n {
				t.Fatalf("adding %q=%q: %d bytes, was %d", key, value, m, n)
			}
		}
		// Neither does lengthening a value.
		longer := maps.Clone(tags)
		longer[key] = tags[key] + value
		if m := EncodedTagsSize(longer); m < n {
			t.Fatalf("setting %q to %q: %d bytes, was %d", key, longer[key], m, n)
		}
		// Nor does anything to nil or empty maps.
		if EncodedTagsSize(nil) > n && len(tags) > 0 {
			t.Fatalf("nil tags encode larger (%d) than %d tags (%d)", EncodedTagsSize(nil), len(tags), n)
		}
	})
}
