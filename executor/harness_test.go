package executor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/flexiwan-gitops/reconciler/diff"
	"github.com/flexiwan-gitops/reconciler/executor"
	"github.com/flexiwan-gitops/reconciler/fleximanage"
	"github.com/flexiwan-gitops/reconciler/fleximanage/simulator"
	"github.com/flexiwan-gitops/reconciler/live"
	"github.com/flexiwan-gitops/reconciler/liveread"
	"github.com/flexiwan-gitops/reconciler/planner"
	"github.com/flexiwan-gitops/reconciler/planner/render"
	"github.com/flexiwan-gitops/reconciler/spec"
)

// The tests of this package run the executor against the simulator over
// real HTTP. The harness below builds a simulator from a fleet, a client
// for it, and a spec from topology files; it plans from live state the way
// cmd/reconciler does.

const simToken = "executor-test-key"

// fleetMix is a small network whose plan both makes and breaks: a label to
// create, four device PUTs, a tunnels call, a prune deletion of a tunnel
// and of an unused label. The hub–spoke-1 and hub–spoke-2 mpls tunnels are
// declared and already exist.
const fleetMix = `
organizations:
  - name: lab
    id: 65b0000000000000000000aa
    pathLabels:
      - {name: mpls, type: Tunnel, color: "#2e86de"}
      - {name: legacy, type: Tunnel, color: "#7f8c8d"}
    devices:
      - name: hub
        interfaces:
          - {name: eth0, type: WAN, ipv4: 198.51.100.2/30, gateway: 198.51.100.1, pathLabels: [mpls], metric: 100}
          - {name: eth1, type: WAN, ipv4: 203.0.113.2/29, gateway: 203.0.113.1, metric: 200}
          - {name: eth2, type: LAN, ipv4: 10.0.0.1/24}
      - name: spoke-1
        interfaces:
          - {name: eth0, type: WAN, ipv4: 198.51.100.6/30, gateway: 198.51.100.5, pathLabels: [mpls], metric: 100}
          - {name: eth1, type: WAN, ipv4: 203.0.113.10/29, gateway: 203.0.113.9, metric: 200}
          - {name: eth2, type: LAN, ipv4: 10.1.0.1/24}
      - name: spoke-2
        interfaces:
          - {name: eth0, type: WAN, ipv4: 198.51.100.10/30, gateway: 198.51.100.9, pathLabels: [mpls], metric: 100}
          - {name: eth1, type: WAN, ipv4: 203.0.113.18/29, gateway: 203.0.113.17, metric: 200}
          - {name: eth2, type: LAN, ipv4: 10.2.0.1/24}
      - name: spoke-3
        interfaces:
          - {name: eth0, type: WAN, ipv4: 198.51.100.14/30, gateway: 198.51.100.13, pathLabels: [mpls], metric: 100}
          - {name: eth1, type: WAN, ipv4: 203.0.113.26/29, gateway: 203.0.113.25, metric: 200}
          - {name: eth2, type: LAN, ipv4: 10.3.0.1/24}
    tunnels:
      - {a: hub/eth0, b: spoke-1/eth0, pathLabel: mpls}
      - {a: hub/eth0, b: spoke-2/eth0, pathLabel: mpls}
      - {a: spoke-1/eth0, b: spoke-2/eth0, pathLabel: mpls}
`

var topoMix = map[string]string{"network.yaml": `
pathLabels:
  - {name: mpls}
  - {name: inet, color: "#10ac84"}
devices:
  - {name: hub, interfaces: [{name: eth0, pathLabels: [mpls]}, {name: eth1, pathLabels: [inet]}]}
  - {name: spoke-1, interfaces: [{name: eth0, pathLabels: [mpls]}, {name: eth1, pathLabels: [inet]}]}
  - {name: spoke-2, interfaces: [{name: eth0, pathLabels: [mpls]}, {name: eth1, pathLabels: [inet]}]}
  - {name: spoke-3, interfaces: [{name: eth0, pathLabels: [mpls]}, {name: eth1, pathLabels: [inet]}]}
tunnels:
  - name: star
    topology: hubAndSpoke
    hub: hub
    spokes: ["spoke-*"]
    pathLabels: [mpls, inet]
`}

// fleetLabeled has the labels on the interfaces already and no tunnels: its
// plan is a single tunnels call.
const fleetLabeled = `
organizations:
  - name: lab
    id: 65b0000000000000000000bb
    pathLabels:
      - {name: mpls, type: Tunnel, color: "#2e86de"}
      - {name: inet, type: Tunnel, color: "#10ac84"}
    devices:
      - name: hub
        interfaces:
          - {name: eth0, type: WAN, ipv4: 198.51.100.2/30, gateway: 198.51.100.1, pathLabels: [mpls], metric: 100}
          - {name: eth1, type: WAN, ipv4: 203.0.113.2/29, gateway: 203.0.113.1, pathLabels: [inet], metric: 200}
          - {name: eth2, type: LAN, ipv4: 10.0.0.1/24}
      - name: spoke-1
        interfaces:
          - {name: eth0, type: WAN, ipv4: 198.51.100.6/30, gateway: 198.51.100.5, pathLabels: [mpls], metric: 100}
          - {name: eth1, type: WAN, ipv4: 203.0.113.10/29, gateway: 203.0.113.9, pathLabels: [inet], metric: 200}
          - {name: eth2, type: LAN, ipv4: 10.1.0.1/24}
      - name: spoke-2
        interfaces:
          - {name: eth0, type: WAN, ipv4: 198.51.100.10/30, gateway: 198.51.100.9, pathLabels: [mpls], metric: 100}
          - {name: eth1, type: WAN, ipv4: 203.0.113.18/29, gateway: 203.0.113.17, pathLabels: [inet], metric: 200}
          - {name: eth2, type: LAN, ipv4: 10.2.0.1/24}
`

var topoLabeled = map[string]string{"network.yaml": `
pathLabels:
  - {name: mpls}
  - {name: inet}
devices:
  - {name: hub, interfaces: [{name: eth0, pathLabels: [mpls]}, {name: eth1, pathLabels: [inet]}]}
  - {name: spoke-1, interfaces: [{name: eth0, pathLabels: [mpls]}, {name: eth1, pathLabels: [inet]}]}
  - {name: spoke-2, interfaces: [{name: eth0, pathLabels: [mpls]}, {name: eth1, pathLabels: [inet]}]}
tunnels:
  - {name: star, topology: hubAndSpoke, hub: hub, spokes: ["spoke-*"], pathLabels: [mpls, inet]}
`}

// scenario reads a fleet and a topology from testdata/scenarios/<name>.txtar.
func scenario(t testing.TB, name string) (fleet string, topo map[string]string, prune bool) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "scenarios", name+".txtar"))
	if err != nil {
		t.Fatal(err)
	}
	topo = map[string]string{}
	var cur string
	var buf strings.Builder
	flush := func() {
		switch {
		case cur == "fleet.yaml":
			fleet = buf.String()
		case cur == "flags":
			prune = strings.Contains(buf.String(), "prune")
		case strings.HasPrefix(cur, "topology/"):
			topo[strings.TrimPrefix(cur, "topology/")] = buf.String()
		}
		buf.Reset()
	}
	for _, line := range strings.SplitAfter(string(data), "\n") {
		if s := strings.TrimSpace(line); strings.HasPrefix(s, "-- ") && strings.HasSuffix(s, " --") {
			flush()
			cur = strings.TrimSuffix(strings.TrimPrefix(s, "-- "), " --")
			continue
		}
		buf.WriteString(line)
	}
	flush()
	if fleet == "" || len(topo) == 0 {
		t.Fatalf("scenario %s has no fleet or topology", name)
	}
	return fleet, topo, prune
}

// reqRecord is one request as the server saw it.
type reqRecord struct {
	Start  time.Time
	Method string
	Path   string
	Query  string
	// Apply is the "method" of an apply body (tunnels, deltunnels, ...).
	Apply  string
	Status int
	Done   bool // answered (or abandoned by the simulator)
}

func (r reqRecord) write() bool { return r.Method != http.MethodGet }

// recorder sits in front of the simulator: it records every request and
// lets a test act on one (inject an answer, kill a process, ...).
type recorder struct {
	next http.Handler
	mu   sync.Mutex
	reqs []reqRecord
	// hook, when set, sees each request before the simulator; a non-zero
	// status is answered instead (a service error with that status).
	hook func(r reqRecord) int
}

func (rc *recorder) setHook(h func(r reqRecord) int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.hook = h
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rq := reqRecord{Start: time.Now(), Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery}
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/apply") && r.Body != nil {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var b struct {
			Method string `json:"method"`
		}
		json.Unmarshal(body, &b)
		rq.Apply = b.Method
	}
	rc.mu.Lock()
	i := len(rc.reqs)
	rc.reqs = append(rc.reqs, rq)
	hook := rc.hook
	rc.mu.Unlock()
	sw := &statusWriter{ResponseWriter: w}
	if hook != nil {
		if st := hook(rq); st != 0 {
			sw.Header().Set("Content-Type", "application/json; charset=utf-8")
			sw.WriteHeader(st)
			json.NewEncoder(sw).Encode(map[string]any{"error": "injected by the test", "code": st, "data": map[string]any{}})
			rc.setStatus(i, st)
			return
		}
	}
	rc.next.ServeHTTP(sw, r)
	rc.setStatus(i, sw.status)
}

func (rc *recorder) setStatus(i, st int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.reqs[i].Status = st
	rc.reqs[i].Done = true
}

// requests returns a copy of what was recorded.
func (rc *recorder) requests() []reqRecord {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]reqRecord(nil), rc.reqs...)
}

// settle waits until every request recorded so far has been answered (a
// request of a killed client may still be in the simulator's hands).
func (rc *recorder) settle(t testing.TB) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		busy := 0
		for _, r := range rc.requests() {
			if !r.Done {
				busy++
			}
		}
		if busy == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests still unanswered after 10 s", busy)
		}
		time.Sleep(time.Millisecond)
	}
}

func (rc *recorder) reset() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.reqs = nil
}

// applies returns the apply methods sent, in order.
func (rc *recorder) applies() []string {
	var out []string
	for _, r := range rc.requests() {
		if r.Apply != "" {
			out = append(out, r.Apply)
		}
	}
	return out
}

type setup struct {
	fleet    string
	topology map[string]string
	sim      simulator.Options
	// client options; BaseURL, Key and HTTPClient are filled in. NoBudget
	// is set unless Budget is.
	client fleximanage.Options
	prune  bool
}

type env struct {
	t      testing.TB
	sim    *simulator.Simulator
	srv    *httptest.Server
	rec    *recorder
	client *fleximanage.Client
	org    live.Org
	spec   *spec.Spec
	popts  planner.Options
	topo   map[string]string
}

func newEnv(t testing.TB, s setup) *env {
	t.Helper()
	fleet, err := simulator.LoadFleet("fleet.yaml", strings.NewReader(s.fleet))
	if err != nil {
		t.Fatalf("fleet: %v", err)
	}
	so := s.sim
	so.Keys = []simulator.Key{{Token: simToken}}
	if so.RateLimit == 0 {
		so.NoRateLimit = true
	}
	if so.Seed == 0 {
		so.Seed = 7
	}
	sim, err := simulator.New(fleet, so)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{next: sim}
	srv := httptest.NewServer(rec)
	// Cleanups run last-in first-out: the server closes before the
	// simulator stops its job timers.
	t.Cleanup(func() { sim.Close() })
	t.Cleanup(srv.Close)
	co := s.client
	co.BaseURL, co.Key = srv.URL, simToken
	co.HTTPClient = srv.Client()
	if co.Budget == nil {
		co.NoBudget = true
	}
	if co.BackoffBase == 0 {
		co.BackoffBase, co.BackoffMax = time.Millisecond, 5*time.Millisecond
	}
	c, err := fleximanage.New(co)
	if err != nil {
		t.Fatal(err)
	}
	org := live.Org{ID: sim.OrgID("lab")}
	if org.ID == "" {
		t.Fatal("the fleet has no organization named lab")
	}
	return &env{t: t, sim: sim, srv: srv, rec: rec, client: c.WithOrg(org.ID), org: org,
		spec: loadSpec(t, s.topology), popts: planOptions(s.prune), topo: s.topology}
}

func loadSpec(t testing.TB, files map[string]string) *spec.Spec {
	t.Helper()
	src := fstest.MapFS{}
	for name, data := range files {
		src[name] = &fstest.MapFile{Data: []byte(data)}
	}
	sp, err := spec.Load(src, ".")
	if err != nil {
		t.Fatalf("topology: %v", err)
	}
	return sp
}

func planOptions(prune bool) planner.Options {
	o := planner.Options{Revision: "0123456789abcdef0123456789abcdef01234567", Source: "executor tests",
		Now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC), MaxDeletions: -1}
	if prune {
		o.Prune = &prune
	}
	return o
}

func (e *env) read(ctx context.Context) *live.State {
	e.t.Helper()
	st, err := liveread.Read(ctx, e.client, e.org)
	if err != nil {
		e.t.Fatalf("read live state: %v", err)
	}
	return st
}

func (e *env) plan(ctx context.Context) (*planner.Plan, *live.State) {
	e.t.Helper()
	st := e.read(ctx)
	p, err := planner.Build(e.spec, st, e.popts)
	if err != nil {
		e.t.Fatalf("plan: %v", err)
	}
	return p, st
}

// execOptions are fast polling options for tests, with the labels of st.
func (e *env) execOptions(st *live.State) executor.Options {
	known := map[string]string{}
	for _, l := range st.Labels {
		known[l.Name] = l.ID
	}
	return executor.Options{Client: e.client, Labels: known, PollMin: 2 * time.Millisecond, PollMax: 20 * time.Millisecond, PhaseDeadline: 20 * time.Second}
}

func (e *env) apply(ctx context.Context, p *planner.Plan, o executor.Options) (*executor.Result, error) {
	e.t.Helper()
	ex, err := executor.New(o)
	if err != nil {
		e.t.Fatal(err)
	}
	return ex.Apply(ctx, p)
}

func planText(p *planner.Plan) string {
	var b bytes.Buffer
	render.Text(&b, p, render.TextOptions{})
	return b.String()
}

// converge is the rerun after a fault: it waits for the simulator to be
// idle, plans from fresh live state, applies (which must succeed) and then
// checks that nothing is left to do and nothing was lost.
func (e *env) converge(ctx context.Context) *executor.Result {
	e.t.Helper()
	if err := e.sim.WaitIdle(ctx); err != nil {
		e.t.Fatal(err)
	}
	p, st := e.plan(ctx)
	var res *executor.Result
	if !p.Empty() {
		var err error
		res, err = e.apply(ctx, p, e.execOptions(st))
		if err != nil {
			e.t.Fatalf("rerun failed: %v\nplan:\n%s", err, planText(p))
		}
	}
	e.checkConverged(ctx)
	return res
}

// checkConverged asserts that a new plan is empty, that no tunnel exists
// twice, and that every tunnel the source declares exists and is
// configured on both ends.
func (e *env) checkConverged(ctx context.Context) {
	e.t.Helper()
	if err := e.sim.WaitIdle(ctx); err != nil {
		e.t.Fatal(err)
	}
	p, st := e.plan(ctx)
	if !p.Empty() {
		e.t.Fatalf("after the rerun the plan is not empty:\n%s", planText(p))
	}
	seen := map[live.TunnelKey]string{}
	for _, tn := range st.Tunnels {
		k := tn.Key()
		if other, dup := seen[k]; dup {
			e.t.Errorf("tunnel %s exists twice (%s and %s)", st.DescribeKey(k), other, tn.ID)
		}
		seen[k] = tn.ID
	}
	res := diff.Compute(e.spec, st, diff.Options{})
	if len(res.Desired) == 0 {
		e.t.Fatal("the source declares no tunnel; the check proves nothing")
	}
	for _, d := range res.Desired {
		var found *live.Tunnel
		for i := range st.Tunnels {
			if st.Tunnels[i].Key() == d.Key {
				found = &st.Tunnels[i]
			}
		}
		switch {
		case found == nil:
			e.t.Errorf("declared tunnel %s does not exist", st.DescribeKey(d.Key))
		case !found.AConf || !found.BConf:
			e.t.Errorf("declared tunnel %s is configured on A %v, on B %v", st.DescribeKey(d.Key), found.AConf, found.BConf)
		}
	}
}

// tunnelIDs returns the ids of the live tunnels, sorted.
func tunnelIDs(st *live.State) []string {
	var ids []string
	for _, t := range st.Tunnels {
		ids = append(ids, t.ID)
	}
	sort.Strings(ids)
	return ids
}

// deletes returns the live ids of the tunnels p deletes.
func deletes(p *planner.Plan) []string {
	var ids []string
	for _, s := range p.Steps {
		for _, d := range s.Deletes {
			ids = append(ids, d.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

// stepsByPhase indexes a result's step statuses by phase.
func statusesFrom(res *executor.Result, from planner.Phase) map[int]executor.StepStatus {
	out := map[int]executor.StepStatus{}
	for _, s := range res.Steps {
		if s.Phase >= from {
			out[s.ID] = s.Status
		}
	}
	return out
}

// allSkipped returns a map of the same ids, every one StepSkipped.
func allSkipped(m map[int]executor.StepStatus) map[int]executor.StepStatus {
	out := map[int]executor.StepStatus{}
	for id := range m {
		out[id] = executor.StepSkipped
	}
	return out
}

// unfinishedJobs counts the simulator's jobs that are queued or running.
func unfinishedJobs(sim *simulator.Simulator) int {
	c := sim.JobCounts()
	return c["inactive"] + c["active"]
}

// observerFuncs is an Observer made of optional functions.
type observerFuncs struct {
	stepSent func(*planner.Step, executor.Sent, error)
	progress func(planner.Phase, executor.JobCounts)
}

func (o observerFuncs) PhaseStarted(planner.Phase, int, int) {}
func (o observerFuncs) StepSent(s *planner.Step, sent executor.Sent, err error) {
	if o.stepSent != nil {
		o.stepSent(s, sent, err)
	}
}
func (o observerFuncs) JobsProgress(p planner.Phase, c executor.JobCounts) {
	if o.progress != nil {
		o.progress(p, c)
	}
}
func (o observerFuncs) PhaseDone(planner.Phase, int, error) {}

var _ executor.Observer = observerFuncs{}
