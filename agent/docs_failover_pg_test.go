package agent

import (
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pgBinary finds a PostgreSQL server program: on PATH, or where Debian's
// postgresql package keeps it.
func pgBinary(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(found) == 0 {
		return ""
	}
	return found[len(found)-1]
}

// startPostgres starts a throwaway PostgreSQL server that listens only on
// a Unix socket in a directory of its own, and returns the environment
// that points psql at it. As root it runs the server as the postgres user
// (or nobody), since PostgreSQL refuses to run as root. It skips the test
// where PostgreSQL is not installed, and fails it under CI=true, where
// .ci/run installs it.
func startPostgres(t *testing.T) []string {
	t.Helper()
	initdb, postgres := pgBinary("initdb"), pgBinary("postgres")
	if _, err := exec.LookPath("psql"); err != nil || initdb == "" || postgres == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("PostgreSQL (initdb, postgres, psql) is not installed; .ci/run installs Debian's postgresql")
		}
		t.Skip("PostgreSQL (initdb, postgres, psql) is not installed")
	}
	dir, err := os.MkdirTemp("", "vigil-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			u, err = user.Lookup("nobody")
		}
		if err != nil {
			t.Fatalf("no user to run PostgreSQL as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	asServer := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
		return cmd
	}
	if out, err := asServer(initdb, "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v: %s", err, out)
	}
	srv := asServer(postgres, "-D", data, "-k", dir, "-c", "listen_addresses=", "-c", "fsync=off", "-p", "5432")
	logFile, err := os.Create(filepath.Join(t.TempDir(), "postgres.log"))
	if err != nil {
		t.Fatal(err)
	}
	srv.Stdout, srv.Stderr = logFile, logFile
	if err := srv.Start(); err != nil {
		t.Fatalf("start postgres: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = srv.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = srv.Process.Signal(syscall.SIGINT) // fast shutdown
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-srv.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		logFile.Close()
	})
	env := append(os.Environ(), "PGHOST="+dir, "PGUSER=postgres", "PGDATABASE=postgres")
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		cmd := exec.CommandContext(ctx, "psql", "-X", "-q", "-c", "SELECT 1")
		cmd.Env = env
		err := cmd.Run()
		cancel()
		if err == nil {
			return env
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(logFile.Name())
			t.Fatalf("postgres exited: %s", log)
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile.Name())
			t.Fatalf("postgres not ready after 30 s: %v\n%s", err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestDocsPromoteSQLRefusesOldFences runs the PostgreSQL form of
// docs/failover.md's promote script, its setup SQL first, against a real
// PostgreSQL server with a series of fences from different runners: the
// switch happens for a fence above every one that acted before, and never
// for an older or equal one.
func TestDocsPromoteSQLRefusesOldFences(t *testing.T) {
	b, err := os.ReadFile("../docs/failover.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "### A promote script that uses the fence")
	if !ok {
		t.Fatal("docs/failover.md has no promote script section")
	}
	block := func(after, fence string) string {
		t.Helper()
		_, rest, ok := strings.Cut(section, after)
		if !ok {
			t.Fatalf("no %q in the promote script section", after)
		}
		_, rest, ok = strings.Cut(rest, "```"+fence+"\n")
		body, _, ok2 := strings.Cut(rest, "```")
		if !ok || !ok2 {
			t.Fatalf("no ```%s block after %q", fence, after)
		}
		return body
	}
	setup := block("A PostgreSQL resource", "sql")
	script := block("The hook (psql", "sh")
	if !strings.Contains(script, "promote-pg.sh") {
		t.Fatalf("the sh block after the SQL is not promote-pg.sh:\n%s", script)
	}

	env := startPostgres(t)
	psql := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("psql", append([]string{"-X", "-q", "-v", "ON_ERROR_STOP=1"}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("psql %v: %v: %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	dir := t.TempDir()
	setupFile := filepath.Join(dir, "setup.sql")
	if err := os.WriteFile(setupFile, []byte(setup), 0o644); err != nil {
		t.Fatal(err)
	}
	psql("-f", setupFile)
	path := filepath.Join(dir, "promote-pg.sh")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		runner, fence string
		want          string // db_primary's node and the fence after the run
	}{
		{"db-2", "1765000000000", "db-2|1765000000000"},
		{"db-3", "1764999999999", "db-2|1765000000000"}, // an older runner, late
		{"db-3", "1765000000000", "db-2|1765000000000"}, // the same fence again
		{"db-4", "1765000000500", "db-4|1765000000500"},
	} {
		cmd := exec.Command("/bin/sh", path)
		cmd.Env = append(env, "VIGIL_FENCE="+step.fence, "VIGIL_SELF_NAME="+step.runner)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s with fence %s: %v: %s", step.runner, step.fence, err, out)
		}
		got := psql("-At", "-c", "SELECT node || '|' || (SELECT fence FROM vigil_fence) FROM db_primary")
		if got != step.want {
			t.Errorf("%s with fence %s: primary|fence is %s, want %s (script said %q)", step.runner, step.fence, got, step.want, out)
		}
		if refused := strings.Contains(string(out), "refused"); refused != (step.want[:4] != step.runner) {
			t.Errorf("%s with fence %s: output %q", step.runner, step.fence, out)
		}
	}
}
