// Package etcdtest runs a real single-member etcd inside a test process
// (go.etcd.io/etcd/server/v3/embed) on free 127.0.0.1 ports, with its data
// in the test's temporary directory, and stops and restarts it on the same
// address and data to simulate an etcd outage. Only tests import it, so the
// etcd server is never linked into vigil.
package etcdtest

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/vigil-agent/vigil/internal/certtest"
	"github.com/vigil-agent/vigil/internal/clustertest"
)

// readyTimeout bounds how long a start may take.
const readyTimeout = 30 * time.Second

// Server is one embedded etcd member.
type Server struct {
	t      testing.TB
	dir    string
	client url.URL
	peer   url.URL
	// CertFile and KeyFile, with StartTLS, are a self-signed CA
	// certificate for 127.0.0.1 and its key: etcd's server certificate,
	// the CA it trusts for client certificates, and a valid client
	// certificate. Empty without TLS.
	CertFile, KeyFile string

	mu sync.Mutex
	e  *embed.Etcd
}

// Start starts an etcd member and waits until it serves; it is stopped at
// the end of the test.
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t, false)
}

// StartTLS starts an etcd member that serves clients over TLS only and
// requires a client certificate signed by CertFile.
func StartTLS(t testing.TB) *Server {
	t.Helper()
	return start(t, true)
}

// StartOn starts an etcd member whose client URL is on host (an address
// of this machine other than 127.0.0.1, such as a clustertest.Network's
// Gateway, for agents in network namespaces); its peer URL stays on
// loopback.
func StartOn(t testing.TB, host string) *Server {
	t.Helper()
	return startOn(t, host, false)
}

func start(t testing.TB, withTLS bool) *Server {
	t.Helper()
	return startOn(t, "127.0.0.1", withTLS)
}

func startOn(t testing.TB, host string, withTLS bool) *Server {
	t.Helper()
	ports := clustertest.FreePorts(t, 2)
	scheme := "http"
	if withTLS {
		scheme = "https"
	}
	s := &Server{
		t:      t,
		dir:    t.TempDir(),
		client: url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(ports[0]))},
		peer:   url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[1])},
	}
	if withTLS {
		s.CertFile, s.KeyFile = certtest.Write(t, "etcdtest")
	}
	t.Cleanup(s.Stop)
	s.Restart()
	return s
}

// Endpoint returns the client URL (http://127.0.0.1:PORT, or https://
// with StartTLS).
func (s *Server) Endpoint() string { return s.client.String() }

// Restart starts the member again (after Stop) on the same address with
// the same data, and waits until it serves.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.e != nil {
		return
	}
	cfg := embed.NewConfig()
	cfg.Name = "etcdtest"
	cfg.Dir = s.dir
	cfg.ListenClientUrls = []url.URL{s.client}
	cfg.AdvertiseClientUrls = []url.URL{s.client}
	cfg.ListenPeerUrls = []url.URL{s.peer}
	cfg.AdvertisePeerUrls = []url.URL{s.peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cfg.UnsafeNoFsync = true // test data: no need to survive a power cut
	if s.CertFile != "" {
		cfg.ClientTLSInfo = transport.TLSInfo{CertFile: s.CertFile, KeyFile: s.KeyFile, TrustedCAFile: s.CertFile, ClientCertAuth: true}
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		s.t.Fatalf("start etcd: %v", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		s.t.Fatalf("etcd failed to start: %v", err)
	case <-time.After(readyTimeout):
		e.Server.Stop()
		e.Close()
		s.t.Fatalf("etcd not ready after %s", readyTimeout)
	}
	s.e = e
}

// Stop stops the member; its clients see it unreachable until Restart.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.e == nil {
		return
	}
	s.e.Close()
	s.e = nil
}
