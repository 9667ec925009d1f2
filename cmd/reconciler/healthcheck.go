package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// DefaultHealthcheckURL is the daemon's liveness endpoint at its default
// listen address.
const DefaultHealthcheckURL = "http://127.0.0.1:8080/healthz"

// healthcheckTimeout bounds the whole request: connect, headers and body.
const healthcheckTimeout = 3 * time.Second

// runHealthcheck GETs a URL and exits 0 when it answers 2xx, 1 otherwise.
// It lets a container image without a shell or curl (distroless) have a
// HEALTHCHECK: `reconciler healthcheck`.
func runHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("url", DefaultHealthcheckURL, "URL to GET; 2xx within 3s is healthy")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: reconciler healthcheck [--url URL]")
		fmt.Fprintln(stderr, "\nGETs the daemon's /healthz (or URL) with a 3 s timeout. Exit status: 0 healthy, 1 not.")
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args); done {
		return code
	}
	u, err := url.Parse(*target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(stderr, "healthcheck: --url %q: want http(s)://host[:port]/path\n", *target)
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		fmt.Fprintf(stderr, "healthcheck: %v\n", err)
		return exitFailure
	}
	// No proxy: the daemon is local, and a proxy from the environment
	// would only get in the way.
	client := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: healthcheckTimeout}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "healthcheck: %v\n", err)
		return exitFailure
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		fmt.Fprintf(stderr, "healthcheck: %s answered %s\n", u.Redacted(), resp.Status)
		return exitFailure
	}
	fmt.Fprintf(stdout, "healthy: %s answered %s\n", u.Redacted(), resp.Status)
	return exitOK
}
