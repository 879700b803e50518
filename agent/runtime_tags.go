package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sort"

	vigilhttp "github.com/vigil-agent/vigil/http"
	"github.com/vigil-agent/vigil/membership"
)

// runtimeTagsFile keeps the tags set while the agent runs (vigil tags set
// and unset) in data_dir, so they survive a restart, as serf's tags file
// does.
const runtimeTagsFile = "tags.json"

// runtimeTags is the layer that vigil tags set and unset put over the
// configured tags (files, VIGIL_TAG, -tag). It wins over them until it is
// changed again: a reload that changes a configured tag does not undo a
// runtime set or unset of the same key.
type runtimeTags struct {
	// Set are tags set at run time.
	Set map[string]string `json:"set,omitempty"`
	// Unset are keys removed at run time, configured ones included.
	Unset []string `json:"unset,omitempty"`
}

// apply returns tags with the layer over them (a copy).
func (r runtimeTags) apply(tags map[string]string) map[string]string {
	out := maps.Clone(tags)
	if out == nil {
		out = map[string]string{}
	}
	for _, k := range r.Unset {
		delete(out, k)
	}
	maps.Copy(out, r.Set)
	return out
}

// with returns the layer after setting set and removing unset.
func (r runtimeTags) with(set map[string]string, unset []string) runtimeTags {
	next := runtimeTags{Set: maps.Clone(r.Set)}
	if next.Set == nil {
		next.Set = map[string]string{}
	}
	removed := map[string]bool{}
	for _, k := range r.Unset {
		removed[k] = true
	}
	for k, v := range set {
		next.Set[k] = v
		delete(removed, k)
	}
	for _, k := range unset {
		delete(next.Set, k)
		removed[k] = true
	}
	for k := range removed {
		next.Unset = append(next.Unset, k)
	}
	sort.Strings(next.Unset)
	return next
}

// loadRuntimeTags reads the runtime tags a previous run left in dataDir;
// none without a data_dir or a file.
func loadRuntimeTags(dataDir string) (runtimeTags, error) {
	if dataDir == "" {
		return runtimeTags{}, nil
	}
	path := filepath.Join(dataDir, runtimeTagsFile)
	b, err := readStateFile(path)
	if err != nil || b == nil {
		if err != nil {
			return runtimeTags{}, fmt.Errorf("runtime tags: %w", err)
		}
		return runtimeTags{}, nil
	}
	var r runtimeTags
	if err := json.Unmarshal(b, &r); err != nil {
		return runtimeTags{}, fmt.Errorf("runtime tags %s: %w", path, err)
	}
	for k := range r.Set {
		if reservedTag(k) {
			return runtimeTags{}, fmt.Errorf("runtime tags %s: tag %q is reserved", path, k)
		}
	}
	return r, nil
}

// saveRuntimeTags records the runtime tags in dataDir (without one, they
// last as long as the agent).
func saveRuntimeTags(dataDir string, r runtimeTags) error {
	if dataDir == "" {
		return nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := writeStateFile(filepath.Join(dataDir, runtimeTagsFile), b); err != nil {
		return fmt.Errorf("runtime tags: %w", err)
	}
	return nil
}

// ChangeTags implements the HTTP API's TagChanger: it sets and removes
// tags of this agent's member, keeps the change in data_dir, and gossips
// the tags at once (serf's member-update on every member). vigil's own
// tags (service, service_port, service_addr, svc:*, health, boot,
// health_seq, epoch) are refused, as are tags that gossip would refuse
// and a change that would take the tags over serf's 512 bytes.
func (a *Agent) ChangeTags(set map[string]string, unset []string) (map[string]string, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), vigilhttp.ErrTagRequest)
	}
	for _, k := range append(slices.Sorted(maps.Keys(set)), unset...) {
		if k == "" {
			return nil, bad("a tag key is empty")
		}
		if reservedTag(k) {
			return nil, bad("tag %q is reserved: vigil sets it itself", k)
		}
	}
	for _, k := range unset {
		if _, ok := set[k]; ok {
			return nil, bad("tag %q is both set and unset", k)
		}
	}
	if err := membership.CheckTags(set); err != nil {
		return nil, bad("%v", err)
	}

	a.health.mu.Lock()
	defer a.health.mu.Unlock()
	c := a.cluster.Load()
	if c == nil {
		return nil, errors.New("gossip is not running")
	}
	next := a.cfg
	next.runtime = a.cfg.runtime.with(set, unset)
	h := a.localHealth()
	tags := next.gossipTags(h, a.health.seq+1)
	if err := membership.CheckTagsSize(tags); err != nil {
		return nil, bad("%v", err)
	}
	if err := saveRuntimeTags(a.cfg.DataDir, next.runtime); err != nil {
		return nil, err
	}
	a.cfg.runtime = next.runtime
	if err := c.SetTags(tags); err != nil {
		return nil, fmt.Errorf("gossip the tags: %w", err)
	}
	a.health.gossiped = h
	a.health.seq++
	a.log.Info().Interface("set", set).Strs("unset", unset).Msg("tags changed")
	return a.cfg.runtime.apply(a.cfg.Tags), nil
}
