package membership

import (
	"bytes"
	"fmt"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/memberlist"
)

// MaxTagsSize is serf's limit on a member's encoded tags (memberlist's
// node metadata size).
const MaxTagsSize = memberlist.MetaMaxSize

// EncodedTagsSize returns the size of tags as serf encodes them on the
// wire: a magic byte and a msgpack map.
func EncodedTagsSize(tags map[string]string) int {
	var buf bytes.Buffer
	buf.WriteByte(0xff)
	if err := codec.NewEncoder(&buf, &codec.MsgpackHandle{}).Encode(tags); err != nil {
		return MaxTagsSize + 1
	}
	return buf.Len()
}

// CheckTagsSize returns an error naming the size when tags exceed serf's
// limit.
func CheckTagsSize(tags map[string]string) error {
	if n := EncodedTagsSize(tags); n > MaxTagsSize {
		return fmt.Errorf("tags encode to %d bytes, over serf's limit of %d: shorten tag keys or values", n, MaxTagsSize)
	}
	return nil
}
