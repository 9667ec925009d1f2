package executor_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flexiwan-gitops/reconciler/diff"
	"github.com/flexiwan-gitops/reconciler/executor"
	"github.com/flexiwan-gitops/reconciler/fleximanage"
	"github.com/flexiwan-gitops/reconciler/fleximanage/simulator"
	"github.com/flexiwan-gitops/reconciler/live"
	"github.com/flexiwan-gitops/reconciler/liveread"
	"github.com/flexiwan-gitops/reconciler/planner"
	"github.com/flexiwan-gitops/reconciler/spec"
)

// The crash test runs an apply in a child process (this test binary,
// re-executed to run only TestCrashChild) and kills it with SIGKILL at a
// point chosen by a seed. The parent then does what a restarted reconciler
// does: Resume the journal, plan again from fresh live state, apply.
const (
	envCrashChild   = "EXECUTOR_CRASH_CHILD"
	envCrashURL     = "EXECUTOR_CRASH_URL"
	envCrashToken   = "EXECUTOR_CRASH_TOKEN"
	envCrashOrg     = "EXECUTOR_CRASH_ORG"
	envCrashJournal = "EXECUTOR_CRASH_JOURNAL"
	envCrashSource  = "EXECUTOR_CRASH_SOURCE"
	envCrashPrune   = "EXECUTOR_CRASH_PRUNE"
)

// TestCrashChild is the child process of TestCrashResume. It plans from
// live state and applies with a journal, as `reconciler apply` does.
func TestCrashChild(t *testing.T) {
	if os.Getenv(envCrashChild) != "1" {
		t.Skip("runs only as the child process of TestCrashResume")
	}
	ctx := t.Context()
	c, err := fleximanage.New(fleximanage.Options{BaseURL: os.Getenv(envCrashURL), Key: fleximanage.AccessKey(os.Getenv(envCrashToken)),
		Org: os.Getenv(envCrashOrg), NoBudget: true, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sp, err := spec.Load(os.DirFS(os.Getenv(envCrashSource)), ".")
	if err != nil {
		t.Fatal(err)
	}
	st, err := liveread.Read(ctx, c, live.Org{ID: os.Getenv(envCrashOrg)})
	if err != nil {
		t.Fatal(err)
	}
	prune, _ := strconv.ParseBool(os.Getenv(envCrashPrune))
	p, err := planner.Build(sp, st, planOptions(prune))
	if err != nil {
		t.Fatal(err)
	}
	j, err := executor.OpenJournal(os.Getenv(envCrashJournal))
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]string{}
	for _, l := range st.Labels {
		known[l.Name] = l.ID
	}
	ex, err := executor.New(executor.Options{Client: c, Labels: known, Journal: j, PollMin: 2 * time.Millisecond, PollMax: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ex.Apply(ctx, p); err != nil {
		t.Fatal(err)
	}
}

// crashPoint is where a seed kills the child.
type crashPoint struct {
	// afterWrite > 0: kill when the simulator receives this write request
	// (1-based); handled says whether the write then takes effect (its
	// answer is lost) or not.
	afterWrite int
	handled    bool
	// atPoll > 0: kill when the simulator receives this job poll
	// (GET /jobs?ids=), while jobs are outstanding.
	atPoll int
	// delay: otherwise, kill this long after the child's first request.
	delay time.Duration
}

func (c crashPoint) String() string {
	switch {
	case c.afterWrite > 0:
		return fmt.Sprintf("at write %d (handled %v)", c.afterWrite, c.handled)
	case c.atPoll > 0:
		return fmt.Sprintf("at job poll %d", c.atPoll)
	}
	return fmt.Sprintf("%s after the first request", c.delay)
}

func pickCrash(seed uint64, writes int) crashPoint {
	switch seed % 3 {
	case 1:
		// Every write in turn, its request handled or not.
		return crashPoint{afterWrite: 1 + int(seed/3)%writes, handled: seed%2 == 1}
	case 2:
		return crashPoint{atPoll: 1 + int(seed/3)%4}
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	return crashPoint{delay: time.Duration(rng.IntN(250)) * time.Millisecond}
}

// crashStats counts what the restarts found, over all seeds.
type crashStats struct {
	mu                       sync.Mutex
	killed, awaited, unknown int
}

func TestCrashResume(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 20 child processes")
	}
	t.Parallel()
	var stats crashStats
	t.Run("seeds", func(t *testing.T) {
		for seed := 1; seed <= 20; seed++ {
			t.Run(fmt.Sprintf("%d", seed), func(t *testing.T) {
				t.Parallel()
				crashAndResume(t, uint64(seed), &stats)
			})
		}
	})
	t.Logf("%d of 20 children killed; resumes with jobs to await: %d, with a write whose answer was lost: %d", stats.killed, stats.awaited, stats.unknown)
	if stats.killed < 15 || stats.awaited == 0 || stats.unknown == 0 {
		t.Errorf("the seeds exercised too little: %d killed, %d resumes awaited jobs, %d had a lost answer", stats.killed, stats.awaited, stats.unknown)
	}
}

func crashAndResume(t *testing.T, seed uint64, stats *crashStats) {
	ctx := t.Context()
	e := newEnv(t, setup{fleet: fleetMix, topology: topoMix, prune: true, sim: simulator.Options{JobLatency: 25 * time.Millisecond}})
	// The plan the child is going to make: how many writes it sends, and
	// the declared tunnels that exist already (they must survive).
	p, st := e.plan(ctx)
	writes := len(p.Steps)
	keep := map[string]bool{}
	desired := map[live.TunnelKey]bool{}
	for _, d := range diff.Compute(e.spec, st, diff.Options{}).Desired {
		desired[d.Key] = true
	}
	for _, tn := range st.Tunnels {
		if desired[tn.Key()] {
			keep[tn.ID] = true
		}
	}
	if len(keep) == 0 || len(deletes(p)) == 0 {
		t.Fatalf("the fleet must have declared tunnels to keep and tunnels to delete:\n%s", planText(p))
	}
	cp := pickCrash(seed, writes)
	t.Logf("seed %d: kill the child %s (the plan has %d writes)", seed, cp, writes)

	src := t.TempDir()
	for name, data := range e.topo {
		if err := os.WriteFile(filepath.Join(src, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	jdir := t.TempDir()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), envCrashChild+"=1", envCrashURL+"="+e.srv.URL, envCrashToken+"="+simToken,
		envCrashOrg+"="+e.org.ID, envCrashJournal+"="+jdir, envCrashSource+"="+src, envCrashPrune+"=true")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out

	started, exited := make(chan struct{}), make(chan struct{})
	var killOnce sync.Once
	kill := func() {
		killOnce.Do(func() {
			<-started
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
				t.Errorf("kill the child: %v", err)
			}
		})
	}
	var mu sync.Mutex
	var timer *time.Timer
	writesSeen, pollsSeen, firstSeen := 0, 0, false
	e.rec.setHook(func(r reqRecord) int {
		mu.Lock()
		first := !firstSeen
		firstSeen = true
		hit := false
		switch {
		case r.write():
			writesSeen++
			hit = writesSeen == cp.afterWrite
		case r.Path == "/api/jobs" && strings.Contains(r.Query, "ids="):
			pollsSeen++
			hit = pollsSeen == cp.atPoll
		}
		if cp.delay > 0 && first {
			timer = time.AfterFunc(cp.delay, kill)
		}
		mu.Unlock()
		if !hit {
			return 0
		}
		kill()
		// Handle the request only once the child is dead: its answer is
		// lost either way.
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Error("the child did not die within 10 s of SIGKILL")
		}
		if cp.afterWrite > 0 && !cp.handled {
			return 502
		}
		return 0
	})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	close(started)
	werr := cmd.Wait()
	close(exited)
	// The requests the child had in flight still take effect on the
	// server; a restart begins after that.
	e.rec.settle(t)
	e.rec.setHook(nil)
	mu.Lock()
	if timer != nil {
		timer.Stop()
	}
	mu.Unlock()
	var ee *exec.ExitError
	switch {
	case werr == nil:
		t.Logf("the child finished before the crash point")
	case errors.As(werr, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL:
		stats.mu.Lock()
		stats.killed++
		stats.mu.Unlock()
	default:
		t.Fatalf("child: %v\n%s", werr, out.String())
	}

	// What a restart does: resume, then plan again from fresh state.
	j, err := executor.OpenJournal(jdir)
	if err != nil {
		t.Fatal(err)
	}
	rex, err := executor.New(executor.Options{Client: e.client, PollMin: 2 * time.Millisecond, PollMax: 10 * time.Millisecond, PhaseDeadline: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	resumed, err := rex.Resume(ctx, j)
	if err != nil {
		t.Fatalf("Resume() = %v", err)
	}
	if resumed != nil {
		t.Logf("resumed: %d jobs awaited, lost answer: %v", len(resumed.Awaited), resumed.Unknown)
		stats.mu.Lock()
		if len(resumed.Awaited) > 0 {
			stats.awaited++
		}
		if resumed.Unknown {
			stats.unknown++
		}
		stats.mu.Unlock()
		for id, o := range resumed.Awaited {
			if !o.State.Terminal() {
				t.Errorf("Resume returned with job %d %s", id, o.State)
			}
		}
	}
	// Resume waited for every job the dead run had queued.
	if n := unfinishedJobs(e.sim); n != 0 {
		t.Errorf("after Resume (%+v), %d jobs of the dead run are unfinished", resumed, n)
	}
	if rec, err := j.Unfinished(); rec != nil || err != nil {
		t.Errorf("journal after Resume = %+v, %v; want none", rec, err)
	}
	p2, st2 := e.plan(ctx)
	if !p2.Empty() {
		res, err := e.apply(ctx, p2, e.execOptions(st2))
		if err != nil {
			t.Fatalf("apply after resume = %v (%+v)\nplan:\n%s", err, res, planText(p2))
		}
	}
	e.checkConverged(ctx)
	after := map[string]bool{}
	for _, id := range tunnelIDs(e.read(ctx)) {
		after[id] = true
	}
	for id := range keep {
		if !after[id] {
			t.Errorf("declared tunnel %s, live before the run, was deleted", id)
		}
	}
}
