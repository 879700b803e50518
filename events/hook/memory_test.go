package hook

import (
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/vigil-agent/vigil/events"

	"github.com/rs/zerolog"
)

const mib = 1 << 20

// heapNow returns HeapAlloc and TotalAlloc, after a GC when gc is set.
func heapNow(gc bool) (heap, total uint64) {
	if gc {
		runtime.GC()
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc, m.TotalAlloc
}

// sampleHeapPeak samples HeapAlloc every few milliseconds until the
// returned function is called, which returns the highest value seen.
func sampleHeapPeak() func() uint64 {
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return func() uint64 { close(done); wg.Wait(); return peak }
}

// TestHookOutputMemoryBounded: a hook that writes 100 MiB to stdout and
// stderr is recorded with the exact byte count and the last 64 KiB, and
// the agent's memory does not grow with the output: the runner allocates
// a few hundred KiB for the whole run, whatever the hook writes.
func TestHookOutputMemoryBounded(t *testing.T) {
	const size = 100 * mib
	// 100 MiB of numbered 16-byte lines, half on stdout, half on stderr,
	// then a marker: the kept tail must end with the last lines.
	script := `yes 0123456789abcde | head -c 52428800; yes 0123456789abcde | head -c 52428800 >&2; printf END`
	r := newTestRunner(t, Hook{Name: "flood", Shell: script, Timeout: 2 * time.Minute})

	heapBefore, totalBefore := heapNow(true)
	stopPeak := sampleHeapPeak()
	start := time.Now()
	r.Dispatch(failedEvent(1, "n1"))
	waitFor(t, 2*time.Minute, "the flood hook's run", func() bool { return len(runsOf(r, "flood")) == 1 })
	elapsed := time.Since(start)
	peak := stopPeak()
	heapAfter, totalAfter := heapNow(false)
	heapKept, _ := heapNow(true)

	run := runsOf(r, "flood")[0]
	if run.Outcome != events.OutcomeOK {
		t.Fatalf("run %s: %s %s", run.Outcome, run.Error, run.Output[max(0, len(run.Output)-200):])
	}
	if run.OutputBytes != size+3 {
		t.Errorf("OutputBytes = %d, want %d", run.OutputBytes, size+3)
	}
	if len(run.Output) != outputTail {
		t.Errorf("kept %d bytes of output, want the last %d", len(run.Output), outputTail)
	}
	if want := "0123456789abcde\nEND"; !strings.HasSuffix(run.Output, want) {
		t.Errorf("kept output ends %q, want %q", run.Output[max(0, len(run.Output)-40):], want)
	}

	allocated := totalAfter - totalBefore
	peakGrowth := int64(peak) - int64(heapBefore)
	t.Logf("100 MiB of hook output in %s: allocated %.2f MiB, HeapAlloc peak %+.2f MiB, after %+.2f MiB, retained after GC %+.2f MiB",
		elapsed.Round(time.Millisecond), float64(allocated)/mib, float64(peakGrowth)/mib,
		(float64(heapAfter)-float64(heapBefore))/mib, (float64(heapKept)-float64(heapBefore))/mib)
	// Everything allocated during the run, pipes' copy buffers, the tail,
	// the run record and the sampler's garbage included, bounds the
	// heap's growth.
	if allocated > 4*mib {
		t.Errorf("allocated %.1f MiB while the hook wrote 100 MiB, want < 4 MiB", float64(allocated)/mib)
	}
	if peakGrowth > 4*mib {
		t.Errorf("HeapAlloc peaked %.1f MiB above the start, want < 4 MiB", float64(peakGrowth)/mib)
	}
}

// TestRingMemoryBounded: a ring of DefaultRingSize events with small
// payloads, published to a million times over (with a subscriber that
// never reads), keeps the same memory as once it was first full.
func TestRingMemoryBounded(t *testing.T) {
	const published = 1_000_000
	tags := map[string]string{"role": "web", "dc": "east"}
	event := func(i int) events.Event {
		name := "node-" + strconv.Itoa(i%5000)
		if i%2 == 0 {
			return events.Event{Type: events.MemberJoin, Members: []events.Member{{Name: name, Addr: "10.0.0.1", Port: 7946, Status: "alive", Tags: tags}}}
		}
		return events.Event{Type: events.User, User: &events.UserEvent{Name: "deploy", Payload: "v1.2.3-" + strconv.Itoa(i), LTime: uint64(i)}}
	}

	heapStart, _ := heapNow(true)
	r := events.NewRing(0)
	_, stuck := r.Subscribe(0) // never read: cut off after its buffer fills
	for i := range events.DefaultRingSize {
		r.Publish(event(i))
	}
	heapFull, totalFull := heapNow(true)
	start := time.Now()
	for i := events.DefaultRingSize; i < published; i++ {
		r.Publish(event(i))
	}
	elapsed := time.Since(start)
	heapEnd, totalEnd := heapNow(true)
	runtime.KeepAlive(r)

	if got := len(r.Since(0)); got != events.DefaultRingSize {
		t.Fatalf("ring holds %d events, want %d", got, events.DefaultRingSize)
	}
	if last := r.LastID(); last != published {
		t.Fatalf("last id %d, want %d", last, published)
	}
	if !stuck.Lagged() {
		t.Fatal("the subscriber that never reads was not cut off")
	}
	full := int64(heapFull) - int64(heapStart)
	growth := int64(heapEnd) - int64(heapFull)
	t.Logf("ring of %d (%d-byte Event): %.2f MiB once full (%d B/event); after %d publishes (%s, %.0f B allocated each): %+.3f MiB more",
		events.DefaultRingSize, unsafe.Sizeof(events.Event{}), float64(full)/mib, full/events.DefaultRingSize, published,
		elapsed.Round(time.Millisecond), float64(totalEnd-totalFull)/float64(published-events.DefaultRingSize), float64(growth)/mib)
	if full > 4*mib {
		t.Errorf("a full ring takes %.1f MiB, want < 4 MiB", float64(full)/mib)
	}
	if growth > mib/2 {
		t.Errorf("the heap grew %.2f MiB between a full ring and %d publishes, want < 0.5 MiB", float64(growth)/mib, published)
	}
}

// TestRunHistoryMemoryBounded: the run history keeps History runs, each
// with at most the 64 KiB output tail, so what the runner retains is
// bounded by History × 64 KiB however many runs there were and however
// much they wrote; at the default History (1024) MaxHistoryOutput (8 MiB)
// bounds it first (TestRunHistoryOutputBudget).
func TestRunHistoryMemoryBounded(t *testing.T) {
	const history, runs = 16, 48
	r, err := NewRunner(RunnerConfig{History: history, KillGrace: time.Second, Logger: zerolog.Nop()},
		[]Hook{{Name: "chatty", Shell: "yes 0123456789abcde | head -c 262144", Timeout: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(t.Context()) })
	before, _ := heapNow(true)
	for i := 1; i <= runs; i++ {
		r.Dispatch(failedEvent(uint64(i), "n1"))
	}
	waitFor(t, time.Minute, "every run", func() bool {
		rs := r.Runs()
		return len(rs) == history && rs[history-1].EventID == runs
	})
	after, _ := heapNow(true)
	retained := int64(after) - int64(before)
	var kept int
	for _, run := range r.Runs() {
		if run.OutputBytes != 262144 || len(run.Output) != outputTail {
			t.Fatalf("run %d: %d bytes written, %d kept", run.EventID, run.OutputBytes, len(run.Output))
		}
		kept += len(run.Output)
	}
	t.Logf("%d runs of 256 KiB output, history %d: %.2f MiB of output kept, heap %+.2f MiB", runs, history, float64(kept)/mib, float64(retained)/mib)
	if bound := int64(history*outputTail) + mib/2; retained > bound {
		t.Errorf("retained %.2f MiB, want <= %.2f MiB", float64(retained)/mib, float64(bound)/mib)
	}
}
