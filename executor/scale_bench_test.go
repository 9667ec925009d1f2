package executor_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/flexiwan-gitops/reconciler/fleximanage"
	"github.com/flexiwan-gitops/reconciler/fleximanage/simulator"
	"github.com/flexiwan-gitops/reconciler/live"
)

// The scale run (DESIGN.md §7): 1 hub and 300 spokes, two WANs each that
// carry the labels mpls and inet already, no tunnels, one hubAndSpoke group
// on both labels: 600 tunnels, 1,200 jobs, 600 of them on the hub. It takes
// a minute or more, so it runs only when asked:
//
//	EXECUTOR_SCALE=1 go test -run '^TestScaleRun$' -v -timeout 20m ./executor/
//
// With EXECUTOR_SCALE_BUDGET=1 as well, the executor runs a third time
// under flexiManage's default budget (300 requests per 5 minutes), to show
// what its job polling costs there.
const (
	envScale       = "EXECUTOR_SCALE"
	envScaleBudget = "EXECUTOR_SCALE_BUDGET"
)

const (
	scaleSpokes  = 300
	scaleLatency = 50 * time.Millisecond
	// naivePoll is how often the naive strategy polls its two jobs: short,
	// to be generous to it.
	naivePoll = 20 * time.Millisecond
)

func scaleFleet() (string, map[string]string) {
	var f, topo strings.Builder
	f.WriteString(`organizations:
  - name: lab
    id: 65b0000000000000000000dd
    pathLabels:
      - {name: mpls, type: Tunnel, color: "#2e86de"}
      - {name: inet, type: Tunnel, color: "#10ac84"}
    devices:
`)
	topo.WriteString("pathLabels:\n  - {name: mpls}\n  - {name: inet}\ndevices:\n")
	dev := func(name string, i int) {
		fmt.Fprintf(&f, `      - name: %s
        interfaces:
          - {name: eth0, type: WAN, ipv4: 10.%d.%d.2/24, gateway: 10.%d.%d.1, pathLabels: [mpls], metric: 100}
          - {name: eth1, type: WAN, ipv4: 10.%d.%d.2/24, gateway: 10.%d.%d.1, pathLabels: [inet], metric: 200}
          - {name: eth2, type: LAN, ipv4: 172.16.%d.1/24}
`, name, i/250, i%250, i/250, i%250, 100+i/250, i%250, 100+i/250, i%250, i%250)
		fmt.Fprintf(&topo, "  - {name: %s, interfaces: [{name: eth0, pathLabels: [mpls]}, {name: eth1, pathLabels: [inet]}]}\n", name)
	}
	dev("hub", 0)
	for i := 1; i <= scaleSpokes; i++ {
		dev(fmt.Sprintf("spoke-%03d", i), i)
	}
	topo.WriteString("tunnels:\n  - {name: star, topology: hubAndSpoke, hub: hub, spokes: [\"spoke-*\"], pathLabels: [mpls, inet]}\n")
	return f.String(), map[string]string{"network.yaml": topo.String()}
}

type scaleNumbers struct {
	Writes, Requests, Polls int
	Wall                    time.Duration
	// Drain is when the simulator ran the last job, from the start: the
	// simulator's own pace, which a loaded machine slows down.
	Drain time.Duration
}

// watchDrain reports when the simulator holds at least want jobs and none
// of them is queued or running any more.
func watchDrain(t *testing.T, sim *simulator.Simulator, want int) <-chan time.Time {
	ch := make(chan time.Time, 1)
	go func() {
		for {
			c := sim.JobCounts()
			total := 0
			for _, n := range c {
				total += n
			}
			if total >= want && c["inactive"]+c["active"] == 0 {
				ch <- time.Now()
				return
			}
			select {
			case <-t.Context().Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return ch
}

func countRequests(reqs []reqRecord) scaleNumbers {
	var n scaleNumbers
	for _, r := range reqs {
		n.Requests++
		if r.write() {
			n.Writes++
		}
		if r.Path == "/api/jobs" {
			n.Polls++
		}
	}
	return n
}

func TestScaleRun(t *testing.T) {
	if os.Getenv(envScale) != "1" {
		t.Skipf("the scale run takes minutes; set %s=1 to run it", envScale)
	}
	fleet, topo := scaleFleet()
	ctx := t.Context()

	// The executor.
	e := newEnv(t, setup{fleet: fleet, topology: topo, sim: simulator.Options{JobLatency: scaleLatency}})
	p, st := e.plan(ctx)
	if len(p.Steps) != 1 || p.Summary.TunnelsCreated != 2*scaleSpokes {
		t.Fatalf("plan: %d steps, %d tunnels; want 1 call creating %d", len(p.Steps), p.Summary.TunnelsCreated, 2*scaleSpokes)
	}
	queue := map[string]int{}
	for _, s := range p.Steps {
		for _, c := range s.Creates {
			queue[c.A.Device]++
			queue[c.B.Device]++
		}
	}
	longest, busiest := 0, ""
	for d, n := range queue {
		if n > longest {
			longest, busiest = n, d
		}
	}
	bound := time.Duration(longest) * scaleLatency
	o := e.execOptions(st)
	o.PollMin, o.PollMax, o.PhaseDeadline = 0, 0, 0 // the defaults
	e.rec.reset()
	drained := watchDrain(t, e.sim, 4*scaleSpokes)
	start := time.Now()
	res, err := e.apply(ctx, p, o)
	exe := countRequests(e.rec.requests())
	exe.Wall = time.Since(start)
	exe.Drain = (<-drained).Sub(start)
	if err != nil {
		t.Fatalf("Apply() = %v", err)
	}
	if res.JobsComplete != 4*scaleSpokes {
		t.Errorf("jobs complete = %d, want %d", res.JobsComplete, 4*scaleSpokes)
	}
	if exe.Writes != 1 {
		t.Errorf("executor: %d write calls, want 1 (600 tunnels fit one tunnels call)", exe.Writes)
	}
	if limit := bound * 12 / 10; exe.Wall > limit {
		t.Errorf("executor: wall time %s, want within 1.2 × %s = %s", exe.Wall, bound, limit)
	}
	e.checkConverged(ctx)

	// The naive strategy: one tunnels call per (hub, spoke, label),
	// waiting for its two jobs before the next call.
	n := newEnv(t, setup{fleet: fleet, topology: topo, sim: simulator.Options{JobLatency: scaleLatency}})
	nst := n.read(ctx)
	n.rec.reset()
	drained = watchDrain(t, n.sim, 4*scaleSpokes)
	start = time.Now()
	naiveApply(t, n, nst)
	naive := countRequests(n.rec.requests())
	naive.Wall = time.Since(start)
	naive.Drain = (<-drained).Sub(start)
	n.checkConverged(ctx)

	t.Logf("machine: %d CPUs (GOMAXPROCS %d), %s %s/%s", runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	t.Logf("plan: %d tunnels, %d jobs; longest per-device queue %d jobs (%s) × %s = %s", p.Summary.TunnelsCreated, p.Summary.ExpectedJobs, longest, busiest, scaleLatency, bound)
	report := func(name string, n scaleNumbers, extra string) {
		t.Logf("%s %d write calls, %d requests (%d job polls), wall %s = %.3f × bound; the simulator ran its last job at %s (%.3f × bound)%s",
			name, n.Writes, n.Requests, n.Polls, n.Wall.Round(time.Millisecond), n.Wall.Seconds()/bound.Seconds(),
			n.Drain.Round(time.Millisecond), n.Drain.Seconds()/bound.Seconds(), extra)
	}
	report("executor:", exe, "")
	report("naive:   ", naive, fmt.Sprintf(" (polling every %s)", naivePoll))
	t.Logf("budget: flexiManage allows %d requests per %s", fleximanage.DefaultBudgetRequests, fleximanage.DefaultBudgetWindow)

	if os.Getenv(envScaleBudget) != "1" {
		return
	}
	b := newEnv(t, setup{fleet: fleet, topology: topo, sim: simulator.Options{JobLatency: scaleLatency},
		client: fleximanage.Options{Budget: fleximanage.NewBudget(fleximanage.DefaultBudgetRequests, fleximanage.DefaultBudgetWindow)}})
	bp, bst := b.plan(ctx)
	bo := b.execOptions(bst)
	bo.PollMin, bo.PollMax, bo.PhaseDeadline = 0, 0, 0
	b.rec.reset()
	drained = watchDrain(t, b.sim, 4*scaleSpokes)
	start = time.Now()
	if _, err := b.apply(ctx, bp, bo); err != nil {
		t.Fatalf("Apply() under the default budget = %v", err)
	}
	bud := countRequests(b.rec.requests())
	bud.Wall = time.Since(start)
	bud.Drain = (<-drained).Sub(start)
	report("executor under the default budget:", bud, "")
}

// naiveApply creates the star one (hub, spoke, label) at a time.
func naiveApply(t *testing.T, e *env, st *live.State) {
	t.Helper()
	ctx := t.Context()
	var hub string
	var spokes []live.Device
	for _, d := range st.Devices {
		if d.Name == "hub" {
			hub = d.ID
		} else {
			spokes = append(spokes, d)
		}
	}
	for _, s := range spokes {
		for _, l := range []string{"mpls", "inet"} {
			r, err := e.client.Apply(ctx, fleximanage.ApplyRequest{Method: fleximanage.MethodTunnels, Devices: map[string]bool{hub: true, s.ID: true},
				Meta: fleximanage.TunnelsMeta{PathLabels: []string{st.Label(l).ID}, Topology: fleximanage.HubAndSpoke, Hub: hub,
					AdvancedOptions: fleximanage.DefaultAdvancedOptions(), TunnelType: "site-to-site"}})
			if err != nil {
				t.Fatalf("naive: tunnels hub–%s %s: %v", s.Name, l, err)
			}
			for {
				time.Sleep(naivePoll)
				js, err := e.client.Jobs(ctx, r.IDs)
				if err != nil {
					t.Fatalf("naive: poll: %v", err)
				}
				done := 0
				for _, j := range js {
					if j.State.Terminal() {
						done++
					}
				}
				if done == len(r.IDs) {
					break
				}
			}
		}
	}
}
