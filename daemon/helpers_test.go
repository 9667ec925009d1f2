package daemon_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flexiwan-gitops/reconciler/daemon"
	"github.com/flexiwan-gitops/reconciler/examples"
	"github.com/flexiwan-gitops/reconciler/fleximanage"
	"github.com/flexiwan-gitops/reconciler/fleximanage/simulator"
)

// labKey is the access key the lab simulator accepts.
const labKey = "fmk_daemon-test-key-3141592653"

// webhookSecret is the secret of the daemons under test.
const webhookSecret = "whsec_daemon-test-secret-2718281828"

// lab is a simulator of examples/lab/fleet.yaml behind a request counter.
type lab struct {
	sim      *simulator.Simulator
	srv      *httptest.Server
	url      string
	keyFile  string
	requests atomic.Int64
	writes   atomic.Int64

	mu        sync.Mutex
	writeLog  []write
	onRequest func(r *http.Request) // called before the simulator handles a request
}

// write is one non-GET request the simulator received.
type write struct {
	Method, Path string
	At           time.Time
	Seq          int64 // lab.writes after this one
}

func newLab(t *testing.T, opts simulator.Options) *lab {
	t.Helper()
	fleet, err := simulator.LoadFleet("lab", bytes.NewReader(examples.LabFleet))
	if err != nil {
		t.Fatal(err)
	}
	if opts.JobLatency == 0 {
		opts.Instant = true
	}
	opts.NoRateLimit = true
	opts.Keys = []simulator.Key{{Token: labKey}}
	sim, err := simulator.New(fleet, opts)
	if err != nil {
		t.Fatal(err)
	}
	l := &lab{sim: sim}
	l.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.requests.Add(1)
		l.mu.Lock()
		f := l.onRequest
		l.mu.Unlock()
		if f != nil {
			f(r)
		}
		if r.Method != http.MethodGet {
			n := l.writes.Add(1)
			l.mu.Lock()
			l.writeLog = append(l.writeLog, write{Method: r.Method, Path: r.URL.Path, At: time.Now(), Seq: n})
			l.mu.Unlock()
		}
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		l.srv.Close()
		sim.Close()
	})
	l.url = l.srv.URL
	l.keyFile = writeFile(t, t.TempDir(), "access-key", labKey+"\n")
	return l
}

// setOnRequest sets a function called with each request before the
// simulator handles it (nil for none).
func (l *lab) setOnRequest(f func(r *http.Request)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.onRequest = f
}

func (l *lab) writesSince(seq int64) []write {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []write
	for _, w := range l.writeLog {
		if w.Seq > seq {
			out = append(out, w)
		}
	}
	return out
}

// client returns a flexiManage client of the lab organization, for tests
// that change the simulator behind the daemon's back.
func (l *lab) client(t *testing.T) *fleximanage.Client {
	t.Helper()
	c, err := fleximanage.New(fleximanage.Options{BaseURL: l.url, Key: labKey, Org: l.sim.OrgID("lab"), NoBudget: true})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// gitRepo is a git repository in a temporary directory, changed with the
// git CLI.
type gitRepo struct {
	t   *testing.T
	dir string
}

func newGitRepo(t *testing.T) *gitRepo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	r := &gitRepo{t: t, dir: filepath.Join(t.TempDir(), "desired")}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r.git("init", "-q", "-b", "main")
	return r
}

func (r *gitRepo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit replaces the repository's files with files and commits them; it
// returns the new commit's SHA.
func (r *gitRepo) commit(msg string, files map[string]string) string {
	r.t.Helper()
	ents, err := os.ReadDir(r.dir)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() != ".git" {
			os.RemoveAll(filepath.Join(r.dir, e.Name()))
		}
	}
	for name, content := range files {
		writeFile(r.t, r.dir, name, content)
	}
	r.git("add", "-A")
	r.git("commit", "-q", "--allow-empty", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

// Desired states of the lab used by the tests.
const (
	labelsYAML = `pathLabels:
  - {name: mpls, type: Tunnel, color: "#2e86de", description: MPLS underlay}
  - {name: inet, type: Tunnel, color: "#10ac84", description: Internet underlay}
  - {name: lte-backup, type: DIA, color: "#ee5253", description: LTE direct internet}
`
	// coreYAML: one tunnel between hq and dc1 over mpls.
	coreYAML = `devices:
  - name: hq
    interfaces:
      - {name: eth0, pathLabels: [mpls]}
  - name: dc1
    interfaces:
      - {name: eth0, pathLabels: [mpls]}
tunnels:
  - name: core
    topology: fullMesh
    devices: [hq, dc1]
    pathLabels: [mpls]
`
	// branchYAML adds branch-1 to the core mesh.
	branchYAML = `devices:
  - name: hq
    interfaces:
      - {name: eth0, pathLabels: [mpls]}
  - name: dc1
    interfaces:
      - {name: eth0, pathLabels: [mpls]}
  - name: branch-1
    interfaces:
      - {name: eth0, pathLabels: [mpls]}
tunnels:
  - name: core
    topology: fullMesh
    devices: [hq, dc1, branch-1]
    pathLabels: [mpls]
`
	// inetYAML is coreYAML plus a second underlay.
	inetYAML = `devices:
  - name: hq
    interfaces:
      - {name: eth0, pathLabels: [mpls]}
      - {name: eth1, pathLabels: [inet]}
  - name: dc1
    interfaces:
      - {name: eth0, pathLabels: [mpls]}
      - {name: eth1, pathLabels: [inet]}
tunnels:
  - name: core
    topology: fullMesh
    devices: [hq, dc1]
    pathLabels: [mpls, inet]
`
	// invalidYAML names a device that is not declared.
	invalidYAML = `tunnels:
  - name: core
    topology: fullMesh
    devices: [hq, nosuch]
    pathLabels: [mpls]
`
)

func topology(body string) map[string]string {
	return map[string]string{"topology/labels.yaml": labelsYAML, "topology/sites.yaml": body}
}

// cfgOpts are the knobs of a test config; zero values get test defaults.
type cfgOpts struct {
	Mode          string
	Schedule      string
	KeyFile       string
	Repo          string
	StateDir      string
	Secret        string // "-" for no webhook secret
	Ref           string
	Concurrency   int
	PhaseDeadline string
	ShutdownGrace string
	Budget        string // flexiManage.budget, default {requests: 0}
	Extra         string // more top-level YAML
}

// newConfig writes a config for the lab and repo and loads it with the
// real loader.
func newConfig(t *testing.T, l *lab, r *gitRepo, o cfgOpts) *daemon.Config {
	t.Helper()
	dir := t.TempDir()
	if o.Mode == "" {
		o.Mode = "apply"
	}
	if o.Schedule == "" {
		o.Schedule = "@every 1h"
	}
	if o.KeyFile == "" {
		o.KeyFile = l.keyFile
	}
	if o.Repo == "" {
		o.Repo = r.dir
	}
	if o.StateDir == "" {
		o.StateDir = filepath.Join(dir, "state")
	}
	if o.Ref == "" {
		o.Ref = "main"
	}
	if o.PhaseDeadline == "" {
		o.PhaseDeadline = "2m"
	}
	if o.ShutdownGrace == "" {
		o.ShutdownGrace = "5s"
	}
	if o.Budget == "" {
		o.Budget = "{requests: 0}"
	}
	webhook := ""
	switch o.Secret {
	case "-":
	case "":
		webhook = "webhook: {secretFile: " + writeFile(t, dir, "webhook-secret", webhookSecret+"\n") + "}\n"
	default:
		webhook = "webhook: {secretFile: " + writeFile(t, dir, "webhook-secret", o.Secret+"\n") + "}\n"
	}
	text := fmt.Sprintf(`flexiManage:
  url: %s
  tokenFile: %s
  organization: lab
  budget: %s
git:
  repo: %s
  ref: %s
  path: topology
schedule: %q
mode: %s
stateDir: %s
%sapply:
  concurrency: %d
  phaseDeadline: %s
  shutdownGrace: %s
%s`, l.url, o.KeyFile, o.Budget, o.Repo, o.Ref, o.Schedule, o.Mode, o.StateDir, webhook, o.Concurrency, o.PhaseDeadline, o.ShutdownGrace, o.Extra)
	cfg, err := daemon.LoadConfig("reconciler.yaml", strings.NewReader(text))
	if err != nil {
		t.Fatalf("LoadConfig:\n%s\n%v", text, err)
	}
	return cfg
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// harness is a daemon under test with its HTTP handler.
type harness struct {
	t       *testing.T
	d       *daemon.Daemon
	h       http.Handler
	logs    *syncBuffer
	cancel  context.CancelFunc
	done    chan error
	stopped bool
}

// fastRetry keeps transient retries and the spacing of triggers that name
// no revision short in tests.
var fastRetry = daemon.Options{RetryBase: 200 * time.Millisecond, RetryMax: time.Second, TriggerSpacing: 200 * time.Millisecond}

func newHarness(t *testing.T, cfg *daemon.Config, opts daemon.Options) *harness {
	t.Helper()
	logs := &syncBuffer{}
	opts.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	d := daemon.New(cfg, opts)
	h := &harness{t: t, d: d, h: d.Handler(), logs: logs}
	t.Cleanup(func() {
		h.stop()
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs.String())
		}
	})
	return h
}

// start runs the daemon's loop until the test ends or stop is called.
func (h *harness) start() *harness {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- h.d.Run(ctx) }()
	return h
}

// stop cancels Run (as SIGTERM does) and returns its error and how long it
// took to return.
func (h *harness) stop() (error, time.Duration) {
	if h.cancel == nil || h.stopped {
		return nil, 0
	}
	h.stopped = true
	start := time.Now()
	h.cancel()
	select {
	case err := <-h.done:
		return err, time.Since(start)
	case <-time.After(60 * time.Second):
		h.t.Errorf("Run did not return within 60 s of its context ending")
		return nil, time.Since(start)
	}
}

func (h *harness) do(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	return rec
}

func (h *harness) status() daemon.Status {
	h.t.Helper()
	rec := h.do(httptest.NewRequest(http.MethodGet, "/status", nil))
	if rec.Code != http.StatusOK {
		h.t.Fatalf("GET /status = %d %s", rec.Code, rec.Body)
	}
	var s daemon.Status
	if err := json.Unmarshal(rec.Body.Bytes(), &s); err != nil {
		h.t.Fatalf("GET /status: %v\n%s", err, rec.Body)
	}
	return s
}

func (h *harness) metrics() string {
	h.t.Helper()
	rec := h.do(httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		h.t.Fatalf("GET /metrics = %d", rec.Code)
	}
	return rec.Body.String()
}

// metric returns the value of one series (name with its labels, as
// exposed) or -1 when absent.
func metric(exposition, series string) float64 {
	sc := bufio.NewScanner(strings.NewReader(exposition))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				return -1
			}
			return v
		}
	}
	return -1
}

// waitStatus polls /status until cond holds or the timeout passes.
func (h *harness) waitStatus(what string, timeout time.Duration, cond func(s daemon.Status) bool) daemon.Status {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := h.status()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(s, "", "  ")
			h.t.Fatalf("timed out after %s waiting for %s; status:\n%s", timeout, what, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func outcomeIs(want daemon.Result) func(s daemon.Status) bool {
	return func(s daemon.Status) bool {
		return !s.Reconciling && s.LastOutcome != nil && s.LastOutcome.Result == want
	}
}

func appliedRev(rev string) func(s daemon.Status) bool {
	return func(s daemon.Status) bool {
		return !s.Reconciling && s.LastAppliedRevision == rev && s.LastOutcome != nil && s.LastOutcome.Result == daemon.ResultSuccess
	}
}

// Webhook requests.

func githubPush(secret, ref, after string) *http.Request {
	body := fmt.Sprintf(`{"ref":%q,"before":"0000000000000000000000000000000000000000","after":%q,"repository":{"full_name":"acme/sdwan"}}`, ref, after)
	return githubEvent("push", secret, body)
}

func githubEvent(event, secret, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/webhook", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-GitHub-Event", event)
	r.Header.Set("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
	if secret != "" {
		r.Header.Set("X-Hub-Signature-256", daemon.Sign(secret, []byte(body)))
	}
	return r
}

func gitlabPush(token, ref, after string) *http.Request {
	body := fmt.Sprintf(`{"object_kind":"push","ref":%q,"after":%q}`, ref, after)
	r := httptest.NewRequest(http.MethodPost, "/webhook", strings.NewReader(body))
	r.Header.Set("X-Gitlab-Event", "Push Hook")
	if token != "" {
		r.Header.Set("X-Gitlab-Token", token)
	}
	return r
}

func genericTrigger(secret, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/webhook", strings.NewReader(body))
	if secret != "" {
		r.Header.Set(daemon.HeaderSignature, daemon.Sign(secret, []byte(body)))
	}
	return r
}

func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func short(rev string) string { return rev[:min(12, len(rev))] }

// TestMain fails the package when goroutines outlive the tests: every
// daemon, server and simulator a test starts must be stopped by its end.
func TestMain(m *testing.M) {
	before := runtime.NumGoroutine()
	code := m.Run()
	if code == 0 {
		if after := settledGoroutines(before); after > before {
			buf := make([]byte, 1<<20)
			fmt.Fprintf(os.Stderr, "goroutines leaked: %d before the tests, %d after:\n%s\n", before, after, buf[:runtime.Stack(buf, true)])
			code = 1
		}
	}
	os.Exit(code)
}
