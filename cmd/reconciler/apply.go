package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/flexiwan-gitops/reconciler/executor"
	"github.com/flexiwan-gitops/reconciler/liveread"
	"github.com/flexiwan-gitops/reconciler/planner"
	"github.com/flexiwan-gitops/reconciler/planner/render"
)

// ErrStalePlan is returned when a saved plan no longer matches git or
// flexiManage.
var errStalePlan = errors.New("the saved plan is stale")

type applyFlags struct {
	planFlags
	planFile      string
	stateDir      string
	concurrency   int
	phaseDeadline time.Duration
}

func (a *applyFlags) register(fs *flag.FlagSet) {
	a.planFlags.register(fs)
	fs.StringVar(&a.planFile, "plan", "", "apply this saved plan (from plan --format json --out FILE); refused if git or flexiManage moved since")
	fs.StringVar(&a.stateDir, "state-dir", "", "directory for the journal (default: the user state directory)")
	fs.IntVar(&a.concurrency, "concurrency", 4, "calls in flight at once within a phase")
	fs.DurationVar(&a.phaseDeadline, "phase-deadline", 10*time.Minute, "how long to wait for a phase's jobs")
}

func defaultStateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "flexiwan-reconciler")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "flexiwan-reconciler")
	}
	return filepath.Join(os.TempDir(), "flexiwan-reconciler")
}

func runApply(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("apply", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var af applyFlags
	af.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: reconciler apply (--dir DIR | --repo URL [--ref REF] [--path SUBDIR]) --server URL --token-file FILE --org ORG [--plan FILE] [flags]")
		fmt.Fprintln(stderr, "\nMakes flexiManage match the source. Exit status: 0 converged, 1 failed or refused.")
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if err := af.src.check(); err != nil {
		fmt.Fprintf(stderr, "apply: %v\n", err)
		return exitUsage
	}
	if err := applyCommand(ctx, &af, stdout, stderr); err != nil {
		printError(stderr, "apply", err)
		return exitFailure
	}
	return exitOK
}

// applyCommand resumes an interrupted run if there is one, plans (or checks
// a saved plan), runs the plan and checks that it converged.
func applyCommand(ctx context.Context, af *applyFlags, stdout, stderr io.Writer) error {
	term := isTerminal(stdout)
	def := "info" // one line per call and job change when nobody watches a terminal
	if term {
		def = "warn"
	}
	log, err := af.log.loggerDefault(stderr, def)
	if err != nil {
		return err
	}
	src, err := af.src.load(ctx)
	if err != nil {
		return err
	}
	client, org, err := af.conn.connect(ctx, log)
	if err != nil {
		return err
	}
	stateDir := af.stateDir
	if stateDir == "" {
		stateDir = defaultStateDir()
	}
	journal, err := executor.OpenJournal(stateDir)
	if err != nil {
		return err
	}
	prog := newProgress(stdout, log, term)
	exec, err := executor.New(executor.Options{Client: client, Concurrency: af.concurrency, PhaseDeadline: af.phaseDeadline,
		Journal: journal, Observer: prog, Logger: log})
	if err != nil {
		return err
	}
	resumed, err := exec.Resume(ctx, journal)
	switch {
	case errors.Is(err, executor.ErrCorruptJournal):
		fmt.Fprintf(stderr, "apply: warning: %v\n", err)
	case err != nil:
		return err
	case resumed != nil:
		fmt.Fprintf(stdout, "Resumed an interrupted run of revision %s: waited for %d jobs; planning again from fresh state.\n\n",
			shortRev(resumed.Record.Revision), len(resumed.Awaited))
	}
	st, err := liveread.Read(ctx, client, org)
	if err != nil {
		return explainAPIError(client.BaseURL(), err)
	}
	var pl *planner.Plan
	if af.planFile != "" {
		if resumed != nil {
			return fmt.Errorf("%w: an interrupted run was resumed first, so flexiManage changed; make a new plan", errStalePlan)
		}
		pl, err = readPlanFile(af.planFile)
		if err != nil {
			return err
		}
		if err := checkFresh(pl, src.revision, st.Fingerprint(), org.ID); err != nil {
			return err
		}
	} else {
		pl, err = planner.Build(src.spec, st, af.options(src.revision, src.where, time.Now()))
		if err != nil {
			return err
		}
	}
	if pl.Empty() {
		fmt.Fprintln(stdout, "No changes. The network matches the source.")
		return nil
	}
	if err := render.Text(stdout, pl, render.TextOptions{Color: term}); err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	labels := map[string]string{}
	for _, l := range st.Labels {
		labels[l.Name] = l.ID
	}
	exec, err = executor.New(executor.Options{Client: client, Concurrency: af.concurrency, PhaseDeadline: af.phaseDeadline,
		Journal: journal, Observer: prog, Logger: log, Labels: labels})
	if err != nil {
		return err
	}
	res, runErr := exec.Apply(ctx, pl)
	prog.finish()
	if res != nil {
		writeReport(stdout, pl, res)
	}
	if runErr != nil {
		return runErr
	}
	// Check: a run that ended well must leave nothing to do.
	st2, err := liveread.Read(ctx, client, org)
	if err != nil {
		return fmt.Errorf("applied, but re-reading flexiManage failed: %w", explainAPIError(client.BaseURL(), err))
	}
	again, err := planner.Build(src.spec, st2, af.options(src.revision, src.where, time.Now()))
	if err != nil {
		return fmt.Errorf("applied, but planning again failed: %w", err)
	}
	if !again.Empty() {
		return fmt.Errorf("applied, but %d changes remain (%s); run apply again or look at the notes of plan", len(again.Steps), again.Steps[0].Target)
	}
	fmt.Fprintln(stdout, "Converged: the network matches the source.")
	return nil
}

func readPlanFile(path string) (*planner.Plan, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := render.ReadJSON(f)
	if err != nil {
		return nil, fmt.Errorf("plan file %s: %w", path, err)
	}
	return p, nil
}

// checkFresh refuses a saved plan when git or flexiManage moved.
func checkFresh(p *planner.Plan, revision, fingerprint, org string) error {
	var why []string
	if p.Org.ID != org {
		why = append(why, fmt.Sprintf("it is for organization %s, not %s", p.Org.ID, org))
	}
	if p.Revision != revision {
		why = append(why, fmt.Sprintf("it was made from revision %s, the source is now at %s", shortRev(p.Revision), shortRev(revision)))
	}
	if p.LiveFingerprint != fingerprint {
		why = append(why, "flexiManage changed since it was made (live fingerprint differs)")
	}
	if len(why) > 0 {
		return fmt.Errorf("%w: %s; run plan again", errStalePlan, strings.Join(why, "; "))
	}
	return nil
}

// writeReport prints what the run did.
func writeReport(w io.Writer, p *planner.Plan, r *executor.Result) {
	var done, failed, skipped, noop int
	for _, s := range r.Steps {
		switch s.Status {
		case executor.StepDone:
			done++
		case executor.StepFailed:
			failed++
		case executor.StepSkipped:
			skipped++
		case executor.StepNoop:
			noop++
		}
	}
	fmt.Fprintf(w, "\nApplied: %d of %d calls done, %d failed, %d not sent, %d had nothing left to do; jobs %d complete, %d failed, %d unfinished; %s.\n",
		done, len(p.Steps), failed, skipped, noop, r.JobsComplete, r.JobsFailed, r.JobsWaiting, r.Elapsed.Round(100*time.Millisecond))
	for _, s := range r.Steps {
		if s.Status != executor.StepFailed {
			continue
		}
		fmt.Fprintf(w, "  failed: step %d, %s %s: %s\n", s.ID, s.Action, s.Target, s.Error)
		for _, j := range s.Jobs {
			if len(j.Errors) > 0 {
				fmt.Fprintf(w, "    job %d on %s: %s\n", j.ID, j.Device, strings.Join(j.Errors, "; "))
			}
		}
	}
	if skipped > 0 {
		fmt.Fprintf(w, "  %d calls were not sent because an earlier phase failed (nothing is deleted after a failed creation).\n", skipped)
	}
}
