package clustertest

import (
	"net"
	"os"
	"strings"
)

// AgentEnv is this process's environment without the variables whose
// names start with one of prefixes ("VIGIL_": an agent the harness starts
// reads none of the harness's own settings).
func AgentEnv(prefixes ...string) []string {
	var out []string
next:
	for _, kv := range os.Environ() {
		for _, p := range prefixes {
			if strings.HasPrefix(kv, p) {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

// AcceptAndClose accepts every connection on l and closes it at once,
// until l is closed: a port a TCP check (or a probe of a cut) can reach.
// It returns at once; the accepting runs in a goroutine.
func AcceptAndClose(l net.Listener) {
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}
