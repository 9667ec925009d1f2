package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/flexiwan-gitops/reconciler/executor"
	"github.com/flexiwan-gitops/reconciler/planner"
)

// progress shows a run: a live line per phase on a terminal, structured
// log lines otherwise.
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	log     *slog.Logger
	term    bool
	phase   planner.Phase
	wave    int
	steps   int
	sent    int
	counts  executor.JobCounts
	started time.Time
	open    bool
}

func newProgress(w io.Writer, log *slog.Logger, term bool) *progress {
	return &progress{w: w, log: log, term: term}
}

func (p *progress) PhaseStarted(phase planner.Phase, wave, steps int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.endLineLocked()
	p.phase, p.wave, p.steps, p.sent, p.counts, p.started = phase, wave, steps, 0, executor.JobCounts{}, time.Now()
	if !p.term {
		p.log.Info("phase started", "phase", phase.String(), "wave", wave, "calls", steps)
		return
	}
	p.open = true
	p.drawLocked()
}

func (p *progress) StepSent(s *planner.Step, sent executor.Sent, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent++
	if !p.term {
		if err != nil {
			p.log.Warn("call failed", "step", s.ID, "action", s.Action.String(), "target", s.Target, "error", err)
		} else {
			p.log.Info("call sent", "step", s.ID, "action", s.Action.String(), "target", s.Target, "jobs", len(sent.JobIDs))
		}
		return
	}
	p.drawLocked()
}

func (p *progress) JobsProgress(phase planner.Phase, c executor.JobCounts) {
	p.mu.Lock()
	defer p.mu.Unlock()
	changed := c.Complete != p.counts.Complete || c.Failed != p.counts.Failed || len(c.Waiting) != len(p.counts.Waiting)
	p.counts = c
	if !p.term {
		if changed {
			p.log.Info("jobs", "phase", phase.String(), "complete", c.Complete, "failed", c.Failed, "total", c.Total, "waitingFor", strings.Join(c.Waiting, ","))
		}
		return
	}
	p.drawLocked()
}

func (p *progress) PhaseDone(phase planner.Phase, wave int, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.term {
		if err != nil {
			p.log.Warn("phase failed", "phase", phase.String(), "wave", wave, "error", err)
		} else {
			p.log.Info("phase done", "phase", phase.String(), "wave", wave, "elapsed", time.Since(p.started).Round(time.Millisecond))
		}
		return
	}
	p.drawLocked()
	mark := "done"
	if err != nil {
		mark = "FAILED"
	}
	fmt.Fprintf(p.w, "  %s\n", mark)
	p.open = false
}

func (p *progress) drawLocked() {
	name := p.phase.Title()
	if p.wave > 0 {
		name += fmt.Sprintf(" (wave %d)", p.wave)
	}
	line := fmt.Sprintf("%-34s calls %d/%d", name, p.sent, p.steps)
	if p.counts.Total > 0 {
		line += fmt.Sprintf(" · jobs %d/%d complete", p.counts.Complete, p.counts.Total)
		if p.counts.Failed > 0 {
			line += fmt.Sprintf(", %d failed", p.counts.Failed)
		}
		if len(p.counts.Waiting) > 0 {
			line += ", waiting for " + strings.Join(p.counts.Waiting, ", ")
		}
	}
	line += fmt.Sprintf(" · %s", time.Since(p.started).Round(100*time.Millisecond))
	fmt.Fprintf(p.w, "\r\x1b[K%s", line)
}

func (p *progress) endLineLocked() {
	if p.term && p.open {
		fmt.Fprintln(p.w)
		p.open = false
	}
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.endLineLocked()
}
