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

// waitJobs polls the jobs until each has ended, the phase deadline passes,
// or ctx ends. It returns what it learned of each job.
func (e *Executor) waitJobs(ctx context.Context, ids []fleximanage.JobID, phase planner.Phase) (map[fleximanage.JobID]JobOutcome, error) {
	deadline := time.Now().Add(e.opts.PhaseDeadline)
	outcomes := make(map[fleximanage.JobID]JobOutcome, len(ids))
	pending := make(map[fleximanage.JobID]bool, len(ids))
	for _, id := range ids {
		pending[id] = true
	}
	interval := e.opts.PollMin
	waiting := map[string]bool{}        // device names known disconnected
	inactiveDevs := map[string]string{} // device id → name, of inactive jobs
	lastCheck := time.Time{}
	for len(pending) > 0 {
		if err := sleepCtx(ctx, min(interval, max(time.Until(deadline), 0)), e.opts.StopWaiting); err != nil {
			return outcomes, err
		}
		progress, err := e.poll(ctx, pending, outcomes, inactiveDevs)
		if err != nil {
			if ctx.Err() != nil {
				return outcomes, ctx.Err()
			}
			e.log.Warn("polling jobs failed; trying again", "error", err)
		}
		if progress {
			interval = e.opts.PollMin
		} else {
			interval = min(interval*3/2, e.opts.PollMax)
		}
		// Devices with inactive jobs: are they disconnected? Asked at most
		// every 15 s, for at most 10 devices, to spare the request budget.
		if len(inactiveDevs) > 0 && time.Since(lastCheck) > 15*time.Second && !progress {
			lastCheck = time.Now()
			n := 0
			for id, name := range inactiveDevs {
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
		counts := JobCounts{Total: len(outcomes) + len(pending)}
		for _, o := range outcomes {
			switch o.State {
			case fleximanage.JobComplete:
				counts.Complete++
			case fleximanage.JobFailed:
				counts.Failed++
			case fleximanage.JobActive:
				counts.Active++
			default:
				counts.Inactive++
			}
		}
		for n := range waiting {
			counts.Waiting = append(counts.Waiting, n)
		}
		sort.Strings(counts.Waiting)
		e.obs.JobsProgress(phase, counts)
		if len(pending) > 0 && !time.Now().Before(deadline) {
			why := fmt.Sprintf("%d jobs of phase %s did not end within %s", len(pending), phase, e.opts.PhaseDeadline)
			if len(counts.Waiting) > 0 {
				why += ": waiting for device " + strings.Join(counts.Waiting, ", device ") + " (disconnected or not approved)"
			}
			return outcomes, fmt.Errorf("%s", why)
		}
	}
	return outcomes, nil
}

// poll asks for every pending job (in as few requests as the id chunks
// allow). A job deleted on the server makes flexiManage fail the whole
// request; then the chunk is asked job by job to find which.
func (e *Executor) poll(ctx context.Context, pending map[fleximanage.JobID]bool, outcomes map[fleximanage.JobID]JobOutcome, inactiveDevs map[string]string) (bool, error) {
	ids := make([]fleximanage.JobID, 0, len(pending))
	for id := range pending {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	jobs, err := e.c.Jobs(ctx, ids)
	if err != nil && fleximanage.IsKind(err, fleximanage.KindNotFound) {
		jobs, err = nil, nil
		for _, id := range ids {
			j, jerr := e.c.Job(ctx, id)
			switch {
			case jerr == nil:
				jobs = append(jobs, *j)
			case fleximanage.IsKind(jerr, fleximanage.KindNotFound):
				outcomes[id] = JobOutcome{ID: id, State: fleximanage.JobFailed, Errors: []string{"the job was deleted on the server before it ended; its outcome is unknown"}}
				delete(pending, id)
			default:
				err = jerr
			}
		}
	}
	progress := false
	for _, j := range jobs {
		if !pending[j.ID] {
			continue
		}
		o := JobOutcome{ID: j.ID, State: j.State, Device: j.Type}
		if j.Device != nil && j.Device.Name != "" {
			o.Device = j.Device.Name
		}
		prev, seen := outcomes[j.ID]
		if !seen || prev.State != j.State {
			progress = true
			e.log.Info("job state", "job", int64(j.ID), "device", o.Device, "state", string(j.State))
		}
		if j.State.Terminal() {
			if j.State == fleximanage.JobFailed {
				o.Errors = j.ErrorMessages()
			}
			delete(pending, j.ID)
			if j.Device != nil {
				delete(inactiveDevs, j.Device.ID)
			}
		} else if j.State == fleximanage.JobInactive && j.Device != nil {
			inactiveDevs[j.Device.ID] = o.Device
		}
		outcomes[j.ID] = o
	}
	return progress, err
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
