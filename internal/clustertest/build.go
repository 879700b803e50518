package clustertest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// vigilPkg is the package Build compiles.
const vigilPkg = "github.com/vigil-agent/vigil/cmd/vigil"

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
	prebuilt  string // VIGIL_TEST_BINARY, when set
)

// Build compiles ./cmd/vigil once per test binary and returns the path of
// the binary. With VIGIL_TEST_AGENT_RACE=1 the agents are built with the
// race detector; a race they report fails the test (see Agent).
//
// The binary goes to $TMPDIR/vigil-clustertest/PID.START/vigil, named after
// this test binary's PID and start time; directories of test binaries that
// are no longer running are removed on the way.
//
// With VIGIL_TEST_BINARY=PATH nothing is built: the agents run the binary
// at PATH (an absolute path), e.g. an older build to compare with, and it
// is left in place.
func Build(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if p := os.Getenv("VIGIL_TEST_BINARY"); p != "" {
			if !filepath.IsAbs(p) {
				buildErr = fmt.Errorf("VIGIL_TEST_BINARY=%s: want an absolute path", p)
				return
			}
			if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
				buildErr = fmt.Errorf("VIGIL_TEST_BINARY=%s: not an executable file (%v)", p, err)
				return
			}
			prebuilt = p
			t.Logf("clustertest: agents run VIGIL_TEST_BINARY=%s", p)
			return
		}
		root := filepath.Join(os.TempDir(), "vigil-clustertest")
		sweepBuildDirs(root)
		dir := filepath.Join(root, ownerID())
		if err := os.MkdirAll(dir, 0o755); err != nil {
			buildErr = err
			return
		}
		path := filepath.Join(dir, "vigil")
		args := []string{"build", "-o", path}
		if os.Getenv("VIGIL_TEST_AGENT_RACE") == "1" {
			args = append(args, "-race")
		}
		began := time.Now()
		out, err := exec.Command("go", append(args, vigilPkg)...).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build %s: %v\n%s", vigilPkg, err, out)
			return
		}
		buildPath = path
		t.Logf("clustertest: %s built in %s", strings.Join(append(args, vigilPkg), " "), time.Since(began).Round(time.Millisecond))
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	if prebuilt != "" {
		return prebuilt
	}
	return buildPath
}

// Main runs a test binary's tests and then removes the vigil binary Build
// made for it (otherwise the next test binary that calls Build removes it).
// Call it from TestMain:
//
//	func TestMain(m *testing.M) { clustertest.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	if buildPath != "" {
		_ = os.RemoveAll(filepath.Dir(buildPath))
	}
	os.Exit(code)
}

// ownerID names this test binary: "PID.STARTTIME".
func ownerID() string {
	return strconv.Itoa(os.Getpid()) + "." + procStart(os.Getpid())
}

// ownerAlive reports whether the process an ownerID names still runs.
func ownerAlive(id string) bool {
	pidStr, start, ok := strings.Cut(strings.TrimSpace(id), ".")
	pid, err := strconv.Atoi(pidStr)
	if !ok || err != nil || pid <= 0 {
		return false
	}
	return start != "" && procStart(pid) == start
}

// sweepBuildDirs removes binaries of test binaries that have exited.
func sweepBuildDirs(root string) {
	if !netnsSupported { // no /proc to tell who is alive
		return
	}
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		if e.IsDir() && !ownerAlive(e.Name()) {
			_ = os.RemoveAll(filepath.Join(root, e.Name()))
		}
	}
}
