package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// MicroPattern selects the microbenchmarks of the report.
const MicroPattern = "DispatchFanout|HookStart|MembersJSON|HealthServiceJSON|EncodedTagsSize"

// MicroPackages hold them.
var MicroPackages = []string{"./events/", "./http/", "./membership/"}

// RunMicro runs the microbenchmarks with `go test` from the current
// directory (the repository root) and writes the output to path. The
// run is bounded by timeout.
func RunMicro(benchtime, path string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := append([]string{"test", "-run", "^$", "-bench", MicroPattern, "-benchtime", benchtime, "-benchmem", "-count", "1"}, MicroPackages...)
	cmd := exec.CommandContext(ctx, "go", args...)
	out, err := cmd.CombinedOutput()
	if werr := os.WriteFile(path, out, 0o644); werr != nil {
		return werr
	}
	if err != nil {
		return fmt.Errorf("go %s: %v (output in %s)", strings.Join(args, " "), err, path)
	}
	return nil
}

// Micro is one result line of `go test -bench`.
type Micro struct {
	Package string `json:"package"`
	Name    string `json:"name"`
	Iters   int    `json:"iterations"`
	// Metrics maps a unit (ns/op, B/op, allocs/op, or a custom one such as
	// p99-ms) to its value.
	Metrics map[string]float64 `json:"metrics"`
	// Units keeps the units in the order go test printed them.
	Units []string `json:"units"`
}

// ParseMicro reads `go test -bench` output.
func ParseMicro(text string) []Micro {
	var out []Micro
	pkg := ""
	for line := range strings.SplitSeq(text, "\n") {
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || len(f)%2 != 0 {
			continue
		}
		iters, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		m := Micro{Package: pkg, Name: f[0], Iters: iters, Metrics: map[string]float64{}}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			m.Metrics[f[i+1]] = v
			m.Units = append(m.Units, f[i+1])
		}
		out = append(out, m)
	}
	return out
}
