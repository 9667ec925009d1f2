package planner_test

import (
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/flexiwan-gitops/reconciler/live"
	"github.com/flexiwan-gitops/reconciler/planner"
	"github.com/flexiwan-gitops/reconciler/spec"
)

// The benchmark organization (DESIGN.md §7: 10,000 devices and 40,000
// tunnels): groups of 10 devices, a hub and 9 spokes, every device with
// four WANs carrying one label each (mpls, inet, lte, sat) and a LAN. Each
// spoke has 4 tunnels to its hub (one per label); each hub is paired with
// the next two hubs on mpls and inet, declared pair by pair (4 tunnels per
// hub). That is 4 tunnels per device, 4n in all.
//
// The live state has every other desired tunnel, and drift: 1% of the
// spokes lack their sat label (a device PUT, then tunnels), 1% of the
// present tunnels are half-configured (a sync), 1% of the groups have an
// undeclared spoke-to-spoke tunnel (reported, kept), 0.5% of the devices
// are stopped but declared running, and 0.2% of the spokes carry mpls on
// the wrong WAN (tunnels deleted, a label moved, tunnels created).

var benchLabels = []string{"mpls", "inet", "lte", "sat"}

func benchName(i int) string { return fmt.Sprintf("d%05d", i) }

// benchSource writes the YAML source of an organization of n devices.
func benchSource(n int) string {
	var sb strings.Builder
	sb.Grow(n * 260)
	sb.WriteString("pathLabels:\n")
	for _, l := range benchLabels {
		fmt.Fprintf(&sb, "  - {name: %s, type: Tunnel}\n", l)
	}
	sb.WriteString("devices:\n")
	for i := range n {
		fmt.Fprintf(&sb, "  - {name: %s, state: running, interfaces: [", benchName(i))
		for j, l := range benchLabels {
			if j > 0 {
				sb.WriteString(", ")
			}
			fmt.Fprintf(&sb, "{name: wan%d, pathLabels: [%s]}", j, l)
		}
		sb.WriteString("]}\n")
	}
	sb.WriteString("tunnels:\n")
	hubs := n / 10
	for g := range hubs {
		fmt.Fprintf(&sb, "  - {name: star%04d, topology: hubAndSpoke, hub: %s, spokes: [", g, benchName(g*10))
		for s := 1; s < 10; s++ {
			if s > 1 {
				sb.WriteString(", ")
			}
			sb.WriteString(benchName(g*10 + s))
		}
		sb.WriteString("], pathLabels: [mpls, inet, lte, sat]}\n")
	}
	for g := range hubs {
		for _, step := range []int{1, 2} {
			o := (g + step) % hubs
			fmt.Fprintf(&sb, "  - {topology: fullMesh, devices: [%s, %s], pathLabels: [mpls, inet]}\n", benchName(g*10), benchName(o*10))
		}
	}
	sb.WriteString("settings: {maxDeletions: 100000}\n")
	return sb.String()
}

// benchState builds the live state for benchSource(n).
func benchState(n int) *live.State {
	st := &live.State{Org: live.Org{ID: "org1", Name: "bench", EncryptionMethod: "psk", TunnelRange: "10.100.0.0"}}
	for _, l := range benchLabels {
		st.Labels = append(st.Labels, live.Label{ID: "lid-" + l, Name: l, Type: "Tunnel", Color: spec.DefaultColor(l)})
	}
	st.Devices = make([]live.Device, 0, n)
	st.Tunnels = make([]live.Tunnel, 0, 2*n+n/50)
	for i := range n {
		name := benchName(i)
		d := live.Device{ID: "id-" + name, Name: name, MachineID: "M" + name, Hostname: name, Approved: true, Connected: true,
			State: "running", Version: "6.3.10", RouterVersion: "6.3.10", AgentVersion: "6.3.10"}
		spoke := i%10 != 0
		for j, l := range benchLabels {
			f := live.Interface{ID: fmt.Sprintf("ifc-%s-%d", name, j), DevID: fmt.Sprintf("wan%d", j), Name: fmt.Sprintf("wan%d", j),
				Type: "WAN", Assigned: true, IPv4: "192.0.2.1", IPv4Mask: "24", Labels: []string{l}}
			switch {
			case spoke && i%100 == 7 && l == "sat":
				f.Labels = nil // drift: label missing
			case spoke && i%500 == 3 && l == "mpls":
				f.Labels = nil // drift: mpls sits on wan1 instead
			case spoke && i%500 == 3 && l == "inet":
				f.Labels = []string{"inet", "mpls"}
			}
			d.Interfaces = append(d.Interfaces, f)
		}
		d.Interfaces = append(d.Interfaces, live.Interface{ID: "ifc-" + name + "-lan", DevID: "lan0", Name: "lan0", Type: "LAN", Assigned: true, IPv4: "10.0.0.1", IPv4Mask: "24"})
		if i%200 == 5 {
			d.State = "stopped"
		}
		st.Devices = append(st.Devices, d)
	}
	num := 0
	add := func(a, b int, ai, bi int, label string) {
		num++
		an, bn := benchName(a), benchName(b)
		end := func(name string, ifc int) live.End {
			return live.End{DeviceID: "id-" + name, DeviceName: name, IfaceID: fmt.Sprintf("ifc-%s-%d", name, ifc), DevID: fmt.Sprintf("wan%d", ifc), IfaceName: fmt.Sprintf("wan%d", ifc)}
		}
		t := live.Tunnel{ID: fmt.Sprintf("t%06d", num), Num: num, A: end(an, ai), B: end(bn, bi), Label: label, AConf: true, BConf: true}
		if num%100 == 42 {
			t.BConf = false // drift: half-configured
		}
		st.Tunnels = append(st.Tunnels, t)
	}
	hubs := n / 10
	k := 0
	for g := range hubs {
		hub := g * 10
		for s := 1; s < 10; s++ {
			sp := hub + s
			for j, l := range benchLabels {
				k++
				if k%2 == 0 {
					continue // half of the desired tunnels are missing
				}
				if sp%500 == 3 && l == "mpls" {
					add(hub, sp, 0, 1, l) // on the interface mpls leaves
					continue
				}
				if sp%100 == 7 && l == "sat" {
					continue
				}
				add(hub, sp, j, j, l)
			}
		}
		if g%100 == 1 {
			add(hub+1, hub+2, 0, 0, "mpls") // undeclared spoke-to-spoke tunnel
		}
	}
	for g := range hubs {
		for _, step := range []int{1, 2} {
			o := (g + step) % hubs
			for j, l := range benchLabels[:2] {
				k++
				if k%2 == 0 {
					continue
				}
				add(g*10, o*10, j, j, l)
			}
		}
	}
	return st
}

// benchScenario returns the source and live state of one benchmark case:
//   - drift: benchState as it is (every other tunnel missing, some drift);
//   - greenfield: no label in the organization, no interface labelled, no
//     tunnel (every device gets a PUT, 4n tunnels are created);
//   - churn: every spoke drops lte from wan2 (its lte tunnel to the hub is
//     deleted) and every device declares two static routes, one of them
//     live already.
func benchScenario(name string, n int) (string, *live.State) {
	src, st := benchSource(n), benchState(n)
	switch name {
	case "greenfield":
		st.Labels, st.Tunnels = nil, nil
		for i := range st.Devices {
			for j := range st.Devices[i].Interfaces {
				st.Devices[i].Interfaces[j].Labels = nil
			}
		}
	case "churn":
		spokeLTE := regexp.MustCompile(`(name: d\d{4}[1-9], state: running, interfaces: \[.*)\{name: wan2, pathLabels: \[lte\]\}`)
		src = spokeLTE.ReplaceAllString(src, "${1}{name: wan2, pathLabels: []}")
		src = strings.ReplaceAll(src, "state: running, interfaces:",
			"state: running, staticRoutes: [{destination: 10.20.0.0/16, gateway: 10.0.0.254}, {destination: 10.30.0.0/16, gateway: 10.100.7.7}], interfaces:")
		for i := range st.Devices {
			st.Devices[i].Routes = []live.Route{{ID: "r1", Destination: "10.20.0.0/16", Gateway: "10.0.0.254"}}
		}
	}
	return src, st
}

func BenchmarkLoadDiffPlan(b *testing.B) {
	for _, scenario := range []string{"drift", "greenfield", "churn"} {
		for _, n := range []int{1000, 10000} {
			b.Run(fmt.Sprintf("%s/devices=%d", scenario, n), func(b *testing.B) {
				src, st := benchScenario(scenario, n)
				o := planner.DefaultOptions()
				o.Now = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
				fsys := splitSource(src, 100)
				run := func() *planner.Plan {
					sp, err := spec.Load(fsys, ".")
					if err != nil {
						b.Fatalf("spec.Load() error = %v", err)
					}
					p, err := planner.Build(sp, st, o)
					if err != nil {
						b.Fatalf("Build() error = %v", err)
					}
					return p
				}
				p := run()
				if p.Summary.TunnelsCreated == 0 && p.Summary.TunnelsDeleted == 0 {
					b.Fatalf("the plan does too little work: %+v", p.Summary)
				}
				peak := peakHeap(func() { run() })
				b.ReportAllocs()
				cpu0, cpuOK := processCPU()
				iters := 0
				b.ResetTimer()
				for b.Loop() {
					run()
					iters++
				}
				b.StopTimer()
				if cpu1, ok := processCPU(); ok && cpuOK && iters > 0 {
					b.ReportMetric(float64((cpu1-cpu0).Milliseconds())/float64(iters), "cpu-ms/op")
				}
				b.ReportMetric(float64(len(st.Tunnels)), "live-tunnels")
				b.ReportMetric(float64(p.Summary.TunnelsCreated+p.Summary.TunnelsDeleted), "tunnels-changed")
				b.ReportMetric(float64(p.Summary.Calls), "calls")
				b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
			})
		}
	}
}

// splitSource lays a one-document source out as a repository would: each
// top-level list cut into files of per items (devices/0000.yaml, ...).
// BenchmarkLoadDiffPlan reads it with spec.Load, which parses files in
// parallel; BenchmarkParse keeps the single-document figure.
func splitSource(src string, per int) fstest.MapFS {
	fsys := fstest.MapFS{}
	section := ""
	var items []string
	flush := func() {
		for i := 0; i < len(items); i += per {
			chunk := items[i:min(i+per, len(items))]
			name := fmt.Sprintf("%s/%04d.yaml", section, i/per)
			fsys[name] = &fstest.MapFile{Data: []byte(section + ":\n" + strings.Join(chunk, ""))}
		}
		items = nil
	}
	for _, line := range strings.SplitAfter(src, "\n") {
		switch {
		case line == "":
		case strings.HasPrefix(line, "  "):
			if strings.HasPrefix(line, "  - ") {
				items = append(items, line)
			} else {
				items[len(items)-1] += line
			}
		case strings.HasSuffix(strings.TrimSpace(line), ":"):
			flush()
			section = strings.TrimSuffix(strings.TrimSpace(line), ":")
		default: // a one-line section such as settings: {...}
			flush()
			section = ""
			fsys["settings.yaml"] = &fstest.MapFile{Data: []byte(line)}
		}
	}
	flush()
	return fsys
}

// BenchmarkParse and BenchmarkDiffPlan split BenchmarkLoadDiffPlan in two:
// the YAML source alone, and diff + plan of an already parsed source.
func BenchmarkParse(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) {
			src := benchSource(n)
			b.ReportAllocs()
			cpu0, cpuOK := processCPU()
			iters := 0
			for b.Loop() {
				if _, err := spec.Parse("bench.yaml", strings.NewReader(src)); err != nil {
					b.Fatalf("spec.Parse() error = %v", err)
				}
				iters++
			}
			if cpu1, ok := processCPU(); ok && cpuOK && iters > 0 {
				b.ReportMetric(float64((cpu1-cpu0).Milliseconds())/float64(iters), "cpu-ms/op")
			}
		})
	}
}

func BenchmarkDiffPlan(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) {
			sp, err := spec.Parse("bench.yaml", strings.NewReader(benchSource(n)))
			if err != nil {
				b.Fatalf("spec.Parse() error = %v", err)
			}
			st := benchState(n)
			o := planner.DefaultOptions()
			b.ReportAllocs()
			cpu0, cpuOK := processCPU()
			iters := 0
			for b.Loop() {
				if _, err := planner.Build(sp, st, o); err != nil {
					b.Fatalf("Build() error = %v", err)
				}
				iters++
			}
			if cpu1, ok := processCPU(); ok && cpuOK && iters > 0 {
				b.ReportMetric(float64((cpu1-cpu0).Milliseconds())/float64(iters), "cpu-ms/op")
			}
		})
	}
}

// peakHeap runs f once and returns the highest heap in use it caused above
// what was live before, sampled every millisecond.
func peakHeap(f func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > base && m.HeapAlloc-base > peak {
				peak = m.HeapAlloc - base
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	f()
	close(done)
	wg.Wait()
	runtime.ReadMemStats(&ms)
	if ms.HeapAlloc > base && ms.HeapAlloc-base > peak {
		peak = ms.HeapAlloc - base
	}
	return peak
}

// TestBenchScenarios checks every benchmark case's plan against the
// invariants at 300 devices, and that it converges.
func TestBenchScenarios(t *testing.T) {
	for _, name := range []string{"drift", "greenfield", "churn"} {
		t.Run(name, func(t *testing.T) {
			src, st := benchScenario(name, 300)
			p, _ := mustPlan(t, src, st, opts())
			p2, err := planner.Build(parseSpec(t, src), applyPlan(t, st, p), opts())
			if err != nil {
				t.Fatalf("second Build() error = %v", err)
			}
			if !p2.Empty() {
				t.Errorf("second plan has %d steps, want none: %q", len(p2.Steps), stepLines(p2)[:min(5, len(p2.Steps))])
			}
		})
	}
}

// TestBenchFixture checks that the benchmark's organization is what its
// comment says, on a small scale, and that its plan holds every invariant.
func TestBenchFixture(t *testing.T) {
	const n = 300
	src, st := benchSource(n), benchState(n)
	p, sim := mustPlan(t, src, st, opts())
	if got := len(sim.desired); got != 4*n {
		t.Errorf("desired tunnels = %d, want %d", got, 4*n)
	}
	s := p.Summary
	if s.TunnelsCreated < n || s.TunnelsDeleted == 0 || s.TunnelsRepaired == 0 || s.Started == 0 || s.DevicesChanged == 0 || s.Unmanaged == 0 {
		t.Errorf("the plan does too little work: %+v", s)
	}
	if len(p.Notes) > 0 && strings.Contains(strings.Join(p.Notes, "\n"), "cannot be created safely") {
		t.Errorf("notes: %q", p.Notes)
	}
}
