package membership

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

func TestGenerateAndDecodeKey(t *testing.T) {
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := DecodeKey(k)
	if err != nil || len(raw) != 32 {
		t.Fatalf("DecodeKey(GenerateKey()) = %d bytes, %v", len(raw), err)
	}
	if k2, _ := GenerateKey(); k2 == k {
		t.Error("two generated keys are equal")
	}
	for _, n := range []int{16, 24, 32} {
		if _, err := DecodeKey(base64.StdEncoding.EncodeToString(make([]byte, n))); err != nil {
			t.Errorf("%d-byte key refused: %v", n, err)
		}
	}
	for in, want := range map[string]string{
		"not base64!": "not valid base64",
		base64.StdEncoding.EncodeToString(make([]byte, 20)): "decodes to 20 bytes",
	} {
		if _, err := DecodeKey(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("DecodeKey(%q) = %v, want an error with %q", in, err, want)
		}
	}
}

func TestKeyringFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyring")
	a, _ := GenerateKey()
	b, _ := GenerateKey()
	ka, _ := DecodeKey(a)
	kb, _ := DecodeKey(b)
	if err := WriteKeyringFile(path, [][]byte{kb, ka}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("keyring mode %v, err %v; want 0600", st.Mode().Perm(), err)
	}
	// serf's format: an indented JSON list of base64 keys, primary first.
	data, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(data), "[\n  \""+b+"\"") {
		t.Errorf("keyring file:\n%s", data)
	}
	keys, err := ReadKeyringFile(path)
	if err != nil || len(keys) != 2 || !bytes.Equal(keys[0], kb) || !bytes.Equal(keys[1], ka) {
		t.Fatalf("read back %d keys, err %v", len(keys), err)
	}
	kr, err := NewKeyring(keys)
	if err != nil || !bytes.Equal(kr.GetPrimaryKey(), kb) || len(kr.GetKeys()) != 2 {
		t.Fatalf("keyring: %v", err)
	}

	for body, want := range map[string]string{
		"[]":            "holds no keys",
		"{}":            "want a JSON list",
		`["c2hvcnQ="]`:  "key 0",
		"not json at 1": "want a JSON list",
	} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadKeyringFile(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("keyring %q: err %v, want %q", body, err, want)
		}
	}
}

func TestEncryptionHint(t *testing.T) {
	for _, line := range []string{
		"memberlist: failed to receive: no installed keys could decrypt the message from=127.0.0.1:4000",
		"memberlist: Decrypt packet failed: No installed keys could decrypt the message from=127.0.0.1:4000",
		"failed to join 127.0.0.1:7946: remote state is encrypted and encryption is not configured",
		"memberlist: failed to receive: encryption is configured but remote state is not encrypted",
	} {
		if encryptionHint(line) != EncryptionMismatchHint {
			t.Errorf("no hint for %q", line)
		}
	}
	if encryptionHint("memberlist: Suspect node-b has failed, no acks received") != "" {
		t.Error("hint for an unrelated line")
	}
}

func TestDecryptFailureLoggedWithHint(t *testing.T) {
	var buf bytes.Buffer
	l := newStdLogger(zerolog.New(&buf).Level(zerolog.WarnLevel), "memberlist")
	l.Printf("[ERR] memberlist: failed to receive: no installed keys could decrypt the message from=127.0.0.1:4000")
	l.Printf("[DEBUG] memberlist: Decrypt packet failed: No installed keys could decrypt the message")
	l.Printf("[DEBUG] memberlist: Stream connection from=127.0.0.1:4000")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("logged %d lines at warn and above, want 2:\n%s", len(lines), buf.String())
	}
	for i, want := range []string{`"level":"error"`, `"level":"warn"`} {
		if !strings.Contains(lines[i], want) || !strings.Contains(lines[i], `"hint":"gossip encryption mismatch`) {
			t.Errorf("line %d = %s; want %s and the hint", i, lines[i], want)
		}
	}
}
