package agent

import (
	"errors"
	"fmt"
	"strings"

	vigilhttp "github.com/vigil-agent/vigil/http"
	"github.com/vigil-agent/vigil/membership"
)

// ListKeys implements vigilhttp.KeyManager: every key installed on any
// member.
func (a *Agent) ListKeys() (vigilhttp.KeysResponse, error) {
	return a.keyOp(func(c *membership.Cluster) (membership.KeyResult, error) { return c.ListKeys() })
}

// InstallKey implements vigilhttp.KeyManager.
func (a *Agent) InstallKey(key string) (vigilhttp.KeysResponse, error) {
	return a.keyOp(func(c *membership.Cluster) (membership.KeyResult, error) { return c.InstallKey(key) })
}

// UseKey implements vigilhttp.KeyManager.
func (a *Agent) UseKey(key string) (vigilhttp.KeysResponse, error) {
	return a.keyOp(func(c *membership.Cluster) (membership.KeyResult, error) { return c.UseKey(key) })
}

// RemoveKey implements vigilhttp.KeyManager.
func (a *Agent) RemoveKey(key string) (vigilhttp.KeysResponse, error) {
	return a.keyOp(func(c *membership.Cluster) (membership.KeyResult, error) { return c.RemoveKey(key) })
}

// keyOp runs one keyring operation and turns its result into the API's.
func (a *Agent) keyOp(op func(*membership.Cluster) (membership.KeyResult, error)) (vigilhttp.KeysResponse, error) {
	c := a.cluster.Load()
	if c == nil {
		return vigilhttp.KeysResponse{}, errors.New("gossip is not running")
	}
	r, err := op(c)
	if errors.Is(err, membership.ErrKeyRequest) {
		// Same text, the API's sentinel: answered 400.
		msg := strings.TrimPrefix(err.Error(), membership.ErrKeyRequest.Error())
		return vigilhttp.KeysResponse{}, fmt.Errorf("%w%s", vigilhttp.ErrKeyRequest, msg)
	}
	if err != nil {
		return vigilhttp.KeysResponse{}, err
	}
	resp := vigilhttp.KeysResponse{
		Error:        r.Failed,
		NumNodes:     r.NumNodes,
		NumResponses: r.NumResponses,
		NumErrors:    r.NumErrors,
		Messages:     r.Messages,
	}
	if len(r.Keys) > 0 {
		resp.Keys = r.Keys
	}
	for k, n := range r.PrimaryKeys {
		if k == "" {
			continue // members that answered without a primary key (non-list requests)
		}
		if resp.PrimaryKeys == nil {
			resp.PrimaryKeys = map[string]int{}
		}
		resp.PrimaryKeys[k] = n
	}
	return resp, nil
}

var _ vigilhttp.KeyManager = (*Agent)(nil)
