package http

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
)

// KeyManager is implemented by agents that manage the gossip keyring. Each
// operation reaches every member; the answer says how many members there
// were, how many answered, and what each that failed said.
type KeyManager interface {
	// ListKeys returns every key (base64) installed on any member, with
	// how many members have it and how many use it as their primary key.
	// The API shows their fingerprints only.
	ListKeys() (KeysResponse, error)
	// InstallKey adds a base64 key to every member's keyring.
	InstallKey(key string) (KeysResponse, error)
	// UseKey makes an installed key every member's primary key.
	UseKey(key string) (KeysResponse, error)
	// RemoveKey removes a key that is not the primary key from every
	// member's keyring.
	RemoveKey(key string) (KeysResponse, error)
}

// ErrKeyRequest marks KeyManager errors that the request caused
// (encryption off, a malformed key, using a key that is not installed,
// removing the primary key): the API answers them 400, other errors 500.
var ErrKeyRequest = errors.New("invalid key request")

// KeyRequest is the body of POST /v1/keys/install, /use and /remove.
type KeyRequest struct {
	// Key is a base64 key of 16, 24 or 32 bytes (vigil keygen makes one).
	Key string `json:"key"`
}

// KeysResponse answers the /v1/keys endpoints. When not every member
// succeeded, Error says so and the status is 502; the counts and messages
// are there either way.
type KeysResponse struct {
	// Error is set when some members failed or did not answer.
	Error string `json:"error,omitempty"`
	// NumNodes is how many members were alive when the request went out.
	NumNodes int `json:"num_nodes"`
	// NumResponses is how many of them answered in time.
	NumResponses int `json:"num_responses"`
	// NumErrors is how many answered with a failure.
	NumErrors int `json:"num_errors"`
	// Messages holds each failing member's message, by member name.
	Messages map[string]string `json:"messages"`
	// Keys counts, for each key, the members that have it installed.
	// GET /v1/keys only. A KeyManager returns base64 keys; the API answers
	// their fingerprints (KeyFingerprint), never the keys.
	Keys map[string]int `json:"keys,omitempty"`
	// PrimaryKeys counts, for each key, the members that encrypt with it;
	// fingerprints in the API's answer, as Keys. GET /v1/keys only.
	PrimaryKeys map[string]int `json:"primary_keys,omitempty"`
}

// keyActions maps POST /v1/keys/{action} to the KeyManager call.
var keyActions = map[string]func(KeyManager, string) (KeysResponse, error){
	"install": KeyManager.InstallKey,
	"use":     KeyManager.UseKey,
	"remove":  KeyManager.RemoveKey,
}

func (s *Server) keyManager(w http.ResponseWriter) (KeyManager, bool) {
	km, ok := s.agent.(KeyManager)
	if !ok {
		writeError(w, http.StatusNotImplemented, "this agent does not manage gossip keys")
	}
	return km, ok
}

func (s *Server) handleListKeys(w http.ResponseWriter, r *http.Request) {
	km, ok := s.keyManager(w)
	if !ok {
		return
	}
	resp, err := km.ListKeys()
	resp.Keys, resp.PrimaryKeys = fingerprintKeys(resp.Keys), fingerprintKeys(resp.PrimaryKeys)
	writeKeysResponse(w, resp, err)
}

// KeyFingerprint names a gossip key without revealing it: the first 8 hex
// digits of the SHA-256 of its bytes (of the string itself when it is not
// base64), as vigil's logs and error messages name keys too.
func KeyFingerprint(key string) string {
	b, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		b = []byte(key)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:4])
}

// fingerprintKeys returns counts by key as counts by key fingerprint, so
// that GET /v1/keys never shows a key.
func fingerprintKeys(counts map[string]int) map[string]int {
	if counts == nil {
		return nil
	}
	out := make(map[string]int, len(counts))
	for k, n := range counts {
		out[KeyFingerprint(k)] += n
	}
	return out
}

func (s *Server) handleKeyAction(w http.ResponseWriter, r *http.Request) {
	action := r.PathValue("action")
	call, ok := keyActions[action]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s (want /v1/keys/install, /use or /remove)", r.URL.Path))
		return
	}
	var req KeyRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeAPIError(w, err)
		return
	}
	if req.Key == "" {
		writeError(w, http.StatusBadRequest, `missing field "key": want a base64 key (vigil keygen makes one)`)
		return
	}
	km, ok := s.keyManager(w)
	if !ok {
		return
	}
	resp, err := call(km, req.Key)
	writeKeysResponse(w, resp, err)
}

func writeKeysResponse(w http.ResponseWriter, resp KeysResponse, err error) {
	switch {
	case errors.Is(err, ErrKeyRequest):
		writeError(w, http.StatusBadRequest, err.Error())
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
	default:
		if resp.Messages == nil {
			resp.Messages = map[string]string{}
		}
		status := http.StatusOK
		if resp.Error != "" {
			status = http.StatusBadGateway
		}
		writeJSON(w, status, resp)
	}
}
