package daemon

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flexiwan-gitops/reconciler/fleximanage"
	"github.com/flexiwan-gitops/reconciler/gitsource"
)

// Options are the daemon's dependencies.
type Options struct {
	Logger *slog.Logger
	// RetryBase and RetryMax shape the wait before retrying a transient
	// failure: exponential from RetryBase, capped at RetryMax, with jitter
	// (defaults 10 s and 10 minutes).
	RetryBase, RetryMax time.Duration
	// TriggerSpacing is the least time between the start of a run and that
	// of a run asked for by a trigger that names no new revision (a
	// generic trigger without a revision), so that a flood of triggers
	// cannot keep the daemon reconciling (default 10 s). A push of a new
	// revision is never held back.
	TriggerSpacing time.Duration
}

// trigger is a request for a run.
type trigger struct {
	reason string
	// spaced: it names no new revision, so it waits for TriggerSpacing
	// after the start of the last run.
	spaced bool
}

// Daemon runs reconciles on triggers.
type Daemon struct {
	cfg     atomic.Pointer[Config]
	log     *slog.Logger
	root    *slog.Logger     // for the packages the daemon drives
	retry   [2]time.Duration // base and cap of the transient-failure backoff
	metrics *metrics
	status  statusStore

	// At most one trigger is pending: a burst during a run collapses into
	// one follow-up run. wake tells Run that one arrived.
	trigMu   sync.Mutex
	pending  *trigger
	wake     chan struct{} // buffered 1
	spacing  time.Duration
	reloaded chan struct{}

	// The current run, for webhooks that supersede it.
	runMu   sync.Mutex
	runStop chan struct{} // closed: no further phase
	runWait chan struct{} // closed: stop waiting for jobs
	runRev  string
	// pushedRev is the revision of a push accepted while no apply was
	// running (during the fetch, the resume or the planning): the apply
	// that follows stops at once if it is not that revision.
	pushedRev string
	// fetchedRev is the revision the current or last run fetched: a push
	// of it needs no run.
	fetchedRev string

	// budget is shared by every client the daemon makes (nil: none); it
	// is replaced on reload only when the configured budget changed.
	budget atomic.Pointer[fleximanage.Budget]

	// Terminal failures are not retried until the revision (or the config)
	// changes.
	terminalRev string
	terminalGen uint64
	// resumed: the journal left by the previous process was dealt with
	// (only the Run goroutine uses it).
	resumed   bool
	configGen atomic.Uint64

	// refused counts webhooks refused since the last warning logged at
	// refusedLogged (Unix ns).
	refused       atomic.Int64
	refusedLogged atomic.Int64

	reconciles atomic.Int64 // for tests
	fetchedOK  atomic.Bool
}

// New builds a daemon from a checked config.
func New(cfg *Config, opts Options) *Daemon {
	d := &Daemon{log: opts.Logger, wake: make(chan struct{}, 1), reloaded: make(chan struct{}, 1), spacing: opts.TriggerSpacing}
	if d.spacing <= 0 {
		d.spacing = 10 * time.Second
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	d.root = d.log
	d.retry = [2]time.Duration{opts.RetryBase, opts.RetryMax}
	if d.retry[0] <= 0 {
		d.retry[0] = 10 * time.Second
	}
	if d.retry[1] <= 0 {
		d.retry[1] = 10 * time.Minute
	}
	d.retry[1] = max(d.retry[1], d.retry[0])
	d.log = d.log.With("component", "daemon")
	d.cfg.Store(cfg)
	d.budget.Store(budgetOf(cfg))
	d.metrics = newMetrics(func() float64 { return float64(d.budget.Load().Remaining()) })
	d.status.update(func(s *Status) {
		s.Mode = cfg.Mode
		s.Drift = map[string]int{}
		s.Organization = cfg.FlexiManage.Organization
		s.Source = gitsource.Redact(cfg.Git.Repo)
	})
	return d
}

func budgetOf(cfg *Config) *fleximanage.Budget {
	if b := cfg.FlexiManage.Budget; b != nil {
		return fleximanage.NewBudget(b.Requests, b.Window.D())
	}
	return fleximanage.NewBudget(fleximanage.DefaultBudgetRequests, fleximanage.DefaultBudgetWindow)
}

func sameBudget(a, b *BudgetConfig) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// Config returns the configuration in force.
func (d *Daemon) Config() *Config { return d.cfg.Load() }

// Reload swaps in a new, already checked, configuration. It takes effect
// from the next reconcile; a terminal failure is retried under it.
func (d *Daemon) Reload(cfg *Config) {
	old := d.cfg.Swap(cfg)
	if !sameBudget(old.FlexiManage.Budget, cfg.FlexiManage.Budget) {
		d.budget.Store(budgetOf(cfg))
	}
	d.configGen.Add(1)
	d.runMu.Lock()
	d.fetchedRev = "" // the repository or the ref may have changed
	d.runMu.Unlock()
	d.status.update(func(s *Status) {
		s.Mode = cfg.Mode
		s.Organization = cfg.FlexiManage.Organization
		s.Source = gitsource.Redact(cfg.Git.Repo)
	})
	d.log.Info("configuration reloaded")
	select {
	case d.reloaded <- struct{}{}:
	default:
	}
}

// Trigger asks for a reconcile. It never blocks: while one is pending,
// more collapse into it.
func (d *Daemon) Trigger(reason string) { d.trigger(trigger{reason: reason}) }

func (d *Daemon) trigger(t trigger) {
	d.trigMu.Lock()
	if d.pending == nil || (d.pending.spaced && !t.spaced) {
		d.pending = &t
	}
	d.trigMu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// pendingTrigger returns the pending trigger, if any, and when it may run.
func (d *Daemon) pendingTrigger(lastStart time.Time) (reason string, at time.Time, ok bool) {
	d.trigMu.Lock()
	defer d.trigMu.Unlock()
	if d.pending == nil {
		return "", time.Time{}, false
	}
	at = time.Now()
	if earliest := lastStart.Add(d.spacing); d.pending.spaced && !lastStart.IsZero() && earliest.After(at) {
		at = earliest
	}
	return d.pending.reason, at, true
}

// clearTrigger drops the pending trigger as a run starts: the run fetches
// whatever the trigger announced.
func (d *Daemon) clearTrigger() {
	d.trigMu.Lock()
	defer d.trigMu.Unlock()
	d.pending = nil
}

// Reconciles returns how many reconciles have started.
func (d *Daemon) Reconciles() int64 { return d.reconciles.Load() }

// Run reconciles at start, then on schedule and triggers, until ctx ends.
// When ctx ends during a run, the run stops at the end of its phase; the
// jobs of that phase are awaited up to the configured shutdown grace, and
// whatever is still in flight stays in the journal for the next start.
func (d *Daemon) Run(ctx context.Context) error {
	attempt := 0
	next := time.Now() // the next scheduled run, or retry
	var lastStart time.Time
	for {
		runAt, reason := next, "schedule"
		if r, at, ok := d.pendingTrigger(lastStart); ok && at.Before(runAt) {
			runAt, reason = at, r
		}
		d.status.update(func(s *Status) { s.NextRun = runAt })
		timer := time.NewTimer(max(time.Until(runAt), 0))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-d.wake:
			timer.Stop()
			continue // a trigger arrived: when may it run?
		case <-d.reloaded:
			timer.Stop()
			next = d.Config().Next(time.Now())
			continue
		case <-timer.C:
		}
		if reason == "schedule" && attempt == 0 && d.reconciles.Load() == 0 {
			reason = "start"
		}
		lastStart = time.Now()
		d.clearTrigger()
		res := d.reconcile(ctx, reason)
		if ctx.Err() != nil {
			return nil
		}
		cfg := d.Config()
		switch res {
		case ResultTransient:
			attempt++
			next = time.Now().Add(backoff(attempt, d.retry[0], d.retry[1]))
		default:
			attempt = 0
			next = cfg.Next(time.Now()).Add(jitter(cfg.Jitter.D()))
		}
	}
}

// backoff is the wait before retry number attempt: exponential from base,
// capped at ceiling, with jitter.
func backoff(attempt int, base, ceiling time.Duration) time.Duration {
	d := base << min(attempt-1, 16)
	if d <= 0 || d > ceiling {
		d = ceiling
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func jitter(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(max)))
}

// supersede stops the run in progress at its next safe point (the end of
// the current phase's writes), because a new revision arrived: a bad
// commit must not block its fix. A push that names no revision, or the
// revision being applied, stops nothing: it only queues a follow-up run (so
// that a flood of triggers cannot keep restarting the run).
func (d *Daemon) supersede(revision string) {
	d.runMu.Lock()
	defer d.runMu.Unlock()
	if revision == "" {
		return
	}
	if d.runStop == nil {
		d.pushedRev = revision
		return
	}
	if sameRevision(revision, d.runRev) || isClosed(d.runWait) {
		return
	}
	d.log.Info("a new revision arrived: the run in progress stops after its current phase", "running", short(d.runRev), "new", short(revision))
	closeOnce(d.runStop)
	closeOnce(d.runWait)
}

// startApply registers the apply of rev for supersede. It returns the
// channels that stop it, already closed when a push of another revision
// arrived since the run began.
func (d *Daemon) startApply(rev string) (stop, wait chan struct{}) {
	stop, wait = make(chan struct{}), make(chan struct{})
	d.runMu.Lock()
	defer d.runMu.Unlock()
	d.runStop, d.runWait, d.runRev = stop, wait, rev
	if d.pushedRev != "" && !sameRevision(d.pushedRev, rev) {
		d.log.Info("a new revision arrived while planning: this run stops before its first phase", "running", short(rev), "new", short(d.pushedRev))
		close(stop)
		close(wait)
	}
	d.pushedRev = ""
	return stop, wait
}

func (d *Daemon) endApply() {
	d.runMu.Lock()
	defer d.runMu.Unlock()
	d.runStop, d.runWait, d.runRev = nil, nil, ""
}

// forgetPushes is called as a run begins, before it fetches: the pushes
// accepted so far are in what it fetches.
func (d *Daemon) forgetPushes() {
	d.runMu.Lock()
	defer d.runMu.Unlock()
	d.pushedRev = ""
}

// fetched records the revision a run fetched.
func (d *Daemon) fetched(rev string) {
	d.runMu.Lock()
	defer d.runMu.Unlock()
	d.fetchedRev = rev
}

// seen reports whether the current or last run fetched revision: a push
// of it (a redelivery, or a push the run already picked up) needs no run.
func (d *Daemon) seen(revision string) bool {
	d.runMu.Lock()
	defer d.runMu.Unlock()
	return sameRevision(revision, d.fetchedRev)
}

// sameRevision compares a full SHA with a full or abbreviated one (at
// least 7 characters).
func sameRevision(a, b string) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	return len(a) >= 7 && strings.HasPrefix(strings.ToLower(b), strings.ToLower(a))
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

func (d *Daemon) stateDir(sub string) string { return filepath.Join(d.Config().StateDir, sub) }

// terminalError marks failures that retrying cannot fix.
type terminalError struct{ err error }

func (e *terminalError) Error() string { return e.err.Error() }
func (e *terminalError) Unwrap() error { return e.err }
