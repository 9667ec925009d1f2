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
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/flexiwan-gitops/reconciler/daemon"
	"github.com/flexiwan-gitops/reconciler/internal/yamlcheck"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "", "the daemon's config file (see examples/reconciler.yaml)")
	check := fs.Bool("check-config", false, "check the config and exit (0 valid, 1 invalid)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: reconciler serve --config FILE [--check-config]")
		fmt.Fprintln(stderr, "\nKeeps flexiManage equal to git: a reconcile at start, on the schedule and on push webhooks.")
		fmt.Fprintln(stderr, "SIGHUP reloads the config (only if the new one is valid); SIGTERM stops after the current phase.")
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if *configFile == "" {
		fmt.Fprintln(stderr, "serve: give --config FILE")
		return exitUsage
	}
	cfg, err := daemon.LoadConfigFile(*configFile)
	if err != nil {
		printConfigError(stderr, err)
		return exitFailure
	}
	if *check {
		fmt.Fprintf(stdout, "%s is valid: %s mode, schedule %q, listening on %s\n", *configFile, cfg.Mode, cfg.Schedule, cfg.Listen)
		return exitOK
	}
	if err := serve(ctx, *configFile, cfg, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "serve: %v\n", err)
		return exitFailure
	}
	return exitOK
}

func printConfigError(w io.Writer, err error) {
	var ye yamlcheck.Errors
	if errors.As(err, &ye) {
		fmt.Fprintf(w, "serve: the config is invalid (%d problems):\n", len(ye))
		for _, e := range ye {
			fmt.Fprintf(w, "  %s\n", e.Error())
		}
		return
	}
	fmt.Fprintf(w, "serve: %v\n", err)
}

func daemonLogger(cfg *daemon.Config, w io.Writer) (*slog.Logger, error) {
	lf := logFlags{format: cfg.Log.Format, level: cfg.Log.Level}
	return lf.logger(w)
}

// serve runs the daemon until ctx ends (SIGINT or SIGTERM).
func serve(ctx context.Context, path string, cfg *daemon.Config, stdout, stderr io.Writer) error {
	log, err := daemonLogger(cfg, stderr)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	d := daemon.New(cfg, daemon.Options{Logger: log})
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, MaxHeaderBytes: 64 << 10}
	log.Info("listening", "address", ln.Addr().String(), "mode", string(cfg.Mode), "schedule", cfg.Schedule)
	fmt.Fprintf(stdout, "reconciler serving on http://%s (status /status, metrics /metrics, webhook /webhook)\n", ln.Addr())

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var wg sync.WaitGroup
	wg.Add(2)
	srvErr := make(chan error, 1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			srvErr <- err
		}
	}()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				next, err := daemon.LoadConfigFile(path)
				if err != nil {
					log.Error("config reload refused: the new config is invalid; keeping the old one", "error", err)
					continue
				}
				if next.Listen != d.Config().Listen {
					log.Warn("listen changed in the config: restart to use it", "listen", next.Listen)
				}
				d.Reload(next)
			}
		}
	}()
	runErr := d.Run(ctx)
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	wg.Wait()
	select {
	case err := <-srvErr:
		return err
	default:
	}
	log.Info("stopped")
	return runErr
}
