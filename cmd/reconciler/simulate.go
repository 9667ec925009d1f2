package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/flexiwan-gitops/reconciler/examples"
	"github.com/flexiwan-gitops/reconciler/fleximanage/simulator"
)

func runSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:3443", "address to listen on")
	fleetFile := fs.String("fleet", "", "fleet file to seed the simulator with (default: the embedded examples/lab/fleet.yaml)")
	tokenFile := fs.String("token-file", "", "file holding the access key to accept (default: generate one and print it)")
	latency := fs.Duration("job-latency", -1, "time a device takes per job (default: the fleet's jobLatency)")
	rateLimit := fs.Int("rate-limit", -1, "requests per 5 minutes per client address, 0 = off (default: the fleet's rateLimit)")
	seed := fs.Int64("seed", 1, "seed for ids and injected faults")
	verbose := fs.Bool("v", false, "log every request")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: reconciler simulate [--listen ADDR] [--fleet FILE] [--token-file FILE]")
		fmt.Fprintln(stderr, "\nRuns an in-memory flexiManage North Bound API seeded from a fleet file, until interrupted.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "simulate: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}

	var fleet *simulator.Fleet
	var err error
	if *fleetFile == "" {
		fleet, err = simulator.LoadFleet("examples/lab/fleet.yaml", strings.NewReader(string(examples.LabFleet)))
	} else {
		fleet, err = simulator.LoadFleetFile(*fleetFile)
	}
	if err != nil {
		fmt.Fprintf(stderr, "simulate: %v\n", err)
		return exitFailure
	}
	opts := simulator.Options{Seed: *seed}
	if *latency >= 0 {
		opts.JobLatency = *latency
		opts.Instant = *latency == 0
	}
	switch {
	case *rateLimit == 0:
		opts.NoRateLimit = true
	case *rateLimit > 0:
		opts.RateLimit = *rateLimit
	}
	generated := *tokenFile == ""
	if !generated {
		tok, err := readSecretFile(*tokenFile)
		if err != nil {
			fmt.Fprintf(stderr, "simulate: %v\n", err)
			return exitFailure
		}
		opts.Keys = []simulator.Key{{Token: tok}}
	}
	if *verbose {
		opts.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	sim, err := simulator.New(fleet, opts)
	if err != nil {
		fmt.Fprintf(stderr, "simulate: %v\n", err)
		return exitFailure
	}
	defer sim.Close()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "simulate: %v\n", err)
		return exitFailure
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	url := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "flexiManage simulator listening on %s (API under %s/api)\n", url, url)
	for _, o := range sim.Orgs() {
		fmt.Fprintf(stdout, "organization %-12s id %s\n", o.Name, o.ID)
	}
	if generated {
		fmt.Fprintf(stdout, "access key (generated): %s\n", sim.Token())
		fmt.Fprintf(stdout, "try: curl -s -H 'Authorization: Bearer %s' '%s/api/devices?org=%s'\n", sim.Token(), url, firstOrg(sim))
	} else {
		fmt.Fprintf(stdout, "access key: read from %s\n", *tokenFile)
	}
	fmt.Fprintln(stdout, "press Ctrl-C to stop")

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
		return exitOK
	case err := <-errc:
		fmt.Fprintf(stderr, "simulate: %v\n", err)
		return exitFailure
	}
}

func firstOrg(sim *simulator.Simulator) string {
	if orgs := sim.Orgs(); len(orgs) > 0 {
		return orgs[0].ID
	}
	return ""
}

// readSecretFile reads a token or secret file, trimming the trailing newline
// editors add. The content never appears in errors.
func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read secret file: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("secret file %s is empty", path)
	}
	return s, nil
}
