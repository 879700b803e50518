package failover

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Grants is one agent's side of the gossip claim protocol: for each task,
// the highest term it granted, the holder of that grant and its lease, and
// whether the task was completed. It grants at most one live claim per
// task, and only to a term higher than any it granted before; that is
// what makes two claims that each won a majority carry different terms,
// the later one larger (two majorities share a member). With a path the
// grants are written to disk before they are answered, so a restart does
// not forget them.
type Grants struct {
	path string
	now  func() time.Time
	// bootOf returns a member's current boot tag, and whether the member
	// is known. A holder whose boot changed restarted and lost its runs:
	// its lease ends at once.
	bootOf func(name string) (string, bool)
	// lifeOf returns a member's current life (BOOT.EPOCH), whether this
	// agent sees it alive, and whether it knows it at all.
	lifeOf func(name string) (life string, alive, known bool)

	mu sync.Mutex
	m  map[string]*grant
}

// grant is the state of one task on one granter.
type grant struct {
	Task    TaskID        `json:"task"`
	Term    uint64        `json:"term"`
	Holder  string        `json:"holder,omitempty"`
	Boot    string        `json:"boot,omitempty"`
	Lease   time.Duration `json:"lease,omitempty"`
	Done    bool          `json:"done,omitempty"`
	DoneBy  string        `json:"done_by,omitempty"`
	Outcome string        `json:"outcome,omitempty"`
	Updated time.Time     `json:"updated"`
	expires time.Time     // the holder's lease, from the last grant or renewal received
}

// grantMemory is how long a task's grant is remembered after its last
// change: long enough that a late claim of a completed task is refused
// ("already run") rather than run again.
const grantMemory = 24 * time.Hour

// GrantsFile is the grants' file name in the data directory.
const GrantsFile = "failover-grants.json"

// OpenGrants loads the grants kept at path ("" keeps them in memory only).
// A lease read back is taken as live for its whole length from now: the
// holder may still be running. bootOf may be nil until SetBootOf.
func OpenGrants(path string) (*Grants, error) {
	g := &Grants{path: path, now: time.Now, m: map[string]*grant{}}
	if path == "" {
		return g, nil
	}
	raw, err := readNoFollow(path)
	if os.IsNotExist(err) {
		return g, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failover grants %s: %w", path, err)
	}
	var list []*grant
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("failover grants %s: %w", path, err)
	}
	now := g.now()
	for _, x := range list {
		if x.Holder != "" {
			x.expires = now.Add(x.Lease)
		}
		g.m[x.Task.String()] = x
	}
	return g, nil
}

func readNoFollow(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// SetBootOf sets how a holder's current boot tag is looked up.
func (g *Grants) SetBootOf(f func(name string) (string, bool)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.bootOf = f
}

// SetLifeOf sets how a failed member's current life is looked up, so a
// new claim for a member this agent sees alive is refused.
func (g *Grants) SetLifeOf(f func(name string) (life string, alive, known bool)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.lifeOf = f
}

// The operations of the claim protocol.
const (
	opClaim   = "claim"   // grant, or renew with the same term
	opDone    = "done"    // the run with this term completed
	opRelease = "release" // the holder gives the task up unfinished
)

// message is one request of the claim protocol, sent as a serf query.
type message struct {
	Op      string `json:"op"`
	Hook    string `json:"h"`
	Key     string `json:"k"`
	Name    string `json:"n"`
	Boot    string `json:"b,omitempty"`
	Term    uint64 `json:"t"`
	LeaseMS int64  `json:"l,omitempty"`
	Outcome string `json:"o,omitempty"`
	// Subj and Life name the failed member and its life at the failure.
	Subj string `json:"s,omitempty"`
	Life string `json:"sl,omitempty"`
}

// answer is a granter's reply.
type answer struct {
	// Granted: the claim or renewal was granted (claim), or the
	// completion recorded (done).
	Granted bool `json:"g,omitempty"`
	// Done: the task was completed, by Holder with fence Term.
	Done bool `json:"d,omitempty"`
	// Holder holds a live lease (refusal), or completed the task (Done).
	Holder string `json:"hn,omitempty"`
	// Term is the highest term this granter knows for the task.
	Term uint64 `json:"t,omitempty"`
	// LeftMS is how long the holder's lease has left.
	LeftMS  int64  `json:"lm,omitempty"`
	Outcome string `json:"o,omitempty"`
	// Prev names the previous holder when a grant replaced one whose
	// lease had ended.
	Prev string `json:"p,omitempty"`
	// Back: a new claim refused because this agent sees the failed member
	// alive.
	Back bool `json:"b,omitempty"`
}

// Handle answers one request (the payload of a claim query).
func (g *Grants) Handle(payload []byte) []byte {
	var m message
	if err := json.Unmarshal(payload, &m); err != nil || m.Hook == "" || m.Key == "" || m.Name == "" {
		return nil
	}
	a := g.handle(&m)
	out, _ := json.Marshal(a)
	return out
}

func (g *Grants) handle(m *message) answer {
	id := TaskID{Hook: m.Hook, Key: m.Key}
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	x := g.m[id.String()]
	if x == nil {
		x = &grant{Task: id}
	}
	if x.Done {
		return answer{Done: true, Holder: x.DoneBy, Term: x.Term, Outcome: x.Outcome}
	}
	same := x.Holder == m.Name && x.Boot == m.Boot
	switch m.Op {
	case opClaim:
		if !same && g.liveLocked(x, now) {
			return answer{Holder: x.Holder, Term: x.Term, LeftMS: x.expires.Sub(now).Milliseconds()}
		}
		lease := time.Duration(m.LeaseMS) * time.Millisecond
		if same && m.Term == x.Term {
			x.expires, x.Lease = now.Add(lease), lease
			return answer{Granted: true, Term: x.Term}
		}
		if m.Term <= x.Term {
			return answer{Term: x.Term}
		}
		if m.Subj != "" && g.lifeOf != nil {
			// A granter that sees the failed member alive does not
			// confirm its failure: it came back (a newer life), or this
			// granter never saw it fail (the other side of a healed
			// partition) or has not yet. A real failure reaches every
			// member's view within the settle.
			if _, alive, known := g.lifeOf(m.Subj); known && alive {
				return answer{Back: true, Term: x.Term}
			}
		}
		prev := ""
		if x.Holder != "" && !same {
			prev = x.Holder
		}
		x.Term, x.Holder, x.Boot, x.Lease, x.expires, x.Updated = m.Term, m.Name, m.Boot, lease, now.Add(lease), now
		g.m[id.String()] = x
		g.saveLocked()
		return answer{Granted: true, Term: x.Term, Prev: prev}
	case opDone:
		if m.Term < x.Term {
			return answer{Term: x.Term}
		}
		x.Term, x.Done, x.DoneBy, x.Outcome, x.Holder, x.Boot, x.Updated = m.Term, true, m.Name, m.Outcome, "", "", now
		g.m[id.String()] = x
		g.saveLocked()
		return answer{Granted: true, Done: true, Holder: m.Name, Term: x.Term, Outcome: m.Outcome}
	case opRelease:
		if same && m.Term == x.Term {
			x.Holder, x.Boot, x.Updated = "", "", now
			g.saveLocked()
		}
		return answer{Granted: true, Term: x.Term}
	}
	return answer{}
}

// liveLocked reports whether x's holder still holds its lease: not
// expired, and the holder has not restarted since (a new boot tag).
func (g *Grants) liveLocked(x *grant, now time.Time) bool {
	if x.Holder == "" || !now.Before(x.expires) {
		return false
	}
	if g.bootOf != nil {
		if boot, known := g.bootOf(x.Holder); known && boot != x.Boot {
			return false
		}
	}
	return true
}

// maxTerm returns the highest term this agent knows for task.
func (g *Grants) maxTerm(task TaskID) uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if x := g.m[task.String()]; x != nil {
		return x.Term
	}
	return 0
}

// Task describes one task's grant on this agent, for status pages.
type Task struct {
	TaskID
	// Term is the highest term granted (the fence of its run).
	Term uint64 `json:"term"`
	// Holder holds the lease, if one is live.
	Holder string `json:"holder,omitempty"`
	// Done is set once the task was completed, by DoneBy.
	Done   bool   `json:"done,omitempty"`
	DoneBy string `json:"done_by,omitempty"`
}

// Lookup returns this agent's grant of task, if it has one.
func (g *Grants) Lookup(task TaskID) (Task, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	x := g.m[task.String()]
	if x == nil {
		return Task{}, false
	}
	t := Task{TaskID: x.Task, Term: x.Term, Done: x.Done, DoneBy: x.DoneBy}
	if g.liveLocked(x, g.now()) {
		t.Holder = x.Holder
	}
	return t, true
}

// saveLocked prunes old grants and writes the rest atomically. A failed
// write is not fatal (the grant is answered either way); it is retried
// with the next change.
func (g *Grants) saveLocked() {
	now := g.now()
	list := make([]*grant, 0, len(g.m))
	for id, x := range g.m {
		if now.Sub(x.Updated) > grantMemory && !g.liveLocked(x, now) {
			delete(g.m, id)
			continue
		}
		list = append(list, x)
	}
	if g.path == "" {
		return
	}
	raw, _ := json.Marshal(list)
	_ = writeAtomic(g.path, raw)
}

// writeAtomic writes raw to path through a temporary file, synced and
// renamed, never following a link at the temporary path.
func writeAtomic(path string, raw []byte) error {
	tmp := path + ".tmp"
	_ = os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(raw); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
