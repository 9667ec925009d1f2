package simulator_test

// The simulator's job engine and the request pipeline around it, checked
// against fleximanage/API.md §8 (jobs), §5.3 (Location) and §1.5 (rate
// limit). The fixture is in tunnels_test.go.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flexiwan-gitops/reconciler/fleximanage/simulator"
	"github.com/google/go-cmp/cmp"
)

// Two labelled devices and one that is not approved.
const fleetJobs = `
organizations:
  - name: t
    pathLabels:
      - {name: mpls, type: Tunnel}
    devices:
      - name: a
        interfaces:
          - {name: eth0, type: WAN, ipv4: 192.0.2.1/24, pathLabels: [mpls]}
          - {name: eth1, type: LAN, ipv4: 10.0.1.1/24}
      - name: b
        interfaces:
          - {name: eth0, type: WAN, ipv4: 192.0.2.2/24, pathLabels: [mpls]}
          - {name: eth1, type: LAN, ipv4: 10.0.2.1/24}
      - name: u
        approved: false
        interfaces:
          - {name: eth0, type: WAN, ipv4: 192.0.2.3/24, pathLabels: [mpls]}
          - {name: eth1, type: LAN, ipv4: 10.0.3.1/24}
`

// deviceApply posts {"method":method} to /devices/{id}/apply and returns
// the one job id it queued.
func (f *apiFixture) deviceApply(device, method string) int64 {
	f.t.Helper()
	r := f.do(http.MethodPost, f.path("/api/devices/"+f.dev(device).ID+"/apply"), map[string]string{"method": method})
	var res tunApply
	if r.status != http.StatusAccepted || json.Unmarshal(r.body, &res) != nil || len(res.IDs) != 1 {
		f.t.Fatalf("POST /devices/%s/apply %s = %d %s, want 202 with one id", device, method, r.status, r.body)
	}
	return res.IDs[0]
}

// jobStates maps job id to state.
func (f *apiFixture) jobStates(ids ...int64) map[int64]string {
	f.t.Helper()
	out := map[int64]string{}
	for _, j := range f.jobs(ids) {
		out[j.ID] = j.State
	}
	return out
}

// TestJobQueuePerDevice: one FIFO queue per device, one active job at a
// time on each, queues of different devices running side by side (§8).
func TestJobQueuePerDevice(t *testing.T) {
	const latency = 100 * time.Millisecond
	f := newAPIFixture(t, parseFleet(t, fleetJobs), simulator.Options{JobLatency: latency})
	queues := map[string][]int64{}
	for _, step := range []struct{ dev, method string }{
		{"a", "stop"}, {"a", "reset"}, {"b", "stop"}, {"a", "stop"}, {"b", "reset"}, {"b", "stop"}, {"a", "reset"}, {"b", "reset"},
	} {
		queues[step.dev] = append(queues[step.dev], f.deviceApply(step.dev, step.method))
	}
	all := append(append([]int64{}, queues["a"]...), queues["b"]...)

	rank := map[string]int{"inactive": 0, "active": 1, "complete": 2}
	sawActive, sawBoth := false, false
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := f.jobStates(all...)
		activeOn := map[string]bool{}
		for dev, ids := range queues {
			// In queue order the states must read complete… active? inactive…
			prev, actives := 2, 0
			for _, id := range ids {
				r, ok := rank[st[id]]
				if !ok {
					t.Fatalf("job %d of %s is %q, want inactive, active or complete", id, dev, st[id])
				}
				if r > prev {
					t.Fatalf("queue of %s out of order: %v", dev, describe(ids, st))
				}
				if r == 1 {
					actives++
				}
				prev = r
			}
			if actives > 1 {
				t.Fatalf("queue of %s has %d active jobs: %v", dev, actives, describe(ids, st))
			}
			activeOn[dev] = actives == 1
		}
		sawActive = sawActive || activeOn["a"] || activeOn["b"]
		sawBoth = sawBoth || (activeOn["a"] && activeOn["b"])
		done := true
		for _, id := range all {
			done = done && st[id] == "complete"
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs not complete after 20s: %v", st)
		}
		time.Sleep(5 * time.Millisecond) // observation only: the states are timing-dependent
	}
	if !sawActive {
		t.Error("never saw a job active")
	}
	if !sawBoth {
		t.Error("never saw a and b run a job at the same time; want one queue per device")
	}
}

func describe(ids []int64, st map[int64]string) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprintf("%d:%s", id, st[id])
	}
	return strings.Join(parts, " ")
}

// TestJobsWaitForDevice: jobs of a disconnected or unapproved device stay
// inactive; a reconnected device runs them (§8.4, §4.1).
func TestJobsWaitForDevice(t *testing.T) {
	f := newAPIFixture(t, parseFleet(t, fleetJobs), simulator.Options{})
	f.sim.SetConnected("a", false)
	ja := f.deviceApply("a", "stop")
	ju := f.deviceApply("u", "stop")
	jb := f.deviceApply("b", "stop")
	f.waitIdle()
	want := map[int64]string{ja: "inactive", ju: "inactive", jb: "complete"}
	if diff := cmp.Diff(want, f.jobStates(ja, ju, jb)); diff != "" {
		t.Fatalf("states with a offline and u unapproved (-want +got):\n%s", diff)
	}

	f.sim.SetConnected("a", true)
	f.sim.SetConnected("u", true)
	f.waitIdle()
	want = map[int64]string{ja: "complete", ju: "inactive", jb: "complete"}
	if diff := cmp.Diff(want, f.jobStates(ja, ju, jb)); diff != "" {
		t.Errorf("states after reconnecting (-want +got):\n%s", diff)
	}
}

// TestJobFields: the names and types of a job's fields (§8.3), on a
// complete and on a failed job.
func TestJobFields(t *testing.T) {
	f := newAPIFixture(t, parseFleet(t, fleetJobs), simulator.Options{})
	before := time.Now().UnixMilli()
	res := f.mustApply(f.tunnelsBody("fullMesh", "", []string{"mpls"}, "a", "b"))
	f.sim.SetFaults(simulator.Faults{FailJobs: []simulator.JobFault{{Device: "b", Method: "stop", Message: "router refused to stop"}}})
	failed := f.deviceApply("b", "stop")
	after := time.Now().UnixMilli()
	f.waitIdle()

	var jobs []map[string]any
	f.getJSON(f.path("/api/jobs", "status", "all", "ids", joinIDs(append(res.IDs, failed))), &jobs)
	if len(jobs) != 3 {
		t.Fatalf("GET /jobs = %d jobs, want 3", len(jobs))
	}
	for _, j := range jobs {
		id, ok := j["_id"].(float64)
		if !ok {
			t.Errorf("_id = %#v, want a JSON number", j["_id"])
		}
		typ, _ := j["type"].(string)
		if _, known := f.names[typ]; !known {
			t.Errorf("job %v: type = %#v, want a device machineId", id, j["type"])
		}
		created, _ := j["created_at"].(string)
		ms, err := strconv.ParseInt(created, 10, 64)
		if err != nil || ms < before || ms > after {
			t.Errorf("job %v: created_at = %#v, want a string of epoch ms in [%d, %d]", id, j["created_at"], before, after)
		}
		title, _ := dig(j, "data", "message", "title").(string)
		method, _ := dig(j, "data", "response", "method").(string)
		if target, _ := dig(j, "data", "metadata", "target").(string); target != typ {
			t.Errorf("job %v: data.metadata.target = %q, want the type %q", id, target, typ)
		}

		if int64(id) == failed {
			if j["state"] != "failed" || title != "Stop device b" || method != "stop" {
				t.Errorf("failed job: state %v, title %q, method %q; want failed, %q, stop", j["state"], title, method, "Stop device b")
			}
			if got := dig(j, "error", "errors", 0, "error"); got != "router refused to stop" {
				t.Errorf("failed job: error.errors[0].error = %#v, want %q (error = %#v)", got, "router refused to stop", j["error"])
			}
			if got := dig(j, "error", "errors", 0, "command", "func"); got != title {
				t.Errorf("failed job: error.errors[0].command.func = %#v, want the title %q", got, title)
			}
			continue
		}
		if j["state"] != "complete" || method != "tunnels" || title != "Create tunnel between (a,eth0) and (b,eth0)" {
			t.Errorf("tunnel job %v: state %v, method %q, title %q", id, j["state"], method, title)
		}
		if j["progress"] != "100" {
			t.Errorf("complete job %v: progress = %#v, want \"100\"", id, j["progress"])
		}
		if !reflect.DeepEqual(j["result"], dig(j, "data", "response")) {
			t.Errorf("complete job %v: result = %#v, want data.response %#v", id, j["result"], dig(j, "data", "response"))
		}
		if _, has := j["error"]; has {
			t.Errorf("complete job %v has an error member: %#v", id, j["error"])
		}
	}
}

// dig walks decoded JSON by member names and array indexes.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

// TestFailedTunnelJobHalfConfigures: a failed add-tunnel job leaves the
// tunnel active with that side unconfigured; the next tunnels call sees it
// as existing; a sync of the device configures it (§5.4 step 9, §11 item 7).
func TestFailedTunnelJobHalfConfigures(t *testing.T) {
	f := newAPIFixture(t, parseFleet(t, fleetJobs), simulator.Options{})
	f.sim.SetFaults(simulator.Faults{FailJobs: []simulator.JobFault{{Device: "b", Method: "tunnels", Message: "vpp: tunnel add failed"}}})
	res := f.mustApply(f.tunnelsBody("fullMesh", "", []string{"mpls"}, "a", "b"))
	f.waitIdle()
	states := map[string]string{}
	for _, j := range f.jobs(res.IDs) {
		states[f.names[j.Type]] = j.State
	}
	if diff := cmp.Diff(map[string]string{"a": "complete", "b": "failed"}, states); diff != "" {
		t.Fatalf("add-tunnel job states (-want +got):\n%s", diff)
	}
	conf := func() [2]bool {
		t.Helper()
		ts := f.tunnels()
		if len(ts) != 1 {
			t.Fatalf("GET /tunnels = %d tunnels, want the one a-b tunnel", len(ts))
		}
		return [2]bool{ts[0].DeviceAconf, ts[0].DeviceBconf}
	}
	if got := conf(); got != [2]bool{true, false} {
		t.Errorf("after b's job failed, [deviceAconf deviceBconf] = %v, want [true false]", got)
	}

	again := f.mustApply(f.tunnelsBody("fullMesh", "", []string{"mpls"}, "a", "b"))
	if len(again.IDs) != 0 || again.Message != "No tunnel creation jobs added. Some tunnels exist already." {
		t.Errorf("second tunnels call = %+v, want the half-configured tunnel seen as existing", again)
	}

	sync := f.mustApply(map[string]any{"method": "sync", "devices": f.deviceMap("b")})
	if len(sync.IDs) != 1 || sync.Status != "completed" {
		t.Fatalf("sync = %+v, want one job, completed", sync)
	}
	f.waitIdle()
	if st := f.jobStates(sync.IDs...); st[sync.IDs[0]] != "complete" {
		t.Fatalf("sync job = %v, want complete", st)
	}
	if got := conf(); got != [2]bool{true, true} {
		t.Errorf("after sync of b, [deviceAconf deviceBconf] = %v, want [true true]", got)
	}
}

// TestGetJobsValidation: the status and ids rules of GET /jobs (§8.1).
func TestGetJobsValidation(t *testing.T) {
	f := newAPIFixture(t, parseFleet(t, fleetJobs), simulator.Options{})
	id := strconv.FormatInt(f.deviceApply("a", "stop"), 10)
	f.waitIdle()
	tests := map[string]struct {
		query  []string
		status int
		msg    string
	}{
		"no status":            {nil, 400, "Unsupported query state"},
		"empty status":         {[]string{"status", ""}, 400, "Unsupported query state"},
		"unknown status":       {[]string{"status", "done"}, 400, "Unsupported query state"},
		"ids with status":      {[]string{"status", "complete", "ids", id}, 400, `When using Job IDs, status must be "all"`},
		"unknown id":           {[]string{"status", "all", "ids", "987654"}, 500, `job "987654" doesnt exist`},
		"one unknown among ok": {[]string{"status", "all", "ids", id + ",987654"}, 500, `job "987654" doesnt exist`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ft := f.withT(t)
			ft.wantSvcErr(ft.do(http.MethodGet, ft.path("/api/jobs", tc.query...), nil), tc.status, tc.msg)
		})
	}
	for _, st := range []string{"all", "complete", "failed", "inactive", "delayed", "active"} {
		if r := f.do(http.MethodGet, f.path("/api/jobs", "status", st), nil); r.status != http.StatusOK {
			t.Errorf("GET /jobs?status=%s = %d %s, want 200", st, r.status, r.body)
		}
	}
}

// TestJobsLocation: the Location header of a 202 is exactly flexiManage's
// jobs URL, and following it lists the jobs (§5.3).
func TestJobsLocation(t *testing.T) {
	f := newAPIFixture(t, parseFleet(t, fleetJobs), simulator.Options{})
	body := map[string]any{"method": "stop", "devices": f.deviceMap("a", "b")}
	r, res := f.apply(body)
	if r.status != http.StatusAccepted || len(res.IDs) != 2 {
		t.Fatalf("stop = %d %s, want 202 with 2 ids", r.status, r.body)
	}
	host := strings.TrimPrefix(f.srv.URL, "http://")
	want := fmt.Sprintf("http://%s/api/jobs?status=all&ids=%d%%2C%d&org=%s", host, res.IDs[0], res.IDs[1], f.org)
	if got := r.header.Get("Location"); got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	var jobs []liveJob
	f.getJSON(strings.TrimPrefix(r.header.Get("Location"), f.srv.URL), &jobs)
	var got []int64
	for _, j := range jobs {
		got = append(got, j.ID)
	}
	if diff := cmp.Diff(res.IDs, got); diff != "" {
		t.Errorf("jobs at Location (-want +got):\n%s", diff)
	}

	r = f.doWith(http.MethodPost, f.path("/api/devices/apply"), body, http.Header{"X-Forwarded-Proto": {"https"}})
	if loc := r.header.Get("Location"); !strings.HasPrefix(loc, "https://"+host+"/api/jobs?status=all&ids=") {
		t.Errorf("Location behind an https proxy = %q, want https://%s/api/jobs?status=all&ids=…", loc, host)
	}
}

// TestRateLimit: past the limit, 429 {"error":"Request rate limit
// exceeded"} with Retry-After; X-RateLimit-* on every answer; one counter
// per client address (§1.5).
func TestRateLimit(t *testing.T) {
	sim, err := simulator.New(nil, simulator.Options{RateLimit: 5, RateWindow: time.Minute, Instant: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(func() {
		srv.Close()
		sim.Close()
	})
	get := func(xff string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/api/organizations", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+sim.Token())
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res, string(b)
	}

	start := time.Now()
	for i := 1; i <= 5; i++ {
		res, body := get("")
		if res.StatusCode != http.StatusOK {
			t.Fatalf("request %d = %d %s, want 200", i, res.StatusCode, body)
		}
		if got, want := res.Header.Get("X-RateLimit-Remaining"), strconv.Itoa(5-i); got != want {
			t.Errorf("request %d: X-RateLimit-Remaining = %q, want %q", i, got, want)
		}
		if got := res.Header.Get("X-RateLimit-Limit"); got != "5" {
			t.Errorf("request %d: X-RateLimit-Limit = %q, want 5", i, got)
		}
		reset, err := strconv.ParseInt(res.Header.Get("X-RateLimit-Reset"), 10, 64)
		if err != nil || reset < start.Unix() || reset > time.Now().Add(time.Minute).Unix()+1 {
			t.Errorf("request %d: X-RateLimit-Reset = %q, want epoch seconds within the next minute", i, res.Header.Get("X-RateLimit-Reset"))
		}
	}
	res, body := get("")
	if res.StatusCode != http.StatusTooManyRequests || body != `{"error":"Request rate limit exceeded"}` {
		t.Errorf("6th request = %d %s, want 429 {\"error\":\"Request rate limit exceeded\"}", res.StatusCode, body)
	}
	if got := res.Header.Get("Retry-After"); got != "60" {
		t.Errorf("6th request: Retry-After = %q, want 60", got)
	}
	if got := res.Header.Get("X-RateLimit-Remaining"); got != "0" {
		t.Errorf("6th request: X-RateLimit-Remaining = %q, want 0", got)
	}
	if res, body := get("203.0.113.7"); res.StatusCode != http.StatusOK {
		t.Errorf("request from another address = %d %s, want 200", res.StatusCode, body)
	}
}

// TestFaultsRepeatable: the same seed and the same request sequence meet
// the same faults; another seed meets others.
func TestFaultsRepeatable(t *testing.T) {
	run := func(sim *simulator.Simulator, n int) []int {
		t.Helper()
		srv := httptest.NewServer(sim)
		defer srv.Close()
		out := make([]int, n)
		for i := range out {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/api/organizations", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+sim.Token())
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			out[i] = res.StatusCode
		}
		return out
	}
	newSim := func(seed int64) *simulator.Simulator {
		t.Helper()
		sim, err := simulator.New(nil, simulator.Options{Instant: true, NoRateLimit: true, Faults: &simulator.Faults{Seed: seed, ErrorRate: 0.5}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sim.Close() })
		return sim
	}

	const n = 40
	first := run(newSim(7), n)
	if diff := cmp.Diff(first, run(newSim(7), n)); diff != "" {
		t.Errorf("statuses of a second simulator with seed 7 (-first +second):\n%s", diff)
	}
	counts := map[int]int{}
	for _, st := range first {
		counts[st]++
	}
	if counts[200] == 0 || counts[200] == n {
		t.Errorf("statuses with error rate 0.5 = %v, want some 200s and some faults", counts)
	}
	for st := range counts {
		if st != 200 && st != 500 && st != 502 && st != 503 {
			t.Errorf("status %d injected, want 500, 502 or 503", st)
		}
	}
	if cmp.Equal(first, run(newSim(8), n)) {
		t.Errorf("seeds 7 and 8 gave the same %d statuses", n)
	}

	// SetFaults starts the sequence again.
	sim := newSim(7)
	run(sim, 5)
	sim.SetFaults(simulator.Faults{Seed: 7, ErrorRate: 0.5})
	if diff := cmp.Diff(first, run(sim, n)); diff != "" {
		t.Errorf("statuses after SetFaults with seed 7 (-first +again):\n%s", diff)
	}
}
