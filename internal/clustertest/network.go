package clustertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// namePrefix starts the name of every namespace, link and marker a Network
// creates; a Network's own prefix is namePrefix and 4 random characters.
const namePrefix = "vgt"

// prefixLen is the length of a Network's prefix, e.g. "vgt3k9a".
const prefixLen = len(namePrefix) + 4

// cutPref is the policy-rule priority of cuts; the local table's lookup is
// moved from 0 to localPref so that cuts come first.
const (
	cutPref   = 100
	localPref = 1000
)

// AgentGossipPort and AgentHTTPPort are the ports agents use on every host.
const (
	AgentGossipPort = 7946
	AgentHTTPPort   = 7947
)

// ourName matches the namespaces and links a Network creates.
var ourName = regexp.MustCompile(`^` + namePrefix + `[a-z0-9]{4}(-h[0-9]+|-v[0-9]+|br)$`)

// markerDir holds one file per live Network, naming its creator.
func markerDir() string { return filepath.Join(os.TempDir(), "vigil-netns") }

// Network is a set of hosts, each a Linux network namespace with one
// address on a shared bridge, between which faults can be injected. Its
// methods call t.Fatal on errors (t being the test that created it), so
// call them from that test's goroutine.
type Network struct {
	t      testing.TB
	prefix string
	bridge string
	hosts  []*Host

	mu      sync.Mutex
	cuts    map[link]bool // packets from link.from to link.to are dropped
	gateway string        // the root namespace's address on the bridge, once given
}

// link is a direction between two hosts, by index.
type link struct{ from, to int }

// Host is one network namespace of a Network.
type Host struct {
	net   *Network
	index int
	ns    string
	veth  string // the root-namespace end of the host's veth pair
	addr  string
	mac   string
}

// NewNetwork creates n hosts (network namespaces) on a new bridge and
// removes them all when the test ends. It skips the test when it cannot
// create namespaces (not root, no iproute2, no namespace support), or fails
// it if the environment has CI=true. See the package documentation for the
// layout and the cleanup of leftovers.
func NewNetwork(t testing.TB, n int) *Network {
	t.Helper()
	if n < 1 || n > 250 {
		t.Fatalf("clustertest: NewNetwork(%d): want 1 to 250 hosts", n)
	}
	skip := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if os.Getenv("CI") == "true" {
			t.Fatalf("clustertest: CI=true but %s", msg)
		}
		t.Skipf("clustertest: skipping multi-host test: %s", msg)
	}
	switch {
	case !netnsSupported:
		skip("network namespaces need Linux")
	case os.Geteuid() != 0:
		skip("network namespaces need root (uid %d); CI runs these as root", os.Geteuid())
	}
	if _, err := exec.LookPath("ip"); err != nil {
		skip("iproute2's ip command not found: %v", err)
	}
	sweepStale(t)

	began := time.Now()
	nw := &Network{t: t, cuts: map[link]bool{}}
	if err := nw.claimPrefix(); err != nil {
		t.Fatalf("clustertest: %v", err)
	}
	nw.bridge = nw.prefix + "br"
	t.Cleanup(nw.destroy)

	var rnd [1]byte
	_, _ = rand.Read(rnd[:])
	second := 18 + int(rnd[0]&1) // 198.18.0.0/15: 198.18.x.0 or 198.19.x.0
	_, _ = rand.Read(rnd[:])
	third := int(rnd[0])
	for i := 0; i < n; i++ {
		nw.hosts = append(nw.hosts, &Host{
			net:   nw,
			index: i,
			ns:    fmt.Sprintf("%s-h%d", nw.prefix, i),
			veth:  fmt.Sprintf("%s-v%d", nw.prefix, i),
			addr:  fmt.Sprintf("198.%d.%d.%d", second, third, i+1),
			mac:   fmt.Sprintf("02:76:67:%02x:%02x:%02x", second, third, i+1),
		})
	}

	for i, h := range nw.hosts {
		if out, err := exec.Command("ip", "netns", "add", h.ns).CombinedOutput(); err != nil {
			if i == 0 {
				skip("ip netns add %s: %v: %s", h.ns, err, bytes.TrimSpace(out))
			}
			t.Fatalf("clustertest: ip netns add %s: %v: %s", h.ns, err, bytes.TrimSpace(out))
		}
	}
	root := []string{
		"link add " + nw.bridge + " type bridge",
		"link set " + nw.bridge + " up",
	}
	for _, h := range nw.hosts {
		root = append(root,
			"link add "+h.veth+" type veth peer name eth0 netns "+h.ns,
			"link set "+h.veth+" master "+nw.bridge+" up")
	}
	if err := ipBatch("", root); err != nil {
		t.Fatalf("clustertest: creating bridge and veths: %v", err)
	}
	for _, h := range nw.hosts {
		cmds := []string{
			"link set lo up",
			"link set eth0 address " + h.mac,
			"addr add " + h.addr + "/24 dev eth0",
			"link set eth0 up",
			fmt.Sprintf("rule add pref %d lookup local", localPref),
			"rule del pref 0",
		}
		for _, o := range nw.hosts {
			if o != h {
				cmds = append(cmds, "neigh replace "+o.addr+" lladdr "+o.mac+" dev eth0 nud permanent")
			}
		}
		if err := ipBatch(h.ns, cmds); err != nil {
			t.Fatalf("clustertest: configuring %s: %v", h.ns, err)
		}
	}
	nw.waitLinks(t)
	t.Logf("clustertest: network %s: %d hosts on %s.0/24 ready after %s", nw.prefix, n,
		nw.hosts[0].addr[:strings.LastIndexByte(nw.hosts[0].addr, '.')], time.Since(began).Round(time.Millisecond))
	return nw
}

// waitLinks waits until every host can reach host 0 and back. A link that
// was just set up drops packets until the kernel's link watcher, which runs
// at most once a second, has seen its carrier.
func (nw *Network) waitLinks(t testing.TB) {
	t.Helper()
	// A refused connection (RST) to an unused port proves a round trip.
	reaches := func(from, to *Host) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		c, err := from.Dial(ctx, "tcp", to.addr+":9")
		if err == nil {
			c.Close()
			return true
		}
		return errors.Is(err, syscall.ECONNREFUSED)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, h := range nw.hosts[1:] {
		for !reaches(h, nw.hosts[0]) || !reaches(nw.hosts[0], h) {
			if time.Now().After(deadline) {
				t.Fatalf("clustertest: %s and %s cannot reach each other 10s after setup", nw.hosts[0].ns, h.ns)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// claimPrefix picks a random unused prefix and writes its marker.
func (nw *Network) claimPrefix() error {
	if err := os.MkdirAll(markerDir(), 0o755); err != nil {
		return err
	}
	const chars = "abcdefghijklmnopqrstuvwxyz0123456789"
	for try := 0; try < 20; try++ {
		var b [4]byte
		_, _ = rand.Read(b[:])
		for i := range b {
			b[i] = chars[int(b[i])%len(chars)]
		}
		prefix := namePrefix + string(b[:])
		if len(prefix) != prefixLen {
			panic("clustertest: bad prefix length")
		}
		if _, err := os.Stat("/run/netns/" + prefix + "-h0"); err == nil {
			continue // a leftover nobody swept yet
		}
		f, err := os.OpenFile(markerPath(prefix), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return err
		}
		_, err = f.WriteString(ownerID() + "\n")
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		nw.prefix = prefix
		return nil
	}
	return errors.New("no free network prefix after 20 tries")
}

func markerPath(prefix string) string { return filepath.Join(markerDir(), prefix+".pid") }

// Gateway gives the test's own (root) network namespace an address on the
// network's bridge, once, and returns it: a server the test runs there
// and listens on that address (an etcd, say) is reachable from every
// host, and no cut between hosts touches it, as a service on a network of
// its own would be.
func (nw *Network) Gateway() string {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if nw.gateway != "" {
		return nw.gateway
	}
	a := nw.hosts[0].addr
	gw := a[:strings.LastIndexByte(a, '.')] + ".254"
	if err := ipBatch("", []string{"addr add " + gw + "/24 dev " + nw.bridge}); err != nil {
		nw.t.Fatalf("clustertest: gateway address on %s: %v", nw.bridge, err)
	}
	nw.gateway = gw
	return gw
}

// Len returns the number of hosts.
func (nw *Network) Len() int { return len(nw.hosts) }

// Host returns host i, counting from 0.
func (nw *Network) Host(i int) *Host {
	if i < 0 || i >= len(nw.hosts) {
		nw.t.Fatalf("clustertest: no host %d in a network of %d", i, len(nw.hosts))
	}
	return nw.hosts[i]
}

// Hosts returns every host, in order.
func (nw *Network) Hosts() []*Host { return append([]*Host(nil), nw.hosts...) }

// Prefix returns the network's name prefix (vgtXXXX), which starts the
// names of its namespaces and links.
func (nw *Network) Prefix() string { return nw.prefix }

// destroy kills what runs in the namespaces and deletes the namespaces,
// veths, bridge and marker. It is idempotent and reports leftovers.
func (nw *Network) destroy() {
	destroyPrefix(nw.prefix)
	if left := leftovers(nw.prefix); len(left) > 0 {
		nw.t.Errorf("clustertest: cleanup left %v behind", left)
		return
	}
	_ = os.Remove(markerPath(nw.prefix))
}

// Index returns the host's index in its network.
func (h *Host) Index() int { return h.index }

// Name returns the host's short name, "h" and its index: h0, h1, …
func (h *Host) Name() string { return "h" + strconv.Itoa(h.index) }

// Namespace returns the name of the host's network namespace, as `ip netns`
// knows it.
func (h *Host) Namespace() string { return h.ns }

// Addr returns the host's IP address.
func (h *Host) Addr() string { return h.addr }

// Command returns a command that runs name with args inside the host's
// namespace (`ip netns exec NS name args...`; ip execs the program, so the
// process's PID is the program's).
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", h.ns, name}, args...)...)
}

// Dial connects to addr from inside the host's namespace.
func (h *Host) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	return dialIn(ctx, h.nsPath(), network, addr)
}

// Listen listens on addr inside the host's namespace.
func (h *Host) Listen(network, addr string) (net.Listener, error) {
	return listenIn(h.nsPath(), network, addr)
}

// ListenPacket opens a packet socket (udp) on addr inside the host's
// namespace.
func (h *Host) ListenPacket(network, addr string) (net.PacketConn, error) {
	return listenPacketIn(h.nsPath(), network, addr)
}

func (h *Host) nsPath() string { return "/run/netns/" + h.ns }

// ipBatch runs iproute2 commands in one `ip -batch`, in namespace ns ("" for
// the root namespace).
func ipBatch(ns string, cmds []string) error {
	if len(cmds) == 0 {
		return nil
	}
	args := []string{"-batch", "-"}
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	cmd := exec.Command("ip", args...)
	cmd.Stdin = strings.NewReader(strings.Join(cmds, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// netnsNames lists the names of named network namespaces.
func netnsNames() []string {
	out, _ := exec.Command("ip", "netns", "list").Output()
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names
}

// linkNames lists the root namespace's links.
func linkNames() []string {
	out, _ := exec.Command("ip", "-o", "link", "show").Output()
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		names = append(names, name)
	}
	return names
}

// netnsPids lists the processes in a named namespace.
func netnsPids(ns string) []int {
	out, _ := exec.Command("ip", "netns", "pids", ns).Output()
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}

// destroyPrefix removes everything named with a network prefix: it kills
// the processes in its namespaces (by PID), then deletes its veths,
// namespaces and bridge. Errors are ignored: it is also used on leftovers.
func destroyPrefix(prefix string) {
	var nss []string
	for _, ns := range netnsNames() {
		if strings.HasPrefix(ns, prefix+"-") {
			nss = append(nss, ns)
		}
	}
	// Processes first: a namespace outlives its name while a process is in it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var alive []int
		for _, ns := range nss {
			alive = append(alive, netnsPids(ns)...)
		}
		if len(alive) == 0 || time.Now().After(deadline) {
			break
		}
		for _, pid := range alive {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var cmds []string
	for _, l := range linkNames() {
		if strings.HasPrefix(l, prefix) && l != prefix+"br" {
			cmds = append(cmds, "link del "+l) // deletes both ends of the pair
		}
	}
	for _, ns := range nss {
		cmds = append(cmds, "netns del "+ns)
	}
	for _, l := range linkNames() {
		if l == prefix+"br" {
			cmds = append(cmds, "link del "+l)
		}
	}
	// -force: keep going past errors (a link already gone with its peer).
	if len(cmds) > 0 {
		cmd := exec.Command("ip", "-force", "-batch", "-")
		cmd.Stdin = strings.NewReader(strings.Join(cmds, "\n") + "\n")
		_ = cmd.Run()
	}
}

// leftovers lists namespaces and links with a prefix, waiting briefly for
// the kernel's asynchronous namespace teardown.
func leftovers(prefix string) []string {
	var left []string
	for wait := 0; wait < 40; wait++ {
		left = left[:0]
		for _, n := range append(netnsNames(), linkNames()...) {
			if strings.HasPrefix(n, prefix) {
				left = append(left, n)
			}
		}
		if len(left) == 0 {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return left
}

// sweepStale removes what dead test runs left behind: every prefix whose
// marker names a process that no longer runs, and every vgt* namespace or
// link that has no marker at all (markers are written before anything is
// created and removed after everything is gone).
func sweepStale(t testing.TB) {
	t.Helper()
	entries, _ := os.ReadDir(markerDir())
	live := map[string]bool{}
	for _, e := range entries {
		prefix, ok := strings.CutSuffix(e.Name(), ".pid")
		if !ok || len(prefix) != prefixLen || !strings.HasPrefix(prefix, namePrefix) {
			continue
		}
		owner, err := os.ReadFile(filepath.Join(markerDir(), e.Name()))
		if err == nil && ownerAlive(string(owner)) {
			live[prefix] = true
			continue
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			continue
		}
		destroyPrefix(prefix)
		if left := leftovers(prefix); len(left) == 0 {
			_ = os.Remove(filepath.Join(markerDir(), e.Name()))
			t.Logf("clustertest: removed the leftovers of dead test run %s (%s)", prefix, strings.TrimSpace(string(owner)))
		}
	}
	orphans := map[string]bool{}
	for _, n := range append(netnsNames(), linkNames()...) {
		if ourName.MatchString(n) && !live[n[:prefixLen]] {
			if _, err := os.Stat(markerPath(n[:prefixLen])); errors.Is(err, os.ErrNotExist) {
				orphans[n[:prefixLen]] = true
			}
		}
	}
	var names []string
	for p := range orphans {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		destroyPrefix(p)
		t.Logf("clustertest: removed unmarked leftovers %s*", p)
	}
}
