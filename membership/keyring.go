package membership

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
)

// Gossip encryption. memberlist encrypts every gossip packet and stream with
// AES-GCM under the keyring's primary key and tries every installed key to
// decrypt, which is what makes a rolling key change possible: install the
// new key everywhere, make it primary everywhere, then remove the old one.
// serf's KeyManager carries each step to every member as an internal query
// and saves the keyring to KeyringFile (a JSON list of base64 keys, primary
// first) on every member after each change.

// KeySize is the size in bytes of the keys GenerateKey makes (AES-256).
const KeySize = 32

// ErrKeyRequest marks a keyring request refused on this agent before it
// went to the cluster: encryption off, a malformed key, using a key that is
// not installed, removing the primary key.
var ErrKeyRequest = errors.New("invalid key request")

// GenerateKey returns a new random 32-byte key, base64-encoded as the
// encrypt setting and the keyring file take it.
func GenerateKey() (string, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("generate key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(key), nil
}

// DecodeKey decodes a base64 gossip key and checks its size: 16, 24 or 32
// bytes select AES-128, AES-192 or AES-256.
func DecodeKey(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("key is not valid base64: %v", err)
	}
	if err := memberlist.ValidateKey(key); err != nil {
		return nil, fmt.Errorf("key decodes to %d bytes: want 16, 24 or 32 (vigil keygen makes one)", len(key))
	}
	return key, nil
}

// KeyID is a short, non-secret fingerprint of a key for logs: the first 8
// hex digits of its SHA-256.
func KeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:4])
}

// NewKeyring returns a keyring holding keys, the first one primary.
func NewKeyring(keys [][]byte) (*memberlist.Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("keyring: no keys")
	}
	kr, err := memberlist.NewKeyring(keys[1:], keys[0])
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	return kr, nil
}

// ReadKeyringFile reads a keyring file as serf writes it: a JSON list of
// base64 keys, the primary key first. A symbolic link is not followed
// (ReadFileNoFollow).
func ReadKeyringFile(path string) ([][]byte, error) {
	data, err := ReadFileNoFollow(path)
	if err != nil {
		return nil, fmt.Errorf("read keyring %s: %w", path, err)
	}
	var encoded []string
	if err := json.Unmarshal(data, &encoded); err != nil {
		return nil, fmt.Errorf("keyring %s: want a JSON list of base64 keys: %v", path, err)
	}
	if len(encoded) == 0 {
		return nil, fmt.Errorf("keyring %s: holds no keys (delete the file to use the encrypt setting)", path)
	}
	keys := make([][]byte, 0, len(encoded))
	for i, s := range encoded {
		key, err := DecodeKey(s)
		if err != nil {
			return nil, fmt.Errorf("keyring %s: key %d: %v", path, i, err)
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// WriteKeyringFile writes keys (the primary first) as serf's keyring file,
// mode 0600, replacing any file there atomically.
func WriteKeyringFile(path string, keys [][]byte) error {
	encoded := make([]string, len(keys))
	for i, k := range keys {
		encoded[i] = base64.StdEncoding.EncodeToString(k)
	}
	data, err := json.MarshalIndent(encoded, "", "  ")
	if err != nil {
		return fmt.Errorf("encode keyring: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".keyring-*")
	if err != nil {
		return fmt.Errorf("write keyring %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write keyring %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write keyring %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write keyring %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write keyring %s: %w", path, err)
	}
	return nil
}

// KeyResult is what the members answered to one keyring request.
type KeyResult struct {
	// NumNodes is how many members were alive when the request went out.
	NumNodes int
	// NumResponses is how many of them answered in time.
	NumResponses int
	// NumErrors is how many answered with a failure.
	NumErrors int
	// Messages holds each member's error or warning, by member name.
	Messages map[string]string
	// Keys counts, for each base64 key, the members that have it
	// installed (list only).
	Keys map[string]int
	// PrimaryKeys counts, for each base64 key, the members that encrypt
	// with it (list only).
	PrimaryKeys map[string]int
	// Failed says why the request did not fully succeed: some members
	// failed or did not answer. Empty on success.
	Failed string
}

// EncryptionEnabled reports whether this member encrypts gossip.
func (c *Cluster) EncryptionEnabled() bool { return c.serf.EncryptionEnabled() }

// ListKeys asks every member for its keys.
func (c *Cluster) ListKeys() (KeyResult, error) {
	if err := c.checkEncryption(); err != nil {
		return KeyResult{}, err
	}
	resp, err := c.serf.KeyManager().ListKeys()
	return c.keyResult("list", "", resp, err)
}

// InstallKey adds key (base64) to every member's keyring. Members go on
// encrypting with their primary key; they decrypt with either.
func (c *Cluster) InstallKey(key string) (KeyResult, error) {
	raw, err := c.checkKey(key)
	if err != nil {
		return KeyResult{}, err
	}
	resp, err := c.serf.KeyManager().InstallKey(base64.StdEncoding.EncodeToString(raw))
	return c.keyResult("install", KeyID(raw), resp, err)
}

// UseKey makes key, which must be installed, the primary key of every
// member.
func (c *Cluster) UseKey(key string) (KeyResult, error) {
	raw, err := c.checkKey(key)
	if err != nil {
		return KeyResult{}, err
	}
	if !c.hasKey(raw) {
		return KeyResult{}, fmt.Errorf("%w: key %s is not installed on this agent: install it first (vigil keys install)", ErrKeyRequest, KeyID(raw))
	}
	resp, err := c.serf.KeyManager().UseKey(base64.StdEncoding.EncodeToString(raw))
	return c.keyResult("use", KeyID(raw), resp, err)
}

// RemoveKey removes key from every member's keyring. The primary key can't
// be removed.
func (c *Cluster) RemoveKey(key string) (KeyResult, error) {
	raw, err := c.checkKey(key)
	if err != nil {
		return KeyResult{}, err
	}
	if bytes.Equal(raw, c.keyring.GetPrimaryKey()) {
		return KeyResult{}, fmt.Errorf("%w: key %s is this agent's primary key: make another key primary first (vigil keys use)", ErrKeyRequest, KeyID(raw))
	}
	resp, err := c.serf.KeyManager().RemoveKey(base64.StdEncoding.EncodeToString(raw))
	return c.keyResult("remove", KeyID(raw), resp, err)
}

func (c *Cluster) checkEncryption() error {
	if !c.serf.EncryptionEnabled() || c.keyring == nil {
		return fmt.Errorf("%w: gossip encryption is not enabled on this agent: start every agent with encrypt (a key from vigil keygen)", ErrKeyRequest)
	}
	return nil
}

func (c *Cluster) checkKey(key string) ([]byte, error) {
	if err := c.checkEncryption(); err != nil {
		return nil, err
	}
	raw, err := DecodeKey(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyRequest, err)
	}
	return raw, nil
}

func (c *Cluster) hasKey(raw []byte) bool {
	for _, k := range c.keyring.GetKeys() {
		if bytes.Equal(k, raw) {
			return true
		}
	}
	return false
}

// keyResult turns serf's answer into a KeyResult and logs the operation.
// serf reports members that failed or did not answer as an error along
// with the counts; that becomes Failed. An error without counts (the query
// could not be sent) is returned.
func (c *Cluster) keyResult(op, keyID string, resp *serf.KeyResponse, err error) (KeyResult, error) {
	if resp == nil || (err != nil && resp.NumResp == 0 && resp.NumNodes == 0) {
		if err == nil {
			err = errors.New("no response")
		}
		return KeyResult{}, fmt.Errorf("%s key: %w", op, err)
	}
	r := KeyResult{
		NumNodes:     resp.NumNodes,
		NumResponses: resp.NumResp,
		NumErrors:    resp.NumErr,
		Messages:     resp.Messages,
		Keys:         resp.Keys,
		PrimaryKeys:  resp.PrimaryKeys,
	}
	if err != nil {
		r.Failed = err.Error()
	}
	ev := c.logger.Info()
	if r.Failed != "" {
		ev = c.logger.Warn().Str("failed", r.Failed)
		for node, msg := range r.Messages {
			c.logger.Warn().Str("op", op).Str("member", node).Str("message", msg).Msg("keyring request failed on a member")
		}
	}
	if keyID != "" {
		ev = ev.Str("key_id", keyID)
	}
	ev.Str("op", op).Int("members", r.NumNodes).Int("responses", r.NumResponses).Int("errors", r.NumErrors).Msg("keyring request")
	return r, nil
}

// encryptionHints are fragments of memberlist's log lines and errors that
// mean two members do not agree on gossip encryption.
var encryptionHints = []string{
	"no installed keys could decrypt",
	"decrypt packet failed",
	"remote state is encrypted and encryption is not configured",
	"encryption is configured but remote state is not encrypted",
}

// EncryptionMismatchHint is added to logs and errors caused by a peer with
// a different gossip key, or one side encrypting and the other not.
const EncryptionMismatchHint = "gossip encryption mismatch: the peer has a different key, or only one side has encryption enabled; compare encrypt and data_dir/keyring on both agents"

// encryptionHint returns EncryptionMismatchHint when msg is a decryption
// failure, else "".
func encryptionHint(msg string) string {
	msg = strings.ToLower(msg)
	for _, h := range encryptionHints {
		if strings.Contains(msg, h) {
			return EncryptionMismatchHint
		}
	}
	return ""
}
