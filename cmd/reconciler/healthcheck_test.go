package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/flexiwan-gitops/reconciler/daemon"
)

func TestHealthcheck(t *testing.T) {
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"alive"}`))
	}))
	defer healthy.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
	}))
	defer failing.Close()
	// A port nobody listens on: take one, then free it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + ln.Addr().String() + "/healthz"
	ln.Close()

	for _, tc := range []struct {
		name   string
		args   []string
		want   int
		stderr string
	}{
		{"healthy", []string{"--url", healthy.URL + "/healthz"}, exitOK, ""},
		{"not found", []string{"--url", healthy.URL + "/nothing"}, exitFailure, "404"},
		{"503", []string{"--url", failing.URL + "/readyz"}, exitFailure, "503"},
		{"nobody listening", []string{"--url", closedURL}, exitFailure, "healthcheck:"},
		{"bad url", []string{"--url", "ftp://example.com/x"}, exitUsage, "want http(s)"},
		{"stray argument", []string{"extra"}, exitUsage, "unexpected argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			got := run(context.Background(), append([]string{"healthcheck"}, tc.args...), &stdout, &stderr)
			if got != tc.want {
				t.Fatalf("exit %d, want %d; stderr: %s", got, tc.want, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tc.stderr)
			}
		})
	}
}

// TestHealthcheckTimeout checks that a server that never answers fails the
// check within the 3 s timeout instead of hanging the container runtime.
func TestHealthcheckTimeout(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	var stdout, stderr bytes.Buffer
	start := time.Now()
	got := run(context.Background(), []string{"healthcheck", "--url", slow.URL + "/healthz"}, &stdout, &stderr)
	elapsed := time.Since(start)
	if got != exitFailure {
		t.Fatalf("exit %d, want %d", got, exitFailure)
	}
	if elapsed < healthcheckTimeout-100*time.Millisecond || elapsed > healthcheckTimeout+2*time.Second {
		t.Errorf("took %s, want about %s", elapsed, healthcheckTimeout)
	}
}

func TestHealthcheckListed(t *testing.T) {
	var out bytes.Buffer
	run(context.Background(), []string{"help"}, &out, &out)
	if !strings.Contains(out.String(), "healthcheck") {
		t.Errorf("help does not list healthcheck:\n%s", out.String())
	}
}

// TestHealthcheckAgainstDaemon checks the command against the daemon's own
// handler, as the image's HEALTHCHECK uses it.
func TestHealthcheckAgainstDaemon(t *testing.T) {
	cfg, err := daemon.LoadConfig("test.yaml", strings.NewReader(`
flexiManage: {url: "http://127.0.0.1:1", organization: lab}
git: {repo: /nonexistent}
stateDir: `+t.TempDir()+`
`))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(daemon.New(cfg, daemon.Options{}).Handler())
	defer srv.Close()
	var stdout, stderr bytes.Buffer
	if got := run(context.Background(), []string{"healthcheck", "--url", srv.URL + "/healthz"}, &stdout, &stderr); got != exitOK {
		t.Errorf("/healthz: exit %d, want 0; stderr: %s", got, stderr.String())
	}
	// Not ready before git was reached: the same check on /readyz fails.
	if got := run(context.Background(), []string{"healthcheck", "--url", srv.URL + "/readyz"}, &stdout, &stderr); got != exitFailure {
		t.Errorf("/readyz before the first fetch: exit %d, want 1", got)
	}
}
