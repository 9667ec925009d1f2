package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flexiwan-gitops/reconciler/executor"
	"github.com/flexiwan-gitops/reconciler/fleximanage"
	"github.com/flexiwan-gitops/reconciler/gitsource"
	"github.com/flexiwan-gitops/reconciler/live"
	"github.com/flexiwan-gitops/reconciler/liveread"
	"github.com/flexiwan-gitops/reconciler/planner"
	"github.com/flexiwan-gitops/reconciler/planner/render"
	"github.com/flexiwan-gitops/reconciler/spec"
)

// reconcile runs once: fetch, plan, apply or report. It records the
// outcome in the status and the metrics, from a defer so that no path
// skips it.
func (d *Daemon) reconcile(ctx context.Context, reason string) (result Result) {
	d.reconciles.Add(1)
	start := time.Now()
	cfg := d.Config()
	gen := d.configGen.Load()
	log := d.log.With("trigger", reason)
	log.Info("reconcile started")
	d.status.update(func(s *Status) { s.Reconciling = true })
	d.forgetPushes()
	var err error
	var skipped bool
	defer func() {
		d.metrics.duration.Observe(time.Since(start).Seconds())
		outcome := Outcome{Result: result, At: time.Now().UTC()}
		if err != nil {
			outcome.Reason = err.Error()
		}
		label := string(result)
		if skipped {
			label = "skipped"
		}
		d.metrics.reconciles.WithLabelValues(label).Inc()
		d.status.update(func(s *Status) {
			s.Reconciling = false
			s.JobsInFlight = 0
			if !skipped {
				s.LastOutcome = &outcome
			}
		})
		switch {
		case skipped:
			log.Info("reconcile skipped: the revision that failed terminally has not changed")
		case err != nil:
			log.Warn("reconcile failed", "result", string(result), "error", err, "elapsed", time.Since(start).Round(time.Millisecond))
		default:
			log.Info("reconcile done", "result", string(result), "elapsed", time.Since(start).Round(time.Millisecond))
		}
	}()
	classify := func(e error) Result {
		var te *terminalError
		if errors.As(e, &te) {
			return ResultTerminal
		}
		return ResultTransient
	}

	snap, err := d.fetch(ctx, cfg)
	if err != nil {
		return classify(err)
	}
	rev := snap.Revision
	d.fetchedOK.Store(true)
	d.fetched(rev)
	d.status.update(func(s *Status) { s.LastAttemptedRevision = rev })
	if d.terminalRev == rev && d.terminalGen == gen {
		skipped = true
		return ResultTerminal
	}
	defer func() {
		if result == ResultTerminal {
			d.terminalRev, d.terminalGen = rev, gen
		} else {
			d.terminalRev = ""
		}
	}()

	sp, err := spec.Load(snap.FS, ".")
	if err != nil {
		err = &terminalError{fmt.Errorf("the source at %s is invalid: %w", short(rev), err)}
		return ResultTerminal
	}
	client, org, err := d.connect(ctx, cfg)
	if err != nil {
		return classify(err)
	}
	journal, err := executor.OpenJournal(d.stateDir("journal"))
	if err != nil {
		err = &terminalError{err}
		return ResultTerminal
	}
	// A journal is resumed once, by the first apply after the start: later
	// in the life of the process a journal can only be left by a run this
	// process stopped itself (superseded by a new revision, or failed), and
	// waiting again for that run's jobs would block the new revision.
	if cfg.Mode == ModeApply && !d.resumed {
		if err = d.resume(ctx, client, journal); err != nil {
			return ResultTransient // shutting down: the journal stays for the next start
		}
		d.resumed = true
	}
	st, err := liveread.Read(ctx, client, org)
	if err != nil {
		err = apiFailure(err)
		return classify(err)
	}
	opts := planner.Options{Revision: rev, Source: gitsource.Redact(cfg.Git.Repo), Now: time.Now(), MaxDeletions: -1}
	prune := cfg.Prune
	opts.Prune = &prune
	if cfg.MaxDeletions != nil {
		opts.MaxDeletions = *cfg.MaxDeletions
	}
	p, err := planner.Build(sp, st, opts)
	if err != nil {
		err = &terminalError{err}
		return ResultTerminal
	}
	d.recordPlan(p)
	if p.Empty() {
		d.applied(rev)
		return ResultSuccess
	}
	if cfg.Mode == ModeDetect {
		log.Warn("drift detected (detect mode: nothing is changed)", "calls", len(p.Steps), "tunnelsToCreate", p.Summary.TunnelsCreated,
			"tunnelsToDelete", p.Summary.TunnelsDeleted, "devicesToModify", p.Summary.DevicesChanged)
		return ResultSuccess
	}
	labels := map[string]string{}
	for _, l := range st.Labels {
		labels[l.Name] = l.ID
	}
	res, err := d.apply(ctx, cfg, client, journal, labels, p, rev)
	if res != nil {
		d.metrics.jobs.WithLabelValues("complete").Add(float64(res.JobsComplete))
		d.metrics.jobs.WithLabelValues("failed").Add(float64(res.JobsFailed))
		d.metrics.jobs.WithLabelValues("unfinished").Add(float64(res.JobsWaiting))
	}
	if err != nil {
		err = apiFailure(err)
		return classify(err)
	}
	d.applied(rev)
	// What is left to do now (normally nothing) becomes the drift shown.
	if st2, rerr := liveread.Read(ctx, client, org); rerr == nil {
		if p2, perr := planner.Build(sp, st2, opts); perr == nil {
			d.recordPlan(p2)
		}
	}
	return ResultSuccess
}

func (d *Daemon) fetch(ctx context.Context, cfg *Config) (*gitsource.Snapshot, error) {
	tok, err := readSecret(cfg.Git.TokenFile, cfg.Git.TokenEnv, "git token")
	if err != nil {
		return nil, &terminalError{err}
	}
	snap, err := gitsource.Fetch(ctx, gitsource.Options{
		URL: cfg.Git.Repo, Ref: cfg.Git.Ref, Path: cfg.Git.Path, CacheDir: d.stateDir("git"), Token: tok,
		SSHKeyFile: cfg.Git.SSHKeyFile, KnownHostsFile: cfg.Git.KnownHostsFile, Logger: d.root,
	})
	if err == nil {
		return snap, nil
	}
	for _, k := range []error{gitsource.ErrEmptyRepository, gitsource.ErrAuthentication, gitsource.ErrHostKey, gitsource.ErrInvalidOptions, gitsource.ErrPathNotFound, gitsource.ErrRefNotFound, gitsource.ErrRepositoryNotFound} {
		if errors.Is(err, k) {
			return nil, &terminalError{fmt.Errorf("git: %w", err)}
		}
	}
	return nil, fmt.Errorf("git: %w", err)
}

func (d *Daemon) connect(ctx context.Context, cfg *Config) (*fleximanage.Client, live.Org, error) {
	key, err := readSecret(cfg.FlexiManage.TokenFile, cfg.FlexiManage.TokenEnv, "flexiManage access key")
	if err != nil {
		return nil, live.Org{}, &terminalError{err}
	}
	budget := d.budget.Load()
	c, err := fleximanage.New(fleximanage.Options{BaseURL: cfg.FlexiManage.URL, Key: fleximanage.AccessKey(key), Budget: budget,
		NoBudget: budget == nil, Logger: d.root, OnResponse: d.metrics.apiResponse})
	if err != nil {
		return nil, live.Org{}, &terminalError{err}
	}
	org, err := liveread.ResolveOrg(ctx, c, cfg.FlexiManage.Organization)
	if err != nil {
		if errors.Is(err, fleximanage.ErrOrgNotFound) {
			return nil, live.Org{}, &terminalError{err}
		}
		return nil, live.Org{}, apiFailure(err)
	}
	return c.WithOrg(org.ID), org, nil
}

// apiFailure marks the failures that retrying cannot fix as terminal.
func apiFailure(err error) error {
	if k, ok := fleximanage.KindOf(err); ok && (k == fleximanage.KindAuth || k == fleximanage.KindPermission) {
		return &terminalError{err}
	}
	return err
}

// resume deals with a journal left by an interrupted run: its jobs are
// awaited briefly, then planning goes on from fresh state whatever became
// of them (flexiManage skips tunnels that exist, and a half-configured one
// is repaired by the plan). It returns an error only when ctx ended first:
// then the journal is kept for the next start.
func (d *Daemon) resume(ctx context.Context, c *fleximanage.Client, j *executor.Journal) error {
	ex, err := executor.New(executor.Options{Client: c, PhaseDeadline: time.Minute, Logger: d.root})
	if err != nil {
		return nil
	}
	r, err := ex.Resume(ctx, j)
	switch {
	case ctx.Err() != nil:
		d.log.Info("stopped while resuming an interrupted run; the journal is kept")
		return ctx.Err()
	case errors.Is(err, executor.ErrCorruptJournal):
		d.log.Warn("journal set aside", "error", err)
	case err != nil:
		d.log.Warn("resuming the interrupted run did not finish; planning from fresh state anyway", "error", err)
		j.Discard()
	case r != nil:
		d.log.Info("resumed an interrupted run", "revision", short(r.Record.Revision), "jobs", len(r.Awaited))
	}
	return nil
}

func (d *Daemon) apply(ctx context.Context, cfg *Config, c *fleximanage.Client, j *executor.Journal, labels map[string]string, p *planner.Plan, rev string) (*executor.Result, error) {
	stop, wait := d.startApply(rev)
	defer d.endApply()
	// Shutdown: no new phase at once, stop waiting for jobs after the
	// grace period, abort requests only well after that.
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-done:
			return
		case <-ctx.Done():
		}
		closeOnce(stop)
		grace := time.NewTimer(cfg.Apply.ShutdownGrace.D())
		defer grace.Stop()
		select {
		case <-done:
			return
		case <-grace.C:
		}
		closeOnce(wait)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cancel()
		}
	}()
	ex, err := executor.New(executor.Options{Client: c, Labels: labels, Journal: j, Stop: stop, StopWaiting: wait,
		Concurrency: cfg.Apply.Concurrency, PhaseDeadline: cfg.Apply.PhaseDeadline.D(), Observer: (*inFlight)(d), Logger: d.root})
	if err != nil {
		return nil, err
	}
	res, err := ex.Apply(runCtx, p)
	if err != nil && ctx.Err() == nil && isClosed(stop) {
		// Not a failure of this revision: a newer one arrived.
		err = fmt.Errorf("stopped for a newer revision (it runs next): %w", err)
	}
	return res, err
}

func (d *Daemon) applied(rev string) {
	now := time.Now()
	d.metrics.lastApplied.Set(float64(now.Unix()))
	d.metrics.setInfo(rev)
	d.status.update(func(s *Status) { s.LastAppliedRevision = rev })
}

func (d *Daemon) recordPlan(p *planner.Plan) {
	var md bytes.Buffer
	_ = render.Markdown(&md, p, render.MarkdownOptions{})
	drift := driftOf(p)
	for k, v := range drift {
		d.metrics.drift.WithLabelValues(k).Set(float64(v))
	}
	sum := p.Summary
	d.status.update(func(s *Status) {
		s.Drift = drift
		s.Plan = &sum
		s.Notes = append([]string(nil), p.Notes...)
		s.planMarkdown = md.String()
	})
}

// inFlight keeps status.jobsInFlight current from the executor's progress.
type inFlight Daemon

func (f *inFlight) PhaseStarted(planner.Phase, int, int)         {}
func (f *inFlight) StepSent(*planner.Step, executor.Sent, error) {}
func (f *inFlight) PhaseDone(planner.Phase, int, error)          {}
func (f *inFlight) JobsProgress(_ planner.Phase, c executor.JobCounts) {
	(*Daemon)(f).status.update(func(s *Status) { s.JobsInFlight = c.Total - c.Complete - c.Failed })
}
