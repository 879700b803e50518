package dns

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/rs/zerolog"

	vigilhttp "github.com/vigil-agent/vigil/http"
)

// benchConcurrency is how many clients query at once, each on a
// connection of its own (a UDP socket, a TCP or keep-alive HTTP
// connection), as the HTTP API's load test in docs/benchmarks.md.
const benchConcurrency = 4

// httpAgent is the HTTP API's Agent with only what GET
// /v1/health/service needs; any other method would panic.
type httpAgent struct {
	vigilhttp.Agent
	instances []vigilhttp.Instance
}

func (h httpAgent) Instances(string) []vigilhttp.Instance { return h.instances }

// benchSource returns the service web with n passing instances, as a DNS
// source and as the HTTP API's agent.
func benchSource(n int) (*fakeSource, httpAgent) {
	f := &fakeSource{instances: map[string][]Instance{}}
	var h httpAgent
	for i := range n {
		ip := fmt.Sprintf("10.1.%d.%d", i/250, i%250+1)
		name := fmt.Sprintf("web-%03d", i)
		tags := map[string]string{"version": "1.4.2"}
		f.instances["web"] = append(f.instances["web"], Instance{Node: name, NodeAddr: ip, Addr: ip, Port: 8080, Tags: tags, Passing: true})
		h.instances = append(h.instances, vigilhttp.Instance{Node: name, Addr: ip, Port: 8080, Tags: tags, Health: "passing", Status: "alive"})
	}
	return f, h
}

// closedLoop runs b.N requests from benchConcurrency clients, each
// sending its next request when the last was answered, and reports
// queries/s and the p50 and p99 latency. newClient returns one client's
// request function.
func closedLoop(b *testing.B, newClient func() (func() error, func())) {
	var next atomic.Int64
	lat := make([][]time.Duration, benchConcurrency)
	var wg sync.WaitGroup
	var failed atomic.Value
	clients := make([]func() error, benchConcurrency)
	for i := range clients {
		do, closeFn := newClient()
		b.Cleanup(closeFn)
		clients[i] = do
	}
	b.ResetTimer()
	start := time.Now()
	for w := range benchConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if err := clients[w](); err != nil {
					failed.Store(err)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) float64 {
		return float64(all[int(p*float64(len(all)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "queries/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// BenchmarkServiceLookup compares a DNS query for a service's passing
// instances (A, and SRV with their addresses, over UDP and TCP) with the
// HTTP API's GET /v1/health/service/web?passing, on loopback, with 3 and
// 50 instances: queries per second and p99 latency of 4 clients in a
// closed loop. Server and clients share the machine.
func BenchmarkServiceLookup(b *testing.B) {
	for _, n := range []int{3, 50} {
		src, agent := benchSource(n)
		dnsAddr := startServer(b, src, Config{})
		for _, tc := range []struct {
			name    string
			network string
			qtype   uint16
		}{
			{"dns-udp-A", "udp", mdns.TypeA},
			{"dns-udp-SRV", "udp", mdns.TypeSRV},
			{"dns-tcp-SRV", "tcp", mdns.TypeSRV},
		} {
			b.Run(fmt.Sprintf("%s/instances=%d", tc.name, n), func(b *testing.B) {
				closedLoop(b, func() (func() error, func()) {
					c := &mdns.Client{Net: tc.network, Timeout: 5 * time.Second, UDPSize: MaxUDPSize}
					conn, err := c.Dial(dnsAddr)
					if err != nil {
						b.Fatal(err)
					}
					q := new(mdns.Msg).SetQuestion("web.service.vigil.", tc.qtype)
					q.SetEdns0(MaxUDPSize, false)
					return func() error {
						r, _, err := c.ExchangeWithConn(q, conn)
						if err != nil && tc.network == "tcp" {
							// The server closes a connection after 128
							// queries; a client dials again.
							conn.Close()
							if conn, err = c.Dial(dnsAddr); err == nil {
								r, _, err = c.ExchangeWithConn(q, conn)
							}
						}
						if err == nil && len(r.Answer) == 0 {
							err = fmt.Errorf("empty answer: %v", r)
						}
						return err
					}, func() { conn.Close() }
				})
			})
		}

		b.Run(fmt.Sprintf("http/instances=%d", n), func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			srv := vigilhttp.New(agent, zerolog.Nop())
			go srv.Serve(ln)
			b.Cleanup(func() { srv.Shutdown(b.Context()) })
			url := "http://" + ln.Addr().String() + "/v1/health/service/web?passing"
			closedLoop(b, func() (func() error, func()) {
				tr := &http.Transport{MaxIdleConnsPerHost: 1}
				c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
				return func() error {
					resp, err := c.Get(url)
					if err != nil {
						return err
					}
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
					return err
				}, tr.CloseIdleConnections
			})
		})
	}
}
