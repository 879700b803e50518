package clustertest

import (
	"fmt"
	"sort"
	"strings"
)

// Faults are cuts: a cut from host A to host B is a policy rule in B's
// namespace that silently drops every packet from A's address on arrival
// (see the package documentation). Partition, Isolate and Block add cuts to
// those already in place; Heal removes them all.

// Partition cuts the network into groups of hosts (by index): hosts in
// different groups can no longer exchange packets in either direction;
// hosts in the same group still can. Every host must be in exactly one
// group. Cuts already in place stay.
//
//	nw.Partition([]int{0, 1}, []int{2, 3, 4})
func (nw *Network) Partition(groups ...[]int) {
	nw.t.Helper()
	group := map[int]int{}
	for g, hosts := range groups {
		for _, i := range hosts {
			nw.Host(i)
			if _, dup := group[i]; dup {
				nw.t.Fatalf("clustertest: Partition%v: host %d is in two groups", groups, i)
			}
			group[i] = g
		}
	}
	if len(group) != len(nw.hosts) {
		nw.t.Fatalf("clustertest: Partition%v: every host of %d must be in a group", groups, len(nw.hosts))
	}
	want := nw.currentCuts()
	for a := range nw.hosts {
		for b := range nw.hosts {
			if group[a] != group[b] {
				want[link{a, b}] = true
			}
		}
	}
	nw.setCuts(want, fmt.Sprintf("partition %v", groups))
}

// Isolate cuts host i off from every other host, both ways. Cuts already in
// place stay.
func (nw *Network) Isolate(i int) {
	nw.t.Helper()
	nw.Host(i)
	want := nw.currentCuts()
	for j := range nw.hosts {
		if j != i {
			want[link{i, j}] = true
			want[link{j, i}] = true
		}
	}
	nw.setCuts(want, fmt.Sprintf("isolate %d", i))
}

// Block drops every packet from host from to host to, in that direction
// only: to can still send to from, but hears nothing back (so TCP between
// them fails both ways, while UDP from to → from still arrives). Block(a, b)
// and Block(b, a) together cut the link between a and b. Cuts already in
// place stay.
func (nw *Network) Block(from, to int) {
	nw.t.Helper()
	nw.Host(from)
	nw.Host(to)
	if from == to {
		nw.t.Fatalf("clustertest: Block(%d, %d): a host cannot be cut from itself", from, to)
	}
	want := nw.currentCuts()
	want[link{from, to}] = true
	nw.setCuts(want, fmt.Sprintf("block %d→%d", from, to))
}

// Heal removes every cut: all hosts can talk to each other again.
func (nw *Network) Heal() {
	nw.t.Helper()
	nw.setCuts(map[link]bool{}, "heal")
}

// Cuts describes the cuts in place, e.g. "0→2 0→3 2→0 3→0"; "" when none.
func (nw *Network) Cuts() string {
	var s []string
	for l := range nw.currentCuts() {
		s = append(s, fmt.Sprintf("%d→%d", l.from, l.to))
	}
	sort.Strings(s)
	return strings.Join(s, " ")
}

func (nw *Network) currentCuts() map[link]bool {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	c := make(map[link]bool, len(nw.cuts))
	for l := range nw.cuts {
		c[l] = true
	}
	return c
}

// setCuts makes the cuts in place exactly want, changing only the rules
// that differ, one `ip -batch` per receiving host.
func (nw *Network) setCuts(want map[link]bool, what string) {
	nw.t.Helper()
	nw.mu.Lock()
	defer nw.mu.Unlock()
	cmds := map[int][]string{}
	rule := func(op string, l link) {
		cmds[l.to] = append(cmds[l.to], fmt.Sprintf("rule %s from %s/32 pref %d blackhole", op, nw.hosts[l.from].addr, cutPref))
	}
	for l := range nw.cuts {
		if !want[l] {
			rule("del", l)
		}
	}
	for l := range want {
		if !nw.cuts[l] {
			rule("add", l)
		}
	}
	for to, c := range cmds {
		sort.Strings(c) // deletions first
		if err := ipBatch(nw.hosts[to].ns, c); err != nil {
			nw.t.Fatalf("clustertest: %s: %v", what, err)
		}
	}
	nw.cuts = want
}
