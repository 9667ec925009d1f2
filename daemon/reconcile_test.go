package daemon_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flexiwan-gitops/reconciler/daemon"
	"github.com/flexiwan-gitops/reconciler/executor"
	"github.com/flexiwan-gitops/reconciler/fleximanage"
	"github.com/flexiwan-gitops/reconciler/fleximanage/simulator"
)

// The run at start converges; status, metrics and the page say so.
func TestRunAtStartConverges(t *testing.T) {
	l := newLab(t, simulator.Options{})
	r := newGitRepo(t)
	rev := r.commit("branch", topology(branchYAML))
	h := newHarness(t, newConfig(t, l, r, cfgOpts{}), fastRetry)

	if rec := h.do(httptest.NewRequest(http.MethodGet, "/readyz", nil)); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz before git was reached = %d, want 503", rec.Code)
	}
	if rec := h.do(httptest.NewRequest(http.MethodGet, "/healthz", nil)); rec.Code != http.StatusOK {
		t.Errorf("GET /healthz = %d, want 200", rec.Code)
	}
	if s := h.status(); s.Mode != daemon.ModeApply || s.LastOutcome != nil || s.Ready || s.Organization != "lab" {
		t.Errorf("status before the first run = %+v", s)
	}

	h.start()
	s := h.waitStatus("the start run and the next one scheduled", 30*time.Second, func(s daemon.Status) bool {
		return appliedRev(rev)(s) && s.NextRun.After(s.LastOutcome.At)
	})
	if s.LastAttemptedRevision != rev || !s.Ready || s.JobsInFlight != 0 || s.Plan == nil || s.Plan.Calls != 0 {
		t.Errorf("status after converging = %+v, plan %+v", s, s.Plan)
	}
	for k, v := range s.Drift {
		if v != 0 {
			t.Errorf("drift %s = %d after converging", k, v)
		}
	}
	if until := time.Until(s.NextRun); until < 50*time.Minute || until > time.Hour {
		t.Errorf("nextRun = %s (in %s), want about an hour away (schedule @every 1h)", s.NextRun, until)
	}
	if rec := h.do(httptest.NewRequest(http.MethodGet, "/readyz", nil)); rec.Code != http.StatusOK {
		t.Errorf("GET /readyz after a fetch = %d, want 200", rec.Code)
	}
	// The field names of /status are an interface: check them raw.
	var raw map[string]any
	if err := json.Unmarshal(h.do(httptest.NewRequest(http.MethodGet, "/status", nil)).Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"mode", "lastAttemptedRevision", "lastAppliedRevision", "lastOutcome", "drift", "plan", "jobsInFlight", "nextRun"} {
		if _, ok := raw[key]; !ok {
			t.Errorf("GET /status lacks %q", key)
		}
	}
	if o, _ := raw["lastOutcome"].(map[string]any); o["result"] != "success" || o["at"] == nil || o["reason"] == nil {
		t.Errorf("GET /status lastOutcome = %v, want result, reason and at", raw["lastOutcome"])
	}

	m := h.metrics()
	for series, want := range map[string]float64{
		`reconciler_reconcile_total{result="success"}`:         1,
		`reconciler_reconcile_total{result="transient"}`:       0,
		`reconciler_reconcile_total{result="terminal"}`:        0,
		`reconciler_reconcile_total{result="skipped"}`:         0,
		`reconciler_reconcile_duration_seconds_count`:          1,
		`reconciler_info{revision="` + rev + `"}`:              1,
		`reconciler_jobs_total{state="complete"}`:              6,
		`reconciler_drift_changes{kind="tunnelsToCreate"}`:     0,
		`reconciler_api_budget_remaining`:                      -1, // budget: {requests: 0}
		`reconciler_webhook_requests_total{result="accepted"}`: 0,
	} {
		if got := metric(m, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if got := metric(m, `reconciler_api_requests_total{code="200",method="GET"}`); got < 5 {
		t.Errorf(`reconciler_api_requests_total{code="200",method="GET"} = %v, want the reads counted`, got)
	}
	if got := metric(m, `reconciler_api_requests_total{code="202",method="POST"}`); got != 1 {
		t.Errorf(`reconciler_api_requests_total{code="202",method="POST"} = %v, want 1 (the tunnels apply)`, got)
	}
	if got := metric(m, `reconciler_last_applied_timestamp_seconds`); time.Since(time.Unix(int64(got), 0)) > time.Minute {
		t.Errorf("reconciler_last_applied_timestamp_seconds = %v", got)
	}

	rec := h.do(httptest.NewRequest(http.MethodGet, "/", nil))
	page := rec.Body.String()
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	for _, want := range []string{"flexiWAN GitOps reconciler", rev, "success", "apply", `href="/status"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if rec := h.do(httptest.NewRequest(http.MethodGet, "/nosuch", nil)); rec.Code != http.StatusNotFound {
		t.Errorf("GET /nosuch = %d, want 404", rec.Code)
	}

	// A second run has nothing to do and writes nothing.
	writes := l.writes.Load()
	h.d.Trigger("test")
	waitFor(t, "the second run", 10*time.Second, func() bool { return h.d.Reconciles() == 2 })
	h.waitStatus("the second run to end", 10*time.Second, func(s daemon.Status) bool {
		return !s.Reconciling && metric(h.metrics(), `reconciler_reconcile_total{result="success"}`) == 2
	})
	if n := l.writes.Load() - writes; n != 0 {
		t.Errorf("a run with nothing to do sent %d writes", n)
	}
}

// Detect mode plans and reports drift but never writes.
func TestDetectModeNeverWrites(t *testing.T) {
	l := newLab(t, simulator.Options{})
	r := newGitRepo(t)
	rev := r.commit("branch", topology(branchYAML))
	h := newHarness(t, newConfig(t, l, r, cfgOpts{Mode: "detect"}), fastRetry).start()
	s := h.waitStatus("the detect run", 30*time.Second, outcomeIs(daemon.ResultSuccess))
	if s.Mode != daemon.ModeDetect || s.LastAttemptedRevision != rev || s.LastAppliedRevision != "" {
		t.Errorf("status = %+v", s)
	}
	if s.Drift["tunnelsToCreate"] != 3 || s.Drift["devicesToModify"] != 3 || s.Plan == nil || s.Plan.TunnelsCreated != 3 {
		t.Errorf("drift = %v, plan %+v; want 3 tunnels to create, 3 devices to modify", s.Drift, s.Plan)
	}
	if got := metric(h.metrics(), `reconciler_drift_changes{kind="tunnelsToCreate"}`); got != 3 {
		t.Errorf(`reconciler_drift_changes{kind="tunnelsToCreate"} = %v, want 3`, got)
	}
	if n := l.writes.Load(); n != 0 {
		t.Errorf("detect mode sent %d writes: %v", n, l.writesSince(0))
	}
	page := h.do(httptest.NewRequest(http.MethodGet, "/", nil)).Body.String()
	if !strings.Contains(page, "tunnelsToCreate") || !strings.Contains(page, "Last plan") {
		t.Errorf("the page does not show the drift and the plan")
	}
}

// An invalid source is a terminal failure: clearly reported, not retried
// while the revision stays, and the fixing commit applies.
func TestTerminalInvalidSource(t *testing.T) {
	l := newLab(t, simulator.Options{})
	r := newGitRepo(t)
	good := r.commit("core", topology(coreYAML))
	h := newHarness(t, newConfig(t, l, r, cfgOpts{Schedule: "@every 1s"}), fastRetry).start()
	h.waitStatus("the start run", 30*time.Second, appliedRev(good))

	bad := r.commit("typo", topology(invalidYAML))
	writes := l.writes.Load()
	s := h.waitStatus("the bad revision to fail", 30*time.Second, func(s daemon.Status) bool {
		return s.LastAttemptedRevision == bad && outcomeIs(daemon.ResultTerminal)(s)
	})
	reason := s.LastOutcome.Reason
	for _, want := range []string{short(bad), "invalid", "sites.yaml", `"nosuch"`} {
		if !strings.Contains(reason, want) {
			t.Errorf("terminal reason %q lacks %q", reason, want)
		}
	}
	if s.LastAppliedRevision != good {
		t.Errorf("lastAppliedRevision = %s, want %s", s.LastAppliedRevision, good)
	}
	at := s.LastOutcome.At

	// The schedule comes round every second; the run is skipped.
	waitFor(t, "two skipped runs", 20*time.Second, func() bool {
		return metric(h.metrics(), `reconciler_reconcile_total{result="skipped"}`) >= 2
	})
	s = h.status()
	if s.LastOutcome == nil || s.LastOutcome.Result != daemon.ResultTerminal || !s.LastOutcome.At.Equal(at) || s.LastOutcome.Reason != reason {
		t.Errorf("a skipped run changed the outcome: %+v", s.LastOutcome)
	}
	if got := metric(h.metrics(), `reconciler_reconcile_total{result="terminal"}`); got != 1 {
		t.Errorf(`reconciler_reconcile_total{result="terminal"} = %v, want 1 (the skips are counted apart)`, got)
	}
	if n := l.writes.Load() - writes; n != 0 {
		t.Errorf("the invalid revision sent %d writes", n)
	}

	fix := r.commit("fix", topology(inetYAML))
	h.waitStatus("the fix to apply on schedule", 30*time.Second, appliedRev(fix))
}

// A guard refusing the plan is terminal too.
func TestTerminalGuardRefusal(t *testing.T) {
	l := newLab(t, simulator.Options{})
	r := newGitRepo(t)
	good := r.commit("branch", topology(branchYAML))
	cfg := newConfig(t, l, r, cfgOpts{Extra: "prune: true\nmaxDeletions: 1\n"})
	h := newHarness(t, cfg, fastRetry).start()
	h.waitStatus("the start run", 30*time.Second, appliedRev(good))
	// branch-1 leaves the mesh: its two tunnels go (pruned), over the cap
	// of one.
	drop := r.commit("drop branch-1", topology(strings.Replace(branchYAML, "devices: [hq, dc1, branch-1]", "devices: [hq, dc1]", 1)))
	writes := l.writes.Load()
	h.d.Trigger("test")
	s := h.waitStatus("the refused plan", 30*time.Second, func(s daemon.Status) bool {
		return s.LastAttemptedRevision == drop && outcomeIs(daemon.ResultTerminal)(s)
	})
	if !strings.Contains(strings.ToLower(s.LastOutcome.Reason), "delet") {
		t.Errorf("reason %q does not say deletions were refused", s.LastOutcome.Reason)
	}
	if n := l.writes.Load() - writes; n != 0 {
		t.Errorf("a refused plan sent %d writes", n)
	}
}

// A transient failure is retried with backoff (not on the schedule) and
// succeeds once flexiManage answers again.
func TestTransientFailureRetried(t *testing.T) {
	l := newLab(t, simulator.Options{Faults: &simulator.Faults{ErrorRate: 1, ErrorStatuses: []int{503}}})
	r := newGitRepo(t)
	rev := r.commit("core", topology(coreYAML))
	h := newHarness(t, newConfig(t, l, r, cfgOpts{Schedule: "@every 1h"}), fastRetry).start()
	s := h.waitStatus("a transient failure", 30*time.Second, outcomeIs(daemon.ResultTransient))
	if !strings.Contains(s.LastOutcome.Reason, "503") {
		t.Errorf("transient reason %q does not give the cause", s.LastOutcome.Reason)
	}
	if s.LastAttemptedRevision != rev || s.LastAppliedRevision != "" {
		t.Errorf("status = %+v", s)
	}
	l.sim.SetFaults(simulator.Faults{})
	cleared := time.Now()
	h.waitStatus("the retry to succeed", 30*time.Second, appliedRev(rev))
	// The retry came from the backoff (at most 1 s here), not the hourly
	// schedule; one attempt against the faults takes a few seconds of
	// client retries.
	if took := time.Since(cleared); took > 15*time.Second {
		t.Errorf("the retry took %s after the faults ended", took)
	}
	if got := metric(h.metrics(), `reconciler_reconcile_total{result="transient"}`); got < 1 {
		t.Errorf(`reconciler_reconcile_total{result="transient"} = %v, want at least 1`, got)
	}
	if got := metric(h.metrics(), `reconciler_api_requests_total{code="503",method="GET"}`); got < 1 {
		t.Errorf(`the 503 answers were not counted in reconciler_api_requests_total`)
	}
}

// A refused access key is terminal: no retry until the configuration (or
// the revision) changes.
func TestTerminalAccessKey(t *testing.T) {
	tests := map[string]struct {
		keyFile func(t *testing.T, l *lab) string
		want    string
	}{
		"revoked key": {
			keyFile: func(t *testing.T, l *lab) string { l.sim.RevokeKey(labKey); return l.keyFile },
			want:    "401",
		},
		"wrong key": {
			keyFile: func(t *testing.T, l *lab) string {
				return writeFile(t, t.TempDir(), "key", "fmk_wrong-key-0000000000\n")
			},
			want: "401",
		},
		"missing key file": {
			keyFile: func(t *testing.T, l *lab) string { return filepath.Join(t.TempDir(), "no-such-key") },
			want:    "no-such-key",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			l := newLab(t, simulator.Options{})
			r := newGitRepo(t)
			rev := r.commit("core", topology(coreYAML))
			key := tt.keyFile(t, l)
			h := newHarness(t, newConfig(t, l, r, cfgOpts{Schedule: "@every 1s", KeyFile: key}), fastRetry).start()
			s := h.waitStatus("a terminal failure", 30*time.Second, outcomeIs(daemon.ResultTerminal))
			if !strings.Contains(s.LastOutcome.Reason, tt.want) {
				t.Errorf("reason %q lacks %q", s.LastOutcome.Reason, tt.want)
			}
			waitFor(t, "a skipped run", 20*time.Second, func() bool {
				return metric(h.metrics(), `reconciler_reconcile_total{result="skipped"}`) >= 1
			})
			if got := metric(h.metrics(), `reconciler_reconcile_total{result="terminal"}`); got != 1 {
				t.Errorf("terminal runs = %v, want 1: the key was tried again", got)
			}
			if l.writes.Load() != 0 {
				t.Errorf("%d writes", l.writes.Load())
			}
			if strings.Contains(h.logs.String(), "fmk_wrong-key") || strings.Contains(s.LastOutcome.Reason, "fmk_") {
				t.Errorf("the key appears in the log or the status")
			}

			// A new configuration with a good key is tried at once.
			if name == "revoked key" {
				if err := l.sim.AddKey(simulator.Key{Token: "fmk_second-key-for-tests-42"}); err != nil {
					t.Fatal(err)
				}
				key = writeFile(t, t.TempDir(), "key", "fmk_second-key-for-tests-42\n")
			} else {
				key = l.keyFile
			}
			cfg := newConfig(t, l, r, cfgOpts{Schedule: "@every 1s", KeyFile: key, StateDir: h.d.Config().StateDir})
			h.d.Reload(cfg)
			h.waitStatus("the run under the new key", 30*time.Second, appliedRev(rev))
		})
	}
}

// The git source that cannot be reached is reported as such, and /readyz
// stays 503.
func TestGitUnreachable(t *testing.T) {
	l := newLab(t, simulator.Options{})
	r := newGitRepo(t)
	r.commit("core", topology(coreYAML))
	h := newHarness(t, newConfig(t, l, r, cfgOpts{Repo: filepath.Join(t.TempDir(), "gone")}), fastRetry).start()
	s := h.waitStatus("a failure", 30*time.Second, func(s daemon.Status) bool { return s.LastOutcome != nil })
	if s.LastOutcome.Result == daemon.ResultSuccess || !strings.Contains(s.LastOutcome.Reason, "git") {
		t.Errorf("outcome = %+v, want a git failure", s.LastOutcome)
	}
	if rec := h.do(httptest.NewRequest(http.MethodGet, "/readyz", nil)); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz = %d, want 503", rec.Code)
	}
	if l.requests.Load() != 0 {
		t.Errorf("%d requests to flexiManage without a source", l.requests.Load())
	}
}

// TestSupersede: a revision whose apply cannot finish (a device is
// disconnected) must not block the next one. The run stops at its next safe
// point, never in the middle of a phase's writes, and the new revision is
// applied within seconds.
func TestSupersede(t *testing.T) {
	t.Run("while waiting for a disconnected device", func(t *testing.T) {
		l := newLab(t, simulator.Options{})
		l.sim.SetConnected("branch-1", false)
		r := newGitRepo(t)
		a := r.commit("add branch-1", topology(branchYAML))
		h := newHarness(t, newConfig(t, l, r, cfgOpts{PhaseDeadline: "10m"}), fastRetry).start()
		h.waitStatus("the run to wait for branch-1", 30*time.Second, func(s daemon.Status) bool {
			return s.LastAttemptedRevision == a && s.Reconciling && s.JobsInFlight > 0
		})
		time.Sleep(300 * time.Millisecond) // it really waits
		b := r.commit("without branch-1", topology(coreYAML))
		pushed := time.Now()
		if rec := h.do(githubPush(webhookSecret, "refs/heads/main", b)); rec.Code != http.StatusAccepted {
			t.Fatalf("push = %d", rec.Code)
		}
		s := h.waitStatus("the new revision to apply", 30*time.Second, appliedRev(b))
		if took := time.Since(pushed); took > 10*time.Second {
			t.Errorf("the new revision applied %s after its push, want within seconds", took)
		}
		if s.LastAppliedRevision == a {
			t.Errorf("the blocked revision was reported applied")
		}
		if !strings.Contains(h.logs.String(), "stopped for a newer revision") {
			t.Errorf("the log does not say why the run of %s stopped", short(a))
		}
	})

	t.Run("in the middle of a phase's writes", func(t *testing.T) {
		l := newLab(t, simulator.Options{})
		l.sim.SetConnected("branch-1", false)
		r := newGitRepo(t)
		a := r.commit("add branch-1", topology(branchYAML))
		// One write at a time, so that the push lands between two writes of
		// the first phase (three device updates).
		h := newHarness(t, newConfig(t, l, r, cfgOpts{PhaseDeadline: "10m", Concurrency: 1}), fastRetry)
		type stamped struct {
			what string
			run  int64
		}
		var mu sync.Mutex
		var writes []stamped
		pushed := make(chan string, 1)
		l.setOnRequest(func(req *http.Request) {
			if req.Method == http.MethodGet {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			writes = append(writes, stamped{req.Method + " " + strings.SplitN(req.URL.Path, "/", 4)[2], h.d.Reconciles()})
			if len(writes) == 1 {
				b := r.commit("without branch-1", topology(coreYAML))
				if rec := h.do(githubPush(webhookSecret, "refs/heads/main", b)); rec.Code != http.StatusAccepted {
					t.Errorf("push = %d", rec.Code)
				}
				pushed <- b
			}
		})
		h.start()
		var b string
		select {
		case b = <-pushed:
		case <-time.After(30 * time.Second):
			t.Fatal("the first write never came")
		}
		at := time.Now()
		h.waitStatus("the new revision to apply", 30*time.Second, appliedRev(b))
		if took := time.Since(at); took > 10*time.Second {
			t.Errorf("the new revision applied %s after its push", took)
		}
		// The first run sent its whole first phase (the three device
		// updates), then nothing more.
		mu.Lock()
		var first []string
		for _, w := range writes {
			if w.run == 1 {
				first = append(first, w.what)
			}
		}
		mu.Unlock()
		if diff := cmp.Diff([]string{"PUT devices", "PUT devices", "PUT devices"}, first); diff != "" {
			t.Errorf("writes of the superseded run (-want +got):\n%s", diff)
		}
		if !strings.Contains(h.logs.String(), `"running":"`+short(a)+`","new":"`+short(b)+`"`) {
			t.Errorf("the log does not show the run of %s superseded by %s", short(a), short(b))
		}
	})

	t.Run("a push arriving while the run plans", func(t *testing.T) {
		// The push comes before the apply starts: the apply must not start
		// waiting on the old revision at all.
		l := newLab(t, simulator.Options{})
		l.sim.SetConnected("branch-1", false)
		r := newGitRepo(t)
		r.commit("add branch-1", topology(branchYAML))
		h := newHarness(t, newConfig(t, l, r, cfgOpts{PhaseDeadline: "10m"}), fastRetry)
		var once sync.Once
		pushed := make(chan string, 1)
		// The daemon reads the tunnels as it plans: the push lands then.
		l.setOnRequest(func(req *http.Request) {
			if req.Method != http.MethodGet || !strings.HasSuffix(req.URL.Path, "/tunnels") {
				return
			}
			once.Do(func() {
				b := r.commit("without branch-1", topology(coreYAML))
				if rec := h.do(githubPush(webhookSecret, "refs/heads/main", b)); rec.Code != http.StatusAccepted {
					t.Errorf("push = %d", rec.Code)
				}
				pushed <- b
			})
		})
		h.start()
		var b string
		select {
		case b = <-pushed:
		case <-time.After(30 * time.Second):
			t.Fatal("the daemon never read the tunnels")
		}
		at := time.Now()
		h.waitStatus("the new revision to apply", 30*time.Second, appliedRev(b))
		if took := time.Since(at); took > 10*time.Second {
			t.Errorf("the new revision applied %s after its push", took)
		}
	})
}

// TestShutdownAndResume: cancelling Run (SIGTERM) while a phase's jobs are
// in flight returns within the grace period and leaves the outstanding jobs
// in the journal; the next daemon resumes them and converges.
func TestShutdownAndResume(t *testing.T) {
	l := newLab(t, simulator.Options{JobLatency: 2 * time.Second})
	r := newGitRepo(t)
	rev := r.commit("branch", topology(branchYAML))
	state := filepath.Join(t.TempDir(), "state")
	cfg := newConfig(t, l, r, cfgOpts{StateDir: state, ShutdownGrace: "1s"})
	journal := filepath.Join(state, "journal", executor.JournalFile)

	h1 := newHarness(t, cfg, fastRetry).start()
	h1.waitStatus("jobs in flight", 30*time.Second, func(s daemon.Status) bool { return s.JobsInFlight > 0 })
	err, took := h1.stop()
	if err != nil {
		t.Errorf("Run = %v, want nil on shutdown", err)
	}
	if took > 4*time.Second {
		t.Errorf("Run returned %s after its context ended, want within the 1 s grace and a little", took)
	}
	rec := readJournal(t, journal)
	ids, _ := rec.Outstanding()
	if rec.Revision != rev || len(ids) == 0 {
		t.Fatalf("journal: revision %s, outstanding %v; want %s with jobs", short(rec.Revision), ids, short(rev))
	}
	t.Logf("shutdown after %s with %d jobs outstanding", took, len(ids))

	// A shutdown during the resume keeps the journal.
	l.sim.SetConnected("branch-1", false)
	h2 := newHarness(t, cfg, fastRetry).start()
	waitFor(t, "the resume to start", 30*time.Second, func() bool {
		return strings.Contains(h2.logs.String(), "resuming an interrupted run")
	})
	time.Sleep(100 * time.Millisecond)
	if err, _ := h2.stop(); err != nil {
		t.Errorf("Run = %v", err)
	}
	if _, err := os.Stat(journal); err != nil {
		t.Fatalf("a shutdown during the resume lost the journal: %v", err)
	}

	l.sim.SetConnected("branch-1", true)
	h3 := newHarness(t, cfg, fastRetry).start()
	s := h3.waitStatus("the resumed daemon to converge", 40*time.Second, appliedRev(rev))
	if !strings.Contains(h3.logs.String(), `"msg":"resumed an interrupted run"`) {
		t.Errorf("the new daemon did not resume the journal")
	}
	if _, err := os.Stat(journal); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the journal is still there after converging: %v", err)
	}
	if s.Plan == nil || s.Plan.Calls != 0 {
		t.Errorf("plan after converging = %+v", s.Plan)
	}
	tunnels, err := l.client(t).Tunnels(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(tunnels) != 3 {
		t.Errorf("%d tunnels after resuming, want 3", len(tunnels))
	}
}

// Within the grace period, a shutdown awaits the current phase's jobs and
// starts no further phase: nothing is left in flight, so no journal stays.
func TestShutdownAwaitsPhase(t *testing.T) {
	l := newLab(t, simulator.Options{JobLatency: 500 * time.Millisecond})
	r := newGitRepo(t)
	r.commit("core", topology(inetYAML))
	state := filepath.Join(t.TempDir(), "state")
	h := newHarness(t, newConfig(t, l, r, cfgOpts{StateDir: state, ShutdownGrace: "20s"}), fastRetry).start()
	h.waitStatus("jobs in flight", 30*time.Second, func(s daemon.Status) bool { return s.JobsInFlight > 0 })
	writes := l.writes.Load()
	err, took := h.stop()
	if err != nil {
		t.Errorf("Run = %v", err)
	}
	if took > 10*time.Second {
		t.Errorf("Run took %s to return: the phase's jobs take about a second", took)
	}
	counts := l.sim.JobCounts()
	if counts["complete"] == 0 || counts["inactive"]+counts["active"] != 0 {
		t.Errorf("jobs after shutdown = %v, want all of the phase complete", counts)
	}
	if n := l.writes.Load() - writes; n != 0 {
		t.Errorf("%d writes after the shutdown began", n)
	}
	if _, err := os.Stat(filepath.Join(state, "journal", executor.JournalFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a journal stayed although every job ended: %v", err)
	}
}

func readJournal(t *testing.T, path string) *executor.JournalRecord {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("journal: %v", err)
	}
	var rec executor.JournalRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatalf("journal: %v", err)
	}
	return &rec
}

// Reload swaps the configuration in: the mode in the status changes and the
// next run uses it. Scraping the metrics meanwhile is safe.
func TestReload(t *testing.T) {
	l := newLab(t, simulator.Options{})
	r := newGitRepo(t)
	rev := r.commit("core", topology(coreYAML))
	state := filepath.Join(t.TempDir(), "state")
	cfg := newConfig(t, l, r, cfgOpts{StateDir: state, Budget: "{requests: 100, window: 1m}"})
	h := newHarness(t, cfg, fastRetry).start()
	h.waitStatus("the start run", 30*time.Second, appliedRev(rev))

	stop := make(chan struct{})
	scraped := make(chan struct{})
	go func() {
		defer close(scraped)
		for {
			select {
			case <-stop:
				return
			default:
				h.metrics()
			}
		}
	}()
	detect := newConfig(t, l, r, cfgOpts{StateDir: state, Mode: "detect", Budget: "{requests: 200, window: 1m}"})
	h.d.Reload(detect)
	close(stop)
	<-scraped
	if s := h.status(); s.Mode != daemon.ModeDetect {
		t.Errorf("mode after reload = %s, want detect", s.Mode)
	}
	if h.d.Config() != detect {
		t.Errorf("Config() is not the reloaded config")
	}
	// Drift appears; the detect-mode run reports it and does not repair it.
	deleteATunnel(t, l)
	writes := l.writes.Load()
	h.d.Trigger("test")
	s := h.waitStatus("the drift to be seen", 30*time.Second, func(s daemon.Status) bool {
		return !s.Reconciling && s.Drift["tunnelsToCreate"] == 1
	})
	if n := l.writes.Load() - writes; n != 0 {
		t.Errorf("detect mode after reload sent %d writes", n)
	}
	if got := metric(h.metrics(), "reconciler_api_budget_remaining"); got <= 100 || got > 200 {
		t.Errorf("reconciler_api_budget_remaining = %v, want the reloaded budget of 200 less what was spent", got)
	}
	_ = s
}

// deleteATunnel removes one tunnel behind the daemon's back.
func deleteATunnel(t *testing.T, l *lab) {
	t.Helper()
	c := l.client(t)
	tunnels, err := c.Tunnels(t.Context())
	if err != nil || len(tunnels) == 0 {
		t.Fatalf("tunnels: %v, %d", err, len(tunnels))
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
