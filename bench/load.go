package bench

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// LoadResult is one closed-loop load test of a local API endpoint.
type LoadResult struct {
	Target      string `json:"target"`
	N           int    `json:"n"` // cluster size behind the endpoint
	Concurrency int    `json:"concurrency"`
	DurationS   Num    `json:"duration_s"`
	Requests    int    `json:"requests"`
	Errors      int    `json:"errors"`
	RPS         Num    `json:"rps"`
	P50MS       Num    `json:"p50_ms"`
	P99MS       Num    `json:"p99_ms"`
	MaxMS       Num    `json:"max_ms"`
	BodyBytes   int    `json:"body_bytes"`
}

// maxRequestsPerWorker bounds a load test in count as well as in time.
const maxRequestsPerWorker = 2_000_000

// runLoad runs conc workers, each calling do in a loop until d has passed,
// and collects every call's latency.
func runLoad(target string, n, conc int, d time.Duration, do func(worker int) (int, error)) LoadResult {
	var mu sync.Mutex
	var lat []float64
	errs, body := 0, 0
	var wg sync.WaitGroup
	t0 := time.Now()
	deadline := t0.Add(d)
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]float64, 0, 1<<14)
			e, b := 0, 0
			for i := 0; i < maxRequestsPerWorker && time.Now().Before(deadline); i++ {
				s := time.Now()
				nb, err := do(w)
				local = append(local, float64(time.Since(s).Nanoseconds())/1e6)
				if err != nil {
					e++
				} else {
					b = nb
				}
			}
			mu.Lock()
			lat = append(lat, local...)
			errs += e
			body = max(body, b)
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(t0)
	return LoadResult{Target: target, N: n, Concurrency: conc, DurationS: Num(el.Seconds()), Requests: len(lat), Errors: errs,
		RPS: Num(float64(len(lat)) / el.Seconds()), P50MS: Num(Percentile(lat, 50)), P99MS: Num(Percentile(lat, 99)),
		MaxMS: Num(Max(lat)), BodyBytes: body}
}

// LoadHTTP load-tests GET url with conc keep-alive connections for d.
func LoadHTTP(label, url string, n, conc int, d time.Duration) LoadResult {
	tr := &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	return runLoad(label, n, conc, d, func(int) (int, error) {
		resp, err := client.Get(url)
		if err != nil {
			return 0, err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%s", resp.Status)
		}
		return len(b), err
	})
}

// LoadSerfRPC load-tests serf's RPC "members" command (what `serf members`
// calls), the nearest thing a serf agent has to GET /v1/members, with conc
// connections for d.
func LoadSerfRPC(label, addr string, n, conc int, d time.Duration) LoadResult {
	conns := make([]*serfRPC, conc)
	for i := range conns {
		c, err := dialSerf(addr, 5*time.Second)
		if err != nil {
			return LoadResult{Target: label, N: n, Concurrency: conc, Errors: 1, RPS: nan, P50MS: nan, P99MS: nan, MaxMS: nan, DurationS: nan}
		}
		conns[i] = c
	}
	defer func() {
		for _, c := range conns {
			c.close()
		}
	}()
	return runLoad(label, n, conc, d, func(w int) (int, error) {
		_, err := conns[w].members(false)
		return 0, err
	})
}
