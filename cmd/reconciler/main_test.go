package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/flexiwan-gitops/reconciler/examples"
	"github.com/flexiwan-gitops/reconciler/fleximanage"
	"github.com/flexiwan-gitops/reconciler/fleximanage/simulator"
)

// lab is a simulator of the lab fleet behind a request counter, and the
// flags to reach it.
type lab struct {
	sim      *simulator.Simulator
	url      string
	requests atomic.Int64
	writes   atomic.Int64
	conn     []string
}

func newLab(t *testing.T) *lab {
	t.Helper()
	fleet, err := simulator.LoadFleet("lab", strings.NewReader(string(examples.LabFleet)))
	if err != nil {
		t.Fatal(err)
	}
	sim, err := simulator.New(fleet, simulator.Options{Instant: true, NoRateLimit: true, Keys: []simulator.Key{{Token: "lab-key-for-tests"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	l := &lab{sim: sim}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.requests.Add(1)
		if r.Method != http.MethodGet {
			l.writes.Add(1)
		}
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	l.url = srv.URL
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("lab-key-for-tests\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l.conn = []string{"--server", srv.URL, "--token-file", tok, "--org", "lab"}
	return l
}

// topologyDir copies examples/topology into a temporary directory.
func topologyDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	ents, err := examples.FS.ReadDir("topology")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := examples.FS.ReadFile("topology/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(t.Context(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestValidate(t *testing.T) {
	good := topologyDir(t)
	code, out, errOut := runCmd(t, "validate", "--dir", good)
	if code != exitOK || !strings.Contains(out, "is valid") {
		t.Fatalf("validate good = %d, %q, %q", code, out, errOut)
	}
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "a.yaml"), []byte("devices:\n  - name: x\n    colour: red\ntunnels:\n  - topology: fullMesh\n    devices: [x, y]\n"), 0o644)
	code, _, errOut = runCmd(t, "validate", "--dir", bad)
	if code != exitFailure {
		t.Fatalf("validate bad = %d, want %d", code, exitFailure)
	}
	for _, want := range []string{"a.yaml:3:5: unknown key \"colour\"", "a.yaml:6:18: device \"y\" is not declared", "2 problems"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("validate output lacks %q:\n%s", want, errOut)
		}
	}
	if code, _, _ := runCmd(t, "validate"); code != exitUsage {
		t.Errorf("validate without a source = %d, want %d", code, exitUsage)
	}
}

// An invalid source must not cost a single request.
func TestPlanInvalidSourceSendsNothing(t *testing.T) {
	l := newLab(t)
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "a.yaml"), []byte("pathLabels:\n  - {name: x}\n"), 0o644)
	code, _, errOut := runCmd(t, append([]string{"plan", "--dir", bad}, l.conn...)...)
	if code != exitFailure || !strings.Contains(errOut, "a.yaml:2:") {
		t.Fatalf("plan = %d, stderr %q", code, errOut)
	}
	if n := l.requests.Load(); n != 0 {
		t.Errorf("an invalid source sent %d requests, want 0", n)
	}
}

func TestPlanApplyPlan(t *testing.T) {
	l := newLab(t)
	dir := topologyDir(t)
	code, out, errOut := runCmd(t, append([]string{"plan", "--dir", dir}, l.conn...)...)
	if code != exitChanges {
		t.Fatalf("plan = %d, want %d; stderr %s", code, exitChanges, errOut)
	}
	if !strings.Contains(out, "14 tunnels to create") {
		t.Errorf("plan output lacks the summary:\n%s", out)
	}
	if l.writes.Load() != 0 {
		t.Errorf("plan sent %d writes", l.writes.Load())
	}
	planFile := filepath.Join(t.TempDir(), "plan.json")
	code, _, errOut = runCmd(t, append([]string{"plan", "--dir", dir, "--format", "json", "--out", planFile}, l.conn...)...)
	if code != exitChanges {
		t.Fatalf("plan --out = %d: %s", code, errOut)
	}
	var saved map[string]any
	b, _ := os.ReadFile(planFile)
	if err := json.Unmarshal(b, &saved); err != nil || saved["formatVersion"] != float64(1) {
		t.Fatalf("saved plan: %v %v", err, saved["formatVersion"])
	}
	state := t.TempDir()
	code, out, errOut = runCmd(t, append([]string{"apply", "--dir", dir, "--plan", planFile, "--state-dir", state}, l.conn...)...)
	if code != exitOK || !strings.Contains(out, "Converged") {
		t.Fatalf("apply --plan = %d\n%s\n%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(state, "journal.json")); !os.IsNotExist(err) {
		t.Errorf("a finished run left its journal: %v", err)
	}
	code, _, errOut = runCmd(t, append([]string{"plan", "--dir", dir}, l.conn...)...)
	if code != exitOK {
		t.Fatalf("plan after apply = %d: %s", code, errOut)
	}
	before := l.writes.Load()
	code, out, _ = runCmd(t, append([]string{"apply", "--dir", dir, "--state-dir", state}, l.conn...)...)
	if code != exitOK || !strings.Contains(out, "No changes") || l.writes.Load() != before {
		t.Fatalf("second apply = %d, %d writes:\n%s", code, l.writes.Load()-before, out)
	}
}

func TestApplyRefusesStalePlan(t *testing.T) {
	tests := map[string]struct {
		move func(t *testing.T, l *lab, dir string)
		want string
	}{
		"device renamed in flexiManage": {
			move: func(t *testing.T, l *lab, dir string) {
				ctx := t.Context()
				c, err := fleximanage.New(fleximanage.Options{BaseURL: l.url, Key: "lab-key-for-tests", Org: l.sim.OrgID("lab"), NoBudget: true})
				if err != nil {
					t.Fatal(err)
				}
				devs, err := c.Devices(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, d := range devs {
					if d.Name == "branch-6" {
						full, err := c.Device(ctx, d.ID)
						if err != nil {
							t.Fatal(err)
						}
						full.Name = "branch-six"
						if _, _, err := c.UpdateDevice(ctx, full); err != nil {
							t.Fatal(err)
						}
					}
				}
			},
			want: "flexiManage changed",
		},
		"source changed": {
			move: func(t *testing.T, l *lab, dir string) {
				os.WriteFile(filepath.Join(dir, "settings.yaml"), []byte("settings: {maxDeletions: 3}\n"), 0o644)
			},
			want: "revision",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			l := newLab(t)
			dir := topologyDir(t)
			planFile := filepath.Join(t.TempDir(), "plan.json")
			if code, _, e := runCmd(t, append([]string{"plan", "--dir", dir, "--format", "json", "--out", planFile}, l.conn...)...); code != exitChanges {
				t.Fatalf("plan = %d: %s", code, e)
			}
			tt.move(t, l, dir)
			writes := l.writes.Load()
			code, _, errOut := runCmd(t, append([]string{"apply", "--dir", dir, "--plan", planFile, "--state-dir", t.TempDir()}, l.conn...)...)
			if code != exitFailure || !strings.Contains(errOut, "stale") || !strings.Contains(errOut, tt.want) {
				t.Fatalf("apply of a stale plan = %d: %s", code, errOut)
			}
			if l.writes.Load() != writes {
				t.Errorf("a refused plan sent %d writes", l.writes.Load()-writes)
			}
		})
	}
}

func TestConnectionErrors(t *testing.T) {
	dir := topologyDir(t)
	l := newLab(t)
	badTok := filepath.Join(t.TempDir(), "tok")
	os.WriteFile(badTok, []byte("wrong"), 0o600)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unreachable", []string{"--server", "http://127.0.0.1:1", "--token-file", badTok, "--org", "65a000000000000000000001"}, "cannot reach flexiManage"},
		{"bad key", []string{"--server", l.url, "--token-file", badTok, "--org", "lab"}, "refused the access key"},
		{"missing org", append(append([]string{}, l.conn[:4]...), "--org", "nosuch"), "organization not found"},
		{"no server", []string{"--token-file", badTok, "--org", "lab"}, "no flexiManage server"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("FLEXIMANAGE_URL", "")
			code, _, errOut := runCmd(t, append([]string{"plan", "--dir", dir}, tt.args...)...)
			if code != exitFailure || !strings.Contains(errOut, tt.want) {
				t.Fatalf("plan = %d, stderr %q, want %q", code, errOut, tt.want)
			}
			if strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
				t.Errorf("want a one-line cause, got:\n%s", errOut)
			}
			if strings.Contains(errOut, "goroutine") || strings.Contains(errOut, "wrong") {
				t.Errorf("stderr leaks a stack trace or the key:\n%s", errOut)
			}
		})
	}
}

func TestRepoSourceErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no such repository", []string{"--repo", filepath.Join(t.TempDir(), "nope")}, "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCmd(t, append(append([]string{"validate"}, tt.args...), "--cache-dir", t.TempDir())...)
			if code != exitFailure || !strings.Contains(errOut, tt.want) {
				t.Fatalf("validate = %d, stderr %q", code, errOut)
			}
		})
	}
}

func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo runs the whole loop; skipped with -short")
	}
	var out, errb bytes.Buffer
	code := run(t.Context(), []string{"demo", "--job-latency", "5ms"}, &out, &errb)
	if code != exitOK {
		t.Fatalf("demo = %d\n%s\n%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"reconciler plan", "Converged", "No changes", "try it yourself"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}

func TestUnknownCommand(t *testing.T) {
	code, _, errOut := runCmd(t, "frobnicate")
	if code != exitUsage || !strings.Contains(errOut, "unknown command") {
		t.Fatalf("= %d %q", code, errOut)
	}
}
