package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/flexiwan-gitops/reconciler/daemon"
	"github.com/flexiwan-gitops/reconciler/examples"
	"github.com/flexiwan-gitops/reconciler/fleximanage"
	"github.com/flexiwan-gitops/reconciler/fleximanage/simulator"
)

// Recognisable secrets: none may appear in any output of the daemon.
const (
	serveAccessKey     = "fmk_SECRET-ACCESS-KEY-e2e-51505150"
	serveWebhookSecret = "whsec_SECRET-WEBHOOK-e2e-80868086"
	serveGitToken      = "ghp_SECRET-GIT-TOKEN-e2e-65026502"
)

// serveLab is a simulator of the lab fleet that counts the requests it
// gets, writes apart.
type serveLab struct {
	sim    *simulator.Simulator
	url    string
	writes atomic.Int64
	reads  atomic.Int64
}

func newServeLab(t *testing.T) *serveLab {
	t.Helper()
	fleet, err := simulator.LoadFleet("lab", bytes.NewReader(examples.LabFleet))
	if err != nil {
		t.Fatal(err)
	}
	sim, err := simulator.New(fleet, simulator.Options{Instant: true, NoRateLimit: true, Keys: []simulator.Key{{Token: serveAccessKey}}})
	if err != nil {
		t.Fatal(err)
	}
	l := &serveLab{sim: sim}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			l.reads.Add(1)
		} else {
			l.writes.Add(1)
		}
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		srv.Close()
		sim.Close()
	})
	l.url = srv.URL
	return l
}

// gitServer serves bare repositories over smart HTTP ("git http-backend"
// through CGI) on 127.0.0.1, behind basic auth that wants token as the
// password.
type gitServer struct {
	t    *testing.T
	root string // holds repo.git
	work string // a clone to commit in
	url  string // of repo.git
}

func newGitServer(t *testing.T, token string) *gitServer {
	t.Helper()
	gitBin, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git is not installed")
	}
	g := &gitServer{t: t, root: t.TempDir(), work: filepath.Join(t.TempDir(), "work")}
	g.git("", "init", "-q", "--bare", "-b", "main", filepath.Join(g.root, "repo.git"))
	g.git("", "init", "-q", "-b", "main", g.work)
	g.git(g.work, "remote", "add", "origin", filepath.Join(g.root, "repo.git"))
	home := t.TempDir()
	backend := &cgi.Handler{
		Path: gitBin,
		Args: []string{"http-backend"},
		Dir:  g.root,
		Env: []string{
			"GIT_PROJECT_ROOT=" + g.root, "GIT_HTTP_EXPORT_ALL=1", "HOME=" + home,
			"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=" + os.DevNull,
		},
		InheritEnv: []string{"PATH"},
		Stderr:     io.Discard,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pass, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(pass), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	g.url = srv.URL + "/repo.git"
	return g
}

func (g *gitServer) git(dir string, args ...string) string {
	g.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		g.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// push commits files (replacing topology/) and pushes to the served
// repository; it returns the new HEAD.
func (g *gitServer) push(msg string, files map[string]string) string {
	g.t.Helper()
	os.RemoveAll(filepath.Join(g.work, "topology"))
	for name, content := range files {
		p := filepath.Join(g.work, "topology", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			g.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			g.t.Fatal(err)
		}
	}
	g.git(g.work, "add", "-A")
	g.git(g.work, "commit", "-q", "--allow-empty", "-m", msg)
	g.git(g.work, "push", "-q", "origin", "main")
	return g.git(g.work, "rev-parse", "HEAD")
}

// labTopology is examples/topology.
func labTopology(t *testing.T) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := fs.WalkDir(examples.FS, "topology", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := examples.FS.ReadFile(p)
		files[strings.TrimPrefix(p, "topology/")] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// syncBuf is a goroutine-safe output.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// served is `reconciler serve` running in the test.
type served struct {
	t              *testing.T
	base           string
	stdout, stderr *syncBuf
	cancel         context.CancelFunc
	code           chan int
}

// startServe runs `reconciler serve --config file` until stop.
func startServe(t *testing.T, file string) *served {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &served{t: t, stdout: &syncBuf{}, stderr: &syncBuf{}, cancel: cancel, code: make(chan int, 1)}
	go func() { s.code <- run(ctx, []string{"serve", "--config", file}, s.stdout, s.stderr) }()
	t.Cleanup(func() {
		if s.cancel != nil {
			s.stop()
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for s.base == "" {
		if _, addr, ok := strings.Cut(s.stdout.String(), "serving on "); ok {
			s.base = strings.Fields(addr)[0]
			break
		}
		select {
		case code := <-s.code:
			t.Fatalf("serve exited with %d:\n%s\n%s", code, s.stdout, s.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start listening:\n%s\n%s", s.stdout, s.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return s
}

// stop cancels the context (as SIGTERM does) and returns the exit code.
func (s *served) stop() int {
	s.t.Helper()
	s.cancel()
	s.cancel = nil
	select {
	case code := <-s.code:
		return code
	case <-time.After(60 * time.Second):
		s.t.Fatalf("serve did not stop within 60 s")
		return -1
	}
}

func (s *served) get(path string) (int, string) {
	s.t.Helper()
	resp, err := http.Get(s.base + path)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func (s *served) status() daemon.Status {
	s.t.Helper()
	code, body := s.get("/status")
	var st daemon.Status
	if code != http.StatusOK || json.Unmarshal([]byte(body), &st) != nil {
		s.t.Fatalf("GET /status = %d %s", code, body)
	}
	return st
}

func (s *served) waitStatus(what string, timeout time.Duration, cond func(daemon.Status) bool) daemon.Status {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := s.status()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(st, "", "  ")
			s.t.Fatalf("timed out after %s waiting for %s; status:\n%s\nlog:\n%s", timeout, what, b, s.stderr)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (s *served) webhook(event string, body string, secret string) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.base+"/webhook", strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set("X-Hub-Signature-256", daemon.Sign(secret, []byte(body)))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func metricValue(exposition, series string) (float64, bool) {
	sc := bufio.NewScanner(strings.NewReader(exposition))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// serveConfig writes a daemon config and returns its path.
func serveConfig(t *testing.T, dir string, fields map[string]string) string {
	t.Helper()
	text := fmt.Sprintf(`flexiManage:
  url: %s
  tokenFile: %s
  organization: lab
git:
  repo: %s
  ref: main
  path: topology
  tokenFile: %s
schedule: %q
mode: %s
listen: 127.0.0.1:0
webhook:
  secretFile: %s
stateDir: %s
log: {format: json, level: debug}
apply: {shutdownGrace: 5s}
`, fields["url"], fields["keyFile"], fields["repo"], fields["gitTokenFile"], fields["schedule"], fields["mode"], fields["secretFile"], fields["stateDir"])
	p := filepath.Join(dir, "reconciler.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func secretFile(t *testing.T, dir, name, value string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestServeEndToEnd runs `reconciler serve` against the simulator and a
// local HTTP git server: the start run converges, a signed push of a new
// commit is applied within seconds, status and metrics show it, SIGHUP
// reloads only a valid config, and a detect-mode daemon reports drift
// without writing. No output of any of it contains a secret.
func TestServeEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end; skipped with -short")
	}
	l := newServeLab(t)
	g := newGitServer(t, serveGitToken)
	topo := labTopology(t)
	first := g.push("the lab", topo)

	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	fields := map[string]string{
		"url": l.url, "repo": g.url, "schedule": "@every 2s", "mode": "apply", "stateDir": state,
		"keyFile":      secretFile(t, dir, "access-key", serveAccessKey),
		"gitTokenFile": secretFile(t, dir, "git-token", serveGitToken),
		"secretFile":   secretFile(t, dir, "webhook-secret", serveWebhookSecret),
	}
	cfgFile := serveConfig(t, dir, fields)
	if code, out, errOut := runCmd(t, "serve", "--config", cfgFile, "--check-config"); code != exitOK {
		t.Fatalf("--check-config = %d\n%s%s", code, out, errOut)
	}

	s := startServe(t, cfgFile)
	if !strings.HasPrefix(s.base, "http://127.0.0.1:") {
		t.Errorf("serving on %s, want the configured 127.0.0.1", s.base)
	}
	var outputs []string // every answer, to grep for secrets
	st := s.waitStatus("the start run to converge", 60*time.Second, func(st daemon.Status) bool {
		return st.LastAppliedRevision == first && st.LastOutcome != nil && st.LastOutcome.Result == daemon.ResultSuccess
	})
	if st.Mode != daemon.ModeApply || !st.Ready || st.Source != g.url {
		t.Errorf("status = %+v", st)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, body := s.get(p); code != http.StatusOK {
			t.Errorf("GET %s = %d %s", p, code, body)
		}
	}

	// A signed push of a new commit is applied within seconds.
	topo["tunnels.yaml"] = strings.Replace(topo["tunnels.yaml"], "devices: [hq, dc1]", "devices: [hq, dc1, branch-1]", 1)
	second := g.push("branch-1 joins the core", topo)
	body := fmt.Sprintf(`{"ref":"refs/heads/main","before":%q,"after":%q,"repository":{"full_name":"acme/sdwan"}}`, first, second)
	if code, resp := s.webhook("push", body, "wrong-secret"); code != http.StatusUnauthorized {
		t.Errorf("push with a wrong signature = %d %s", code, resp)
	}
	pushed := time.Now()
	code, resp := s.webhook("push", body, serveWebhookSecret)
	if code != http.StatusAccepted {
		t.Fatalf("signed push = %d %s", code, resp)
	}
	outputs = append(outputs, resp)
	st = s.waitStatus("the pushed commit to apply", 30*time.Second, func(st daemon.Status) bool {
		return st.LastAppliedRevision == second && !st.Reconciling
	})
	if took := time.Since(pushed); took > 15*time.Second {
		t.Errorf("the push was applied after %s, want within seconds", took)
	} else {
		t.Logf("the pushed commit was applied %s after the webhook", took.Round(time.Millisecond))
	}
	if st.LastAttemptedRevision != second || st.LastOutcome == nil || st.LastOutcome.Result != daemon.ResultSuccess {
		t.Errorf("status after the push = %+v", st)
	}
	if !strings.Contains(s.stderr.String(), `"trigger":"webhook:github"`) {
		t.Errorf("no reconcile was triggered by the webhook")
	}
	_, metrics := s.get("/metrics")
	if v, ok := metricValue(metrics, `reconciler_info{revision="`+second+`"}`); !ok || v != 1 {
		t.Errorf(`/metrics reconciler_info{revision="%s"} = %v, %v; want 1`, second, v, ok)
	}
	if _, ok := metricValue(metrics, `reconciler_info{revision="`+first+`"}`); ok {
		t.Errorf("/metrics still has reconciler_info for the old revision")
	}
	for _, name := range []string{
		`reconciler_reconcile_total{result="success"}`, "reconciler_reconcile_duration_seconds_count",
		`reconciler_drift_changes{kind="tunnelsToCreate"}`, "reconciler_last_applied_timestamp_seconds",
		`reconciler_api_requests_total{code="200",method="GET"}`, "reconciler_api_budget_remaining",
		`reconciler_jobs_total{state="complete"}`, `reconciler_webhook_requests_total{result="accepted"}`,
		`reconciler_webhook_requests_total{result="unauthorized"}`,
	} {
		if v, ok := metricValue(metrics, name); !ok || (strings.Contains(name, "webhook") && v != 1) {
			t.Errorf("/metrics %s = %v, %v", name, v, ok)
		}
	}

	// SIGHUP: an invalid config is refused and the old one stays; a valid
	// one is taken.
	good, err := os.ReadFile(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgFile, bytes.Replace(good, []byte("mode: apply"), []byte("mode: sideways"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the refused reload", 10*time.Second, func() bool {
		return strings.Contains(s.stderr.String(), "config reload refused")
	})
	if st := s.status(); st.Mode != daemon.ModeApply {
		t.Errorf("mode after an invalid reload = %s, want apply", st.Mode)
	}
	if err := os.WriteFile(cfgFile, bytes.Replace(good, []byte("mode: apply"), []byte("mode: detect"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	s.waitStatus("the reloaded mode", 10*time.Second, func(st daemon.Status) bool { return st.Mode == daemon.ModeDetect })

	for _, p := range []string{"/", "/status", "/metrics", "/healthz", "/readyz"} {
		_, b := s.get(p)
		outputs = append(outputs, b)
	}
	if code := s.stop(); code != exitOK {
		t.Errorf("serve exit code after SIGTERM = %d, want 0", code)
	}
	outputs = append(outputs, s.stdout.String(), s.stderr.String())

	// Drift behind the daemon's back; a detect-mode daemon reports it and
	// writes nothing.
	deleteOneTunnel(t, l)
	fields["mode"] = "detect"
	fields["stateDir"] = filepath.Join(dir, "state-detect")
	detectDir := t.TempDir()
	detectCfg := serveConfig(t, detectDir, fields)
	writes := l.writes.Load()
	d := startServe(t, detectCfg)
	st = d.waitStatus("the drift to be reported", 30*time.Second, func(st daemon.Status) bool {
		return st.LastOutcome != nil && !st.Reconciling && st.Drift["tunnelsToCreate"] > 0
	})
	if st.Mode != daemon.ModeDetect || st.Drift["tunnelsToCreate"] != 1 || st.LastAttemptedRevision != second {
		t.Errorf("detect status = %+v", st)
	}
	_, metrics = d.get("/metrics")
	if v, _ := metricValue(metrics, `reconciler_drift_changes{kind="tunnelsToCreate"}`); v != 1 {
		t.Errorf(`reconciler_drift_changes{kind="tunnelsToCreate"} = %v, want 1`, v)
	}
	// Let the schedule come round once more: still nothing written.
	waitFor(t, "a scheduled detect run", 15*time.Second, func() bool {
		_, m := d.get("/metrics")
		v, _ := metricValue(m, `reconciler_reconcile_total{result="success"}`)
		return v >= 2
	})
	if n := l.writes.Load() - writes; n != 0 {
		t.Errorf("the detect-mode daemon sent %d write requests, want 0", n)
	}
	t.Logf("detect mode: drift %v, %d reads and no writes", st.Drift, l.reads.Load())
	for _, p := range []string{"/", "/status", "/metrics"} {
		_, b := d.get(p)
		outputs = append(outputs, b)
	}
	if code := d.stop(); code != exitOK {
		t.Errorf("detect serve exit code = %d", code)
	}
	outputs = append(outputs, d.stdout.String(), d.stderr.String())

	// Refused credentials: the failures are reported without the secret
	// that was refused.
	const wrongKey, wrongToken = "fmk_SECRET-WRONG-KEY-e2e-68000", "ghp_SECRET-WRONG-TOKEN-e2e-68020"
	for _, bad := range []struct{ name, field, value, reason string }{
		{"wrong git token", "gitTokenFile", wrongToken, "authentication"},
		{"wrong access key", "keyFile", wrongKey, "401"},
	} {
		f := map[string]string{}
		for k, v := range fields {
			f[k] = v
		}
		badDir := t.TempDir()
		f[bad.field] = secretFile(t, badDir, "secret", bad.value)
		f["stateDir"] = filepath.Join(dir, "state-"+strings.ReplaceAll(bad.name, " ", "-"))
		b := startServe(t, serveConfig(t, badDir, f))
		st := b.waitStatus("the refusal ("+bad.name+")", 30*time.Second, func(st daemon.Status) bool {
			return st.LastOutcome != nil && !st.Reconciling
		})
		if st.LastOutcome.Result != daemon.ResultTerminal || !strings.Contains(st.LastOutcome.Reason, bad.reason) {
			t.Errorf("%s: outcome %+v, want terminal naming %q", bad.name, st.LastOutcome, bad.reason)
		}
		for _, p := range []string{"/", "/status", "/metrics"} {
			_, body := b.get(p)
			outputs = append(outputs, body)
		}
		if code := b.stop(); code != exitOK {
			t.Errorf("%s: exit code %d", bad.name, code)
		}
		outputs = append(outputs, b.stdout.String(), b.stderr.String())
	}

	// No secret anywhere: answers, logs, and the state directories (git
	// cache, journal).
	err = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !strings.HasPrefix(p, state) {
			return err
		}
		b, err := os.ReadFile(p)
		outputs = append(outputs, string(b))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.stderr.String(), `"level":"DEBUG"`) {
		t.Errorf("the debug log is empty: the secret check would prove little")
	}
	for _, secret := range []string{serveAccessKey, serveWebhookSecret, serveGitToken, wrongKey, wrongToken} {
		for _, out := range outputs {
			if i := strings.Index(out, secret); i >= 0 {
				t.Errorf("an output contains the secret %s: …%s…", secret, out[max(0, i-200):min(len(out), i+len(secret)+50)])
				break
			}
		}
	}
}

// deleteOneTunnel deletes a tunnel in the simulator behind the daemon's
// back.
func deleteOneTunnel(t *testing.T, l *serveLab) {
	t.Helper()
	c, err := fleximanage.New(fleximanage.Options{BaseURL: l.url, Key: serveAccessKey, Org: l.sim.OrgID("lab"), NoBudget: true})
	if err != nil {
		t.Fatal(err)
	}
	tunnels, err := c.Tunnels(t.Context())
	if err != nil || len(tunnels) == 0 {
		t.Fatalf("tunnels: %v (%d)", err, len(tunnels))
	}
	tu := tunnels[0]
	if _, err := c.Apply(t.Context(), fleximanage.ApplyRequest{Method: fleximanage.MethodDelTunnels,
		Devices: map[string]bool{tu.DeviceA.ID: true, tu.DeviceB.ID: true}, Tunnels: map[string]bool{tu.ID: true}}); err != nil {
		t.Fatal(err)
	}
	if err := l.sim.WaitIdle(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the tunnel to go", 10*time.Second, func() bool {
		ts, err := c.Tunnels(t.Context())
		return err == nil && len(ts) == len(tunnels)-1
	})
}

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

// TestServeShutdownResume: SIGTERM while a phase's jobs are in flight exits
// 0 within the grace period and leaves a journal; the next start resumes it
// and converges.
func TestServeShutdownResume(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end; skipped with -short")
	}
	fleet, err := simulator.LoadFleet("lab", bytes.NewReader(examples.LabFleet))
	if err != nil {
		t.Fatal(err)
	}
	sim, err := simulator.New(fleet, simulator.Options{JobLatency: 2 * time.Second, NoRateLimit: true, Keys: []simulator.Key{{Token: serveAccessKey}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { srv.Close(); sim.Close() })
	repo := filepath.Join(t.TempDir(), "desired")
	g := &gitServer{t: t, work: repo}
	g.git("", "init", "-q", "-b", "main", repo)
	// hq and dc1 meshed over both underlays: two tunnel jobs in a row on
	// each, two seconds each.
	small := map[string]string{
		"labels.yaml": labTopology(t)["labels.yaml"],
		"sites.yaml": `devices:
  - name: hq
    interfaces:
      - {name: eth0, pathLabels: [mpls]}
      - {name: eth1, pathLabels: [inet]}
  - name: dc1
    interfaces:
      - {name: eth0, pathLabels: [mpls]}
      - {name: eth1, pathLabels: [inet]}
`,
		"tunnels.yaml": "tunnels:\n  - {name: core, topology: fullMesh, devices: [hq, dc1], pathLabels: [mpls, inet]}\n",
	}
	rev := func() string {
		for name, content := range small {
			p := filepath.Join(repo, "topology", name)
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		g.git(repo, "add", "-A")
		g.git(repo, "commit", "-q", "-m", "lab")
		return g.git(repo, "rev-parse", "HEAD")
	}()
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	cfg := serveConfig(t, dir, map[string]string{
		"url": srv.URL, "repo": repo, "schedule": "@every 1h", "mode": "apply", "stateDir": state,
		"keyFile": secretFile(t, dir, "key", serveAccessKey), "secretFile": secretFile(t, dir, "secret", serveWebhookSecret),
	})
	cfgText, _ := os.ReadFile(cfg)
	cfgText = bytes.Replace(cfgText, []byte("shutdownGrace: 5s"), []byte("shutdownGrace: 1s"), 1)
	if err := os.WriteFile(cfg, cfgText, 0o600); err != nil {
		t.Fatal(err)
	}

	s := startServe(t, cfg)
	s.waitStatus("jobs in flight", 60*time.Second, func(st daemon.Status) bool { return st.JobsInFlight > 0 })
	start := time.Now()
	if code := s.stop(); code != exitOK {
		t.Errorf("exit code after SIGTERM = %d, want 0\n%s", code, s.stderr)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("serve took %s to stop with a 1 s grace", took)
	}
	journal := filepath.Join(state, "journal", "journal.json")
	if _, err := os.Stat(journal); err != nil {
		t.Fatalf("no journal after stopping with jobs in flight: %v", err)
	}

	s2 := startServe(t, cfg)
	s2.waitStatus("the resumed run to converge", 90*time.Second, func(st daemon.Status) bool {
		return st.LastAppliedRevision == rev && !st.Reconciling && st.Plan != nil && st.Plan.Calls == 0
	})
	if !strings.Contains(s2.stderr.String(), "resumed an interrupted run") {
		t.Errorf("the second start did not resume the journal:\n%s", s2.stderr)
	}
	if _, err := os.Stat(journal); !os.IsNotExist(err) {
		t.Errorf("journal still there after converging: %v", err)
	}
	if code := s2.stop(); code != exitOK {
		t.Errorf("exit code = %d", code)
	}
}

func TestServeCheckConfig(t *testing.T) {
	dir := t.TempDir()
	valid := filepath.Join(dir, "valid.yaml")
	os.WriteFile(valid, []byte("flexiManage: {url: https://m.example.com, organization: acme}\ngit: {repo: /srv/git/sdwan}\nstateDir: /var/lib/reconciler\n"), 0o600)
	invalid := filepath.Join(dir, "invalid.yaml")
	os.WriteFile(invalid, []byte("flexiManage: {url: https://m.example.com, organization: acme, colour: red}\ngit: {repo: /srv/git/sdwan}\nstateDir: /s\nmode: sideways\nschedule: sometimes\n"), 0o600)
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{"valid", []string{"--config", valid, "--check-config"}, exitOK,
			[]string{"is valid", "apply mode", `schedule "*/10 * * * *"`, "127.0.0.1:8080"}, nil},
		{"invalid, every problem", []string{"--config", invalid, "--check-config"}, exitFailure, nil,
			[]string{"3 problems", `invalid.yaml:1:63: unknown key "colour"`, `invalid.yaml:4:7: mode "sideways"`, `invalid.yaml:5:11: schedule "sometimes"`}},
		{"invalid without --check-config", []string{"--config", invalid}, exitFailure, nil, []string{"3 problems"}},
		{"missing file", []string{"--config", filepath.Join(dir, "nope.yaml"), "--check-config"}, exitFailure, nil, []string{"nope.yaml"}},
		{"no --config", []string{"--check-config"}, exitUsage, nil, []string{"--config"}},
		{"unknown flag", []string{"--config", valid, "--frobnicate"}, exitUsage, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, append([]string{"serve"}, tt.args...)...)
			if code != tt.code {
				t.Fatalf("serve %v = %d, want %d\nstdout: %s\nstderr: %s", tt.args, code, tt.code, out, errOut)
			}
			for _, want := range tt.stdout {
				if !strings.Contains(out, want) {
					t.Errorf("stdout lacks %q:\n%s", want, out)
				}
			}
			for _, want := range tt.stderr {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr lacks %q:\n%s", want, errOut)
				}
			}
		})
	}
}
