package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/flexiwan-gitops/reconciler/internal/yamlcheck"
	"github.com/flexiwan-gitops/reconciler/liveread"
	"github.com/flexiwan-gitops/reconciler/planner"
	"github.com/flexiwan-gitops/reconciler/planner/render"
)

// planFlags are the flags plan and apply share.
type planFlags struct {
	src          sourceFlags
	conn         connFlags
	log          logFlags
	prune        bool
	noPrune      bool
	maxDeletions int
	allowEmpty   bool
}

func (p *planFlags) register(fs *flag.FlagSet) {
	p.src.register(fs)
	p.conn.register(fs)
	p.log.register(fs)
	fs.BoolVar(&p.prune, "prune", false, "delete unmanaged tunnels and unused undeclared labels (overrides settings.prune)")
	fs.BoolVar(&p.noPrune, "no-prune", false, "do not prune, whatever settings.prune says")
	fs.IntVar(&p.maxDeletions, "max-deletions", -1, "refuse a plan deleting more objects than this (default: settings.maxDeletions)")
	fs.BoolVar(&p.allowEmpty, "allow-empty-source", false, "let a source that declares nothing delete things")
}

func (p *planFlags) options(revision, source string, now time.Time) planner.Options {
	o := planner.Options{Revision: revision, Source: source, Now: now, MaxDeletions: p.maxDeletions, AllowEmptySource: p.allowEmpty}
	switch {
	case p.prune:
		t := true
		o.Prune = &t
	case p.noPrune:
		f := false
		o.Prune = &f
	}
	return o
}

// makePlan loads the source, reads flexiManage and plans. Nothing is sent
// to flexiManage unless the source is valid.
func (p *planFlags) makePlan(ctx context.Context, stderr io.Writer) (*planner.Plan, *env, error) {
	log, err := p.log.logger(stderr)
	if err != nil {
		return nil, nil, err
	}
	src, err := p.src.load(ctx)
	if err != nil {
		return nil, nil, err
	}
	client, org, err := p.conn.connect(ctx, log)
	if err != nil {
		return nil, nil, err
	}
	st, err := liveread.Read(ctx, client, org)
	if err != nil {
		return nil, nil, explainAPIError(client.BaseURL(), err)
	}
	pl, err := planner.Build(src.spec, st, p.options(src.revision, src.where, time.Now()))
	if err != nil {
		return nil, nil, err
	}
	return pl, &env{client: client, log: log, src: src, state: st}, nil
}

func runPlan(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var pf planFlags
	pf.register(fs)
	format := fs.String("format", "text", "output format: text, json or markdown")
	out := fs.String("out", "", "also write the plan to FILE in --format (stdout then gets the text form)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: reconciler plan (--dir DIR | --repo URL [--ref REF] [--path SUBDIR]) --server URL --token-file FILE --org ORG [flags]")
		fmt.Fprintln(stderr, "\nShows what apply would change. Exit status: 0 no changes, 2 changes, 1 error.")
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if err := pf.src.check(); err != nil {
		fmt.Fprintf(stderr, "plan: %v\n", err)
		return exitUsage
	}
	if *format != "text" && *format != "json" && *format != "markdown" {
		fmt.Fprintf(stderr, "plan: unknown --format %q (want text, json or markdown)\n", *format)
		return exitUsage
	}
	pl, _, err := pf.makePlan(ctx, stderr)
	if err != nil {
		printError(stderr, "plan", err)
		return exitFailure
	}
	if *out != "" {
		var buf bytes.Buffer
		if err := renderPlan(&buf, pl, *format, false); err != nil {
			printError(stderr, "plan", err)
			return exitFailure
		}
		if err := writeFileAtomic(*out, buf.Bytes()); err != nil {
			printError(stderr, "plan", err)
			return exitFailure
		}
		if err := renderPlan(stdout, pl, "text", isTerminal(stdout)); err != nil {
			printError(stderr, "plan", err)
			return exitFailure
		}
		fmt.Fprintf(stdout, "\nPlan written to %s\n", *out)
	} else if err := renderPlan(stdout, pl, *format, isTerminal(stdout)); err != nil {
		printError(stderr, "plan", err)
		return exitFailure
	}
	if pl.Empty() {
		return exitOK
	}
	return exitChanges
}

func renderPlan(w io.Writer, pl *planner.Plan, format string, color bool) error {
	switch format {
	case "json":
		return render.JSON(w, pl)
	case "markdown":
		return render.Markdown(w, pl, render.MarkdownOptions{})
	default:
		return render.Text(w, pl, render.TextOptions{Color: color})
	}
}

// printError prints err for people: every position of a source error on its
// own line, every reason of a refused plan, else one line.
func printError(w io.Writer, cmd string, err error) {
	var ye yamlcheck.Errors
	var refused *planner.Refused
	switch {
	case errors.As(err, &ye):
		fmt.Fprintf(w, "%s: the source is invalid (%d problems):\n", cmd, len(ye))
		for _, e := range ye {
			fmt.Fprintf(w, "  %s\n", e.Error())
		}
	case errors.As(err, &refused):
		fmt.Fprintf(w, "%s: plan refused:\n", cmd)
		for _, r := range refused.Reasons {
			fmt.Fprintf(w, "  - %s\n", r)
		}
	default:
		fmt.Fprintf(w, "%s: %v\n", cmd, err)
	}
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// isTerminal reports whether w is a terminal and colour is welcome.
func isTerminal(w io.Writer) bool {
	if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// parseFlags parses args; done is true when the command should return code
// at once (help or a bad flag).
func parseFlags(fs *flag.FlagSet, args []string) (code int, done bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, true
		}
		return exitUsage, true
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return exitUsage, true
	}
	return 0, false
}
