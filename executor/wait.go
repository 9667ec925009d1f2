package executor

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/flexiwan-gitops/reconciler/fleximanage"
	"github.com/flexiwan-gitops/reconciler/planner"
)

// JobCounts is how a phase's jobs stand.
type JobCounts struct {
	Total, Complete, Failed, Active, Inactive int
	// Waiting names devices whose jobs cannot start: disconnected.
	Waiting []string
}

// jobsPerRequest is how many ids one GET /jobs asks for (URLs stay short).
const jobsPerRequest = 100

// samplesPerDevice bounds how many of one device's pending jobs a polling
// round asks for.
const samplesPerDevice = 8

// waitJobs polls the jobs until each has ended, the phase deadline passes,
// or ctx ends. It returns what it learned of each job.
//
// flexiManage runs a device's jobs one at a time, in order. So after a first
// round that asks for every job (and learns which device each belongs to),
// a round asks only for each device's newest pending job and a few evenly
// spaced ones before it: when one of them has ended, every earlier job of
// that device has ended too. Those are counted as ended for progress and
// fetched once, for their outcome, when the device's last job has ended.
// Rounds are spaced so that polling uses at most half of the client's
// request budget.
func (e *Executor) waitJobs(ctx context.Context, ids []fleximanage.JobID, phase planner.Phase) (map[fleximanage.JobID]JobOutcome, error) {
	w := &waiter{e: e, outcomes: make(map[fleximanage.JobID]JobOutcome, len(ids)), pending: map[fleximanage.JobID]bool{},
		device: map[fleximanage.JobID]string{}, inactiveDevs: map[string]string{}, implied: map[fleximanage.JobID]bool{}}
	for _, id := range ids {
		w.pending[id] = true
	}
	deadline := time.Now().Add(e.opts.PhaseDeadline)
	gap := e.pollGap()
	interval := e.opts.PollMin
	waiting := map[string]bool{} // device names known disconnected
	lastCheck := time.Time{}
	first := true
	for len(w.pending) > 0 {
		if err := sleepCtx(ctx, min(interval, max(time.Until(deadline), 0)), e.opts.StopWaiting); err != nil {
			return w.outcomes, err
		}
		ask := w.allPending()
		if !first {
			ask = w.sample()
		}
		first = false
		progress, requests, err := w.round(ctx, ask)
		if err != nil {
			if ctx.Err() != nil {
				return w.outcomes, ctx.Err()
			}
			e.log.Warn("polling jobs failed; trying again", "error", err)
		}
		if progress {
			interval = e.opts.PollMin
		} else {
			interval = min(interval*3/2, e.opts.PollMax)
		}
		interval = max(interval, time.Duration(requests)*gap)
		// Devices with inactive jobs: are they disconnected? Asked at most
		// every 15 s, for at most 10 devices, to spare the request budget,
		// and once more at the deadline, so that the error names a device
		// that went offline since the last check.
		expired := len(w.pending) > 0 && !time.Now().Before(deadline)
		if len(w.inactiveDevs) > 0 && (expired || (time.Since(lastCheck) > 15*time.Second && !progress)) {
			lastCheck = time.Now()
			n := 0
			for id, name := range w.inactiveDevs {
				if n == 10 {
					break
				}
				n++
				st, err := e.c.DeviceStatus(ctx, id)
				if err != nil {
					continue
				}
				if st.Connection != "connected" || !st.IsApproved {
					waiting[name] = true
				} else {
					delete(waiting, name)
				}
			}
		}
		counts := w.counts()
		for n := range waiting {
			counts.Waiting = append(counts.Waiting, n)
		}
		sort.Strings(counts.Waiting)
		e.obs.JobsProgress(phase, counts)
		if expired {
			why := fmt.Sprintf("%d jobs of phase %s did not end within %s", len(w.pending), phase, e.opts.PhaseDeadline)
			if len(counts.Waiting) > 0 {
				why += ": waiting for device " + strings.Join(counts.Waiting, ", device ") + " (disconnected or not approved)"
			}
			return w.outcomes, fmt.Errorf("%s", why)
		}
	}
	return w.outcomes, nil
}

// pollGap is the least time per polling request that keeps polling within
// half of the client's request budget (0 without a budget).
func (e *Executor) pollGap() time.Duration {
	n, window := e.c.Budget().Limit()
	if n <= 0 {
		return 0
	}
	return 2 * window / time.Duration(n)
}

// waiter is the state of one waitJobs.
type waiter struct {
	e            *Executor
	outcomes     map[fleximanage.JobID]JobOutcome
	pending      map[fleximanage.JobID]bool
	device       map[fleximanage.JobID]string // job → device machineId, once seen
	inactiveDevs map[string]string            // device id → name, of inactive jobs
	// implied are pending jobs known to have ended (a later job of their
	// device ended) whose outcome is not fetched yet.
	implied map[fleximanage.JobID]bool
}

func (w *waiter) allPending() []fleximanage.JobID {
	ids := make([]fleximanage.JobID, 0, len(w.pending))
	for id := range w.pending {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// sample picks, per device, the newest pending job and up to
// samplesPerDevice-1 evenly spaced older ones; jobs whose device is not
// known yet are all asked for.
func (w *waiter) sample() []fleximanage.JobID {
	byDev := map[string][]fleximanage.JobID{}
	var ids []fleximanage.JobID
	for _, id := range w.allPending() {
		dev, ok := w.device[id]
		switch {
		case !ok:
			ids = append(ids, id)
		case !w.implied[id]:
			byDev[dev] = append(byDev[dev], id)
		}
	}
	for _, q := range byDev { // q is in id (queue) order
		n := len(q)
		k := min(n, samplesPerDevice)
		for i := 1; i <= k; i++ {
			ids = append(ids, q[(i*n)/k-1])
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// round asks for ids. A job that ended proves every earlier job of its
// device ended too: those are marked implied, and fetched (for their
// outcome) once the device has nothing left running. It reports whether
// anything changed and how many requests it sent.
func (w *waiter) round(ctx context.Context, ids []fleximanage.JobID) (progress bool, requests int, err error) {
	jobs, n, err := w.fetch(ctx, ids)
	requests += n
	progress = w.apply(jobs)
	newestEnded := map[string]fleximanage.JobID{}
	for _, j := range jobs {
		if j.State.Terminal() && j.ID > newestEnded[j.Type] {
			newestEnded[j.Type] = j.ID
		}
	}
	open := map[string]bool{} // devices with a job still running or queued
	for id := range w.pending {
		dev, seen := w.device[id]
		if top, ok := newestEnded[dev]; seen && ok && id < top {
			if !w.implied[id] {
				w.implied[id] = true
				progress = true
			}
		}
		if seen && !w.implied[id] {
			open[dev] = true
		}
	}
	var sweep []fleximanage.JobID
	for id := range w.implied {
		if !open[w.device[id]] {
			sweep = append(sweep, id)
		}
	}
	if len(sweep) > 0 {
		sort.Slice(sweep, func(i, j int) bool { return sweep[i] < sweep[j] })
		more, n, serr := w.fetch(ctx, sweep)
		requests += n
		if w.apply(more) {
			progress = true
		}
		if err == nil {
			err = serr
		}
	}
	return progress, requests, err
}

// fetch asks for ids, jobsPerRequest at a time. A job deleted on the
// server makes flexiManage fail the whole request; the chunk is then
// halved until the missing jobs are found, and those are recorded as lost.
func (w *waiter) fetch(ctx context.Context, ids []fleximanage.JobID) ([]fleximanage.Job, int, error) {
	var out []fleximanage.Job
	requests := 0
	var firstErr error
	var ask func(ids []fleximanage.JobID)
	ask = func(ids []fleximanage.JobID) {
		if len(ids) == 0 {
			return
		}
		requests++
		jobs, err := w.e.c.Jobs(ctx, ids)
		switch {
		case err == nil:
			out = append(out, jobs...)
		case fleximanage.IsKind(err, fleximanage.KindNotFound) && len(ids) == 1:
			id := ids[0]
			w.outcomes[id] = JobOutcome{ID: id, State: fleximanage.JobFailed, Errors: []string{"the job was deleted on the server before it ended; its outcome is unknown"}}
			delete(w.pending, id)
		case fleximanage.IsKind(err, fleximanage.KindNotFound):
			ask(ids[:len(ids)/2])
			ask(ids[len(ids)/2:])
		default:
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	for start := 0; start < len(ids); start += jobsPerRequest {
		ask(ids[start:min(start+jobsPerRequest, len(ids))])
	}
	return out, requests, firstErr
}

// apply records what the jobs say; it reports whether a state changed.
func (w *waiter) apply(jobs []fleximanage.Job) bool {
	progress := false
	for _, j := range jobs {
		if !w.pending[j.ID] {
			continue
		}
		w.device[j.ID] = j.Type
		o := JobOutcome{ID: j.ID, State: j.State, Device: j.Type}
		if j.Device != nil && j.Device.Name != "" {
			o.Device = j.Device.Name
		}
		prev, seen := w.outcomes[j.ID]
		if !seen || prev.State != j.State {
			progress = true
			w.e.log.Info("job state", "job", int64(j.ID), "device", o.Device, "state", string(j.State))
		}
		if j.State.Terminal() {
			if j.State == fleximanage.JobFailed {
				o.Errors = j.ErrorMessages()
			}
			delete(w.pending, j.ID)
			delete(w.implied, j.ID)
			if j.Device != nil {
				delete(w.inactiveDevs, j.Device.ID)
			}
		} else if j.State == fleximanage.JobInactive && j.Device != nil {
			w.inactiveDevs[j.Device.ID] = o.Device
		}
		w.outcomes[j.ID] = o
	}
	return progress
}

func (w *waiter) counts() JobCounts {
	c := JobCounts{Total: len(w.outcomes) + len(w.pending) - len(w.implied)}
	for id, o := range w.outcomes {
		if w.implied[id] {
			c.Total++
			c.Complete++ // ended; failed ones are counted once fetched
			continue
		}
		switch o.State {
		case fleximanage.JobComplete:
			c.Complete++
		case fleximanage.JobFailed:
			c.Failed++
		case fleximanage.JobActive:
			c.Active++
		default:
			c.Inactive++
		}
	}
	return c
}

// sleepCtx waits d, or returns early with ctx's error or ErrStopped when
// stop closes.
func sleepCtx(ctx context.Context, d time.Duration, stop <-chan struct{}) error {
	if stopped(stop) {
		return ErrStopped
	}
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-stop:
		return ErrStopped
	case <-t.C:
		return nil
	}
}
