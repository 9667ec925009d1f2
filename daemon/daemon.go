package daemon

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flexiwan-gitops/reconciler/fleximanage"
)

// Options are the daemon's dependencies.
type Options struct {
	Logger *slog.Logger
	// RetryBase and RetryMax shape the wait before retrying a transient
	// failure: exponential from RetryBase, capped at RetryMax, with jitter
	// (defaults 10 s and 10 minutes).
	RetryBase, RetryMax time.Duration
}

// Daemon runs reconciles on triggers.
type Daemon struct {
	cfg     atomic.Pointer[Config]
	log     *slog.Logger
	root    *slog.Logger     // for the packages the daemon drives
	retry   [2]time.Duration // base and cap of the transient-failure backoff
	metrics *metrics
	status  statusStore

	triggers chan string // buffered 1: a burst collapses into one follow-up run
	reloaded chan struct{}

	// The current run, for webhooks that supersede it.
	runMu   sync.Mutex
	runStop chan struct{} // closed: no further phase
	runWait chan struct{} // closed: stop waiting for jobs
	runRev  string

	budget *fleximanage.Budget

	// Terminal failures are not retried until the revision (or the config)
	// changes.
	terminalRev string
	terminalGen uint64
	configGen   atomic.Uint64

	reconciles atomic.Int64 // for tests
	fetchedOK  atomic.Bool
}

// New builds a daemon from a checked config.
func New(cfg *Config, opts Options) *Daemon {
	d := &Daemon{log: opts.Logger, triggers: make(chan string, 1), reloaded: make(chan struct{}, 1)}
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
	d.budget = budgetOf(cfg)
	d.metrics = newMetrics(func() float64 { return float64(d.budget.Remaining()) })
	d.status.update(func(s *Status) {
		s.Mode = cfg.Mode
		s.Drift = map[string]int{}
		s.Organization = cfg.FlexiManage.Organization
		s.Source = redact(cfg.Git.Repo)
	})
	return d
}

func budgetOf(cfg *Config) *fleximanage.Budget {
	if b := cfg.FlexiManage.Budget; b != nil {
		return fleximanage.NewBudget(b.Requests, b.Window.D())
	}
	return fleximanage.NewBudget(fleximanage.DefaultBudgetRequests, fleximanage.DefaultBudgetWindow)
}

// Config returns the configuration in force.
func (d *Daemon) Config() *Config { return d.cfg.Load() }

// Reload swaps in a new, already checked, configuration. It takes effect
// from the next reconcile; a terminal failure is retried under it.
func (d *Daemon) Reload(cfg *Config) {
	old := d.cfg.Swap(cfg)
	if old.FlexiManage.Budget != cfg.FlexiManage.Budget {
		d.budget = budgetOf(cfg)
	}
	d.configGen.Add(1)
	d.status.update(func(s *Status) {
		s.Mode = cfg.Mode
		s.Organization = cfg.FlexiManage.Organization
		s.Source = redact(cfg.Git.Repo)
	})
	d.log.Info("configuration reloaded")
	select {
	case d.reloaded <- struct{}{}:
	default:
	}
}

// Trigger asks for a reconcile. It never blocks: while one is pending,
// more collapse into it.
func (d *Daemon) Trigger(reason string) {
	select {
	case d.triggers <- reason:
	default:
	}
}

// Reconciles returns how many reconciles have started.
func (d *Daemon) Reconciles() int64 { return d.reconciles.Load() }

// Run reconciles at start, then on schedule and triggers, until ctx ends.
// When ctx ends during a run, the run stops at the end of its phase; the
// jobs of that phase are awaited up to the configured shutdown grace, and
// whatever is still in flight stays in the journal for the next start.
func (d *Daemon) Run(ctx context.Context) error {
	attempt := 0
	next := time.Now()
	for {
		cfg := d.Config()
		d.status.update(func(s *Status) { s.NextRun = next })
		wait := time.Until(next)
		timer := time.NewTimer(max(wait, 0))
		reason := "schedule"
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case reason = <-d.triggers:
			timer.Stop()
		case <-d.reloaded:
			timer.Stop()
			next = cfg.Next(time.Now())
			continue
		case <-timer.C:
			if attempt == 0 && d.reconciles.Load() == 0 {
				reason = "start"
			}
		}
		res := d.reconcile(ctx, reason)
		if ctx.Err() != nil {
			return nil
		}
		cfg = d.Config()
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
// commit must not block its fix.
func (d *Daemon) supersede(revision string) {
	d.runMu.Lock()
	defer d.runMu.Unlock()
	if d.runStop == nil || (revision != "" && revision == d.runRev) {
		return
	}
	d.log.Info("a new revision arrived: the run in progress stops after its current phase", "running", short(d.runRev), "new", short(revision))
	closeOnce(d.runStop)
	closeOnce(d.runWait)
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
