package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/flexiwan-gitops/reconciler/examples"
	"github.com/flexiwan-gitops/reconciler/fleximanage/simulator"
)

// runDemo shows the whole loop on the embedded simulator: plan, apply with
// progress, plan again. Only Go is needed: the git repository is made with
// go-git.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	serve := fs.Bool("serve", false, "keep the simulator running afterwards for your own experiments")
	listen := fs.String("listen", "127.0.0.1:0", "address for the simulator")
	latency := fs.Duration("job-latency", -1, "time a simulated device takes per job (default: the lab fleet's 300ms)")
	dir := fs.String("workdir", "", "where to put the demo repository and state (default: a new temporary directory)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: reconciler demo [--serve]")
		fmt.Fprintln(stderr, "\nRuns plan, apply and plan again against an embedded flexiManage simulator, from a git repository made of examples/topology.")
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if err := demo(ctx, demoOptions{serve: *serve, listen: *listen, latency: *latency, dir: *dir}, stdout, stderr); err != nil {
		printError(stderr, "demo", err)
		return exitFailure
	}
	return exitOK
}

type demoOptions struct {
	serve   bool
	listen  string
	latency time.Duration
	dir     string
}

func demo(ctx context.Context, o demoOptions, stdout, stderr io.Writer) error {
	work := o.dir
	if work == "" {
		d, err := os.MkdirTemp("", "reconciler-demo-")
		if err != nil {
			return err
		}
		work = d
		if !o.serve {
			defer os.RemoveAll(d)
		}
	}
	repoDir := filepath.Join(work, "network")
	if err := makeDemoRepo(repoDir); err != nil {
		return fmt.Errorf("make the demo repository: %w", err)
	}
	fleet, err := simulator.LoadFleet("examples/lab/fleet.yaml", strings.NewReader(string(examples.LabFleet)))
	if err != nil {
		return err
	}
	opts := simulator.Options{Seed: 1}
	if o.latency >= 0 {
		opts.JobLatency, opts.Instant = o.latency, o.latency == 0
	}
	sim, err := simulator.New(fleet, opts)
	if err != nil {
		return err
	}
	defer sim.Close()
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	url := "http://" + ln.Addr().String()
	tokenFile := filepath.Join(work, "token")
	if err := os.WriteFile(tokenFile, []byte(sim.Token()+"\n"), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "flexiManage simulator: %s (organization %q, 8 devices, %s per job)\n", url, "lab", jobLatencyText(o.latency))
	fmt.Fprintf(stdout, "Desired state: git repository %s, made from examples/topology\n\n", repoDir)

	common := []string{"--repo", repoDir, "--server", url, "--token-file", tokenFile, "--org", "lab",
		"--cache-dir", filepath.Join(work, "cache")}
	step := func(title string) { fmt.Fprintf(stdout, "\n==> %s\n\n", title) }

	step("reconciler plan")
	if code := runPlan(ctx, common, stdout, stderr); code == exitFailure || code == exitUsage {
		return errors.New("plan failed")
	}
	step("reconciler apply")
	if code := runApply(ctx, append(common, "--state-dir", filepath.Join(work, "state")), stdout, stderr); code != exitOK {
		return errors.New("apply failed")
	}
	step("reconciler plan (again: nothing left to do)")
	if code := runPlan(ctx, common, stdout, stderr); code != exitOK {
		return errors.New("the second plan is not empty")
	}
	base := fmt.Sprintf("reconciler plan --repo %s --server %s --token-file %s --org lab", repoDir, url, tokenFile)
	if !o.serve {
		fmt.Fprintf(stdout, "\nThat was the whole loop. Next, try it yourself:\n")
		fmt.Fprintf(stdout, "  go run ./cmd/reconciler demo --serve   # keeps the simulator running and prints the commands to use\n")
		fmt.Fprintf(stdout, "  then edit a file of the repository (say, drop a branch from a star in tunnels.yaml), git commit, and plan again.\n")
		return nil
	}
	fmt.Fprintf(stdout, "\nThe simulator keeps running at %s. Access key: %s (also in %s).\n", url, sim.Token(), tokenFile)
	fmt.Fprintf(stdout, "Try:\n")
	fmt.Fprintf(stdout, "  cd %s && $EDITOR tunnels.yaml && git commit -am 'change the topology'\n", repoDir)
	fmt.Fprintf(stdout, "  go run ./cmd/reconciler %s\n", strings.TrimPrefix(base, "reconciler "))
	fmt.Fprintf(stdout, "  go run ./cmd/reconciler apply --repo %s --server %s --token-file %s --org lab --state-dir %s\n", repoDir, url, tokenFile, filepath.Join(work, "state"))
	fmt.Fprintf(stdout, "  curl -s -H \"Authorization: Bearer $(cat %s)\" '%s/api/tunnels?org=%s'\n", tokenFile, url, sim.OrgID("lab"))
	fmt.Fprintf(stdout, "Press Ctrl-C to stop (the files stay in %s).\n", work)
	<-ctx.Done()
	return nil
}

func jobLatencyText(d time.Duration) string {
	if d < 0 {
		return "300ms"
	}
	return d.String()
}

// makeDemoRepo writes examples/topology into a new git repository with one
// commit, using go-git (no git binary needed).
func makeDemoRepo(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil {
		return nil // kept from an earlier --serve run in the same workdir
	}
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		return err
	}
	sub, err := fs.Sub(examples.FS, "topology")
	if err != nil {
		return err
	}
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, p), b, 0o644)
	})
	if err != nil {
		return err
	}
	wt, err := repo.Worktree()
	if err != nil {
		return err
	}
	if err := wt.AddGlob("."); err != nil {
		return err
	}
	_, err = wt.Commit("Describe the lab network", &git.CommitOptions{Author: &object.Signature{Name: "reconciler demo", Email: "demo@example.invalid", When: time.Now()}})
	return err
}
