package membership

import (
	"context"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/serf/serf"
)

// Keeping the join addresses joined.
//
// serf agent's -retry-join and Consul's retry_join stop at the first join
// that reaches anyone, and the first agent of a cluster reaches only
// itself. When several agents start at the same moment behind one DNS
// name (pods of a Deployment behind a headless Service) and each finds
// only itself in DNS, each forms a cluster of its own, and nothing merges
// them: gossip only reaches members, and serf reconnects only to members
// that failed. vigil therefore goes on resolving the join addresses every
// join_interval after the first join and joins every address that is not
// the address of a live member. A merged cluster needs nothing more:
// every address then belongs to a member, and a recheck costs a DNS lookup
// and no packet.

// resolveTimeout bounds the DNS lookups of one recheck.
const resolveTimeout = 5 * time.Second

// keepJoined rechecks addrs every interval until ctx ends.
func (c *Cluster) keepJoined(ctx context.Context, addrs []string, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.stop:
			return
		case <-t.C:
		}
		missing := c.notMembers(ctx, addrs)
		if len(missing) == 0 {
			continue
		}
		before := len(c.serf.Members())
		n, err := c.Join(missing)
		if grew := len(c.serf.Members()) - before; grew > 0 {
			c.logger.Info().Strs("addrs", missing).Int("joined", n).Int("new_members", grew).
				Msg("joined members found at the join addresses")
		} else {
			// An address of a member that is gone, or of this agent under
			// another address: nothing new, try again next time.
			c.logger.Debug().Err(err).Strs("addrs", missing).Int("joined", n).Msg("join recheck found no new member")
		}
	}
}

// notMembers resolves addrs (HOST:PORT, HOST a name or an IP) and returns
// each resolved IP:PORT that is not the address of this member or of a
// live (alive or leaving) member. A name that does not resolve is skipped
// until the next recheck.
func (c *Cluster) notMembers(ctx context.Context, addrs []string) []string {
	known := map[string]bool{}
	local := c.serf.LocalMember()
	known[net.JoinHostPort(local.Addr.String(), strconv.Itoa(int(local.Port)))] = true
	for _, m := range c.serf.Members() {
		if m.Status == serf.StatusAlive || m.Status == serf.StatusLeaving {
			known[net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port)))] = true
		}
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	var missing []string
	seen := map[string]bool{}
	for _, addr := range addrs {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			continue // Join reported it at start
		}
		ips := []string{host}
		if net.ParseIP(host) == nil {
			if ips, err = net.DefaultResolver.LookupHost(ctx, host); err != nil {
				c.logger.Debug().Err(err).Str("addr", addr).Msg("join recheck: cannot resolve")
				continue
			}
		}
		for _, ip := range ips {
			if parsed := net.ParseIP(ip); parsed != nil {
				ip = parsed.String()
			}
			a := net.JoinHostPort(ip, port)
			if !known[a] && !seen[a] {
				seen[a] = true
				missing = append(missing, a)
			}
		}
	}
	return missing
}
