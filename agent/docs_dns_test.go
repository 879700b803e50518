package agent

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	vigildns "github.com/vigil-agent/vigil/dns"
)

// docStep is one line of docs/dns.md's examples: a dig query with the
// output printed under it, or a vigil maintenance command.
type docStep struct {
	line    string
	dig     []string // dig's arguments after the server and port
	output  []string // the lines printed under it
	maint   string   // "on" or "off"
	httpIdx int      // the agent a maintenance command talks to
}

// docDNSSteps reads the dig and vigil maintenance lines of docs/dns.md's
// sh blocks, and returns them with the setup block's text.
func docDNSSteps(t *testing.T) (setup string, steps []docStep) {
	t.Helper()
	b, err := os.ReadFile("../docs/dns.md")
	if err != nil {
		t.Fatal(err)
	}
	inSh := false
	var cur *docStep
	flush := func() {
		if cur != nil {
			steps = append(steps, *cur)
			cur = nil
		}
	}
	httpPorts := map[string]int{"127.0.0.1:17947": 0, "127.0.0.1:17957": 1, "127.0.0.1:17967": 2}
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case line == "```sh":
			inSh = true
			continue
		case strings.HasPrefix(line, "```"):
			flush()
			inSh = false
			continue
		case !inSh:
			continue
		}
		if strings.Contains(line, "/tmp/vigil agent") || strings.HasPrefix(line, "  ") || strings.Contains(line, "YAML") {
			setup += line + "\n"
		}
		fields := strings.Fields(line)
		switch {
		case len(fields) == 0:
			flush()
		case fields[0] == "dig":
			flush()
			if len(fields) < 4 || fields[1] != "@127.0.0.1" || fields[2] != "-p" || fields[3] != "8600" {
				t.Fatalf("docs/dns.md: %q: want dig @127.0.0.1 -p 8600 ...", line)
			}
			cur = &docStep{line: line, dig: fields[4:]}
		case fields[0] == "/tmp/vigil" && len(fields) > 1 && fields[1] == "maintenance":
			flush()
			if len(fields) != 5 || fields[2] != "-http-addr" {
				t.Fatalf("docs/dns.md: %q: want /tmp/vigil maintenance -http-addr ADDR on|off", line)
			}
			idx, ok := httpPorts[fields[3]]
			if !ok {
				t.Fatalf("docs/dns.md: %q: no agent of the example has the API on %s", line, fields[3])
			}
			steps = append(steps, docStep{line: line, maint: fields[4], httpIdx: idx})
		case cur != nil:
			cur.output = append(cur.output, line)
		}
	}
	return setup, steps
}

// TestDocDNSExamples runs docs/dns.md's examples: three agents set up as
// its first block says (checked), then every dig line (asked with miekg/dns,
// as dig asks) until the answer is the one printed under it, in any
// order, and every vigil maintenance line.
func TestDocDNSExamples(t *testing.T) {
	setup, steps := docDNSSteps(t)
	for i := 1; i <= 3; i++ {
		want := fmt.Sprintf("-name web-%d -bind 127.0.0.%d:17946", i, i)
		if !strings.Contains(setup, want) {
			t.Fatalf("docs/dns.md's setup has no agent %q: the test's cluster no longer matches it:\n%s", want, setup)
		}
	}
	if strings.Count(setup, `-dns ""`) != 2 || !strings.Contains(setup, "tags: {role: primary}") || strings.Count(setup, "web:8080") != 2 {
		t.Fatalf("docs/dns.md's setup changed: the test's cluster no longer matches it:\n%s", setup)
	}
	if len(steps) < 8 {
		t.Fatalf("found only %d steps in docs/dns.md", len(steps))
	}

	var agents []*testAgent
	for i := range 3 {
		agents = append(agents, startTestAgent(t, http.DefaultClient, func(c *Config) {
			c.Name = fmt.Sprintf("web-%d", i+1)
			c.Bind = fmt.Sprintf("127.0.0.%d:%d", i+1, freePort(t))
			c.Service = &ServiceConfig{Name: "web", Port: 8080}
			c.DNS = ""
			if i == 0 {
				c.Service.Tags = map[string]string{"role": "primary"}
				c.DNS = "127.0.0.1:0"
			} else {
				c.Join = []string{agents[0].cfg.Bind}
			}
		}))
	}
	for _, st := range steps {
		if st.maint != "" {
			if err := agents[st.httpIdx].SetMaintenance(st.maint == "on", ""); err != nil {
				t.Fatalf("%s: %v", st.line, err)
			}
			continue
		}
		name, qtype, short, grepStatus := "", mdns.TypeA, false, false
		for i := 0; i < len(st.dig); i++ {
			a := st.dig[i]
			switch {
			case a == "|":
				if strings.Join(st.dig[i:], " ") != "| grep status" {
					t.Fatalf("%s: only | grep status is understood", st.line)
				}
				grepStatus = true
				i = len(st.dig)
			case a == "+short":
				short = true
			case mdns.StringToType[a] != 0:
				qtype = mdns.StringToType[a]
			case name == "" && !strings.HasPrefix(a, "+"):
				name = a
			default:
				t.Fatalf("%s: %q is not understood", st.line, a)
			}
		}
		var got []string
		var rcode string
		switch {
		case short:
			want := slices.Clone(st.output)
			sort.Strings(want)
			waitUntil(t, 20*time.Second, fmt.Sprintf("%s to print %q", st.line, st.output), func() bool {
				rcode, got = dig(t, agents[0], name, qtype)
				return rcode == "NOERROR" && slices.Equal(got, want)
			})
		case grepStatus:
			if len(st.output) != 1 || !strings.Contains(st.output[0], "status: ") {
				t.Fatalf("%s: want one line with the status under it, got %q", st.line, st.output)
			}
			want := strings.TrimSuffix(strings.Fields(strings.SplitN(st.output[0], "status: ", 2)[1])[0], ",")
			waitUntil(t, 20*time.Second, fmt.Sprintf("%s to be %s", st.line, want), func() bool {
				rcode, _ = dig(t, agents[0], name, qtype)
				return rcode == want
			})
		default:
			t.Fatalf("%s: want +short or | grep status, so the output can be compared", st.line)
		}
	}
}

// TestDocDNSForwarders: the resolver snippets of docs/dns.md send the
// default domain to the default address.
func TestDocDNSForwarders(t *testing.T) {
	b, err := os.ReadFile("../docs/dns.md")
	if err != nil {
		t.Fatal(err)
	}
	domain := strings.TrimSuffix(vigildns.DefaultDomain, ".")
	for _, want := range []string{
		"server=/" + domain + "/" + strings.Replace(vigildns.DefaultAddr, ":", "#", 1) + "\n",
		"DNS=" + vigildns.DefaultAddr + "\n",
		"Domains=~" + domain + "\n",
		"`" + vigildns.DefaultAddr + "`",
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("docs/dns.md lacks %q", want)
		}
	}
}
