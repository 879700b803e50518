package agent

import (
	"fmt"
	"sync"

	gometrics "github.com/hashicorp/go-metrics"

	"github.com/vigil-agent/vigil/events/hook"
	vigilhttp "github.com/vigil-agent/vigil/http"
)

// serf and memberlist report their own metrics (gossip and probe timings,
// message counts, member flaps, queue depths) through go-metrics' global
// sink. vigil installs, once per process, its own lean sink
// (gossipMetricSink, metrics_sink.go) as that global sink and hands it to
// each agent's metrics, so those metrics appear on /metrics as
// vigil_serf_* and vigil_memberlist_*. The sink is process-wide because
// go-metrics' global is: two agents in one process (tests) share it.
var gossipSink struct {
	once sync.Once
	sink *gossipMetricSink
	err  error
}

// gossipMetricsSink returns the process-wide sink, installing it as
// go-metrics' global sink on first use.
func gossipMetricsSink() (*gossipMetricSink, error) {
	gossipSink.once.Do(func() {
		sink := newGossipMetricSink(gossipSampleBuckets)
		conf := gometrics.DefaultConfig("vigil")
		conf.EnableHostname = false       // no host name inside metric names
		conf.EnableRuntimeMetrics = false // the Go collector reports the runtime
		if _, err := gometrics.NewGlobal(conf, sink); err != nil {
			gossipSink.err = fmt.Errorf("gossip metrics: install the go-metrics sink: %w", err)
			return
		}
		gossipSink.sink = sink
	})
	return gossipSink.sink, gossipSink.err
}

// newMetrics builds the agent's metrics: vigil's own, read lazily from
// the agent at scrape time, plus serf's and memberlist's.
func (a *Agent) newMetrics() (*vigilhttp.Metrics, error) {
	sink, err := gossipMetricsSink()
	if err != nil {
		return nil, err
	}
	return vigilhttp.NewMetrics(a, a.log, sink)
}

// HookQueueDepths implements vigilhttp.MetricsSource: how many events wait
// for each hook.
func (a *Agent) HookQueueDepths() map[string]int { return a.runner.QueueDepth() }

func hookNames(hooks []hook.Hook) []string {
	out := make([]string, len(hooks))
	for i, h := range hooks {
		out[i] = h.Name
	}
	return out
}

var _ vigilhttp.MetricsSource = (*Agent)(nil)
