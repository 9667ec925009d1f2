package scenario

import (
	"bytes"
	"context"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/flexiwan-gitops/reconciler/executor"
	"github.com/flexiwan-gitops/reconciler/fleximanage"
	"github.com/flexiwan-gitops/reconciler/fleximanage/simulator"
	"github.com/flexiwan-gitops/reconciler/live"
	"github.com/flexiwan-gitops/reconciler/liveread"
	"github.com/flexiwan-gitops/reconciler/planner"
	"github.com/flexiwan-gitops/reconciler/planner/render"
	"github.com/flexiwan-gitops/reconciler/spec"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const scenarioDir = "../../testdata/scenarios"

// countingTransport counts the requests that change something.
type countingTransport struct {
	next   http.RoundTripper
	writes atomic.Int64
	all    atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.all.Add(1)
	if r.Method != http.MethodGet {
		c.writes.Add(1)
	}
	return c.next.RoundTrip(r)
}

type harness struct {
	t      *testing.T
	sim    *simulator.Simulator
	client *fleximanage.Client
	count  *countingTransport
	org    live.Org
	spec   *spec.Spec
	opts   planner.Options
}

func newHarness(t *testing.T, a *archive) *harness {
	t.Helper()
	fleet, err := simulator.LoadFleet("fleet.yaml", bytes.NewReader(a.files["fleet.yaml"]))
	if err != nil {
		t.Fatalf("fleet: %v", err)
	}
	sim, err := simulator.New(fleet, simulator.Options{Instant: true, NoRateLimit: true, Seed: 7, Keys: []simulator.Key{{Token: "scenario-key"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	ct := &countingTransport{next: http.DefaultTransport}
	c, err := fleximanage.New(fleximanage.Options{BaseURL: srv.URL, Key: "scenario-key", HTTPClient: &http.Client{Transport: ct}, NoBudget: true})
	if err != nil {
		t.Fatal(err)
	}
	org, err := liveread.ResolveOrg(t.Context(), c, "lab")
	if err != nil {
		t.Fatal(err)
	}
	src := fstest.MapFS{}
	for name, data := range a.files {
		if rest, ok := strings.CutPrefix(name, "topology/"); ok {
			src[rest] = &fstest.MapFile{Data: data}
		}
	}
	sp, err := spec.Load(src, ".")
	if err != nil {
		t.Fatalf("topology: %v", err)
	}
	opts := planner.Options{Revision: "0123456789abcdef0123456789abcdef01234567", Source: "testdata/scenarios", Now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC), MaxDeletions: -1}
	for _, line := range strings.Split(string(a.files["flags"]), "\n") {
		switch strings.TrimSpace(line) {
		case "prune":
			t := true
			opts.Prune = &t
		}
	}
	return &harness{t: t, sim: sim, client: c.WithOrg(org.ID), count: ct, org: org, spec: sp, opts: opts}
}

func (h *harness) plan(ctx context.Context) (*planner.Plan, *live.State) {
	h.t.Helper()
	st, err := liveread.Read(ctx, h.client, h.org)
	if err != nil {
		h.t.Fatal(err)
	}
	p, err := planner.Build(h.spec, st, h.opts)
	if err != nil {
		h.t.Fatalf("plan: %v", err)
	}
	return p, st
}

// apply runs the plan with the executor (journal and all) and fails the
// test if the run fails.
func (h *harness) apply(ctx context.Context, p *planner.Plan, st *live.State) {
	h.t.Helper()
	known := map[string]string{}
	for _, l := range st.Labels {
		known[l.Name] = l.ID
	}
	j, err := executor.OpenJournal(h.t.TempDir())
	if err != nil {
		h.t.Fatal(err)
	}
	ex, err := executor.New(executor.Options{Client: h.client, Labels: known, Journal: j, PollMin: time.Millisecond, PollMax: 20 * time.Millisecond})
	if err != nil {
		h.t.Fatal(err)
	}
	res, err := ex.Apply(ctx, p)
	if err != nil {
		h.t.Fatalf("apply: %v", err)
	}
	if res.JobsFailed > 0 || res.JobsWaiting > 0 {
		h.t.Fatalf("apply: %d jobs failed, %d unfinished", res.JobsFailed, res.JobsWaiting)
	}
	if h.sim.JobCounts()["failed"] > 0 {
		h.t.Fatalf("the simulator has failed jobs")
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file: %v (run go test ./internal/scenario -update)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs from the golden file; rerun with -update and review the diff.\n--- got ---\n%s", path, got)
	}
}

func TestScenarios(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(scenarioDir, "*.txtar"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios in %s (%v)", scenarioDir, err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".txtar")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			a := parseTxtar(data)
			h := newHarness(t, a)
			ctx := t.Context()
			p, st := h.plan(ctx)
			if p.Empty() {
				t.Fatalf("scenario %s plans nothing; a scenario must change something", name)
			}
			var txt, js, md bytes.Buffer
			if err := render.Text(&txt, p, render.TextOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := render.JSON(&js, p); err != nil {
				t.Fatal(err)
			}
			if err := render.Markdown(&md, p, render.MarkdownOptions{}); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(scenarioDir, name)
			golden(t, filepath.Join(dir, "plan.txt"), txt.Bytes())
			golden(t, filepath.Join(dir, "plan.json"), js.Bytes())
			golden(t, filepath.Join(dir, "plan.md"), md.Bytes())

			h.apply(ctx, p, st)
			again, _ := h.plan(ctx)
			if !again.Empty() {
				var b bytes.Buffer
				render.Text(&b, again, render.TextOptions{})
				t.Fatalf("after apply, the plan is not empty:\n%s", b.String())
			}
			before := h.count.writes.Load()
			h.apply(ctx, again, emptyState())
			if w := h.count.writes.Load() - before; w != 0 {
				t.Errorf("a second apply sent %d writes, want 0", w)
			}
			if err := h.sim.WaitIdle(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func emptyState() *live.State { return &live.State{} }
