//go:build unix

package simulator_test

// Benchmarks of the list calls the reconciler makes, on a fleet of 10,000
// devices and 40,000 tunnels. They run only with -bench; see BENCHMARKS.md:
//
//	go test ./fleximanage/simulator -run='^$' -bench=. -benchmem -count=3

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flexiwan-gitops/reconciler/fleximanage/simulator"
)

const (
	benchDevices = 10_000
	benchPeers   = 2 // each device opens an mpls and an inet tunnel to the next benchPeers devices
)

// benchFleet is 10,000 devices with two labelled WANs and a LAN each, and
// 40,000 tunnels: device i to devices i+1 and i+2 (mod 10,000), once over
// mpls (eth0) and once over inet (eth1).
func benchFleet() *simulator.Fleet {
	o := simulator.FleetOrg{
		Name:       "bench",
		PathLabels: []simulator.FleetLabel{{Name: "mpls", Type: "Tunnel"}, {Name: "inet", Type: "Tunnel"}, {Name: "lte", Type: "DIA"}},
	}
	name := func(i int) string { return fmt.Sprintf("edge-%05d", i%benchDevices) }
	for i := range benchDevices {
		o.Devices = append(o.Devices, simulator.FleetDevice{
			Name: name(i),
			Interfaces: []simulator.FleetInterface{
				{Name: "eth0", Type: "WAN", IPv4: fmt.Sprintf("100.%d.%d.2/30", 64+i/16384, (i/64)%256), Gateway: "100.64.0.1", PathLabels: []string{"mpls"}},
				{Name: "eth1", Type: "WAN", IPv4: fmt.Sprintf("198.%d.%d.2/29", 18+i/65536, (i/256)%256), Gateway: "198.18.0.1", PathLabels: []string{"inet"}},
				{Name: "eth2", Type: "LAN", IPv4: fmt.Sprintf("10.%d.%d.1/24", i/256, i%256)},
			},
		})
	}
	for i := range benchDevices {
		for k := 1; k <= benchPeers; k++ {
			o.Tunnels = append(o.Tunnels,
				simulator.FleetTunnel{A: name(i) + "/eth0", B: name(i+k) + "/eth0", PathLabel: "mpls"},
				simulator.FleetTunnel{A: name(i) + "/eth1", B: name(i+k) + "/eth1", PathLabel: "inet"})
		}
	}
	return &simulator.Fleet{Organizations: []simulator.FleetOrg{o}}
}

// benchEnv is the simulator the benchmarks share, built once.
type benchEnv struct {
	sim     *simulator.Simulator
	token   string
	org     string
	jobIDs  string // 100 job ids, comma-separated
	buildIn time.Duration
	err     error
}

var (
	benchOnce sync.Once
	benchSim  benchEnv
)

func sharedBench(b *testing.B) *benchEnv {
	b.Helper()
	benchOnce.Do(func() {
		start := time.Now()
		e := &benchSim
		e.sim, e.err = simulator.New(benchFleet(), simulator.Options{Instant: true, NoRateLimit: true})
		if e.err != nil {
			return
		}
		e.token, e.org = e.sim.Token(), e.sim.Orgs()[0].ID
		e.err = e.queueJobs(b.Context())
		e.buildIn = time.Since(start)
	})
	if benchSim.err != nil {
		b.Fatal(benchSim.err)
	}
	return &benchSim
}

// queueJobs stops 100 devices and keeps the ids of their jobs.
func (e *benchEnv) queueJobs(ctx context.Context) error {
	w := e.serve(http.MethodGet, "/api/devices?"+url.Values{"org": {e.org}, "response": {"ids"}, "limit": {"100"}}.Encode(), "")
	if w.status != http.StatusOK {
		return fmt.Errorf("list devices: %d", w.status)
	}
	var devs []struct {
		ID string `json:"_id"`
	}
	if err := json.Unmarshal(w.body, &devs); err != nil {
		return err
	}
	sel := map[string]bool{}
	for _, d := range devs {
		sel[d.ID] = true
	}
	body, _ := json.Marshal(map[string]any{"method": "stop", "devices": sel})
	w = e.serve(http.MethodPost, "/api/devices/apply?org="+e.org, string(body))
	var res struct {
		IDs []int64 `json:"ids"`
	}
	if err := json.Unmarshal(w.body, &res); err != nil || w.status != http.StatusAccepted || len(res.IDs) != 100 {
		return fmt.Errorf("stop 100 devices: %d %s", w.status, w.body)
	}
	parts := make([]string, len(res.IDs))
	for i, id := range res.IDs {
		parts[i] = strconv.FormatInt(id, 10)
	}
	e.jobIDs = strings.Join(parts, ",")
	return e.sim.WaitIdle(ctx)
}

// served is one answer of the handler.
type served struct {
	status int
	body   []byte
}

// serve runs one request through the simulator's handler (no network).
func (e *benchEnv) serve(method, target, body string) served {
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, target, nil)
	} else {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	}
	r.Header.Set("Authorization", "Bearer "+e.token)
	w := httptest.NewRecorder()
	e.sim.ServeHTTP(w, r)
	return served{w.Code, w.Body.Bytes()}
}

// BenchmarkLists measures one GET as the reconciler sends it, handled by
// the simulator without the network, on the 10,000-device fleet.
func BenchmarkLists(b *testing.B) {
	e := sharedBench(b)
	b.Logf("fleet of %d devices and %d tunnels built in %v", benchDevices, 2*benchPeers*benchDevices, e.buildIn.Round(time.Millisecond))
	q := func(kv ...string) string {
		v := url.Values{"org": {e.org}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	cases := []struct {
		name, target string
		items        int
	}{
		{"devices/page=1000", "/api/devices?" + q("offset", "5000", "limit", "1000"), 1000},
		{"tunnels/page=1000", "/api/tunnels?" + q("offset", "20000", "limit", "1000"), 1000},
		{"tunnels/page=5000", "/api/tunnels?" + q("offset", "20000", "limit", "5000"), 5000},
		{"tunnels/all", "/api/tunnels?" + q(), 2 * benchPeers * benchDevices},
		{"pathlabels", "/api/pathlabels?" + q(), 3},
		{"jobs/ids=100", "/api/jobs?" + q("status", "all", "ids", e.jobIDs), 100},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			w := e.serve(http.MethodGet, tc.target, "")
			var items []json.RawMessage
			if w.status != http.StatusOK || json.Unmarshal(w.body, &items) != nil || len(items) != tc.items {
				b.Fatalf("GET %s = %d with %d items, want 200 with %d", tc.target, w.status, len(items), tc.items)
			}
			req := httptest.NewRequest(http.MethodGet, tc.target, nil)
			req.Header.Set("Authorization", "Bearer "+e.token)
			size, n := 0, 0
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				dw := &discardWriter{h: http.Header{}}
				e.sim.ServeHTTP(dw, req)
				if dw.status != http.StatusOK {
					b.Fatalf("status %d", dw.status)
				}
				size = dw.n
				n++
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(n), "cpu-ns/op")
			b.ReportMetric(float64(size), "B/resp")
		})
	}
}

// cpuTime is the CPU time (user and system, every thread: GC included) the
// process has used. Unlike ns/op it does not grow when other processes
// compete for the cores.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// discardWriter is a ResponseWriter that only counts.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(s int)   { w.status = s }
func (w *discardWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += len(p)
	return len(p), nil
}
