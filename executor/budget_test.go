package executor_test

import (
	"sort"
	"testing"
	"time"

	"github.com/flexiwan-gitops/reconciler/fleximanage"
	"github.com/flexiwan-gitops/reconciler/fleximanage/simulator"
)

// maxInWindow returns the most requests that started within any span
// shorter than window, and when that span began.
func maxInWindow(starts []time.Time, window time.Duration) (int, time.Time) {
	sort.Slice(starts, func(i, j int) bool { return starts[i].Before(starts[j]) })
	best, at := 0, time.Time{}
	j := 0
	for i := range starts {
		for starts[i].Sub(starts[j]) >= window {
			j++
		}
		if n := i - j + 1; n > best {
			best, at = n, starts[j]
		}
	}
	return best, at
}

// TestBudget: with a client budget of N requests per window and a slow
// server, a whole run (plan reads, writes, device reads, job polls, the
// check afterwards) never starts more than N requests within one window,
// as the server sees them.
func TestBudget(t *testing.T) {
	t.Parallel()
	const (
		n      = 6
		window = 500 * time.Millisecond
		// slack for the time between the client spending a token and the
		// server seeing the request (scheduling on a loaded machine).
		slack = 50 * time.Millisecond
	)
	e := newEnv(t, setup{fleet: fleetMix, topology: topoMix, prune: true,
		sim:    simulator.Options{JobLatency: 10 * time.Millisecond, Faults: &simulator.Faults{Latency: 40 * time.Millisecond}},
		client: fleximanage.Options{Budget: fleximanage.NewBudget(n, window)}})
	ctx := t.Context()
	start := time.Now()
	p, st := e.plan(ctx)
	if _, err := e.apply(ctx, p, e.execOptions(st)); err != nil {
		t.Fatalf("Apply() = %v", err)
	}
	e.checkConverged(ctx)
	elapsed := time.Since(start)

	var starts []time.Time
	for _, r := range e.rec.requests() {
		starts = append(starts, r.Start)
	}
	total := len(starts)
	if got, at := maxInWindow(starts, window-slack); got > n {
		t.Errorf("%d requests started within %s from %s (of %d in all), want at most %d", got, window-slack, at.Sub(start), total, n)
	}
	// The budget, not the server, set the pace: n requests per window.
	if min := time.Duration(total/n-1) * window; elapsed < min {
		t.Errorf("%d requests took %s, want at least %s under a budget of %d per %s", total, elapsed, min, n, window)
	}
	t.Logf("%d requests in %s", total, elapsed)
}
