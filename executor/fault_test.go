package executor_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flexiwan-gitops/reconciler/executor"
	"github.com/flexiwan-gitops/reconciler/fleximanage"
	"github.com/flexiwan-gitops/reconciler/fleximanage/simulator"
	"github.com/flexiwan-gitops/reconciler/planner"
)

var transientFaults = simulator.Faults{ErrorRate: 0.3, ErrorStatuses: []int{502, 503, 429}}

// faultCounts sorts the injected fault answers by the kind of request.
type faultCounts struct{ Reads, Writes, Polls int }

func countFaults(reqs []reqRecord) faultCounts {
	var c faultCounts
	for _, r := range reqs {
		if r.Status != 502 && r.Status != 503 && r.Status != 429 {
			continue
		}
		switch {
		case r.write():
			c.Writes++
		case strings.HasPrefix(r.Path, "/api/jobs"):
			c.Polls++
		default:
			c.Reads++
		}
	}
	return c
}

// TestTransientFaultsAreRetried runs whole plans while 30% of the requests
// (reads, writes and job polls alike) are answered 502, 503 or 429 with
// Retry-After: 0. With a retry budget large enough the client absorbs every
// fault and the run succeeds.
func TestTransientFaultsAreRetried(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		fleet string
		topo  map[string]string
		prune bool
	}{
		"mix of creates and prune deletes": {fleet: fleetMix, topo: topoMix, prune: true},
		"label move":                       {},
		"greenfield hub and spoke":         {},
	}
	var mu sync.Mutex
	var total faultCounts
	t.Run("group", func(t *testing.T) {
		for name, tc := range tests {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				if tc.fleet == "" {
					tc.fleet, tc.topo, tc.prune = scenario(t, strings.ReplaceAll(name, " ", "-"))
				}
				for seed := int64(1); seed <= 2; seed++ {
					t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
						e := newEnv(t, setup{fleet: tc.fleet, topology: tc.topo, prune: tc.prune,
							sim:    simulator.Options{RetryAfter: -1, JobLatency: 3 * time.Millisecond},
							client: fleximanage.Options{MaxAttempts: 15}})
						f := transientFaults
						f.Seed = seed
						e.sim.SetFaults(f)
						ctx := t.Context()
						p, st := e.plan(ctx)
						j, err := executor.OpenJournal(t.TempDir())
						if err != nil {
							t.Fatal(err)
						}
						o := e.execOptions(st)
						o.Journal = j
						res, err := e.apply(ctx, p, o)
						if err != nil {
							t.Fatalf("Apply() = %v, want success: the client retries transient faults", err)
						}
						if res.JobsFailed+res.JobsWaiting != 0 {
							t.Errorf("Apply() left %d failed and %d unfinished jobs, want 0", res.JobsFailed, res.JobsWaiting)
						}
						got := countFaults(e.rec.requests())
						mu.Lock()
						total.Reads += got.Reads
						total.Writes += got.Writes
						total.Polls += got.Polls
						mu.Unlock()
						if rec, err := j.Unfinished(); rec != nil || err != nil {
							t.Errorf("journal after a successful run = %+v, %v; want none", rec, err)
						}
						e.sim.SetFaults(simulator.Faults{})
						e.checkConverged(ctx)
					})
				}
			})
		}
	})
	if total.Reads == 0 || total.Writes == 0 || total.Polls == 0 {
		t.Errorf("faults injected on reads/writes/polls = %+v, want some of each", total)
	}
}

// TestTransientFaultsExhaustRetries gives the client a single retry, so
// that some request of the run meets two faults in a row. The run must
// then fail cleanly: a phase error naming the status, nothing of the later
// phases sent, no job left running, no journal left behind; and once the
// faults clear, a rerun converges.
func TestTransientFaultsExhaustRetries(t *testing.T) {
	t.Parallel()
	failed := 0
	for seed := int64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			e := newEnv(t, setup{fleet: fleetMix, topology: topoMix, prune: true,
				sim:    simulator.Options{RetryAfter: -1, JobLatency: 3 * time.Millisecond},
				client: fleximanage.Options{MaxAttempts: 2}})
			ctx := t.Context()
			p, st := e.plan(ctx)
			before := tunnelIDs(st)
			f := transientFaults
			f.Seed = seed
			e.sim.SetFaults(f)
			j, err := executor.OpenJournal(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			o := e.execOptions(st)
			o.Journal = j
			res, err := e.apply(ctx, p, o)
			e.sim.SetFaults(simulator.Faults{})
			if err != nil {
				failed++
				checkCleanFailure(t, e, p, res, err, before)
				if !strings.Contains(err.Error(), "502") && !strings.Contains(err.Error(), "503") && !strings.Contains(err.Error(), "429") {
					t.Errorf("Apply() error = %v, want it to name the status that exhausted the retries", err)
				}
				if rec, jerr := j.Unfinished(); rec != nil || jerr != nil {
					t.Errorf("journal after a failed run whose jobs all ended = %+v, %v; want none", rec, jerr)
				}
			}
			e.converge(ctx)
		})
	}
	if failed == 0 {
		t.Errorf("no run failed in 6 seeds with one retry against 30%% faults; the test did not exercise exhausted retries")
	}
}

// checkCleanFailure asserts what every failed run must satisfy: the error
// is a PhaseError and Result.Err, no step after the failed phase was sent,
// no job is left running, and if the failed phase creates, nothing was
// deleted (the live tunnels of before that the plan deletes still exist).
func checkCleanFailure(t *testing.T, e *env, p *planner.Plan, res *executor.Result, err error, before []string) *executor.PhaseError {
	t.Helper()
	if res == nil {
		t.Fatalf("Apply() result = nil with error %v, want a result", err)
	}
	if res.Err != err {
		t.Errorf("Result.Err = %v, want the returned error %v", res.Err, err)
	}
	var pe *executor.PhaseError
	if !errors.As(err, &pe) {
		t.Fatalf("Apply() error = %T %v, want a *executor.PhaseError", err, err)
	}
	later := statusesFrom(res, pe.Phase+1)
	if diff := cmp.Diff(allSkipped(later), later); diff != "" {
		t.Errorf("steps after the failed phase %s (-want skipped +got):\n%s", pe.Phase, diff)
	}
	if n := unfinishedJobs(e.sim); n != 0 || res.JobsWaiting != 0 {
		t.Errorf("after a failed run: %d jobs unfinished in the simulator, %d reported waiting; want 0 (the phase's jobs are awaited)", n, res.JobsWaiting)
	}
	if pe.Phase.Creates() {
		for _, r := range e.rec.requests() {
			if r.Apply == "deltunnels" || r.Method == http.MethodDelete {
				t.Errorf("a create phase (%s) failed, yet %s %s (%s) was sent", pe.Phase, r.Method, r.Path, r.Apply)
			}
		}
		now := map[string]bool{}
		for _, id := range tunnelIDs(e.read(t.Context())) {
			now[id] = true
		}
		for _, id := range deletes(p) {
			if !now[id] && contains(before, id) {
				t.Errorf("tunnel %s, which the plan deletes, is gone although a create failed", id)
			}
		}
	}
	return pe
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestFailingTunnelJob: the add-tunnel job of one device fails. The run
// stops at the end of the create phase with an error naming the device and
// the device's error text; the deletion is not sent; the rerun repairs the
// half-configured tunnel with a sync of that device.
func TestFailingTunnelJob(t *testing.T) {
	t.Parallel()
	const msg = "vpp: add-tunnel refused by the test"
	e := newEnv(t, setup{fleet: fleetMix, topology: topoMix, prune: true, sim: simulator.Options{JobLatency: 2 * time.Millisecond}})
	e.sim.SetFaults(simulator.Faults{FailJobs: []simulator.JobFault{{Device: "spoke-2", Method: "tunnels", Times: 1, Message: msg}}})
	ctx := t.Context()
	p, st := e.plan(ctx)
	if len(deletes(p)) == 0 {
		t.Fatalf("the plan deletes nothing; the test needs a deletion:\n%s", planText(p))
	}
	res, err := e.apply(ctx, p, e.execOptions(st))
	if err == nil {
		t.Fatal("Apply() = nil error, want the failed tunnel job")
	}
	for _, want := range []string{"spoke-2", msg} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Apply() error = %q, want it to contain %q", err, want)
		}
	}
	pe := checkCleanFailure(t, e, p, res, err, tunnelIDs(st))
	if pe.Phase != planner.PhaseCreateTunnels {
		t.Errorf("failed phase = %s, want %s", pe.Phase, planner.PhaseCreateTunnels)
	}
	// The failed step records the job's device and text.
	var failedJobs []executor.JobOutcome
	for _, s := range res.Steps {
		for _, j := range s.Jobs {
			if j.State == fleximanage.JobFailed {
				failedJobs = append(failedJobs, executor.JobOutcome{Device: j.Device, State: j.State, Errors: j.Errors})
			}
		}
	}
	want := []executor.JobOutcome{{Device: "spoke-2", State: fleximanage.JobFailed, Errors: []string{msg}}}
	if diff := cmp.Diff(want, failedJobs); diff != "" {
		t.Errorf("failed jobs (-want +got):\n%s", diff)
	}
	if got := e.rec.applies(); contains(got, "deltunnels") {
		t.Errorf("apply calls sent = %v, want no deltunnels", got)
	}
	// The tunnel is in flexiManage, configured on the hub only.
	again, st2 := e.plan(ctx)
	var half []string
	for _, tn := range st2.Tunnels {
		if !tn.AConf || !tn.BConf {
			half = append(half, tn.A.DeviceName+"-"+tn.B.DeviceName+"/"+tn.Label)
		}
	}
	if diff := cmp.Diff([]string{"hub-spoke-2/inet"}, half); diff != "" {
		t.Errorf("half-configured tunnels (-want +got):\n%s", diff)
	}
	var syncs []string
	for _, s := range again.Steps {
		if s.Action == planner.SyncDevice {
			for _, r := range s.Repairs {
				syncs = append(syncs, s.Devices[0].Name+": "+r.String())
			}
		}
	}
	if diff := cmp.Diff([]string{"spoke-2: hub/eth1 <-> spoke-2/eth1 [inet]"}, syncs); diff != "" {
		t.Errorf("repairs in the rerun plan (-want +got):\n%s\nplan:\n%s", diff, planText(again))
	}
	e.converge(ctx)
}

// TestDisconnectedDevice: a device goes offline before or during the run;
// its jobs stay inactive. The run fails at the phase deadline, naming the
// device; once it is back, a rerun converges.
func TestDisconnectedDevice(t *testing.T) {
	t.Parallel()
	type when int
	const (
		beforeRun  when = iota
		duringRun       // when the tunnels call arrives
		afterCheck      // after the executor asked the status of the devices with queued jobs
	)
	tests := map[string]struct {
		when when
	}{
		"before the run":                {when: beforeRun},
		"during the run":                {when: duringRun},
		"after the executor checked it": {when: afterCheck},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, setup{fleet: fleetMix, topology: topoMix, prune: true, sim: simulator.Options{JobLatency: 100 * time.Millisecond}})
			ctx := t.Context()
			p, st := e.plan(ctx)
			o := e.execOptions(st)
			switch tc.when {
			case beforeRun:
				e.sim.SetConnected("spoke-2", false)
			case duringRun:
				// Unplug spoke-2 when the tunnels call arrives: the
				// earlier phases went through with it online.
				e.rec.setHook(func(r reqRecord) int {
					if r.Apply == "tunnels" {
						e.sim.SetConnected("spoke-2", false)
					}
					return 0
				})
			case afterCheck:
				// The hub's queued jobs make the executor ask whether the
				// hub is connected; spoke-2 goes offline after that, with
				// its job running (which goes back to inactive).
				var once sync.Once
				o.Observer = observerFuncs{progress: func(planner.Phase, executor.JobCounts) {
					for _, r := range e.rec.requests() {
						if strings.HasSuffix(r.Path, "/status") {
							once.Do(func() { e.sim.SetConnected("spoke-2", false) })
						}
					}
				}}
			}
			o.PhaseDeadline = 1500 * time.Millisecond
			o.PollMin = 5 * time.Millisecond
			start := time.Now()
			res, err := e.apply(ctx, p, o)
			if err == nil {
				t.Fatal("Apply() = nil error, want a timeout waiting for spoke-2")
			}
			if !strings.Contains(err.Error(), "waiting for device spoke-2") {
				t.Errorf("Apply() error = %q, want it to say %q", err, "waiting for device spoke-2")
			}
			if el := time.Since(start); el > 10*time.Second {
				t.Errorf("Apply() took %s with a phase deadline of %s", el, o.PhaseDeadline)
			}
			var pe *executor.PhaseError
			if !errors.As(err, &pe) || pe.Phase != planner.PhaseCreateTunnels {
				t.Errorf("Apply() error = %v, want a PhaseError of %s", err, planner.PhaseCreateTunnels)
			}
			if res.JobsWaiting == 0 {
				t.Errorf("Result.JobsWaiting = 0, want spoke-2's jobs counted as waiting")
			}
			later := statusesFrom(res, planner.PhaseCreateTunnels+1)
			if diff := cmp.Diff(allSkipped(later), later); diff != "" {
				t.Errorf("steps after the timed-out phase (-want skipped +got):\n%s", diff)
			}
			if got := e.rec.applies(); contains(got, "deltunnels") {
				t.Errorf("apply calls sent = %v, want no deltunnels", got)
			}
			e.rec.setHook(nil)
			e.sim.SetConnected("spoke-2", true)
			e.converge(ctx)
		})
	}
}

// TestJobDeletedOnServer: someone deletes a job while the executor waits
// for it. flexiManage then fails every GET /jobs naming it; the executor
// must report the job as lost rather than poll until the deadline.
func TestJobDeletedOnServer(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		whilePolling bool // delete after the first poll, else right after the call
	}{
		"before the first poll": {},
		"while polling":         {whilePolling: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, setup{fleet: fleetLabeled, topology: topoLabeled, sim: simulator.Options{JobLatency: 300 * time.Millisecond}})
			ctx := t.Context()
			p, st := e.plan(ctx)
			var victim fleximanage.JobID
			del := func() {
				req, err := http.NewRequestWithContext(ctx, http.MethodDelete, fmt.Sprintf("%s/api/jobs/%d?org=%s", e.srv.URL, victim, e.org.ID), nil)
				if err != nil {
					t.Error(err)
					return
				}
				req.Header.Set("Authorization", "Bearer "+simToken)
				resp, err := e.srv.Client().Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusNoContent {
					t.Errorf("DELETE job %d = %d, want 204", victim, resp.StatusCode)
				}
			}
			done := false
			o := e.execOptions(st)
			o.PollMin = 20 * time.Millisecond
			o.Observer = observerFuncs{
				stepSent: func(s *planner.Step, sent executor.Sent, err error) {
					if len(sent.JobIDs) == 0 {
						t.Errorf("step %d sent no jobs", s.ID)
						return
					}
					victim = sent.JobIDs[len(sent.JobIDs)-1]
					if !tc.whilePolling {
						del()
						done = true
					}
				},
				progress: func(planner.Phase, executor.JobCounts) {
					if !done {
						done = true
						del()
					}
				},
			}
			start := time.Now()
			res, err := e.apply(ctx, p, o)
			if err == nil {
				t.Fatal("Apply() = nil error, want the deleted job reported")
			}
			if el := time.Since(start); el > o.PhaseDeadline/2 {
				t.Errorf("Apply() took %s; it should not wait for a deleted job until the deadline (%s)", el, o.PhaseDeadline)
			}
			if !strings.Contains(err.Error(), "deleted on the server") {
				t.Errorf("Apply() error = %q, want it to say the job was deleted on the server", err)
			}
			var lost []fleximanage.JobID
			for _, s := range res.Steps {
				for _, j := range s.Jobs {
					if j.State == fleximanage.JobFailed {
						lost = append(lost, j.ID)
					}
				}
			}
			if diff := cmp.Diff([]fleximanage.JobID{victim}, lost); diff != "" {
				t.Errorf("jobs reported failed (-want +got):\n%s", diff)
			}
			if res.JobsComplete != 7 {
				t.Errorf("Result.JobsComplete = %d, want the 7 other jobs", res.JobsComplete)
			}
			e.converge(ctx)
		})
	}
}

// TestMakeBeforeBreak: whatever way a create fails (a call refused, a job
// failed), nothing of the delete phases is sent in that run.
func TestMakeBeforeBreak(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		arrange func(t *testing.T, e *env) // between planning and applying
		phase   planner.Phase
	}{
		"label created meanwhile (duplicate name)": {
			arrange: func(t *testing.T, e *env) {
				if _, err := e.client.CreatePathLabel(t.Context(), fleximanage.PathLabelRequest{Name: "inet", Type: "Tunnel", Color: "#ffffff"}); err != nil {
					t.Fatal(err)
				}
			},
			phase: planner.PhaseLabels,
		},
		"device PUT refused": {
			arrange: func(t *testing.T, e *env) {
				e.rec.setHook(func(r reqRecord) int {
					if r.Method == http.MethodPut && strings.HasPrefix(r.Path, "/api/devices/") {
						return http.StatusInternalServerError
					}
					return 0
				})
			},
			phase: planner.PhaseModifyAdd,
		},
		"tunnels call refused": {
			arrange: func(t *testing.T, e *env) {
				e.rec.setHook(func(r reqRecord) int {
					if r.Apply == "tunnels" {
						return http.StatusInternalServerError
					}
					return 0
				})
			},
			phase: planner.PhaseCreateTunnels,
		},
		"tunnel job failed on the hub": {
			arrange: func(t *testing.T, e *env) {
				e.sim.SetFaults(simulator.Faults{FailJobs: []simulator.JobFault{{Device: "hub", Method: "tunnels", Times: 2}}})
			},
			phase: planner.PhaseCreateTunnels,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, setup{fleet: fleetMix, topology: topoMix, prune: true, sim: simulator.Options{JobLatency: 2 * time.Millisecond}})
			ctx := t.Context()
			p, st := e.plan(ctx)
			var destructive int
			for _, s := range p.Steps {
				if !s.Phase.Creates() {
					destructive++
				}
			}
			if destructive == 0 || len(deletes(p)) == 0 {
				t.Fatalf("the plan has nothing to break:\n%s", planText(p))
			}
			tc.arrange(t, e)
			res, err := e.apply(ctx, p, e.execOptions(st))
			if err == nil {
				t.Fatal("Apply() = nil error, want the create to fail")
			}
			pe := checkCleanFailure(t, e, p, res, err, tunnelIDs(st))
			if pe.Phase != tc.phase {
				t.Errorf("failed phase = %s, want %s (%v)", pe.Phase, tc.phase, err)
			}
			for _, r := range e.rec.requests() {
				if r.Apply == "deltunnels" || r.Method == http.MethodDelete {
					t.Errorf("sent %s %s %s after a failed create", r.Method, r.Path, r.Apply)
				}
			}
			st2 := e.read(ctx)
			if st2.Label("legacy") == nil {
				t.Error("label legacy, which the plan deletes, is gone although a create failed")
			}
			e.rec.setHook(nil)
			e.sim.SetFaults(simulator.Faults{})
			e.converge(ctx)
		})
	}
}

// TestTunnelsExistAlready: the tunnels a call would create appeared
// between planning and applying. flexiManage answers 202 with ids [] and
// "Some tunnels exist already"; that is success, not a failure.
func TestTunnelsExistAlready(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		labels   []string // the labels whose tunnels appear meanwhile
		wantJobs int
	}{
		"all of them":  {labels: []string{"mpls", "inet"}, wantJobs: 0},
		"some of them": {labels: []string{"mpls"}, wantJobs: 4},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, setup{fleet: fleetLabeled, topology: topoLabeled, sim: simulator.Options{JobLatency: 2 * time.Millisecond}})
			ctx := t.Context()
			p, st := e.plan(ctx)
			if len(p.Steps) != 1 || p.Steps[0].Action != planner.CreateTunnels {
				t.Fatalf("plan = %s, want one tunnels call", planText(p))
			}
			// Someone else creates the tunnels now.
			s := p.Steps[0]
			var ids []string
			for _, n := range tc.labels {
				ids = append(ids, st.Label(n).ID)
			}
			devs := map[string]bool{}
			for _, d := range s.Devices {
				devs[d.ID] = true
			}
			if _, err := e.client.Apply(ctx, fleximanage.ApplyRequest{Method: fleximanage.MethodTunnels, Devices: devs,
				Meta: fleximanage.TunnelsMeta{PathLabels: ids, Topology: fleximanage.HubAndSpoke, Hub: s.Tunnels.Hub.ID,
					AdvancedOptions: fleximanage.DefaultAdvancedOptions(), TunnelType: "site-to-site"}}); err != nil {
				t.Fatal(err)
			}
			if err := e.sim.WaitIdle(ctx); err != nil {
				t.Fatal(err)
			}
			e.rec.reset()
			res, err := e.apply(ctx, p, e.execOptions(st))
			if err != nil {
				t.Fatalf("Apply() = %v, want success", err)
			}
			got := res.Steps[0]
			if got.Status != executor.StepDone || !strings.Contains(got.Message, "Some tunnels exist already") || len(got.Jobs) != tc.wantJobs {
				t.Errorf("step = %s %q with %d jobs, want %s, a message saying the tunnels exist, %d jobs", got.Status, got.Message, len(got.Jobs), executor.StepDone, tc.wantJobs)
			}
			e.checkConverged(ctx)
		})
	}
}
