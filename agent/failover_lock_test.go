package agent

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/vigil-agent/vigil/internal/certtest"
)

// lockFiles writes a CA/certificate, its key and a password file.
func lockFiles(t *testing.T) (cert, key, password string) {
	t.Helper()
	cert, key = certtest.Write(t, "vigil test")
	password = filepath.Join(t.TempDir(), "etcd-password")
	if err := os.WriteFile(password, []byte("s3cret-etcd-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key, password
}

// TestLockConfigValidate: failover.lock's problems name the key and its
// line; a valid etcd section passes.
func TestLockConfigValidate(t *testing.T) {
	cert, key, pw := lockFiles(t)
	tls := "    tls: {ca_file: " + cert + ", cert_file: " + cert + ", key_file: " + key + "}\n"
	for _, tt := range []struct {
		name, body, want string
	}{
		{"gossip default", "failover: {lease: 5s}\n", ""},
		{"plain endpoints", "failover:\n  lock:\n    etcd: [http://127.0.0.1:2379, 10.0.0.2:2379]\n", ""},
		{"tls and auth", "failover:\n  lock:\n    etcd: [https://10.0.0.1:2379]\n    prefix: /vigil/db/\n" + tls +
			"    username: vigil\n    password_file: " + pw + "\n", ""},
		{"empty endpoint", "failover:\n  lock:\n    etcd: ['']\n", "vigil.yaml:3: failover.lock.etcd[0]: \"\": empty"},
		{"bad scheme", "failover:\n  lock:\n    etcd: [unix://x:1]\n", "failover.lock.etcd[0]: \"unix://x:1\": want http://, https:// or HOST:PORT"},
		{"path", "failover:\n  lock:\n    etcd: [http://a:1/v3]\n", "without path"},
		{"no port", "failover:\n  lock:\n    etcd: [10.0.0.1]\n", "failover.lock.etcd[0]"},
		{"http with tls", "failover:\n  lock:\n    etcd: [http://127.0.0.1:2379]\n" + tls, "http:// does not use tls"},
		{"prefix without slashes", "failover:\n  lock:\n    etcd: [a:1]\n    prefix: vigil\n", "vigil.yaml:4: failover.lock.prefix: \"vigil\": must start and end with /"},
		{"keys without endpoints", "failover:\n  lock:\n    prefix: /v/\n", "vigil.yaml:2: failover.lock.etcd: prefix, tls, username and password_file need etcd endpoints"},
		{"missing CA", "failover:\n  lock:\n    etcd: [a:1]\n    tls: {ca_file: /nonexistent/ca.pem}\n", "failover.lock.tls: etcd CA file"},
		{"cert without key", "failover:\n  lock:\n    etcd: [a:1]\n    tls: {cert_file: " + cert + "}\n", "set cert_file and key_file together"},
		{"username alone", "failover:\n  lock:\n    etcd: [a:1]\n    username: vigil\n", "vigil.yaml:4: failover.lock.username: set username and password_file together"},
		{"missing password file", "failover:\n  lock:\n    etcd: [a:1]\n    username: vigil\n    password_file: /nonexistent/pw\n", "failover.lock.password_file: etcd password file"},
		{"unknown key", "failover:\n  lock:\n    etcd: [a:1]\n    pasword_file: x\n", "unknown key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want == "unknown key" {
				cfg := Default()
				err := cfg.LoadFile(writeFile(t, tt.body))
				if err == nil || !strings.Contains(err.Error(), "vigil.yaml:4: failover.lock.pasword_file: unknown key") {
					t.Fatalf("error %v, want the unknown key and its line", err)
				}
				return
			}
			checkValidate(t, tt.body, tt.want)
		})
	}
}

// TestLockNeverShowsPassword: the password is read from its file for
// the client, and appears in neither the agent's log nor a config error.
func TestLockNeverShowsPassword(t *testing.T) {
	_, _, pw := lockFiles(t)
	cfg := Default()
	if err := cfg.LoadFile(writeFile(t, "name: a\nfailover:\n  lock:\n    etcd: [127.0.0.1:1]\n    username: vigil\n    password_file: "+pw+"\n")); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	lock, err := cfg.failoverLock(zerolog.New(&logs))
	if err != nil || lock == nil {
		t.Fatalf("lock %v, %v", lock, err)
	}
	defer lock.Close()
	cfg.Failover.Lock.Username = "" // now invalid: the error names keys, not the password
	verr := cfg.Validate()
	for what, s := range map[string]string{"log": logs.String(), "config error": verr.Error()} {
		if strings.Contains(s, "s3cret") {
			t.Errorf("the %s shows the password: %s", what, s)
		}
	}
	if !strings.Contains(logs.String(), "failover claims are decided by etcd") {
		t.Errorf("log %q does not say the claims go to etcd", logs.String())
	}
}

// docBlock returns the first ```yaml block after marker in a doc.
func docBlock(t *testing.T, path, marker string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), marker)
	if !ok {
		t.Fatalf("%s has no %q", path, marker)
	}
	_, after, ok = strings.Cut(after, "```yaml\n")
	block, _, ok2 := strings.Cut(after, "```")
	if !ok || !ok2 {
		t.Fatalf("%s: no ```yaml block after %q", path, marker)
	}
	return block
}

// TestDocsEtcdLockExamples validates the etcd lock's examples: the etcd
// mode section of docs/failover.md, the failover section of
// docs/configuration.md and the README's one-liner, with their files made
// here.
func TestDocsEtcdLockExamples(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	oneLiner := regexp.MustCompile("`(failover: \\{lock: \\{etcd: [^`]*)`").FindSubmatch(readme)
	if oneLiner == nil {
		t.Fatal("README.md shows no failover.lock.etcd one-liner")
	}
	cert, key, pw := lockFiles(t)
	files := map[string]string{
		"/etc/vigil/etcd-ca.pem": cert, "/etc/vigil/etcd-client.pem": cert,
		"/etc/vigil/etcd-client-key.pem": key, "/etc/vigil/etcd-password": pw,
	}
	for _, tc := range []struct {
		name, example string
		files         bool // names every file of files
	}{
		{"failover.md", docBlock(t, "../docs/failover.md", "## etcd mode"), true},
		{"configuration.md", docBlock(t, "../docs/configuration.md", "### `failover`"), true},
		{"README.md", string(oneLiner[1]) + "\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			example := tc.example
			for from, to := range files {
				if tc.files && !strings.Contains(example, from) {
					t.Fatalf("the example no longer names %s", from)
				}
				example = strings.ReplaceAll(example, from, to)
			}
			checkValidate(t, "name: db-2\n"+example, "")
			cfg := Default()
			if err := cfg.LoadFile(writeFile(t, example)); err != nil {
				t.Fatal(err)
			}
			if len(cfg.Failover.Lock.Etcd) == 0 {
				t.Fatal("the example sets no etcd endpoints")
			}
		})
	}
}
