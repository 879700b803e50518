package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-agent/vigil/internal/clustertest"
)

// TestValidateShowsEtcdLock: vigil validate names the etcd lock's
// endpoints, TLS and auth, never the password.
func TestValidateShowsEtcdLock(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "etcd-password")
	if err := os.WriteFile(pw, []byte("s3cret-etcd-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := clustertest.WriteConfig(t, `
name: db-2
failover:
  lock:
    etcd: [https://10.0.0.21:2379, https://10.0.0.22:2379]
    username: vigil
    password_file: `+pw+`
`)
	out, _, err := runValidateCLI(t, "validate", cfg)
	if err != nil {
		t.Fatalf("valid file: %v", err)
	}
	if want := "failover: etcd lock at https://10.0.0.21:2379, https://10.0.0.22:2379 (tls on, auth on)"; !strings.Contains(out, want) {
		t.Errorf("summary lacks %q:\n%s", want, out)
	}
	if strings.Contains(out, "s3cret") {
		t.Errorf("summary shows the password:\n%s", out)
	}
	plain, _, err := runValidateCLI(t, "validate", clustertest.WriteConfig(t, "name: a\n"))
	if err != nil || strings.Contains(plain, "failover:") {
		t.Errorf("without a lock: %v\n%s", err, plain)
	}
}
