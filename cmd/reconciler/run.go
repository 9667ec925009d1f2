package main

import (
	"context"
	"fmt"
	"io"
)

// Exit codes shared by the commands.
const (
	exitOK      = 0
	exitFailure = 1
	exitChanges = 2 // plan: there are changes
	exitUsage   = 64
)

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"demo", "plan, apply and plan again on the embedded simulator", runDemo},
		{"validate", "check the desired state (no flexiManage needed)", runValidate},
		{"plan", "show what apply would change (exit 0: none, 2: changes)", runPlan},
		{"apply", "make flexiManage match the source", runApply},
		{"serve", "run the daemon: schedule, webhooks, status and metrics", runServe},
		{"simulate", "run the embedded flexiManage simulator", runSimulate},
		{"healthcheck", "GET the daemon's /healthz; exit 0 if healthy (for container health checks)", runHealthcheck},
	}
}

// run is the whole program: it parses args and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "reconciler: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "reconciler keeps a flexiWAN SD-WAN network equal to what a git repository declares.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'reconciler COMMAND -h' for a command's flags.")
}
