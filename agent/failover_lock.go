package agent

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/events/failover"
	"github.com/vigil-agent/vigil/events/failover/etcdlock"
)

// LockConfig is failover.lock: where run_on: one claims are decided.
// Without etcd endpoints (the default) the claim is vigil's gossip
// protocol, granted by a strict majority of the members: at least once,
// and a second run always carries a larger fence. With etcd endpoints
// the claim is an etcd lease and a compare-and-set on one key per task,
// and the etcd revision is VIGIL_FENCE: exactly once while etcd is
// reachable, a runner whose agent is stopped past its lease included (the
// hook guard records the completion or kills the hook; a frozen machine
// or container aside: then a second run carries a larger fence); when it
// is not, failovers are held, never run unclaimed.
// The lease is failover.lease. Every agent of a cluster must use the same
// mode, endpoints and prefix.
type LockConfig struct {
	// Etcd lists etcd's client URLs (https://10.0.0.1:2379, or
	// HOST:PORT). Default: none, the gossip claim. Give every member of
	// the etcd cluster: the client fails over between them.
	Etcd []string `yaml:"etcd"`
	// Prefix is prepended to the task keys (PREFIX HOOK/KEY). Default
	// /vigil/failover/. Give each vigil cluster sharing an etcd its own;
	// with etcd's auth, grant vigil's user read-write on this prefix only.
	Prefix string `yaml:"prefix"`
	// TLS configures the client's TLS to etcd. Default: none, plain
	// http:// endpoints (anyone on the path can read and forge claims);
	// https:// endpoints without it use the system's CAs.
	TLS EtcdTLSConfig `yaml:"tls"`
	// Username is the etcd user (etcd auth). Default: none. Set with
	// PasswordFile.
	Username string `yaml:"username"`
	// PasswordFile is a file holding the etcd user's password (one line;
	// a trailing newline is dropped). Read at start; the password is
	// never logged or shown. Keep it mode 0600.
	PasswordFile string `yaml:"password_file"`
}

// EtcdTLSConfig is failover.lock.tls: PEM files.
type EtcdTLSConfig struct {
	// CAFile verifies etcd's server certificate. Default: the system's
	// CAs.
	CAFile string `yaml:"ca_file"`
	// CertFile is this agent's client certificate, for etcd's
	// --client-cert-auth. Set with KeyFile. Default: none.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the private key of CertFile.
	KeyFile string `yaml:"key_file"`
}

// set reports whether any TLS file is given.
func (t EtcdTLSConfig) set() bool { return t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" }

// validateLock checks failover.lock.
func (c *Config) validateLock() ConfigErrors {
	var errs ConfigErrors
	l := c.Failover.Lock
	add := func(key, format string, args ...any) {
		where := c.where(key)
		if where == "" {
			where = c.where("failover.lock")
		}
		errs = append(errs, &ConfigError{Where: where, Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if len(l.Etcd) == 0 {
		if l.Prefix != "" || l.TLS.set() || l.Username != "" || l.PasswordFile != "" {
			add("failover.lock.etcd", "prefix, tls, username and password_file need etcd endpoints")
		}
		return errs
	}
	for i, ep := range l.Etcd {
		key := "failover.lock.etcd[" + strconv.Itoa(i) + "]"
		if msg := etcdEndpointProblem(ep); msg != "" {
			add(key, "%q: %s", ep, msg)
		} else if strings.HasPrefix(ep, "http://") && l.TLS.set() {
			add(key, "%q: http:// does not use tls; write https:// (or HOST:PORT)", ep)
		}
	}
	if l.Prefix != "" && (!strings.HasPrefix(l.Prefix, "/") || !strings.HasSuffix(l.Prefix, "/")) {
		add("failover.lock.prefix", "%q: must start and end with /", l.Prefix)
	}
	if l.TLS.set() {
		if _, err := etcdlock.LoadTLS(l.TLS.CAFile, l.TLS.CertFile, l.TLS.KeyFile); err != nil {
			add("failover.lock.tls", "%v", err)
		}
	}
	switch {
	case (l.Username == "") != (l.PasswordFile == ""):
		add("failover.lock.username", "set username and password_file together")
	case l.PasswordFile != "":
		if _, err := readEtcdPassword(l.PasswordFile); err != nil {
			add("failover.lock.password_file", "%v", err)
		}
	}
	return errs
}

// etcdEndpointProblem says what is wrong with an etcd endpoint, or "".
func etcdEndpointProblem(ep string) string {
	if ep == "" {
		return "empty"
	}
	hostPort := ep
	if scheme, rest, ok := strings.Cut(ep, "://"); ok {
		if scheme != "http" && scheme != "https" {
			return "want http://, https:// or HOST:PORT"
		}
		u, err := url.Parse(ep)
		if err != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return "want SCHEME://HOST:PORT, without path, query or user"
		}
		hostPort = strings.TrimSuffix(rest, "/")
	}
	if _, _, err := splitHostPort(hostPort); err != nil {
		return err.Error()
	}
	return ""
}

// readEtcdPassword reads the password file's first line.
func readEtcdPassword(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("etcd password file: %w", err)
	}
	pw, _, _ := strings.Cut(string(b), "\n")
	pw = strings.TrimSuffix(pw, "\r")
	if pw == "" {
		return "", errors.New("etcd password file: empty")
	}
	return pw, nil
}

// failoverLock returns the etcd lock when failover.lock.etcd is set, or
// nil for the gossip claim.
func (c *Config) failoverLock(logger zerolog.Logger) (*etcdlock.Etcd, error) {
	l := c.Failover.Lock
	if len(l.Etcd) == 0 {
		return nil, nil
	}
	cfg := etcdlock.Config{Endpoints: l.Etcd, Prefix: l.Prefix, Username: l.Username, Holder: c.Name,
		Lease: time.Duration(c.Failover.Lease), Logger: logger}
	if cfg.Lease <= 0 {
		cfg.Lease = failover.DefaultLease
	}
	if l.TLS.set() {
		tc, err := etcdlock.LoadTLS(l.TLS.CAFile, l.TLS.CertFile, l.TLS.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("failover.lock.tls: %w", err)
		}
		cfg.TLS = tc
		cfg.TLSFiles = etcdlock.TLSFiles{CA: l.TLS.CAFile, Cert: l.TLS.CertFile, Key: l.TLS.KeyFile}
	}
	if l.PasswordFile != "" {
		pw, err := readEtcdPassword(l.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("failover.lock.password_file: %w", err)
		}
		cfg.Password = pw
	}
	lock, err := etcdlock.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("failover.lock: %w", err)
	}
	prefix := l.Prefix
	if prefix == "" {
		prefix = etcdlock.DefaultPrefix
	}
	logger.Info().Strs("etcd", l.Etcd).Str("prefix", prefix).Bool("tls", l.TLS.set()).
		Bool("auth", l.Username != "").Msg("failover claims are decided by etcd")
	return lock, nil
}
