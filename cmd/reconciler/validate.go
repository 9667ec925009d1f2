package main

import (
	"context"
	"flag"
	"fmt"
	"io"
)

func runValidate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var src sourceFlags
	src.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: reconciler validate (--dir DIR | --repo URL [--ref REF] [--path SUBDIR])")
		fmt.Fprintln(stderr, "\nChecks the desired state without talking to flexiManage. Exit status: 0 valid, 1 invalid.")
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if err := src.check(); err != nil {
		fmt.Fprintf(stderr, "validate: %v\n", err)
		return exitUsage
	}
	l, err := src.load(ctx)
	if err != nil {
		printError(stderr, "validate", err)
		return exitFailure
	}
	s := l.spec
	fmt.Fprintf(stdout, "%s is valid (revision %s): %d path labels, %d devices, %d tunnel groups in %d files\n",
		l.where, shortRev(l.revision), len(s.PathLabels), len(s.Devices), len(s.Tunnels), len(s.Files))
	return exitOK
}

func shortRev(r string) string {
	if len(r) > 19 && r[:7] == "sha256:" {
		return r[:19]
	}
	if len(r) > 12 {
		return r[:12]
	}
	return r
}
