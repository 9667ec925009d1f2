package executor

import (
	"context"
	"fmt"
	"time"

	"github.com/flexiwan-gitops/reconciler/fleximanage"
	"github.com/flexiwan-gitops/reconciler/planner"
)

// Resumed is what Resume found and did.
type Resumed struct {
	Record *JournalRecord
	// Awaited are the journaled jobs waited for, with their outcome.
	Awaited map[fleximanage.JobID]JobOutcome
	// Unknown: a write was being sent when the run died; its jobs were
	// looked for among the organization's unfinished jobs.
	Unknown bool
}

// Resume deals with a journal left by an interrupted run: it waits for the
// jobs the journal names (and, when a write's answer was lost, for the
// organization's jobs that had not ended), then removes the journal. The
// caller then plans again from fresh live state; nothing of the old plan is
// sent again blindly.
func (e *Executor) Resume(ctx context.Context, j *Journal) (*Resumed, error) {
	rec, err := j.Unfinished()
	if err != nil || rec == nil {
		return nil, err
	}
	r := &Resumed{Record: rec}
	ids, unknown := rec.Outstanding()
	r.Unknown = unknown
	if unknown {
		// The write went out but its job ids were not recorded: wait for
		// the jobs flexiManage still has queued or running for the org.
		// Queued ones are listed first: a job that starts between the two
		// requests is then in one of the lists (asked the other way round,
		// it would be in neither).
		for _, st := range []fleximanage.JobState{fleximanage.JobInactive, fleximanage.JobActive} {
			jobs, err := e.c.JobsByState(ctx, st, 500)
			if err != nil {
				return nil, fmt.Errorf("resume: list %s jobs: %w", st, err)
			}
			for _, jb := range jobs {
				if !jb.Created().Before(rec.StartedAt.Add(-time.Minute)) {
					ids = append(ids, jb.ID)
				}
			}
		}
	}
	e.log.Info("resuming an interrupted run", "revision", rec.Revision, "outstanding", len(ids), "unknown", unknown)
	if len(ids) > 0 {
		out, werr := e.waitJobs(ctx, dedupe(ids), planner.Phase(0))
		r.Awaited = out
		if werr != nil {
			return r, fmt.Errorf("resume: %w", werr)
		}
	}
	return r, j.Discard()
}

func dedupe(ids []fleximanage.JobID) []fleximanage.JobID {
	seen := map[fleximanage.JobID]bool{}
	var out []fleximanage.JobID
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
