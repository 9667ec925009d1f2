package simulator_test

// Tunnel semantics of the simulator, checked against fleximanage/API.md
// §5.4 (method "tunnels"), §5.5 (method "deltunnels") and §6.
//
// Every fleet here is small and written out by hand, and every expected
// tunnel set is written out by hand from the rules in API.md: nothing is
// computed with the simulator's own pairing logic. A tunnel is shown as an
// unordered key "a/eth0 <-> b/eth1 [mpls]" (device/interface names, the
// path label name or "none").

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flexiwan-gitops/reconciler/fleximanage/simulator"
	"github.com/google/go-cmp/cmp"
)

// apiFixture is a simulator behind an httptest server, with the names of
// the first organization's devices and path labels resolved to ids.
type apiFixture struct {
	t     *testing.T
	sim   *simulator.Simulator
	srv   *httptest.Server
	token string
	org   string
	devs  map[string]fixtureDevice // by name
	names map[string]string        // machineId -> device name
	label map[string]string        // label name -> id
}

type fixtureDevice struct {
	ID, MachineID, Hostname string
}

// apiResp is one raw HTTP answer.
type apiResp struct {
	status int
	header http.Header
	body   []byte
}

// tunApply is the body of a 202 from the Apply API.
type tunApply struct {
	IDs     []int64 `json:"ids"`
	Status  string  `json:"status"`
	Message string  `json:"message"`
}

// liveTunnel is the part of a GET /tunnels item the tests read.
type liveTunnel struct {
	ID                string                 `json:"_id"`
	Num               int                    `json:"num"`
	DeviceA           struct{ Name string }  `json:"deviceA"`
	DeviceB           struct{ Name string }  `json:"deviceB"`
	InterfaceADetails struct{ Name string }  `json:"interfaceADetails"`
	InterfaceBDetails struct{ Name string }  `json:"interfaceBDetails"`
	PathLabel         *struct{ Name string } `json:"pathlabel"`
	DeviceAconf       bool                   `json:"deviceAconf"`
	DeviceBconf       bool                   `json:"deviceBconf"`
	IsPending         bool                   `json:"isPending"`
	PendingReason     string                 `json:"pendingReason"`
}

// key is the tunnel's unordered natural key.
func (lt liveTunnel) key() string {
	ends := []string{lt.DeviceA.Name + "/" + lt.InterfaceADetails.Name, lt.DeviceB.Name + "/" + lt.InterfaceBDetails.Name}
	sort.Strings(ends)
	lbl := "none"
	if lt.PathLabel != nil {
		lbl = lt.PathLabel.Name
	}
	return fmt.Sprintf("%s <-> %s [%s]", ends[0], ends[1], lbl)
}

// liveJob is the part of a GET /jobs item the tests read.
type liveJob struct {
	ID    int64  `json:"_id"`
	Type  string `json:"type"`
	State string `json:"state"`
	Data  struct {
		Message struct {
			Title string `json:"title"`
			Tasks []struct {
				Message string `json:"message"`
			} `json:"tasks"`
		} `json:"message"`
		Response struct {
			Method string `json:"method"`
			Data   struct {
				TunnelID int    `json:"tunnelId"`
				Target   string `json:"target"`
			} `json:"data"`
		} `json:"response"`
	} `json:"data"`
}

// parseFleet reads a fleet written in a test.
func parseFleet(t *testing.T, doc string) *simulator.Fleet {
	t.Helper()
	fl, err := simulator.LoadFleet(t.Name()+".yaml", strings.NewReader(doc))
	if err != nil {
		t.Fatalf("LoadFleet: %v", err)
	}
	return fl
}

// newAPIFixture starts a simulator on fl. Jobs are instant and the rate
// limit is off unless opts asks otherwise.
func newAPIFixture(t *testing.T, fl *simulator.Fleet, opts simulator.Options) *apiFixture {
	t.Helper()
	if opts.JobLatency == 0 {
		opts.Instant = true
	}
	if opts.RateLimit == 0 {
		opts.NoRateLimit = true
	}
	sim, err := simulator.New(fl, opts)
	if err != nil {
		t.Fatalf("simulator.New: %v", err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(func() {
		srv.Close()
		sim.Close()
	})
	f := &apiFixture{t: t, sim: sim, srv: srv, token: sim.Token(), org: sim.Orgs()[0].ID,
		devs: map[string]fixtureDevice{}, names: map[string]string{}, label: map[string]string{}}
	var devs []struct {
		ID        string `json:"_id"`
		Name      string `json:"name"`
		MachineID string `json:"machineId"`
		Hostname  string `json:"hostname"`
	}
	f.getJSON(f.path("/api/devices"), &devs)
	for _, d := range devs {
		f.devs[d.Name] = fixtureDevice{ID: d.ID, MachineID: d.MachineID, Hostname: d.Hostname}
		f.names[d.MachineID] = d.Name
	}
	var labels []struct {
		ID   string `json:"_id"`
		Name string `json:"name"`
	}
	f.getJSON(f.path("/api/pathlabels"), &labels)
	for _, l := range labels {
		f.label[l.Name] = l.ID
	}
	return f
}

// withT is f reporting to t (a subtest).
func (f *apiFixture) withT(t *testing.T) *apiFixture {
	c := *f
	c.t = t
	return &c
}

// path returns p with the org and the given key/value pairs as query.
func (f *apiFixture) path(p string, kv ...string) string {
	q := url.Values{"org": {f.org}}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return p + "?" + q.Encode()
}

// do sends one request; body is nil (none), []byte or
// json.RawMessage (sent as is), or a value to encode.
func (f *apiFixture) do(method, path string, body any) apiResp {
	f.t.Helper()
	return f.doWith(method, path, body, nil)
}

func (f *apiFixture) doWith(method, path string, body any, hdr http.Header) apiResp {
	f.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case json.RawMessage:
		rd = bytes.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			f.t.Fatalf("encode body: %v", err)
		}
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequestWithContext(f.t.Context(), method, f.srv.URL+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+f.token)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	res, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		f.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return apiResp{status: res.StatusCode, header: res.Header, body: data}
}

// getJSON GETs path, wants 200 and decodes the body into v.
func (f *apiFixture) getJSON(path string, v any) {
	f.t.Helper()
	r := f.do(http.MethodGet, path, nil)
	if r.status != http.StatusOK {
		f.t.Fatalf("GET %s = %d %s, want 200", path, r.status, r.body)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		f.t.Fatalf("GET %s: decode: %v\n%s", path, err, r.body)
	}
}

func (f *apiFixture) dev(name string) fixtureDevice {
	f.t.Helper()
	d, ok := f.devs[name]
	if !ok {
		f.t.Fatalf("no device %q in the fixture", name)
	}
	return d
}

func (f *apiFixture) labelID(name string) string {
	f.t.Helper()
	id, ok := f.label[name]
	if !ok {
		f.t.Fatalf("no path label %q in the fixture", name)
	}
	return id
}

// deviceMap is the apply body's devices object with the keys in the given
// order (the server must not care about that order).
func (f *apiFixture) deviceMap(names ...string) json.RawMessage {
	f.t.Helper()
	var b strings.Builder
	b.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:true", f.dev(n).ID)
	}
	b.WriteByte('}')
	return json.RawMessage(b.String())
}

// tunnelsBody is a method "tunnels" request between the named devices.
// labels are label names; "FFFFFF" is passed through.
func (f *apiFixture) tunnelsBody(topology, hub string, labels []string, devices ...string) map[string]any {
	f.t.Helper()
	ids := []string{}
	for _, l := range labels {
		if l == "FFFFFF" {
			ids = append(ids, l)
			continue
		}
		ids = append(ids, f.labelID(l))
	}
	meta := map[string]any{
		"pathLabels":      ids,
		"topology":        topology,
		"advancedOptions": map[string]any{"mtu": "", "mssClamp": "yes", "ospfCost": "", "routing": "ospf"},
		"tunnelType":      "site-to-site",
	}
	if hub != "" {
		meta["hub"] = f.dev(hub).ID
	}
	return map[string]any{"method": "tunnels", "devices": f.deviceMap(devices...), "meta": meta}
}

// apply posts body to /devices/apply and decodes a 202 answer.
func (f *apiFixture) apply(body any) (apiResp, tunApply) {
	f.t.Helper()
	r := f.do(http.MethodPost, f.path("/api/devices/apply"), body)
	var out tunApply
	if r.status == http.StatusAccepted {
		if err := json.Unmarshal(r.body, &out); err != nil {
			f.t.Fatalf("apply: decode %s: %v", r.body, err)
		}
	}
	return r, out
}

// mustApply is apply that wants 202.
func (f *apiFixture) mustApply(body any) tunApply {
	f.t.Helper()
	r, out := f.apply(body)
	if r.status != http.StatusAccepted {
		f.t.Fatalf("POST /devices/apply = %d %s, want 202", r.status, r.body)
	}
	return out
}

// delTunnels deletes tunnels by id, selecting no devices.
func (f *apiFixture) delTunnels(ids ...string) (apiResp, tunApply) {
	f.t.Helper()
	sel := map[string]bool{}
	for _, id := range ids {
		sel[id] = true
	}
	return f.apply(map[string]any{"method": "deltunnels", "tunnels": sel})
}

// tunnels lists GET /tunnels.
func (f *apiFixture) tunnels() []liveTunnel {
	f.t.Helper()
	var out []liveTunnel
	f.getJSON(f.path("/api/tunnels"), &out)
	return out
}

// tunnelByKey lists GET /tunnels by natural key.
func (f *apiFixture) tunnelByKey() map[string]liveTunnel {
	f.t.Helper()
	out := map[string]liveTunnel{}
	for _, lt := range f.tunnels() {
		if _, dup := out[lt.key()]; dup {
			f.t.Errorf("GET /tunnels lists %s twice", lt.key())
		}
		out[lt.key()] = lt
	}
	return out
}

// tunnelKeys is the sorted set of live tunnel keys.
func (f *apiFixture) tunnelKeys() []string {
	f.t.Helper()
	out := []string{}
	for _, lt := range f.tunnels() {
		out = append(out, lt.key())
	}
	sort.Strings(out)
	return out
}

// jobs reads GET /jobs?status=all&ids=...
func (f *apiFixture) jobs(ids []int64) []liveJob {
	f.t.Helper()
	var out []liveJob
	f.getJSON(f.path("/api/jobs", "status", "all", "ids", joinIDs(ids)), &out)
	return out
}

func (f *apiFixture) waitIdle() {
	f.t.Helper()
	if err := f.sim.WaitIdle(f.t.Context()); err != nil {
		f.t.Fatalf("WaitIdle: %v", err)
	}
}

// wantSvcErr checks a service error answer: the status and the body
// {"error":msg,"code":status,"data":{}}.
func (f *apiFixture) wantSvcErr(r apiResp, status int, msg string) {
	f.t.Helper()
	var got struct {
		Error string          `json:"error"`
		Code  int             `json:"code"`
		Data  json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(r.body, &got); err != nil {
		f.t.Fatalf("error body %s: %v", r.body, err)
	}
	if r.status != status || got.Error != msg || got.Code != status || string(got.Data) != "{}" {
		f.t.Errorf("answer = %d %s, want %d {\"error\":%q,\"code\":%d,\"data\":{}}", r.status, r.body, status, msg, status)
	}
}

func joinIDs(ids []int64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(parts, ",")
}

func sortedStrings(s ...string) []string {
	out := append([]string{}, s...)
	sort.Strings(out)
	return out
}

// tunnelStep is one tunnels request and what must hold after it.
type tunnelStep struct {
	labels  []string
	devices []string // request key order; default a, b, c reversed
	wantIDs int
	wantMsg string
	want    []string // every live tunnel after the step
}

func runTunnelSteps(t *testing.T, f *apiFixture, steps []tunnelStep) {
	t.Helper()
	for i, st := range steps {
		devs := st.devices
		if devs == nil {
			devs = []string{"c", "b", "a"}
		}
		res := f.mustApply(f.tunnelsBody("fullMesh", "", st.labels, devs...))
		if len(res.IDs) != st.wantIDs || res.Status != "completed" || res.Message != st.wantMsg {
			t.Errorf("step %d (labels %v): apply = %+v, want %d ids, status completed, message %q", i, st.labels, res, st.wantIDs, st.wantMsg)
		}
		f.waitIdle()
		if diff := cmp.Diff(sortedStrings(st.want...), f.tunnelKeys()); diff != "" {
			t.Errorf("step %d (labels %v): tunnels (-want +got):\n%s", i, st.labels, diff)
		}
	}
}

const fleetOneLabelPerWAN = `
organizations:
  - name: t
    pathLabels:
      - {name: mpls, type: Tunnel}
      - {name: inet, type: Tunnel}
    devices:
      - name: a
        interfaces:
          - {name: eth0, type: WAN, ipv4: 192.0.2.1/24, pathLabels: [mpls]}
          - {name: eth1, type: WAN, ipv4: 198.51.100.1/24, pathLabels: [inet]}
          - {name: eth2, type: LAN, ipv4: 10.0.1.1/24}
      - name: b
        interfaces:
          - {name: eth0, type: WAN, ipv4: 192.0.2.2/24, pathLabels: [mpls]}
          - {name: eth1, type: WAN, ipv4: 198.51.100.2/24, pathLabels: [inet]}
          - {name: eth2, type: LAN, ipv4: 10.0.2.1/24}
      - name: c
        interfaces:
          - {name: eth0, type: WAN, ipv4: 192.0.2.3/24, pathLabels: [mpls]}
          - {name: eth1, type: WAN, ipv4: 198.51.100.3/24, pathLabels: [inet]}
          - {name: eth2, type: LAN, ipv4: 10.0.3.1/24}
`

// Device a's eth0 carries both labels; its eth1 carries none.
const fleetTwoLabelsOnOneWAN = `
organizations:
  - name: t
    pathLabels:
      - {name: mpls, type: Tunnel}
      - {name: inet, type: Tunnel}
    devices:
      - name: a
        interfaces:
          - {name: eth0, type: WAN, ipv4: 192.0.2.1/24, pathLabels: [mpls, inet]}
          - {name: eth1, type: WAN, ipv4: 198.51.100.1/24}
          - {name: eth2, type: LAN, ipv4: 10.0.1.1/24}
      - name: b
        interfaces:
          - {name: eth0, type: WAN, ipv4: 192.0.2.2/24, pathLabels: [mpls]}
          - {name: eth1, type: WAN, ipv4: 198.51.100.2/24, pathLabels: [inet]}
          - {name: eth2, type: LAN, ipv4: 10.0.2.1/24}
      - name: c
        interfaces:
          - {name: eth0, type: WAN, ipv4: 192.0.2.3/24, pathLabels: [mpls]}
          - {name: eth1, type: WAN, ipv4: 198.51.100.3/24, pathLabels: [inet]}
          - {name: eth2, type: LAN, ipv4: 10.0.3.1/24}
`

// TestTunnelsFullMesh: every pair of selected devices, one tunnel per
// interface pair and requested common label (§5.4 steps 2-4).
func TestTunnelsFullMesh(t *testing.T) {
	mplsMesh := []string{
		"a/eth0 <-> b/eth0 [mpls]",
		"a/eth0 <-> c/eth0 [mpls]",
		"b/eth0 <-> c/eth0 [mpls]",
	}
	tests := map[string]struct {
		fleet string
		steps []tunnelStep
	}{
		"one label per WAN, mpls then both": {
			fleet: fleetOneLabelPerWAN,
			steps: []tunnelStep{
				{labels: []string{"mpls"}, wantIDs: 6, wantMsg: "6 tunnel creation jobs added.", want: mplsMesh},
				{labels: []string{"mpls", "inet"}, wantIDs: 6, wantMsg: "6 tunnel creation jobs added. Some tunnels exist already.",
					want: append([]string{
						"a/eth1 <-> b/eth1 [inet]",
						"a/eth1 <-> c/eth1 [inet]",
						"b/eth1 <-> c/eth1 [inet]",
					}, mplsMesh...)},
			},
		},
		"one label per WAN, both at once": {
			fleet: fleetOneLabelPerWAN,
			steps: []tunnelStep{
				{labels: []string{"inet", "mpls"}, wantIDs: 12, wantMsg: "12 tunnel creation jobs added.",
					want: append([]string{
						"a/eth1 <-> b/eth1 [inet]",
						"a/eth1 <-> c/eth1 [inet]",
						"b/eth1 <-> c/eth1 [inet]",
					}, mplsMesh...)},
			},
		},
		"one WAN with both labels, mpls then both": {
			fleet: fleetTwoLabelsOnOneWAN,
			steps: []tunnelStep{
				{labels: []string{"mpls"}, wantIDs: 6, wantMsg: "6 tunnel creation jobs added.", want: mplsMesh},
				{labels: []string{"mpls", "inet"}, wantIDs: 6, wantMsg: "6 tunnel creation jobs added. Some tunnels exist already.",
					want: append([]string{
						"a/eth0 <-> b/eth1 [inet]",
						"a/eth0 <-> c/eth1 [inet]",
						"b/eth1 <-> c/eth1 [inet]",
					}, mplsMesh...)},
			},
		},
		"one WAN with both labels, FFFFFF means every common label": {
			fleet: fleetTwoLabelsOnOneWAN,
			steps: []tunnelStep{
				{labels: []string{"FFFFFF"}, wantIDs: 12, wantMsg: "12 tunnel creation jobs added.",
					want: append([]string{
						"a/eth0 <-> b/eth1 [inet]",
						"a/eth0 <-> c/eth1 [inet]",
						"b/eth1 <-> c/eth1 [inet]",
					}, mplsMesh...)},
			},
		},
		"only the selected devices": {
			fleet: fleetOneLabelPerWAN,
			steps: []tunnelStep{
				{labels: []string{"mpls"}, devices: []string{"c", "a"}, wantIDs: 2, wantMsg: "2 tunnel creation jobs added.",
					want: []string{"a/eth0 <-> c/eth0 [mpls]"}},
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newAPIFixture(t, parseFleet(t, tc.fleet), simulator.Options{})
			runTunnelSteps(t, f, tc.steps)
			// deviceA is the device that comes first in creation order,
			// whatever the order of the request's keys (c, b, a).
			for _, lt := range f.tunnels() {
				if lt.DeviceA.Name > lt.DeviceB.Name {
					t.Errorf("tunnel %s has deviceA %s, deviceB %s; want the first device in DB order as deviceA", lt.key(), lt.DeviceA.Name, lt.DeviceB.Name)
				}
				if !lt.DeviceAconf || !lt.DeviceBconf || lt.IsPending {
					t.Errorf("tunnel %s after its jobs: deviceAconf %v, deviceBconf %v, isPending %v; want true, true, false", lt.key(), lt.DeviceAconf, lt.DeviceBconf, lt.IsPending)
				}
			}
		})
	}
}

// The hub comes last in creation order, so "deviceA is the hub" cannot
// come from DB order.
const fleetHubAndSpokes = `
organizations:
  - name: t
    pathLabels:
      - {name: mpls, type: Tunnel}
      - {name: inet, type: Tunnel}
    devices:
      - name: s1
        interfaces:
          - {name: eth0, type: WAN, ipv4: 192.0.2.1/24, pathLabels: [mpls]}
          - {name: eth1, type: WAN, ipv4: 198.51.100.1/24, pathLabels: [inet]}
          - {name: eth2, type: LAN, ipv4: 10.0.1.1/24}
      - name: s2
        interfaces:
          - {name: eth0, type: WAN, ipv4: 192.0.2.2/24, pathLabels: [mpls]}
          - {name: eth1, type: WAN, ipv4: 198.51.100.2/24, pathLabels: [inet]}
          - {name: eth2, type: LAN, ipv4: 10.0.2.1/24}
      - name: s3
        interfaces:
          - {name: eth0, type: WAN, ipv4: 192.0.2.3/24, pathLabels: [mpls]}
          - {name: eth1, type: WAN, ipv4: 198.51.100.3/24, pathLabels: [inet]}
          - {name: eth2, type: LAN, ipv4: 10.0.3.1/24}
      - name: hub
        interfaces:
          - {name: eth0, type: WAN, ipv4: 192.0.2.100/24, pathLabels: [mpls]}
          - {name: eth1, type: WAN, ipv4: 198.51.100.100/24, pathLabels: [inet]}
          - {name: eth2, type: LAN, ipv4: 10.0.100.1/24}
`

// TestTunnelsHubAndSpoke: pairs (hub, each other device), deviceA always
// the hub, and the hub must be among the selected devices (§5.1, §5.4).
func TestTunnelsHubAndSpoke(t *testing.T) {
	f := newAPIFixture(t, parseFleet(t, fleetHubAndSpokes), simulator.Options{})

	r, _ := f.apply(f.tunnelsBody("hubAndSpoke", "hub", []string{"mpls"}, "s1", "s2", "s3"))
	f.wantSvcErr(r, http.StatusInternalServerError, "Hub device not found")
	body := f.tunnelsBody("hubAndSpoke", "", []string{"mpls"}, "s1", "s2", "s3", "hub")
	r, _ = f.apply(body)
	f.wantSvcErr(r, http.StatusInternalServerError, "Hub must be specified for hub and spoke topology")
	if got := f.tunnelKeys(); len(got) != 0 {
		t.Fatalf("after refused requests, tunnels = %v, want none", got)
	}

	res := f.mustApply(f.tunnelsBody("hubAndSpoke", "hub", []string{"mpls"}, "s3", "hub", "s1", "s2"))
	if len(res.IDs) != 6 || res.Status != "completed" || res.Message != "6 tunnel creation jobs added." {
		t.Errorf("hubAndSpoke apply = %+v, want 6 ids, completed, %q", res, "6 tunnel creation jobs added.")
	}
	f.waitIdle()
	want := []string{
		"hub/eth0 <-> s1/eth0 [mpls]",
		"hub/eth0 <-> s2/eth0 [mpls]",
		"hub/eth0 <-> s3/eth0 [mpls]",
	}
	if diff := cmp.Diff(want, f.tunnelKeys()); diff != "" {
		t.Errorf("tunnels (-want +got):\n%s", diff)
	}
	for _, lt := range f.tunnels() {
		if lt.DeviceA.Name != "hub" {
			t.Errorf("tunnel %s: deviceA = %s, want the hub", lt.key(), lt.DeviceA.Name)
		}
	}
}

// TestTunnelsDIALabelsNeverMatch: a DIA label is in the interface's label
// set as null: it matches nothing, but the set is not empty (§5.4 step 3).
func TestTunnelsDIALabelsNeverMatch(t *testing.T) {
	const fleet = `
organizations:
  - name: t
    pathLabels:
      - {name: mpls, type: Tunnel}
      - {name: lte, type: DIA}
    devices:
      - name: a
        interfaces:
          - {name: eth0, type: WAN, ipv4: 192.0.2.1/24, pathLabels: [mpls]}
          - {name: eth1, type: WAN, ipv4: 198.51.100.1/24, pathLabels: [lte]}
          - {name: eth2, type: WAN, ipv4: 203.0.113.1/24}
          - {name: eth3, type: LAN, ipv4: 10.0.1.1/24}
      - name: b
        interfaces:
          - {name: eth0, type: WAN, ipv4: 192.0.2.2/24, pathLabels: [mpls]}
          - {name: eth1, type: WAN, ipv4: 198.51.100.2/24, pathLabels: [lte]}
          - {name: eth2, type: WAN, ipv4: 203.0.113.2/24}
          - {name: eth3, type: LAN, ipv4: 10.0.2.1/24}
`
	f := newAPIFixture(t, parseFleet(t, fleet), simulator.Options{})
	runTunnelSteps(t, f, []tunnelStep{
		{labels: []string{"lte"}, devices: []string{"a", "b"}, wantIDs: 0,
			wantMsg: "No tunnel creation jobs added. Some devices have interfaces without specified Path Labels.", want: nil},
		{labels: []string{"mpls", "lte"}, devices: []string{"a", "b"}, wantIDs: 2,
			wantMsg: "2 tunnel creation jobs added.", want: []string{"a/eth0 <-> b/eth0 [mpls]"}},
		// With no labels, eth1 (DIA only) is not "unlabeled": only eth2 pairs.
		{labels: []string{}, devices: []string{"a", "b"}, wantIDs: 2,
			wantMsg: "2 tunnel creation jobs added. No Path Labels specified but some devices have interfaces with Path Labels.",
			want:    []string{"a/eth0 <-> b/eth0 [mpls]", "a/eth2 <-> b/eth2 [none]"}},
	})
}

// TestTunnelsUnlabeled: pathLabels [] pairs every WAN of A with every WAN of
// B when both have no label at all; LAN, unassigned and NONE interfaces are
// never candidates (§5.4 steps 3-4).
func TestTunnelsUnlabeled(t *testing.T) {
	const fleet = `
organizations:
  - name: t
    pathLabels:
      - {name: mpls, type: Tunnel}
    devices:
      - name: a
        interfaces:
          - {name: eth0, type: WAN, ipv4: 192.0.2.1/24}
          - {name: eth1, type: WAN, ipv4: 198.51.100.1/24}
          - {name: eth2, type: LAN, ipv4: 10.0.1.1/24}
          - {name: eth3, type: WAN, ipv4: 203.0.113.1/24, assigned: false}
          - {name: eth4, type: NONE}
      - name: b
        interfaces:
          - {name: eth0, type: WAN, ipv4: 192.0.2.2/24}
          - {name: eth1, type: WAN, ipv4: 198.51.100.2/24}
          - {name: eth2, type: LAN, ipv4: 10.0.2.1/24}
          - {name: eth3, type: WAN, ipv4: 203.0.113.2/24, assigned: false}
          - {name: eth4, type: NONE}
      - name: c
        interfaces:
          - {name: eth0, type: WAN, ipv4: 192.0.2.3/24, pathLabels: [mpls]}
          - {name: eth1, type: WAN, ipv4: 198.51.100.3/24}
          - {name: eth2, type: LAN, ipv4: 10.0.3.1/24}
      - name: d
        interfaces:
          - {name: eth0, type: WAN, ipv4: 192.0.2.4/24}
          - {name: eth1, type: WAN, ipv4: 198.51.100.4/24}
          - {name: eth2, type: LAN, ipv4: 10.0.4.1/24}
`
	ab := []string{
		"a/eth0 <-> b/eth0 [none]",
		"a/eth0 <-> b/eth1 [none]",
		"a/eth1 <-> b/eth0 [none]",
		"a/eth1 <-> b/eth1 [none]",
	}
	f := newAPIFixture(t, parseFleet(t, fleet), simulator.Options{})
	runTunnelSteps(t, f, []tunnelStep{
		{labels: []string{}, devices: []string{"b", "a"}, wantIDs: 8, wantMsg: "8 tunnel creation jobs added.", want: ab},
		{labels: []string{}, devices: []string{"d", "c"}, wantIDs: 4,
			wantMsg: "4 tunnel creation jobs added. No Path Labels specified but some devices have interfaces with Path Labels.",
			want:    append([]string{"c/eth1 <-> d/eth0 [none]", "c/eth1 <-> d/eth1 [none]"}, ab...)},
		{labels: []string{}, devices: []string{"a", "b"}, wantIDs: 0,
			wantMsg: "No tunnel creation jobs added. Some tunnels exist already.",
			want:    append([]string{"c/eth1 <-> d/eth0 [none]", "c/eth1 <-> d/eth1 [none]"}, ab...)},
	})
}

// TestTunnelsRouterVersionMismatch: pairs whose router major versions
// differ are skipped with a reason; a minor difference is fine (§5.4 step 2).
func TestTunnelsRouterVersionMismatch(t *testing.T) {
	const fleet = `
organizations:
  - name: t
    pathLabels:
      - {name: mpls, type: Tunnel}
    devices:
      - name: a
        version: "6.3.37"
        interfaces:
          - {name: eth0, type: WAN, ipv4: 192.0.2.1/24, pathLabels: [mpls]}
          - {name: eth1, type: LAN, ipv4: 10.0.1.1/24}
      - name: b
        version: "6.3.37"
        interfaces:
          - {name: eth0, type: WAN, ipv4: 192.0.2.2/24, pathLabels: [mpls]}
          - {name: eth1, type: LAN, ipv4: 10.0.2.1/24}
      - name: c
        version: "5.3.0"
        interfaces:
          - {name: eth0, type: WAN, ipv4: 192.0.2.3/24, pathLabels: [mpls]}
          - {name: eth1, type: LAN, ipv4: 10.0.3.1/24}
      - name: d
        version: "6.1.0"
        interfaces:
          - {name: eth0, type: WAN, ipv4: 192.0.2.4/24, pathLabels: [mpls]}
          - {name: eth1, type: LAN, ipv4: 10.0.4.1/24}
`
	f := newAPIFixture(t, parseFleet(t, fleet), simulator.Options{})
	runTunnelSteps(t, f, []tunnelStep{
		{labels: []string{"mpls"}, devices: []string{"a", "b", "c", "d"}, wantIDs: 6,
			wantMsg: "6 tunnel creation jobs added. Router version mismatch for some devices.",
			want:    []string{"a/eth0 <-> b/eth0 [mpls]", "a/eth0 <-> d/eth0 [mpls]", "b/eth0 <-> d/eth0 [mpls]"}},
	})
}

// TestTunnelsPendingWithoutIPv4: a WAN without an address gives a pending
// tunnel with no jobs, and the call is "partially completed" (§5.4 step 7).
func TestTunnelsPendingWithoutIPv4(t *testing.T) {
	const fleet = `
organizations:
  - name: t
    pathLabels:
      - {name: mpls, type: Tunnel}
      - {name: inet, type: Tunnel}
    devices:
      - name: a
        interfaces:
          - {name: eth0, type: WAN, ipv4: 192.0.2.1/24, pathLabels: [mpls]}
          - {name: eth1, type: WAN, ipv4: 198.51.100.1/24, pathLabels: [inet]}
          - {name: eth2, type: LAN, ipv4: 10.0.1.1/24}
      - name: b
        interfaces:
          - {name: eth0, type: WAN, ipv4: 192.0.2.2/24, pathLabels: [mpls]}
          - {name: eth1, type: WAN, pathLabels: [inet]}
          - {name: eth2, type: LAN, ipv4: 10.0.2.1/24}
`
	f := newAPIFixture(t, parseFleet(t, fleet), simulator.Options{})
	res := f.mustApply(f.tunnelsBody("fullMesh", "", []string{"mpls", "inet"}, "a", "b"))
	if len(res.IDs) != 2 || res.Status != "partially completed" ||
		!strings.HasPrefix(res.Message, "2 tunnel creation jobs added.") || !strings.Contains(res.Message, "set as pending") {
		t.Errorf("apply = %+v, want 2 ids, status partially completed, message \"2 tunnel creation jobs added. …set as pending…\"", res)
	}
	f.waitIdle()

	type state struct {
		Pending      bool
		Reason       string
		AConf, BConf bool
	}
	got := map[string]state{}
	for k, lt := range f.tunnelByKey() {
		got[k] = state{lt.IsPending, lt.PendingReason, lt.DeviceAconf, lt.DeviceBconf}
	}
	want := map[string]state{
		"a/eth0 <-> b/eth0 [mpls]": {AConf: true, BConf: true},
		"a/eth1 <-> b/eth1 [inet]": {Pending: true, Reason: "Interface eth1 in device b has no IP address"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tunnels (-want +got):\n%s", diff)
	}
	// The only jobs are the two of the mpls tunnel.
	if n := f.sim.JobCounts(); n["complete"] != 2 || len(n) != 1 {
		t.Errorf("JobCounts() = %v, want 2 complete jobs only", n)
	}
	for _, j := range f.jobs(res.IDs) {
		if want := "Create tunnel between (a,eth0) and (b,eth0)"; j.Data.Message.Title != want {
			t.Errorf("job %d title = %q, want %q", j.ID, j.Data.Message.Title, want)
		}
	}

	// Deleting the pending tunnel deactivates it without jobs, as a failure
	// (§5.5).
	r, del := f.delTunnels(f.tunnelByKey()["a/eth1 <-> b/eth1 [inet]"].ID)
	if r.status != http.StatusAccepted || len(del.IDs) != 0 || del.Status != "partially completed" ||
		!strings.Contains(del.Message, "Tunnel was in pending state") || r.header.Get("Location") != "" {
		t.Errorf("deltunnels of the pending tunnel = %d %s, want 202, ids [], partially completed, the pending reason, no Location", r.status, r.body)
	}
	if diff := cmp.Diff([]string{"a/eth0 <-> b/eth0 [mpls]"}, f.tunnelKeys()); diff != "" {
		t.Errorf("tunnels after deleting the pending one (-want +got):\n%s", diff)
	}
	if n := f.sim.JobCounts(); n["complete"] != 2 || len(n) != 1 {
		t.Errorf("JobCounts() after deleting the pending tunnel = %v, want still 2 complete jobs only", n)
	}
}

// TestTunnelsExistingSkipped: an existing tunnel is found whichever of its
// devices is deviceA; it is skipped, not an error (§5.4 step 5).
func TestTunnelsExistingSkipped(t *testing.T) {
	// The seeded tunnel has b as deviceA, the reverse of DB order.
	const fleet = `
organizations:
  - name: t
    pathLabels:
      - {name: mpls, type: Tunnel}
    devices:
      - name: a
        interfaces:
          - {name: eth0, type: WAN, ipv4: 192.0.2.1/24, pathLabels: [mpls]}
      - name: b
        interfaces:
          - {name: eth0, type: WAN, ipv4: 192.0.2.2/24, pathLabels: [mpls]}
      - name: c
        interfaces:
          - {name: eth0, type: WAN, ipv4: 192.0.2.3/24, pathLabels: [mpls]}
    tunnels:
      - {a: b/eth0, b: a/eth0, pathLabel: mpls}
`
	const noneAdded = "No tunnel creation jobs added. Some tunnels exist already."
	f := newAPIFixture(t, parseFleet(t, fleet), simulator.Options{})
	seeded := f.tunnels()
	if len(seeded) != 1 || seeded[0].DeviceA.Name != "b" {
		t.Fatalf("seeded tunnels = %+v, want one with deviceA b", seeded)
	}

	check := func(step string, body map[string]any, wantIDs int, wantMsg string, want []string) {
		t.Helper()
		r, res := f.apply(body)
		if r.status != http.StatusAccepted || len(res.IDs) != wantIDs || res.Status != "completed" || res.Message != wantMsg {
			t.Errorf("%s: apply = %d %+v, want 202 with %d ids, completed, %q", step, r.status, res, wantIDs, wantMsg)
		}
		if loc := r.header.Get("Location"); wantIDs == 0 && loc != "" {
			t.Errorf("%s: Location = %q, want none when no job was queued", step, loc)
		}
		f.waitIdle()
		if diff := cmp.Diff(sortedStrings(want...), f.tunnelKeys()); diff != "" {
			t.Errorf("%s: tunnels (-want +got):\n%s", step, diff)
		}
	}
	check("a-b fullMesh over reversed tunnel", f.tunnelsBody("fullMesh", "", []string{"mpls"}, "a", "b"), 0, noneAdded,
		[]string{"a/eth0 <-> b/eth0 [mpls]"})
	check("hub c", f.tunnelsBody("hubAndSpoke", "c", []string{"mpls"}, "a", "c"), 2, "2 tunnel creation jobs added.",
		[]string{"a/eth0 <-> b/eth0 [mpls]", "a/eth0 <-> c/eth0 [mpls]"})
	if lt := f.tunnelByKey()["a/eth0 <-> c/eth0 [mpls]"]; lt.DeviceA.Name != "c" {
		t.Fatalf("hub tunnel deviceA = %q, want c", lt.DeviceA.Name)
	}
	check("c-a fullMesh over hub tunnel", f.tunnelsBody("fullMesh", "", []string{"mpls"}, "c", "a"), 0, noneAdded,
		[]string{"a/eth0 <-> b/eth0 [mpls]", "a/eth0 <-> c/eth0 [mpls]"})
	check("hub c again", f.tunnelsBody("hubAndSpoke", "c", []string{"mpls"}, "c", "a"), 0, noneAdded,
		[]string{"a/eth0 <-> b/eth0 [mpls]", "a/eth0 <-> c/eth0 [mpls]"})
	check("full mesh of three", f.tunnelsBody("fullMesh", "", []string{"mpls"}, "a", "b", "c"), 2,
		"2 tunnel creation jobs added. Some tunnels exist already.",
		[]string{"a/eth0 <-> b/eth0 [mpls]", "a/eth0 <-> c/eth0 [mpls]", "b/eth0 <-> c/eth0 [mpls]"})
}

// TestTunnelJobs: two jobs per tunnel, one on each device, with flexiManage's
// title, task and response (§5.4 step 8, §5.3).
func TestTunnelJobs(t *testing.T) {
	const fleet = `
organizations:
  - name: t
    pathLabels:
      - {name: mpls, type: Tunnel}
      - {name: inet, type: Tunnel}
    devices:
      - name: a
        hostname: edge-a
        interfaces:
          - {name: eth0, type: WAN, ipv4: 192.0.2.1/24, pathLabels: [mpls]}
          - {name: eth1, type: WAN, ipv4: 198.51.100.1/24, pathLabels: [inet]}
          - {name: eth2, type: LAN, ipv4: 10.0.1.1/24}
      - name: b
        hostname: edge-b
        interfaces:
          - {name: eth0, type: WAN, ipv4: 192.0.2.2/24, pathLabels: [mpls]}
          - {name: eth1, type: WAN, ipv4: 198.51.100.2/24, pathLabels: [inet]}
          - {name: eth2, type: LAN, ipv4: 10.0.2.1/24}
`
	f := newAPIFixture(t, parseFleet(t, fleet), simulator.Options{})
	r, res := f.apply(f.tunnelsBody("fullMesh", "", []string{"mpls", "inet"}, "b", "a"))
	if r.status != http.StatusAccepted || len(res.IDs) != 4 || res.Status != "completed" || res.Message != "4 tunnel creation jobs added." {
		t.Fatalf("apply = %d %+v, want 202, 4 ids, completed, %q", r.status, res, "4 tunnel creation jobs added.")
	}
	wantLoc := f.srv.URL + "/api/jobs?status=all&ids=" + strings.ReplaceAll(joinIDs(res.IDs), ",", "%2C") + "&org=" + f.org
	if got := r.header.Get("Location"); got != wantLoc {
		t.Errorf("Location = %q, want %q", got, wantLoc)
	}
	f.waitIdle()

	type row struct{ Device, Title, Task, Method, Target, State string }
	var got []row
	perTunnel := map[int][]string{}
	for _, j := range f.jobs(res.IDs) {
		task := ""
		if len(j.Data.Message.Tasks) == 1 {
			task = j.Data.Message.Tasks[0].Message
		}
		dev := f.names[j.Type]
		got = append(got, row{dev, j.Data.Message.Title, task, j.Data.Response.Method, j.Data.Response.Data.Target, j.State})
		perTunnel[j.Data.Response.Data.TunnelID] = append(perTunnel[j.Data.Response.Data.TunnelID], dev)
	}
	sort.Slice(got, func(i, k int) bool { return fmt.Sprint(got[i]) < fmt.Sprint(got[k]) })
	const t0, t1 = "Create tunnel between (edge-a,eth0) and (edge-b,eth0)", "Create tunnel between (edge-a,eth1) and (edge-b,eth1)"
	want := []row{
		{"a", t0, "add-tunnel", "tunnels", "deviceAconf", "complete"},
		{"a", t1, "add-tunnel", "tunnels", "deviceAconf", "complete"},
		{"b", t0, "add-tunnel", "tunnels", "deviceBconf", "complete"},
		{"b", t1, "add-tunnel", "tunnels", "deviceBconf", "complete"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("jobs (-want +got):\n%s", diff)
	}
	nums := map[int][]string{}
	for _, lt := range f.tunnels() {
		nums[lt.Num] = []string{"a", "b"}
		if !lt.DeviceAconf || !lt.DeviceBconf {
			t.Errorf("tunnel %s: deviceAconf %v deviceBconf %v after its jobs completed, want both true", lt.key(), lt.DeviceAconf, lt.DeviceBconf)
		}
	}
	for _, devs := range perTunnel {
		sort.Strings(devs)
	}
	if diff := cmp.Diff(nums, perTunnel); diff != "" {
		t.Errorf("devices of the jobs per tunnel number (-want +got):\n%s", diff)
	}
}

// TestTunnelNumbersReused: a new tunnel takes over an inactive record of
// the org, num and _id both (§5.4 step 7, §6.3).
func TestTunnelNumbersReused(t *testing.T) {
	const fleet = `
organizations:
  - name: t
    pathLabels:
      - {name: mpls, type: Tunnel}
    devices:
      - name: a
        interfaces:
          - {name: eth0, type: WAN, ipv4: 192.0.2.1/24, pathLabels: [mpls]}
      - name: b
        interfaces:
          - {name: eth0, type: WAN, ipv4: 192.0.2.2/24, pathLabels: [mpls]}
      - name: c
        interfaces:
          - {name: eth0, type: WAN, ipv4: 192.0.2.3/24, pathLabels: [mpls]}
`
	const ab, ac, bc = "a/eth0 <-> b/eth0 [mpls]", "a/eth0 <-> c/eth0 [mpls]", "b/eth0 <-> c/eth0 [mpls]"
	f := newAPIFixture(t, parseFleet(t, fleet), simulator.Options{})
	f.mustApply(f.tunnelsBody("fullMesh", "", []string{"mpls"}, "a", "b", "c"))
	f.waitIdle()
	first := f.tunnelByKey()
	type rec struct {
		Num int
		ID  string
	}
	records := func(m map[string]liveTunnel) []rec {
		var out []rec
		for _, lt := range m {
			out = append(out, rec{lt.Num, lt.ID})
		}
		sort.Slice(out, func(i, k int) bool { return out[i].Num < out[k].Num })
		return out
	}
	orig := records(first)
	if len(orig) != 3 || orig[0].Num != 1 || orig[1].Num != 2 || orig[2].Num != 3 {
		t.Fatalf("first tunnels of the org = %+v, want numbers 1, 2, 3", orig)
	}

	// One record freed, one taken back.
	if r, _ := f.delTunnels(first[ac].ID); r.status != http.StatusAccepted {
		t.Fatalf("deltunnels = %d %s", r.status, r.body)
	}
	f.waitIdle()
	f.mustApply(f.tunnelsBody("fullMesh", "", []string{"mpls"}, "c", "a"))
	f.waitIdle()
	again := f.tunnelByKey()
	if got, want := (rec{again[ac].Num, again[ac].ID}), (rec{first[ac].Num, first[ac].ID}); got != want {
		t.Errorf("recreated %s = %+v, want the freed record %+v", ac, got, want)
	}

	// Two records freed, two taken back: no new number is handed out.
	if r, _ := f.delTunnels(again[ab].ID, again[bc].ID); r.status != http.StatusAccepted {
		t.Fatalf("deltunnels = %d %s", r.status, r.body)
	}
	f.waitIdle()
	f.mustApply(f.tunnelsBody("fullMesh", "", []string{"mpls"}, "a", "b", "c"))
	f.waitIdle()
	if diff := cmp.Diff(orig, records(f.tunnelByKey())); diff != "" {
		t.Errorf("(num, _id) records after recreating (-want +got):\n%s", diff)
	}
}

// Three seeded tunnels: a-b (num 1), a-c (num 2), b-c (num 3). Device b
// has a static route via b-c's loopback on c's side: tunnel 3 has
// h = (3%127+1)*2 = 8, so A = 10.100.0.8 and B = 10.100.0.9.
const fleetThreeTunnels = `
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
        staticRoutes:
          - {destination: 10.0.3.0/24, gateway: 10.100.0.9}
      - name: c
        interfaces:
          - {name: eth0, type: WAN, ipv4: 192.0.2.3/24, pathLabels: [mpls]}
          - {name: eth1, type: LAN, ipv4: 10.0.3.1/24}
    tunnels:
      - {a: a/eth0, b: b/eth0, pathLabel: mpls}
      - {a: a/eth0, b: c/eth0, pathLabel: mpls}
      - {a: b/eth0, b: c/eth0, pathLabel: mpls}
`

// TestDelTunnels: deltunnels is all-or-nothing on unknown ids, deactivates
// records at once, and refuses a tunnel a static route goes through (§5.5).
func TestDelTunnels(t *testing.T) {
	const ab, ac, bc = "a/eth0 <-> b/eth0 [mpls]", "a/eth0 <-> c/eth0 [mpls]", "b/eth0 <-> c/eth0 [mpls]"
	const notFound = "Some tunnels were not found, try refresh and delete again"
	start := func(t *testing.T) (*apiFixture, map[string]liveTunnel) {
		f := newAPIFixture(t, parseFleet(t, fleetThreeTunnels), simulator.Options{})
		live := f.tunnelByKey()
		if live[bc].Num != 3 {
			t.Fatalf("seeded %s has num %d, want 3 (the static route in the fleet depends on it)", bc, live[bc].Num)
		}
		return f, live
	}

	t.Run("unknown id deletes nothing", func(t *testing.T) {
		f, live := start(t)
		r, _ := f.delTunnels(live[ab].ID, "65a0ffffffffffffffffffff")
		f.wantSvcErr(r, http.StatusInternalServerError, notFound)
		if diff := cmp.Diff([]string{ab, ac, bc}, f.tunnelKeys()); diff != "" {
			t.Errorf("tunnels after the refused call (-want +got):\n%s", diff)
		}
		if n := f.sim.JobCounts(); len(n) != 0 {
			t.Errorf("JobCounts() = %v, want no job", n)
		}
	})

	t.Run("inactive id deletes nothing", func(t *testing.T) {
		f, live := start(t)
		if _, res := f.delTunnels(live[ab].ID); len(res.IDs) != 2 || res.Status != "completed" || res.Message != "2 tunnel deletion jobs added." {
			t.Fatalf("first deltunnels = %+v, want 2 ids, completed, %q", res, "2 tunnel deletion jobs added.")
		}
		f.waitIdle()
		r, _ := f.delTunnels(live[ab].ID, live[ac].ID)
		f.wantSvcErr(r, http.StatusInternalServerError, notFound)
		if diff := cmp.Diff([]string{ac, bc}, f.tunnelKeys()); diff != "" {
			t.Errorf("tunnels after the refused call (-want +got):\n%s", diff)
		}
	})

	t.Run("records deactivated before the jobs run", func(t *testing.T) {
		f, live := start(t)
		f.sim.SetConnected("a", false)
		r, res := f.delTunnels(live[ab].ID)
		if r.status != http.StatusAccepted || len(res.IDs) != 2 {
			t.Fatalf("deltunnels = %d %s, want 202 with 2 ids", r.status, r.body)
		}
		if diff := cmp.Diff([]string{ac, bc}, f.tunnelKeys()); diff != "" {
			t.Errorf("tunnels right after deltunnels (-want +got):\n%s", diff)
		}
		f.waitIdle()
		states := map[string]string{}
		for _, j := range f.jobs(res.IDs) {
			states[f.names[j.Type]] = j.State
			if want := "Delete tunnel between (a,eth0) and (b,eth0)"; j.Data.Message.Title != want || j.Data.Response.Method != "deltunnels" {
				t.Errorf("job %d: title %q method %q, want %q and deltunnels", j.ID, j.Data.Message.Title, j.Data.Response.Method, want)
			}
		}
		if diff := cmp.Diff(map[string]string{"a": "inactive", "b": "complete"}, states); diff != "" {
			t.Errorf("job states while a is offline (-want +got):\n%s", diff)
		}
		f.sim.SetConnected("a", true)
		f.waitIdle()
		if diff := cmp.Diff([]string{ac, bc}, f.tunnelKeys()); diff != "" {
			t.Errorf("tunnels after the jobs (-want +got):\n%s", diff)
		}
	})

	t.Run("static route via the tunnel blocks that tunnel only", func(t *testing.T) {
		f, live := start(t)
		r, res := f.delTunnels(live[ac].ID, live[bc].ID)
		const reason = "Some static routes defined via removed tunnel, please remove static routes first"
		if r.status != http.StatusAccepted || len(res.IDs) != 2 || res.Status != "partially completed" ||
			!strings.HasPrefix(res.Message, "2 tunnel deletion jobs added.") || !strings.Contains(res.Message, reason) {
			t.Errorf("deltunnels = %d %+v, want 202, 2 ids, partially completed, a message with %q", r.status, res, reason)
		}
		f.waitIdle()
		for _, j := range f.jobs(res.IDs) {
			if want := "Delete tunnel between (a,eth0) and (c,eth0)"; j.Data.Message.Title != want {
				t.Errorf("job %d title = %q, want %q", j.ID, j.Data.Message.Title, want)
			}
		}
		if diff := cmp.Diff([]string{ab, bc}, f.tunnelKeys()); diff != "" {
			t.Errorf("tunnels (-want +got):\n%s", diff)
		}
	})
}

// TestApplyWithoutDevicesSelectsTheOrg: in POST /devices/apply an empty or
// missing devices selects every device of the org, and no other org's
// (§5.1, §11 item 2).
func TestApplyWithoutDevicesSelectsTheOrg(t *testing.T) {
	const fleet = `
organizations:
  - name: t
    devices:
      - name: a
        interfaces: [{name: eth0, type: WAN, ipv4: 192.0.2.1/24}, {name: eth1, type: LAN, ipv4: 10.0.1.1/24}]
      - name: b
        interfaces: [{name: eth0, type: WAN, ipv4: 192.0.2.2/24}, {name: eth1, type: LAN, ipv4: 10.0.2.1/24}]
      - name: c
        interfaces: [{name: eth0, type: WAN, ipv4: 192.0.2.3/24}, {name: eth1, type: LAN, ipv4: 10.0.3.1/24}]
  - name: other
    devices:
      - name: x
        interfaces: [{name: eth0, type: WAN, ipv4: 192.0.2.9/24}, {name: eth1, type: LAN, ipv4: 10.0.9.1/24}]
`
	for name, body := range map[string]string{
		"missing": `{"method":"stop"}`,
		"empty":   `{"method":"stop","devices":{}}`,
	} {
		t.Run(name, func(t *testing.T) {
			f := newAPIFixture(t, parseFleet(t, fleet), simulator.Options{})
			res := f.mustApply(json.RawMessage(body))
			f.waitIdle()
			var got []string
			for _, j := range f.jobs(res.IDs) {
				got = append(got, f.names[j.Type]+" "+j.Data.Message.Title)
			}
			sort.Strings(got)
			want := []string{"a Stop device a", "b Stop device b", "c Stop device c"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("jobs of %s (-want +got):\n%s", body, diff)
			}
		})
	}

	// The tunnels method pairs only devices named in devices (§5.4 step 1).
	f := newAPIFixture(t, parseFleet(t, fleet), simulator.Options{})
	r, _ := f.apply(json.RawMessage(`{"method":"tunnels","meta":{"pathLabels":[],"topology":"fullMesh","advancedOptions":{}}}`))
	f.wantSvcErr(r, http.StatusInternalServerError, "At least 2 devices must be selected to create tunnels")
}

// wanDevice is a device with n addressed, unlabeled WANs eth0..eth<n-1>.
func wanDevice(name string, idx, n int) simulator.FleetDevice {
	d := simulator.FleetDevice{Name: name}
	for i := range n {
		d.Interfaces = append(d.Interfaces, simulator.FleetInterface{
			Name: fmt.Sprintf("eth%d", i), Type: "WAN", IPv4: fmt.Sprintf("10.%d.%d.1/24", idx, i),
		})
	}
	return d
}

// TestTunnelsOverThousand: more than 1000 tunnels in one call answer 202
// with ids [] and status "unknown"; 1000 exactly is an ordinary call (§5.3).
func TestTunnelsOverThousand(t *testing.T) {
	tests := map[string]struct {
		wansA, wansB int
		wantIDs      int
		wantStatus   string
	}{
		"1000 tunnels": {25, 40, 2000, "completed"},
		"1025 tunnels": {25, 41, 0, "unknown"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			fl := &simulator.Fleet{Organizations: []simulator.FleetOrg{{Name: "big",
				Devices: []simulator.FleetDevice{wanDevice("a", 1, tc.wansA), wanDevice("b", 2, tc.wansB)}}}}
			f := newAPIFixture(t, fl, simulator.Options{})
			r, res := f.apply(f.tunnelsBody("fullMesh", "", []string{}, "a", "b"))
			if r.status != http.StatusAccepted || len(res.IDs) != tc.wantIDs || res.Status != tc.wantStatus {
				t.Fatalf("apply = %d, %d ids, status %q; want 202, %d ids, %q", r.status, len(res.IDs), res.Status, tc.wantIDs, tc.wantStatus)
			}
			if tc.wantStatus == "unknown" {
				if !strings.HasSuffix(res.Message, "check the result on the Jobs page.") {
					t.Errorf("message = %q, want it to point at the Jobs page", res.Message)
				}
				if loc := r.header.Get("Location"); loc != "" {
					t.Errorf("Location = %q, want none with ids []", loc)
				}
			}
			// The records exist at once (or, past 1000, soon); the jobs need
			// not be waited for.
			want := tc.wansA * tc.wansB
			deadline := time.Now().Add(10 * time.Second)
			for got := len(f.tunnels()); got != want; got = len(f.tunnels()) {
				if time.Now().After(deadline) {
					t.Fatalf("GET /tunnels lists %d tunnels, want %d", got, want)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// TestConcurrentListsIntact: list pages rendered at the same time (their
// buffers are reused between requests) come back whole and identical.
func TestConcurrentListsIntact(t *testing.T) {
	f := newAPIFixture(t, parseFleet(t, fleetThreeTunnels), simulator.Options{})
	paths := []string{f.path("/api/tunnels"), f.path("/api/devices"), f.path("/api/tunnels", "offset", "1", "limit", "1")}
	want := map[string]string{}
	for _, p := range paths {
		want[p] = string(f.do(http.MethodGet, p, nil).body)
	}
	errs := make(chan string, 64)
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 15 {
				p := paths[(g+i)%len(paths)]
				req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, f.srv.URL+p, nil)
				if err != nil {
					errs <- err.Error()
					return
				}
				req.Header.Set("Authorization", "Bearer "+f.token)
				res, err := f.srv.Client().Do(req)
				if err != nil {
					errs <- err.Error()
					return
				}
				body, err := io.ReadAll(res.Body)
				res.Body.Close()
				if err != nil || string(body) != want[p] {
					errs <- fmt.Sprintf("GET %s: body differs from the first answer (err %v)", p, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
