package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/flexiwan-gitops/reconciler/fleximanage"
	"github.com/flexiwan-gitops/reconciler/planner"
)

// Options configure an Executor.
type Options struct {
	Client *fleximanage.Client
	// Concurrency bounds the calls in flight within a phase (default 4).
	Concurrency int
	// PhaseDeadline bounds the wait for a phase's jobs (default 10 min).
	PhaseDeadline time.Duration
	// PollMin and PollMax shape the job polling interval (defaults 250 ms
	// and 10 s): it starts at PollMin and grows by half while nothing
	// changes, up to PollMax.
	PollMin, PollMax time.Duration
	// Labels are the path labels known before the run (name → id).
	Labels map[string]string
	// Journal records writes and job ids; nil disables it.
	Journal *Journal
	// Observer is told about progress; nil for none.
	Observer Observer
	// Stop, when closed, lets the current phase finish (its writes and
	// the wait for its jobs) and starts no further phase.
	Stop <-chan struct{}
	// StopWaiting, when closed, also ends the wait for the current phase's
	// jobs: the run returns ErrStopped and the jobs stay in the journal.
	StopWaiting <-chan struct{}
	Logger      *slog.Logger
}

// Executor runs plans.
type Executor struct {
	opts Options
	c    *fleximanage.Client
	log  *slog.Logger
	obs  Observer
}

// New checks the options and fills defaults.
func New(opts Options) (*Executor, error) {
	if opts.Client == nil {
		return nil, errors.New("executor: no flexiManage client")
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if opts.PhaseDeadline <= 0 {
		opts.PhaseDeadline = 10 * time.Minute
	}
	if opts.PollMin <= 0 {
		opts.PollMin = 250 * time.Millisecond
	}
	if opts.PollMax <= 0 {
		opts.PollMax = 10 * time.Second
	}
	if opts.PollMax < opts.PollMin {
		opts.PollMax = opts.PollMin
	}
	e := &Executor{opts: opts, c: opts.Client, log: opts.Logger, obs: opts.Observer}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	e.log = e.log.With("component", "executor")
	if e.obs == nil {
		e.obs = nopObserver{}
	}
	return e, nil
}

// StepStatus is what became of a step.
type StepStatus string

const (
	StepDone    StepStatus = "done"
	StepFailed  StepStatus = "failed"
	StepSkipped StepStatus = "skipped" // not sent: an earlier phase failed
	StepNoop    StepStatus = "noop"    // sent nothing: nothing left to do
)

// JobOutcome is one job's end.
type JobOutcome struct {
	ID     fleximanage.JobID `json:"id"`
	Device string            `json:"device"`
	State  fleximanage.JobState
	Errors []string `json:"errors,omitempty"`
}

// StepResult is one step's outcome.
type StepResult struct {
	ID      int            `json:"id"`
	Phase   planner.Phase  `json:"phase"`
	Action  planner.Action `json:"action"`
	Target  string         `json:"target"`
	Status  StepStatus     `json:"status"`
	Message string         `json:"message,omitempty"`
	Error   string         `json:"error,omitempty"`
	Jobs    []JobOutcome   `json:"jobs,omitempty"`
}

// Result is what a run did.
type Result struct {
	Steps        []StepResult  `json:"steps"`
	JobsComplete int           `json:"jobsComplete"`
	JobsFailed   int           `json:"jobsFailed"`
	JobsWaiting  int           `json:"jobsWaiting"`
	Writes       int           `json:"writes"`
	Elapsed      time.Duration `json:"elapsed"`
	// Err is the cause of a failed run, nil when every step and job ended
	// well.
	Err error `json:"-"`
}

// Failed reports whether the run failed.
func (r *Result) Failed() bool { return r.Err != nil }

type phaseKey struct {
	phase planner.Phase
	wave  int
}

// Apply runs p. The returned error is also Result.Err; a nil Result comes
// only with an error that prevented the run from starting.
func (e *Executor) Apply(ctx context.Context, p *planner.Plan) (*Result, error) {
	start := time.Now()
	res := &Result{}
	labels := NewLabels(e.opts.Labels)
	if e.opts.Journal != nil {
		if err := e.opts.Journal.Begin(p); err != nil {
			return nil, err
		}
	}
	var groups [][]*planner.Step
	var keys []phaseKey
	for i := range p.Steps {
		s := &p.Steps[i]
		k := phaseKey{s.Phase, s.Wave}
		if len(keys) == 0 || keys[len(keys)-1] != k {
			keys = append(keys, k)
			groups = append(groups, nil)
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], s)
	}
	results := map[int]*StepResult{}
	for i := range p.Steps {
		s := &p.Steps[i]
		results[s.ID] = &StepResult{ID: s.ID, Phase: s.Phase, Action: s.Action, Target: s.Target, Status: StepSkipped}
	}
	var runErr error
	for gi, steps := range groups {
		if runErr != nil {
			break
		}
		if stopped(e.opts.Stop) {
			runErr = ErrStopped
			break
		}
		k := keys[gi]
		e.obs.PhaseStarted(k.phase, k.wave, len(steps))
		e.log.Debug("phase started", "phase", k.phase.String(), "wave", k.wave, "steps", len(steps))
		perr := e.runPhase(ctx, steps, labels, results, res)
		if perr != nil {
			runErr = perr
		}
		e.obs.PhaseDone(k.phase, k.wave, perr)
	}
	for i := range p.Steps {
		r := results[p.Steps[i].ID]
		res.Steps = append(res.Steps, *r)
		for _, j := range r.Jobs {
			switch {
			case j.State == fleximanage.JobComplete:
				res.JobsComplete++
			case j.State == fleximanage.JobFailed:
				res.JobsFailed++
			default:
				res.JobsWaiting++
			}
		}
	}
	res.Elapsed = time.Since(start)
	res.Err = runErr
	if e.opts.Journal != nil {
		if err := e.opts.Journal.Finish(runErr == nil || !e.opts.Journal.HasOutstanding()); err != nil && runErr == nil {
			runErr, res.Err = err, err
		}
	}
	return res, runErr
}

// runPhase sends a phase's steps and waits for their jobs.
func (e *Executor) runPhase(ctx context.Context, steps []*planner.Step, labels *Labels, results map[int]*StepResult, res *Result) error {
	type sentStep struct {
		step *planner.Step
		ids  []fleximanage.JobID
	}
	var mu sync.Mutex
	var sent []sentStep
	var failures []string
	done := map[int]chan struct{}{}
	for _, s := range steps {
		done[s.ID] = make(chan struct{})
	}
	sem := make(chan struct{}, e.opts.Concurrency)
	var wg sync.WaitGroup
	for _, s := range steps {
		wg.Add(1)
		go func(s *planner.Step) {
			defer wg.Done()
			defer close(done[s.ID])
			for _, a := range s.After {
				if ch, ok := done[a]; ok {
					select {
					case <-ch:
					case <-ctx.Done():
						return
					}
				}
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			r := e.sendStep(ctx, s, labels)
			mu.Lock()
			defer mu.Unlock()
			*results[s.ID] = r.result
			res.Writes += r.writes
			if r.result.Status == StepFailed {
				failures = append(failures, fmt.Sprintf("step %d (%s %s): %s", s.ID, s.Action, s.Target, r.result.Error))
			}
			if len(r.ids) > 0 {
				sent = append(sent, sentStep{step: s, ids: r.ids})
			}
		}(s)
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	// Wait for every job of the phase, even after a failed call: the jobs
	// already queued must end before anything else is decided.
	var all []fleximanage.JobID
	owner := map[fleximanage.JobID]*planner.Step{}
	for _, ss := range sent {
		for _, id := range ss.ids {
			all = append(all, id)
			owner[id] = ss.step
		}
	}
	if len(all) > 0 {
		outcomes, werr := e.waitJobs(ctx, all, steps[0].Phase)
		for _, id := range all {
			o, ok := outcomes[id]
			if !ok {
				continue
			}
			st := owner[id]
			r := results[st.ID]
			r.Jobs = append(r.Jobs, o)
			if o.State == fleximanage.JobFailed {
				r.Status = StepFailed
				msg := strings.Join(o.Errors, "; ")
				if msg == "" {
					msg = "no error text"
				}
				failures = append(failures, fmt.Sprintf("step %d (%s %s): job %d on %s failed: %s", st.ID, st.Action, st.Target, id, o.Device, msg))
			}
		}
		for _, r := range results {
			sort.Slice(r.Jobs, func(i, j int) bool { return r.Jobs[i].ID < r.Jobs[j].ID })
		}
		if e.opts.Journal != nil {
			ended := all
			if ctx.Err() != nil || errors.Is(werr, ErrStopped) {
				// Interrupted while waiting (ctx ended, or StopWaiting):
				// only the jobs seen ending have ended. The others stay
				// outstanding in the journal, so that the next start waits
				// for them (Resume).
				ended = nil
				for _, id := range all {
					if o, ok := outcomes[id]; ok && o.State.Terminal() {
						ended = append(ended, id)
					}
				}
			}
			if err := e.opts.Journal.JobsEnded(ended); err != nil {
				return err
			}
		}
		if werr != nil {
			failures = append(failures, werr.Error())
		}
	}
	if len(failures) > 0 {
		sort.Strings(failures)
		return &PhaseError{Phase: steps[0].Phase, Failures: failures}
	}
	return nil
}

// ErrStopped is the run's error when Options.Stop ended it between phases.
var ErrStopped = errors.New("stopped before the next phase")

func stopped(ch <-chan struct{}) bool {
	if ch == nil {
		return false
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// PhaseError is a phase that did not end well.
type PhaseError struct {
	Phase    planner.Phase
	Failures []string
}

func (e *PhaseError) Error() string {
	if len(e.Failures) == 1 {
		return fmt.Sprintf("phase %s failed: %s", e.Phase, e.Failures[0])
	}
	return fmt.Sprintf("phase %s failed:\n  - %s", e.Phase, strings.Join(e.Failures, "\n  - "))
}

type sendOutcome struct {
	result StepResult
	ids    []fleximanage.JobID
	writes int
}

func (e *Executor) sendStep(ctx context.Context, s *planner.Step, labels *Labels) sendOutcome {
	out := sendOutcome{result: StepResult{ID: s.ID, Phase: s.Phase, Action: s.Action, Target: s.Target}}
	if j := e.opts.Journal; j != nil {
		if err := j.Sending(s); err != nil {
			out.result.Status, out.result.Error = StepFailed, "journal: "+err.Error()
			return out
		}
	}
	sent, err := Send(ctx, e.c, s, labels)
	if sent.Skipped == "" {
		out.writes = 1
	}
	if j := e.opts.Journal; j != nil {
		if jerr := j.Sent(s, sent.JobIDs, err); jerr != nil && err == nil {
			err = fmt.Errorf("journal: %w", jerr)
		}
	}
	e.obs.StepSent(s, sent, err)
	switch {
	case err != nil:
		out.result.Status, out.result.Error = StepFailed, err.Error()
		e.log.Warn("step failed", "step", s.ID, "action", s.Action.String(), "target", s.Target, "error", err)
		return out
	case sent.Skipped != "":
		out.result.Status, out.result.Message = StepNoop, sent.Skipped
	default:
		out.result.Status, out.result.Message = StepDone, sent.Message
	}
	e.log.Debug("step sent", "step", s.ID, "action", s.Action.String(), "target", s.Target, "jobs", len(sent.JobIDs), "status", string(sent.Status))
	if msg := judge(s, sent); msg != "" {
		out.result.Status, out.result.Error = StepFailed, msg
		e.log.Warn("step failed", "step", s.ID, "action", s.Action.String(), "target", s.Target, "error", msg)
	}
	out.ids = sent.JobIDs
	return out
}

// judge decides whether an accepted call did what the step needed.
func judge(s *planner.Step, sent Sent) string {
	if sent.Untracked {
		return "flexiManage accepted the call but gave no job ids (more than 1000 tasks); its outcome cannot be followed"
	}
	if sent.Status != fleximanage.ApplyPartiallyCompleted {
		return ""
	}
	switch s.Action {
	case planner.CreateTunnels:
		// Pending tunnels (an interface without an address) are expected
		// and make the status "partially completed"; anything else is not.
		for _, bad := range tunnelFailureReasons {
			if strings.Contains(sent.Message, bad) {
				return "flexiManage did not create every tunnel: " + sent.Message
			}
		}
		return ""
	case planner.DeleteTunnels:
		if strings.Contains(sent.Message, "static routes") {
			return "flexiManage kept some tunnels: " + sent.Message
		}
		return ""
	}
	return "flexiManage did part of it: " + sent.Message
}

// tunnelFailureReasons are the reasons flexiManage gives for tunnels it did
// not create (fleximanage/API.md §5.4); a pending tunnel is not one of them.
var tunnelFailureReasons = []string{
	"Router version mismatch",
	"not supported",
	"certificate",
	"no valid WAN interfaces",
	"without specified Path Labels",
	"No Path Labels specified",
	"Exceeded limit",
	"Failed to get a new tunnel number",
	"Some devices were removed",
	"Error queuing",
}
