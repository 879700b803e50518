package membership

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/hashicorp/serf/serf"
)

// serf's snapshot is not enough to rejoin after a crash: its snapshotter
// buffers what it writes and flushes the buffer only when it writes again
// more than 500 ms after its last flush. In a quiet cluster nothing more is
// written, so the members an agent learned at its join can stay in the
// buffer for as long as it runs, and a kill -9 loses them (seen: a
// three-member loopback cluster, after ten seconds, had only each member's
// own line on disk). A graceful leave does flush. vigil therefore keeps its
// own list of peers, PeersPath, written within peersWriteDelay of every
// member change, and at start tries them one by one, with backoff, until
// one answers: serf's own rejoin from the snapshot makes one pass and gives
// up.

// peersWriteDelay bounds how long a member change waits before the peers
// file is rewritten; changes within it are written together.
const peersWriteDelay = time.Second

// Rejoin backoff bounds, as for JoinRetry.
const (
	rejoinBackoffMin = 1 * time.Second
	rejoinBackoffMax = 30 * time.Second
)

// Peer is one member remembered in the peers file.
type Peer struct {
	// Name is the member's node name.
	Name string `json:"name"`
	// Addr is its gossip address, HOST:PORT.
	Addr string `json:"addr"`
	// Status is alive or failed when it was written.
	Status string `json:"status"`
}

// ReadPeers reads a peers file; a missing file is no peers and no error,
// a symbolic link an error (ReadFileNoFollow).
func ReadPeers(path string) ([]Peer, error) {
	b, err := ReadFileNoFollow(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read peers: %w", err)
	}
	var peers []Peer
	if err := json.Unmarshal(b, &peers); err != nil {
		return nil, fmt.Errorf("read peers %s: %w", path, err)
	}
	return peers, nil
}

// writePeers replaces the peers file atomically: a crash leaves the old or
// the new list, never half of one.
func writePeers(path string, peers []Peer) error {
	b, err := json.MarshalIndent(peers, "", "  ")
	if err != nil {
		return fmt.Errorf("write peers: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".peers-*.tmp")
	if err != nil {
		return fmt.Errorf("write peers: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write peers: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write peers: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write peers: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write peers: %w", err)
	}
	return nil
}

// currentPeers returns the members worth remembering: every other member
// that is alive or failed (a failed member may come back), alive first.
// Members that left did so on purpose and are not kept, as in serf's
// snapshot.
func (c *Cluster) currentPeers() []Peer {
	self := c.serf.LocalMember().Name
	var peers []Peer
	for _, m := range c.serf.Members() {
		if m.Name == self || (m.Status != serf.StatusAlive && m.Status != serf.StatusFailed) {
			continue
		}
		peers = append(peers, Peer{Name: m.Name, Addr: net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port))), Status: m.Status.String()})
	}
	sort.Slice(peers, func(i, j int) bool {
		if (peers[i].Status == serf.StatusAlive.String()) != (peers[j].Status == serf.StatusAlive.String()) {
			return peers[i].Status == serf.StatusAlive.String()
		}
		return peers[i].Name < peers[j].Name
	})
	if peers == nil {
		peers = []Peer{}
	}
	return peers
}

// peersChanged notes a member change; the writer rewrites the file soon.
func (c *Cluster) peersChanged() {
	if c.peersPath == "" {
		return
	}
	select {
	case c.peersDirty <- struct{}{}:
	default:
	}
}

// writePeersLoop rewrites the peers file after member changes, at most
// once per peersWriteDelay, until the cluster stops.
func (c *Cluster) writePeersLoop() {
	defer close(c.peersDone)
	for {
		select {
		case <-c.peersDirty:
		case <-c.stop:
			return
		}
		// Until a list with peers is on disk, write at once: an agent
		// killed within a second of its first join must still find them.
		delay := peersWriteDelay
		if !c.peersOnDisk.Load() {
			delay = 0
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-c.stop:
			t.Stop()
			return
		}
		c.savePeers()
	}
}

// savePeers writes the current peers, logging a failure.
func (c *Cluster) savePeers() {
	if c.serf.State() != serf.SerfAlive {
		// Leaving or shut down: the view is about to empty; keep the last
		// list written while the member was in the cluster.
		return
	}
	peers := c.currentPeers()
	if err := writePeers(c.peersPath, peers); err != nil {
		c.logger.Warn().Err(err).Msg("could not save the peers to rejoin after a restart")
		return
	}
	if len(peers) > 0 {
		c.peersOnDisk.Store(true)
	}
}

// rejoin tries the remembered peers in random order, one at a time, until
// one answers, backing off from 1 s to 30 s between passes. It stops once
// this member sees another alive member (a join through -join, serf's own
// rejoin or a peer joining it) or the cluster stops.
func (c *Cluster) rejoin(peers []Peer) {
	if len(peers) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-c.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	names := make([]string, len(peers))
	for i, p := range peers {
		names[i] = p.Name
	}
	c.logger.Info().Strs("peers", names).Msg("rejoining through the peers remembered in the data dir")
	backoff := rejoinBackoffMin
	for attempt := 1; ; attempt++ {
		order := rand.Perm(len(peers))
		for _, i := range order {
			if c.hasAlivePeer() {
				c.logger.Info().Int("attempt", attempt).Msg("rejoined the cluster")
				c.startJoinSync(joinSyncDataDir)
				return
			}
			if ctx.Err() != nil {
				return
			}
			p := peers[i]
			n, err := c.serf.Join([]string{p.Addr}, true)
			if n > 0 {
				c.logger.Info().Str("peer", p.Name).Str("addr", p.Addr).Int("attempt", attempt).Msg("rejoined the cluster through a remembered peer")
				c.startJoinSync(joinSyncDataDir)
				return
			}
			c.logger.Debug().Err(err).Str("peer", p.Name).Str("addr", p.Addr).Msg("remembered peer did not answer")
		}
		if c.hasAlivePeer() {
			c.startJoinSync(joinSyncDataDir)
			return
		}
		c.logger.Warn().Int("attempt", attempt).Int("peers", len(peers)).Dur("retry_in", backoff).
			Msg("no remembered peer answered, retrying")
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, rejoinBackoffMax)
	}
}

// hasAlivePeer reports whether another member is alive in this view.
func (c *Cluster) hasAlivePeer() bool {
	self := c.serf.LocalMember().Name
	for _, m := range c.serf.Members() {
		if m.Name != self && m.Status == serf.StatusAlive {
			return true
		}
	}
	return false
}
