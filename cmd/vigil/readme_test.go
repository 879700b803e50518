package main

import (
	"io"
	"net"
	nethttp "net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/vigil-agent/vigil/internal/clustertest"
)

// TestReadmeDevBlock runs the README's second block, the commands to try
// beside `vigil agent -dev`, against a real -dev agent: the curl, the
// members and event commands, and the dig query (through a DNS client).
// The agent gets free ports instead of the fixed defaults; the commands
// are pointed at them. monitor runs until Ctrl-C and is left out.
func TestReadmeDevBlock(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, _ := strings.Cut(string(b), "With the dev agent running, in another terminal:\n\n```sh\n")
	block, _, ok := strings.Cut(after, "```")
	if !ok || block == "" {
		t.Fatal("README.md has no block of commands to try beside the dev agent")
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := "127.0.0.1:" + strconv.Itoa(clustertest.FreePort(t))
	dnsPort := strconv.Itoa(clustertest.FreePort(t))
	cmd := exec.Command(clustertest.Build(t), "agent", "-dev", "-bind", "127.0.0.1:"+strconv.Itoa(clustertest.FreePort(t)), "-http", httpAddr, "-dns", "127.0.0.1:"+dnsPort)
	var log clustertest.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("dev agent log:\n%s", tail(log.String(), 4000))
		}
	})
	clustertest.WaitFor(t, 20*time.Second, "the dev agent to serve HTTP", func() bool {
		resp, err := nethttp.Get("http://" + httpAddr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	ran := 0
	for _, line := range strings.Split(block, "\n") {
		line, _, _ = strings.Cut(line, "   #")
		line = strings.TrimSpace(line)
		fields := strings.Fields(line)
		switch {
		case line == "":
		case strings.HasPrefix(line, "curl -s 127.0.0.1:7947/"):
			resp, err := nethttp.Get("http://" + httpAddr + strings.TrimPrefix(fields[2], "127.0.0.1:7947"))
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(body), `"name":"`+host+`"`) {
				t.Errorf("%s: %d %s", line, resp.StatusCode, body)
			}
			ran++
		case strings.HasPrefix(line, "go run ./cmd/vigil monitor"):
		case strings.HasPrefix(line, "go run ./cmd/vigil "):
			// The subcommand, then the address flag, then its arguments:
			// flags go before arguments.
			args := append([]string{fields[3], "-http-addr", httpAddr}, fields[4:]...)
			if out, err := execVigil(t, args...); err != nil {
				t.Errorf("%s: %v\n%s", line, err, out)
			}
			ran++
		case strings.HasPrefix(line, "dig @127.0.0.1 -p 8600 "):
			name := strings.Trim(strings.ReplaceAll(fields[4], "$(hostname)", host), `"`)
			c := &mdns.Client{Timeout: 5 * time.Second}
			m := new(mdns.Msg)
			m.SetQuestion(mdns.Fqdn(name), mdns.TypeA)
			r, _, err := c.Exchange(m, net.JoinHostPort("127.0.0.1", dnsPort))
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			if r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 1 || !strings.Contains(r.Answer[0].String(), "127.0.0.1") {
				t.Errorf("%s: %s", line, r)
			}
			ran++
		default:
			t.Errorf("README's dev block has a line this test does not know how to run: %q", line)
		}
	}
	if ran < 4 {
		t.Errorf("ran %d of the README's dev commands, want the curl, the members and event commands and the dig query", ran)
	}
}
