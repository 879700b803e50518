package membership

import (
	"strings"
	"testing"
)

func TestCheckTagsSize(t *testing.T) {
	small := map[string]string{"role": "primary", "service": "web", "health": "passing"}
	if err := CheckTagsSize(small); err != nil {
		t.Errorf("small tags refused: %v", err)
	}
	big := map[string]string{"note": strings.Repeat("x", 600)}
	err := CheckTagsSize(big)
	if err == nil || !strings.Contains(err.Error(), "over serf's limit of 512") {
		t.Errorf("600-byte tag: err = %v", err)
	}
	if n := EncodedTagsSize(map[string]string{}); n != 2 {
		t.Errorf("empty tags encode to %d bytes, want 2 (magic byte and empty map)", n)
	}
}
