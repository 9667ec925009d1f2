package fleximanage_test

// Contract tests: every call of the client against the simulator, success
// and error paths, as fleximanage/API.md describes the real flexiManage.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/flexiwan-gitops/reconciler/examples"
	"github.com/flexiwan-gitops/reconciler/fleximanage"
	"github.com/flexiwan-gitops/reconciler/fleximanage/simulator"
)

// The lab fleet's organization and the devIds every lab device has.
const (
	labOrgID = "65a000000000000000000001"
	eth0     = "pci:0000:00:03.00" // WAN, metric 100
	eth1     = "pci:0000:00:04.00" // WAN, metric 200
	eth2     = "pci:0000:00:05.00" // LAN
	// unknownID is a well-formed ObjectId that names nothing.
	unknownID = "0123456789abcdef01234567"
)

// exchange is one HTTP exchange as the client's transport saw it.
type exchange struct {
	Method, Path, Query string
	ReqBody             []byte
	Status              int // 0: transport error
	Header              http.Header
	RespBody            []byte
}

// recorder is an http.RoundTripper that records every exchange. edit, when
// set before the first request, alters each outgoing request (after it is
// recorded).
type recorder struct {
	base http.RoundTripper
	edit func(*http.Request)

	mu  sync.Mutex
	log []exchange
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	ex := exchange{Method: req.Method, Path: req.URL.Path, Query: req.URL.RawQuery}
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		ex.ReqBody = b
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	if r.edit != nil {
		r.edit(req)
	}
	resp, err := r.base.RoundTrip(req)
	if err == nil {
		b, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		if rerr != nil {
			return nil, rerr
		}
		resp.Body = io.NopCloser(bytes.NewReader(b))
		ex.Status, ex.Header, ex.RespBody = resp.StatusCode, resp.Header.Clone(), b
	}
	r.mu.Lock()
	r.log = append(r.log, ex)
	r.mu.Unlock()
	return resp, err
}

func (r *recorder) exchanges() []exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.log)
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = nil
}

// last returns the last exchange; the test fails if there is none.
func (r *recorder) last(t *testing.T) exchange {
	t.Helper()
	ex := r.exchanges()
	if len(ex) == 0 {
		t.Fatal("no request was sent")
	}
	return ex[len(ex)-1]
}

// statuses lists the status of every exchange, in order.
func (r *recorder) statuses() []int {
	var out []int
	for _, ex := range r.exchanges() {
		out = append(out, ex.Status)
	}
	return out
}

// lab is a simulator on the lab fleet behind a local HTTP server.
type lab struct {
	sim *simulator.Simulator
	srv *httptest.Server
	org string
}

// labFleet loads examples/lab/fleet.yaml.
func labFleet(t *testing.T) *simulator.Fleet {
	t.Helper()
	fleet, err := simulator.LoadFleet("lab/fleet.yaml", bytes.NewReader(examples.LabFleet))
	if err != nil {
		t.Fatal(err)
	}
	return fleet
}

// startLab starts a simulator on fleet (nil: the lab fleet) with instant jobs
// and no rate limit unless opts asks for them.
func startLab(t *testing.T, fleet *simulator.Fleet, opts simulator.Options) *lab {
	t.Helper()
	if fleet == nil {
		fleet = labFleet(t)
	}
	if opts.JobLatency == 0 {
		opts.Instant = true
	}
	opts.NoRateLimit = opts.RateLimit == 0
	sim, err := simulator.New(fleet, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return &lab{sim: sim, srv: srv, org: sim.OrgID("lab")}
}

// client returns a client of the lab organization with the simulator's owner
// key, fast retries and no budget, whose exchanges rec records. mods adjust
// the options before the client is built.
func (l *lab) client(t *testing.T, mods ...func(*fleximanage.Options)) (*fleximanage.Client, *recorder) {
	t.Helper()
	rec := &recorder{base: l.srv.Client().Transport}
	opts := fleximanage.Options{
		BaseURL:     l.srv.URL,
		Key:         fleximanage.AccessKey(l.sim.Token()),
		Org:         l.org,
		HTTPClient:  &http.Client{Transport: rec, Timeout: 20 * time.Second},
		NoBudget:    true,
		BackoffBase: time.Millisecond,
		BackoffMax:  2 * time.Millisecond,
	}
	for _, m := range mods {
		m(&opts)
	}
	c, err := fleximanage.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c, rec
}

// raw sends one request with the owner key straight to the simulator.
func (l *lab) raw(t *testing.T, method, path string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, l.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+l.sim.Token())
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := l.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func (l *lab) waitIdle(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := l.sim.WaitIdle(ctx); err != nil {
		t.Fatalf("WaitIdle: %v", err)
	}
}

// deviceIDs maps the organization's device names to ids.
func deviceIDs(t *testing.T, c *fleximanage.Client) map[string]string {
	t.Helper()
	devs, err := c.Devices(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range devs {
		out[d.Name] = d.ID
	}
	return out
}

// labelsByName maps the organization's path label names to labels.
func labelsByName(t *testing.T, c *fleximanage.Client) map[string]fleximanage.PathLabel {
	t.Helper()
	ls, err := c.PathLabels(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]fleximanage.PathLabel{}
	for _, l := range ls {
		out[l.Name] = l
	}
	return out
}

// mustDevice fetches a device or fails the test.
func mustDevice(t *testing.T, c *fleximanage.Client, id string) *fleximanage.Device {
	t.Helper()
	d, err := c.Device(t.Context(), id)
	if err != nil {
		t.Fatalf("Device(%s): %v", id, err)
	}
	return d
}

// setLabels puts labels (devId → label ids) on a device's interfaces with a
// PUT and returns what it queued.
func setLabels(t *testing.T, c *fleximanage.Client, deviceID string, labels map[string][]string) fleximanage.Queued {
	t.Helper()
	d := mustDevice(t, c, deviceID)
	for devID, ids := range labels {
		f := d.Interface(devID)
		if f == nil {
			t.Fatalf("device %s has no interface %s", d.Name, devID)
		}
		f.PathLabels = nil
		for _, id := range ids {
			f.PathLabels = append(f.PathLabels, fleximanage.PathLabel{ID: id})
		}
	}
	_, q, err := c.UpdateDevice(t.Context(), d)
	if err != nil {
		t.Fatalf("UpdateDevice(%s): %v", d.Name, err)
	}
	return q
}

func tunnelsMeta(labelIDs ...string) fleximanage.TunnelsMeta {
	return fleximanage.TunnelsMeta{PathLabels: labelIDs, Topology: fleximanage.FullMesh,
		AdvancedOptions: fleximanage.DefaultAdvancedOptions(), TunnelType: "site-to-site"}
}

func devSet(ids ...string) map[string]bool {
	m := map[string]bool{}
	for _, id := range ids {
		m[id] = true
	}
	return m
}

// mplsTunnel labels eth0 of hq and dc1 with mpls and builds the tunnel
// between them; it returns the device ids and the labels.
func mplsTunnel(t *testing.T, l *lab, c *fleximanage.Client) (map[string]string, map[string]fleximanage.PathLabel) {
	t.Helper()
	ids, labels := deviceIDs(t, c), labelsByName(t, c)
	for _, n := range []string{"hq", "dc1"} {
		setLabels(t, c, ids[n], map[string][]string{eth0: {labels["mpls"].ID}})
	}
	res, err := c.Apply(t.Context(), fleximanage.ApplyRequest{Method: fleximanage.MethodTunnels, Devices: devSet(ids["hq"], ids["dc1"]), Meta: tunnelsMeta(labels["mpls"].ID)})
	if err != nil || len(res.IDs) != 2 {
		t.Fatalf("tunnels apply = %+v, %v; want 2 jobs", res, err)
	}
	l.waitIdle(t)
	return ids, labels
}

// fullMesh labels eth0 mpls and eth1 inet on all eight devices and builds
// the full mesh of both labels: 56 tunnels, 112 jobs.
func fullMesh(t *testing.T, l *lab, c *fleximanage.Client) *fleximanage.ApplyResult {
	t.Helper()
	ids, labels := deviceIDs(t, c), labelsByName(t, c)
	all := map[string]bool{}
	for _, id := range ids {
		setLabels(t, c, id, map[string][]string{eth0: {labels["mpls"].ID}, eth1: {labels["inet"].ID}})
		all[id] = true
	}
	res, err := c.Apply(t.Context(), fleximanage.ApplyRequest{Method: fleximanage.MethodTunnels, Devices: all, Meta: tunnelsMeta(labels["mpls"].ID, labels["inet"].ID)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.IDs) != 112 || res.Message != "112 tunnel creation jobs added." {
		t.Fatalf("full mesh apply = %d ids, %q; want 112 jobs", len(res.IDs), res.Message)
	}
	l.waitIdle(t)
	return res
}

// checkAPIError fails unless err is an *APIError with the given status and
// kind whose message contains msg.
func checkAPIError(t *testing.T, err error, status int, kind fleximanage.Kind, msg string) *fleximanage.APIError {
	t.Helper()
	var ae *fleximanage.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v (%T), want an *APIError", err, err)
	}
	if ae.Status != status || ae.Kind != kind || !strings.Contains(ae.Message, msg) {
		t.Errorf("error = status %d, kind %s, message %q; want status %d, kind %s, message containing %q", ae.Status, ae.Kind, ae.Message, status, kind, msg)
	}
	return ae
}

// query parses an exchange's query string.
func query(t *testing.T, ex exchange) url.Values {
	t.Helper()
	q, err := url.ParseQuery(ex.Query)
	if err != nil {
		t.Fatalf("query %q: %v", ex.Query, err)
	}
	return q
}

// members decodes a JSON object into its members.
func members(t *testing.T, b []byte) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, b)
	}
	return m
}

func jobIDsOf(js []fleximanage.Job) []fleximanage.JobID {
	out := make([]fleximanage.JobID, len(js))
	for i, j := range js {
		out[i] = j.ID
	}
	slices.Sort(out)
	return out
}

func sortedIDs(ids []fleximanage.JobID) []fleximanage.JobID {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// ---------------------------------------------------------------------------
// Version and organizations

func TestVersion(t *testing.T) {
	tests := []struct {
		name string
		key  string
		edit func(*http.Request)
	}{
		{name: "owner key"},
		{name: "unknown key", key: "fmsim_not-a-key"},
		{name: "no bearer", edit: func(r *http.Request) { r.Header.Del("Authorization") }},
	}
	l := startLab(t, nil, simulator.Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rec := l.client(t, func(o *fleximanage.Options) {
				if tt.key != "" {
					o.Key = fleximanage.AccessKey(tt.key)
				}
			})
			rec.edit = tt.edit
			got, err := c.Version(t.Context())
			if err != nil {
				t.Fatalf("Version() error = %v", err)
			}
			if got != "6.3.37" {
				t.Errorf("Version() = %q, want 6.3.37", got)
			}
			ex := rec.last(t)
			if ex.Path != "/api/version" || ex.Query != "" {
				t.Errorf("request = %s?%s, want /api/version with no query", ex.Path, ex.Query)
			}
		})
	}
}

func TestOrganizations(t *testing.T) {
	l := startLab(t, nil, simulator.Options{})
	c, rec := l.client(t)
	got, err := c.Organizations(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []fleximanage.Organization{{ID: labOrgID, Name: "lab", Group: "Default", EncryptionMethod: "psk", VxlanPort: "4789", TunnelRange: "10.100.0.0"}}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(fleximanage.Organization{}, "Account")); diff != "" {
		t.Errorf("Organizations() mismatch (-want +got):\n%s", diff)
	}
	if len(got) == 1 && len(got[0].Account) != 24 {
		t.Errorf("Organizations()[0].Account = %q, want an ObjectId", got[0].Account)
	}
	if q := query(t, rec.last(t)); q.Has("org") {
		t.Errorf("GET /organizations sent org=%s; flexiManage ignores it, the client must not send it", q.Get("org"))
	}
}

// multiOrgFleet is the lab plus organizations "other", and two named "twin".
func multiOrgFleet(t *testing.T) *simulator.Fleet {
	t.Helper()
	fleet := labFleet(t)
	fleet.Organizations = append(fleet.Organizations,
		simulator.FleetOrg{Name: "other", ID: "65a0000000000000000000a1", Devices: []simulator.FleetDevice{{Name: "edge",
			Interfaces: []simulator.FleetInterface{
				{Name: "eth0", Type: "WAN", IPv4: "203.0.113.66/29", Gateway: "203.0.113.65"},
				{Name: "eth1", Type: "LAN", IPv4: "10.200.0.1/24"},
			}}}},
		simulator.FleetOrg{Name: "twin", ID: "65a0000000000000000000b1"},
		simulator.FleetOrg{Name: "twin", ID: "65a0000000000000000000b2"},
	)
	return fleet
}

func TestResolveOrg(t *testing.T) {
	l := startLab(t, multiOrgFleet(t), simulator.Options{})
	c, _ := l.client(t)
	tests := []struct {
		name     string
		ref      string
		wantID   string
		wantErr  []string // substrings of the error
		notFound bool     // errors.Is(err, ErrOrgNotFound)
	}{
		{name: "by id", ref: "65a0000000000000000000a1", wantID: "65a0000000000000000000a1"},
		{name: "by name", ref: "lab", wantID: labOrgID},
		{name: "id of a twin", ref: "65a0000000000000000000b2", wantID: "65a0000000000000000000b2"},
		{name: "unknown name lists what exists", ref: "nope", notFound: true, wantErr: []string{`"nope"`, "lab, other, twin, twin"}},
		{name: "ambiguous name", ref: "twin", wantErr: []string{"ambiguous", "65a0000000000000000000b1", "65a0000000000000000000b2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.ResolveOrg(t.Context(), tt.ref)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("ResolveOrg(%q) error = %v", tt.ref, err)
				}
				if got.ID != tt.wantID {
					t.Errorf("ResolveOrg(%q).ID = %s, want %s", tt.ref, got.ID, tt.wantID)
				}
				return
			}
			if err == nil {
				t.Fatalf("ResolveOrg(%q) = %+v, want an error", tt.ref, got)
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("ResolveOrg(%q) error = %q, want it to contain %q", tt.ref, err, s)
				}
			}
			if errors.Is(err, fleximanage.ErrOrgNotFound) != tt.notFound {
				t.Errorf("errors.Is(%v, ErrOrgNotFound) = %v, want %v", err, !tt.notFound, tt.notFound)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Devices

func TestDevicesPaged(t *testing.T) {
	tests := []struct {
		name        string
		pageSize    int
		wantOffsets []string
	}{
		{name: "pages of 3", pageSize: 3, wantOffsets: []string{"0", "3", "6"}},
		{name: "pages of 4 end on records-total", pageSize: 4, wantOffsets: []string{"0", "4"}},
		{name: "pages of 1", pageSize: 1, wantOffsets: []string{"0", "1", "2", "3", "4", "5", "6", "7"}},
		{name: "one full page", pageSize: 8, wantOffsets: []string{"0"}},
		{name: "default page", pageSize: 0, wantOffsets: []string{"0"}},
	}
	l := startLab(t, nil, simulator.Options{})
	wantNames := []string{"branch-1", "branch-2", "branch-3", "branch-4", "branch-5", "branch-6", "dc1", "hq"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rec := l.client(t, func(o *fleximanage.Options) { o.PageSize = tt.pageSize })
			devs, err := c.Devices(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			seen := map[string]int{}
			for _, d := range devs {
				names = append(names, d.Name)
				seen[d.ID]++
			}
			slices.Sort(names)
			if diff := cmp.Diff(wantNames, names); diff != "" {
				t.Errorf("Devices() names mismatch (-want +got):\n%s", diff)
			}
			for id, n := range seen {
				if n != 1 {
					t.Errorf("device %s returned %d times", id, n)
				}
			}
			var offsets []string
			wantLimit := fmt.Sprint(tt.pageSize)
			if tt.pageSize == 0 {
				wantLimit = "1000"
			}
			for _, ex := range rec.exchanges() {
				q := query(t, ex)
				if ex.Method != http.MethodGet || ex.Path != "/api/devices" || q.Get("limit") != wantLimit || q.Get("response") != "detailed" || q.Get("org") != labOrgID {
					t.Errorf("request %s %s?%s, want GET /api/devices with limit=%s, response=detailed and org", ex.Method, ex.Path, ex.Query, wantLimit)
				}
				offsets = append(offsets, q.Get("offset"))
			}
			if diff := cmp.Diff(tt.wantOffsets, offsets); diff != "" {
				t.Errorf("requested offsets mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDevice(t *testing.T) {
	l := startLab(t, nil, simulator.Options{})
	c, rec := l.client(t)
	ids := deviceIDs(t, c)

	t.Run("found", func(t *testing.T) {
		d := mustDevice(t, c, ids["hq"])
		type ifc struct {
			DevID, Name, Type, IPv4, Mask, Gateway, Metric string
			WAN                                            bool
		}
		var got []ifc
		for _, f := range d.Interfaces {
			got = append(got, ifc{f.DevID, f.Name, f.Type, f.IPv4, string(f.IPv4Mask), f.Gateway, string(f.Metric), f.IsWAN()})
		}
		want := []ifc{
			{eth0, "eth0", "WAN", "198.51.100.2", "30", "198.51.100.1", "100", true},
			{eth1, "eth1", "WAN", "203.0.113.2", "29", "203.0.113.1", "200", true},
			{eth2, "eth2", "LAN", "10.0.0.1", "24", "", "0", false},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Device(hq) interfaces mismatch (-want +got):\n%s", diff)
		}
		if d.Name != "hq" || d.Org != labOrgID || !d.IsApproved || !d.IsConnected || d.RunState() != "running" || d.Versions.Agent != "6.3.37" {
			t.Errorf("Device(hq) = name %q org %s approved %v connected %v state %q agent %s", d.Name, d.Org, d.IsApproved, d.IsConnected, d.RunState(), d.Versions.Agent)
		}
		if b := bytes.TrimSpace(rec.last(t).RespBody); len(b) == 0 || b[0] != '[' {
			t.Errorf("GET /devices/{id} answered %.40s; flexiManage answers an array of one", b)
		}
	})
	errTests := []struct {
		name   string
		id     string
		status int
		kind   fleximanage.Kind
		msg    string
	}{
		{name: "unknown id", id: unknownID, status: 404, kind: fleximanage.KindNotFound, msg: "Device not found"},
		{name: "not an ObjectId", id: "hq", status: 500, kind: fleximanage.KindInvalid, msg: `Cast to ObjectId failed for value "hq"`},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			rec.reset()
			d, err := c.Device(t.Context(), tt.id)
			if err == nil {
				t.Fatalf("Device(%s) = %+v, want an error", tt.id, d)
			}
			ae := checkAPIError(t, err, tt.status, tt.kind, tt.msg)
			if ae.Path != "/api/devices/"+tt.id || ae.Method != http.MethodGet {
				t.Errorf("APIError names %s %s, want GET /api/devices/%s", ae.Method, ae.Path, tt.id)
			}
			if n := len(rec.exchanges()); n != 1 {
				t.Errorf("sent %d requests, want 1 (no retry)", n)
			}
		})
	}
}

func TestDeviceStatus(t *testing.T) {
	l := startLab(t, nil, simulator.Options{})
	c, _ := l.client(t)
	ids := deviceIDs(t, c)
	l.sim.SetConnected("dc1", false)

	ifs := []fleximanage.InterfaceStatus{{DevID: eth0, InternetAccess: "yes", LinkStatus: "up"}, {DevID: eth1, InternetAccess: "yes", LinkStatus: "up"}, {DevID: eth2, LinkStatus: "up"}}
	tests := []struct {
		name   string
		id     string
		want   *fleximanage.DeviceStatus
		status int
	}{
		{name: "connected", id: ids["hq"], want: &fleximanage.DeviceStatus{Sync: fleximanage.SyncStatus{State: "synced", AutoSync: "on"}, IsApproved: true, Connection: "connected", Interfaces: ifs}},
		{name: "disconnected", id: ids["dc1"], want: &fleximanage.DeviceStatus{Sync: fleximanage.SyncStatus{State: "synced", AutoSync: "on"}, IsApproved: true, Connection: "disconnected", Interfaces: ifs}},
		{name: "unknown", id: unknownID, status: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.DeviceStatus(t.Context(), tt.id)
			if tt.status != 0 {
				checkAPIError(t, err, tt.status, fleximanage.KindNotFound, "Device not found")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(fleximanage.DeviceStatus{}, "LTEStatus", "WiFiStatus")); diff != "" {
				t.Errorf("DeviceStatus() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// UpdateDevice

func TestUpdateDevice(t *testing.T) {
	tests := []struct {
		name       string
		edit       func(d *fleximanage.Device, labels map[string]fleximanage.PathLabel)
		wantStatus int
		wantJobs   int
		check      func(t *testing.T, d *fleximanage.Device)
	}{
		{
			name:       "no change",
			edit:       func(*fleximanage.Device, map[string]fleximanage.PathLabel) {},
			wantStatus: http.StatusOK,
		},
		{
			name: "Tunnel label reaches no device",
			edit: func(d *fleximanage.Device, ls map[string]fleximanage.PathLabel) {
				d.Interface(eth0).PathLabels = []fleximanage.PathLabel{{ID: ls["mpls"].ID}}
			},
			wantStatus: http.StatusOK,
			check: func(t *testing.T, d *fleximanage.Device) {
				if got := d.Interface(eth0).PathLabels; len(got) != 1 || got[0].Name != "mpls" || got[0].Type != fleximanage.PathLabelTunnel {
					t.Errorf("eth0 labels = %+v, want the populated mpls label", got)
				}
			},
		},
		{
			name: "DIA label modifies the interface",
			edit: func(d *fleximanage.Device, ls map[string]fleximanage.PathLabel) {
				d.Interface(eth1).PathLabels = []fleximanage.PathLabel{{ID: ls["lte-backup"].ID}}
			},
			wantStatus: http.StatusAccepted,
			wantJobs:   1,
			check: func(t *testing.T, d *fleximanage.Device) {
				if got := d.Interface(eth1).PathLabels; len(got) != 1 || got[0].Name != "lte-backup" {
					t.Errorf("eth1 labels = %+v, want lte-backup", got)
				}
			},
		},
		{
			name: "static route added",
			edit: func(d *fleximanage.Device, _ map[string]fleximanage.PathLabel) {
				d.StaticRoutes = append(d.StaticRoutes, fleximanage.StaticRoute{Destination: "10.50.0.0/24", Gateway: "198.51.100.1", IfName: eth0})
			},
			wantStatus: http.StatusAccepted,
			wantJobs:   1,
			check: func(t *testing.T, d *fleximanage.Device) {
				if len(d.StaticRoutes) != 1 || d.StaticRoutes[0].Destination != "10.50.0.0/24" || len(d.StaticRoutes[0].ID) != 24 {
					t.Errorf("static routes = %+v, want the new route with an _id", d.StaticRoutes)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := startLab(t, nil, simulator.Options{})
			c, rec := l.client(t)
			ids, labels := deviceIDs(t, c), labelsByName(t, c)
			d := mustDevice(t, c, ids["hq"])
			tt.edit(d, labels)
			rec.reset()
			upd, q, err := c.UpdateDevice(t.Context(), d)
			if err != nil {
				t.Fatalf("UpdateDevice() error = %v", err)
			}
			ex := rec.last(t)
			if ex.Method != http.MethodPut || ex.Path != "/api/devices/"+ids["hq"] || query(t, ex).Get("org") != labOrgID {
				t.Errorf("request = %s %s?%s, want PUT /api/devices/{id}?org=", ex.Method, ex.Path, ex.Query)
			}
			if ex.Status != tt.wantStatus {
				t.Errorf("PUT answered %d, want %d", ex.Status, tt.wantStatus)
			}
			if len(q.IDs) != tt.wantJobs || (tt.wantJobs == 0) != (q.Location == "") {
				t.Fatalf("UpdateDevice() queued %v at %q, want %d jobs", q.IDs, q.Location, tt.wantJobs)
			}
			if upd.ID != ids["hq"] || upd.Name != "hq" {
				t.Errorf("UpdateDevice() returned device %s %q, want hq", upd.ID, upd.Name)
			}
			if tt.wantJobs > 0 {
				l.waitIdle(t)
				jobs, err := c.JobsAt(t.Context(), q.Location)
				if err != nil {
					t.Fatal(err)
				}
				for _, j := range jobs {
					if j.State != fleximanage.JobComplete || j.Data.Message.Title != "Modify device hq" {
						t.Errorf("job %d = %q %s, want a complete modify job", j.ID, j.Data.Message.Title, j.State)
					}
				}
			}
			if tt.check != nil {
				tt.check(t, upd)
				tt.check(t, mustDevice(t, c, ids["hq"]))
			}
		})
	}
}

func TestUpdateDeviceRefused(t *testing.T) {
	tests := []struct {
		name   string
		tunnel bool // build the hq–dc1 mpls tunnel first
		edit   func(d *fleximanage.Device, labels map[string]fleximanage.PathLabel)
		status int
		kind   fleximanage.Kind
		msg    string
	}{
		{
			name: "label on a LAN",
			edit: func(d *fleximanage.Device, ls map[string]fleximanage.PathLabel) {
				d.Interface(eth2).PathLabels = []fleximanage.PathLabel{{ID: ls["mpls"].ID}}
			},
			status: 400, kind: fleximanage.KindInvalid, msg: "Path Labels are not allowed on LAN interfaces",
		},
		{
			name: "same label on two WANs",
			edit: func(d *fleximanage.Device, ls map[string]fleximanage.PathLabel) {
				d.Interface(eth0).PathLabels = []fleximanage.PathLabel{{ID: ls["inet"].ID}}
				d.Interface(eth1).PathLabels = []fleximanage.PathLabel{{ID: ls["inet"].ID}}
			},
			status: 400, kind: fleximanage.KindInvalid, msg: "Setting the same path label on multiple WAN interfaces is not allowed",
		},
		{
			name: "label of no organization",
			edit: func(d *fleximanage.Device, _ map[string]fleximanage.PathLabel) {
				d.Interface(eth0).PathLabels = []fleximanage.PathLabel{{ID: unknownID}}
			},
			status: 400, kind: fleximanage.KindInvalid, msg: "Not allowed to assign path labels of a different organization",
		},
		{
			name:   "removing a label an active tunnel uses",
			tunnel: true,
			edit:   func(d *fleximanage.Device, _ map[string]fleximanage.PathLabel) { d.Interface(eth0).PathLabels = nil },
			status: 400, kind: fleximanage.KindConflict, msg: "Removed label used by existing tunnels, please delete related tunnels before",
		},
		{
			name:   "unassigning a WAN with a tunnel",
			tunnel: true,
			edit:   func(d *fleximanage.Device, _ map[string]fleximanage.PathLabel) { d.Interface(eth0).IsAssigned = false },
			status: 500, kind: fleximanage.KindConflict, msg: "Unassigned interface eth0 used by existing tunnels",
		},
		{
			name:   "empty name",
			edit:   func(d *fleximanage.Device, _ map[string]fleximanage.PathLabel) { d.Name = "" },
			status: 500, kind: fleximanage.KindInvalid, msg: "Device name must be set",
		},
		{
			name:   "unknown device",
			edit:   func(d *fleximanage.Device, _ map[string]fleximanage.PathLabel) { d.ID = unknownID },
			status: 404, kind: fleximanage.KindNotFound, msg: "Device not found",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := startLab(t, nil, simulator.Options{})
			c, rec := l.client(t)
			ids, labels := deviceIDs(t, c), labelsByName(t, c)
			if tt.tunnel {
				mplsTunnel(t, l, c)
			}
			before := mustDevice(t, c, ids["hq"])
			beforeJSON, err := json.Marshal(before)
			if err != nil {
				t.Fatal(err)
			}
			tt.edit(before, labels)
			rec.reset()
			_, q, err := c.UpdateDevice(t.Context(), before)
			if err == nil {
				t.Fatalf("UpdateDevice() queued %v, want an error", q.IDs)
			}
			checkAPIError(t, err, tt.status, tt.kind, tt.msg)
			if n := len(rec.exchanges()); n != 1 {
				t.Errorf("sent %d requests, want 1", n)
			}
			afterJSON, err := json.Marshal(mustDevice(t, c, ids["hq"]))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(beforeJSON, afterJSON) {
				t.Errorf("a refused PUT changed the device:\nbefore %s\nafter  %s", beforeJSON, afterJSON)
			}
		})
	}

	t.Run("no _id", func(t *testing.T) {
		l := startLab(t, nil, simulator.Options{})
		c, rec := l.client(t)
		_, _, err := c.UpdateDevice(t.Context(), &fleximanage.Device{Name: "hq"})
		if err == nil {
			t.Fatal("UpdateDevice() of a device without _id succeeded")
		}
		if n := len(rec.exchanges()); n != 0 {
			t.Errorf("sent %d requests, want none", n)
		}
	})
}

// TestUpdateDeviceKeepsUnmodelledMembers proves that a PUT writes back the
// members the client does not model exactly as it received them: the
// device's ospf, bgp and firewall, and each interface's ospf, dnsServers and
// any member flexiManage may add.
func TestUpdateDeviceKeepsUnmodelledMembers(t *testing.T) {
	l := startLab(t, nil, simulator.Options{})
	c, rec := l.client(t)
	id := deviceIDs(t, c)["hq"]

	// Give the device member values in an order no re-encoding would
	// produce (keys not sorted), through a raw PUT.
	status, _, body := l.raw(t, http.MethodGet, "/api/devices/"+id+"?org="+labOrgID, nil)
	if status != 200 {
		t.Fatalf("GET device: %d %s", status, body)
	}
	var arr []map[string]json.RawMessage
	if err := json.Unmarshal(body, &arr); err != nil || len(arr) != 1 {
		t.Fatalf("GET device: %v %s", err, body)
	}
	dev := arr[0]
	dev["ospf"] = json.RawMessage(`{"routerId":"10.0.0.1","helloInterval":10,"deadInterval":40,"redistributeBgp":true,"custom":"router ospf\n"}`)
	dev["bgp"] = json.RawMessage(`{"enable":false,"routerId":"","localASN":"65001","neighbors":[],"keepaliveInterval":"30","holdInterval":"90","redistributeOspf":true,"custom":""}`)
	dev["firewall"] = json.RawMessage(`{"rules":[{"priority":10,"description":"ssh","enabled":true,"direction":"inbound","inbound":"edgeAccess","classification":{"destination":{"ipProtoPort":{"ports":"22","protocols":["tcp"]}}},"action":"allow"}]}`)
	var ifs []map[string]json.RawMessage
	if err := json.Unmarshal(dev["interfaces"], &ifs); err != nil {
		t.Fatal(err)
	}
	for i := range ifs {
		ifs[i]["ospf"] = json.RawMessage(`{"cost":null,"area":"0.0.0.0","keyId":"","key":""}`)
		ifs[i]["dnsServers"] = json.RawMessage(`["9.9.9.9","1.1.1.1"]`)
		ifs[i]["x-vendor"] = json.RawMessage(`{"z":1,"a":[3,2,1]}`)
	}
	dev["interfaces"], _ = json.Marshal(ifs)
	put, _ := json.Marshal(dev)
	if status, _, body := l.raw(t, http.MethodPut, "/api/devices/"+id+"?org="+labOrgID, put); status != 202 {
		t.Fatalf("raw PUT: %d %s", status, body)
	}
	l.waitIdle(t)

	// GET, then a PUT of the unedited device, then GET again.
	rec.reset()
	d := mustDevice(t, c, id)
	got1 := rec.last(t).RespBody
	_, q, err := c.UpdateDevice(t.Context(), d)
	if err != nil {
		t.Fatal(err)
	}
	if len(q.IDs) != 0 {
		t.Errorf("a PUT of the unedited device queued %v, want nothing", q.IDs)
	}
	sent := rec.last(t).ReqBody
	mustDevice(t, c, id)
	got2 := rec.last(t).RespBody

	devOf := func(b []byte) map[string]json.RawMessage {
		var arr []map[string]json.RawMessage
		if err := json.Unmarshal(b, &arr); err != nil || len(arr) != 1 {
			t.Fatalf("device answer: %v %s", err, b)
		}
		return arr[0]
	}
	ifsOf := func(dev map[string]json.RawMessage) []map[string]json.RawMessage {
		var ifs []map[string]json.RawMessage
		if err := json.Unmarshal(dev["interfaces"], &ifs); err != nil {
			t.Fatal(err)
		}
		return ifs
	}
	before, body2, after := devOf(got1), members(t, sent), devOf(got2)
	for _, k := range []string{"ospf", "bgp", "firewall"} {
		if !bytes.Equal(before[k], dev[k]) {
			t.Fatalf("setup: GET %s = %s, want %s", k, before[k], dev[k])
		}
		if !bytes.Equal(body2[k], before[k]) {
			t.Errorf("PUT sent %s = %s, want the received %s", k, body2[k], before[k])
		}
		if !bytes.Equal(after[k], before[k]) {
			t.Errorf("after PUT, %s = %s, want %s", k, after[k], before[k])
		}
	}
	ifBefore, ifSent, ifAfter := ifsOf(before), ifsOf(body2), ifsOf(after)
	if len(ifSent) != len(ifBefore) || len(ifAfter) != len(ifBefore) {
		t.Fatalf("interfaces: got %d, sent %d, after %d", len(ifBefore), len(ifSent), len(ifAfter))
	}
	for i := range ifBefore {
		for _, k := range []string{"_id", "ospf", "dnsServers", "x-vendor"} {
			if !bytes.Equal(ifSent[i][k], ifBefore[i][k]) {
				t.Errorf("interface %d: PUT sent %s = %s, want the received %s", i, k, ifSent[i][k], ifBefore[i][k])
			}
			if !bytes.Equal(ifAfter[i][k], ifBefore[i][k]) {
				t.Errorf("interface %d: after PUT, %s = %s, want %s", i, k, ifAfter[i][k], ifBefore[i][k])
			}
		}
	}
}

// ---------------------------------------------------------------------------
// Tunnels

func TestTunnelsPaged(t *testing.T) {
	l := startLab(t, nil, simulator.Options{})
	c, _ := l.client(t)
	fullMesh(t, l, c)
	tests := []struct {
		name         string
		pageSize     int
		wantRequests int
	}{
		{name: "pages of 10", pageSize: 10, wantRequests: 6},
		{name: "pages of 8 end on records-total", pageSize: 8, wantRequests: 7},
		{name: "one page", pageSize: 0, wantRequests: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pc, rec := l.client(t, func(o *fleximanage.Options) { o.PageSize = tt.pageSize })
			tuns, err := pc.Tunnels(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(tuns) != 56 {
				t.Errorf("Tunnels() = %d tunnels, want 56", len(tuns))
			}
			seen := map[string]bool{}
			perLabel := map[string]int{}
			for _, tn := range tuns {
				if seen[tn.ID] {
					t.Errorf("tunnel %s returned twice", tn.ID)
				}
				seen[tn.ID] = true
				perLabel[tn.LabelName()]++
				if !tn.IsActive || !tn.DeviceAconf || !tn.DeviceBconf || tn.TunnelStatus == "" || tn.PathLabel.ID != "" {
					t.Errorf("tunnel %d: active %v conf %v/%v status %q label %+v", tn.Num, tn.IsActive, tn.DeviceAconf, tn.DeviceBconf, tn.TunnelStatus, tn.PathLabel)
				}
			}
			if diff := cmp.Diff(map[string]int{"mpls": 28, "inet": 28}, perLabel); diff != "" {
				t.Errorf("tunnels per label mismatch (-want +got):\n%s", diff)
			}
			ex := rec.exchanges()
			if len(ex) != tt.wantRequests {
				t.Errorf("sent %d requests, want %d", len(ex), tt.wantRequests)
			}
			for _, e := range ex {
				if e.Path != "/api/tunnels" || query(t, e).Get("org") != labOrgID {
					t.Errorf("request %s?%s, want /api/tunnels?org=", e.Path, e.Query)
				}
			}
		})
	}
}

func TestDeviceTunnelsHidesKeys(t *testing.T) {
	l := startLab(t, nil, simulator.Options{})
	c, rec := l.client(t)
	ids, labels := mplsTunnel(t, l, c)
	rec.reset()
	tuns, err := c.DeviceTunnels(t.Context(), ids["hq"])
	if err != nil {
		t.Fatal(err)
	}
	ex := rec.last(t)
	if ex.Path != "/api/devices/"+ids["hq"]+"/tunnels" || query(t, ex).Get("org") != labOrgID {
		t.Errorf("request %s?%s, want /api/devices/{id}/tunnels?org=", ex.Path, ex.Query)
	}
	// The simulator, like flexiManage, does send the PSK material.
	var rawTuns []struct {
		TunnelKeys struct{ Key1 string } `json:"tunnelKeys"`
	}
	if err := json.Unmarshal(ex.RespBody, &rawTuns); err != nil || len(rawTuns) != 1 || rawTuns[0].TunnelKeys.Key1 == "" {
		t.Fatalf("answer carries no tunnelKeys.key1 (%v): %s", err, ex.RespBody)
	}
	key1 := rawTuns[0].TunnelKeys.Key1

	if len(tuns) != 1 {
		t.Fatalf("DeviceTunnels(hq) = %d tunnels, want 1", len(tuns))
	}
	want := fleximanage.TunnelLabel{ID: labels["mpls"].ID, Name: "mpls", Color: "#2e86de", Type: fleximanage.PathLabelTunnel}
	if diff := cmp.Diff(&want, tuns[0].PathLabel); diff != "" {
		t.Errorf("DeviceTunnels(hq)[0].PathLabel mismatch (-want +got):\n%s", diff)
	}
	out, err := json.Marshal(tuns)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"key1", "tunnelKeys", key1} {
		if bytes.Contains(out, []byte(s)) {
			t.Errorf("encoded tunnels contain %q: %s", s, out)
		}
	}
	if s := fmt.Sprintf("%+v", tuns); strings.Contains(s, key1) {
		t.Errorf("formatted tunnels contain the PSK: %s", s)
	}

	_, err = c.DeviceTunnels(t.Context(), unknownID)
	checkAPIError(t, err, 404, fleximanage.KindNotFound, "Device not found")
}

// ---------------------------------------------------------------------------
// Path labels

func TestPathLabelsList(t *testing.T) {
	l := startLab(t, nil, simulator.Options{})
	c, rec := l.client(t)
	got, err := c.PathLabels(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []fleximanage.PathLabel{
		{Name: "mpls", Description: "MPLS underlay", Color: "#2e86de", Type: fleximanage.PathLabelTunnel},
		{Name: "inet", Description: "Internet underlay", Color: "#10ac84", Type: fleximanage.PathLabelTunnel},
		{Name: "lte-backup", Description: "LTE direct internet", Color: "#ee5253", Type: fleximanage.PathLabelDIA},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(fleximanage.PathLabel{}, "ID")); diff != "" {
		t.Errorf("PathLabels() mismatch (-want +got):\n%s", diff)
	}
	if q := query(t, rec.last(t)); q.Get("org") != labOrgID {
		t.Errorf("GET /pathlabels query %v, want org", q)
	}
	for _, pl := range got {
		one, err := c.PathLabel(t.Context(), pl.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(pl, *one); diff != "" {
			t.Errorf("PathLabel(%s) mismatch (-want +got):\n%s", pl.ID, diff)
		}
	}
	_, err = c.PathLabel(t.Context(), unknownID)
	checkAPIError(t, err, 404, fleximanage.KindNotFound, "Not found")
}

func TestCreatePathLabel(t *testing.T) {
	tests := []struct {
		name   string
		req    fleximanage.PathLabelRequest
		status int // 0: success
		kind   fleximanage.Kind
		msg    string
	}{
		{name: "tunnel label", req: fleximanage.PathLabelRequest{Name: "wifi", Description: "guest", Color: "#123abc", Type: fleximanage.PathLabelTunnel}},
		{name: "DIA label without description", req: fleximanage.PathLabelRequest{Name: "lte-2", Color: "#00FF00", Type: fleximanage.PathLabelDIA}},
		{name: "duplicate name", req: fleximanage.PathLabelRequest{Name: "mpls", Color: "#123abc", Type: fleximanage.PathLabelTunnel},
			status: 500, kind: fleximanage.KindConflict, msg: "Duplicated path labels names are not allowed"},
		{name: "bad colour", req: fleximanage.PathLabelRequest{Name: "wifi", Color: "blue", Type: fleximanage.PathLabelTunnel},
			status: 500, kind: fleximanage.KindInvalid, msg: "color: Path label color is invalid"},
		{name: "bad type", req: fleximanage.PathLabelRequest{Name: "wifi", Color: "#123abc", Type: "Both"},
			status: 500, kind: fleximanage.KindInvalid, msg: "`Both` is not a valid enum value"},
		{name: "short name", req: fleximanage.PathLabelRequest{Name: "w", Color: "#123abc", Type: fleximanage.PathLabelTunnel},
			status: 500, kind: fleximanage.KindInvalid, msg: "name: Path label name format is invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := startLab(t, nil, simulator.Options{})
			c, rec := l.client(t)
			got, err := c.CreatePathLabel(t.Context(), tt.req)
			ex := rec.last(t)
			if tt.status != 0 {
				checkAPIError(t, err, tt.status, tt.kind, tt.msg)
				if n := len(labelsByName(t, c)); n != 3 {
					t.Errorf("after a refused create there are %d labels, want 3", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ex.Status != http.StatusCreated {
				t.Errorf("POST /pathlabels answered %d, want 201", ex.Status)
			}
			var sent map[string]string
			if err := json.Unmarshal(ex.ReqBody, &sent); err != nil {
				t.Fatal(err)
			}
			wantSent := map[string]string{"name": tt.req.Name, "description": tt.req.Description, "color": tt.req.Color, "type": string(tt.req.Type)}
			if diff := cmp.Diff(wantSent, sent); diff != "" {
				t.Errorf("request body mismatch (-want +got):\n%s", diff)
			}
			want := fleximanage.PathLabel{Name: tt.req.Name, Description: tt.req.Description, Color: tt.req.Color, Type: tt.req.Type}
			if diff := cmp.Diff(want, *got, cmpopts.IgnoreFields(fleximanage.PathLabel{}, "ID")); diff != "" {
				t.Errorf("CreatePathLabel() mismatch (-want +got):\n%s", diff)
			}
			stored, err := c.PathLabel(t.Context(), got.ID)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(got, stored); diff != "" {
				t.Errorf("stored label mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUpdatePathLabel(t *testing.T) {
	tests := []struct {
		name   string
		label  string // label to update
		inUse  bool   // put the label on hq's eth0 first
		req    fleximanage.PathLabelRequest
		status int
		kind   fleximanage.Kind
		msg    string
	}{
		{name: "rename and recolour", label: "mpls", req: fleximanage.PathLabelRequest{Name: "mpls-2", Description: "MPLS 2", Color: "#000000", Type: fleximanage.PathLabelTunnel}},
		{name: "type change of an unused label", label: "lte-backup", req: fleximanage.PathLabelRequest{Name: "lte-backup", Color: "#ee5253", Type: fleximanage.PathLabelTunnel}},
		{name: "rename of a label in use", label: "mpls", inUse: true, req: fleximanage.PathLabelRequest{Name: "mpls-x", Color: "#2e86de", Type: fleximanage.PathLabelTunnel}},
		{name: "type change of a label in use", label: "mpls", inUse: true, req: fleximanage.PathLabelRequest{Name: "mpls", Color: "#2e86de", Type: fleximanage.PathLabelDIA},
			status: 400, kind: fleximanage.KindConflict, msg: "Path label is used by 1 devices"},
		{name: "name of another label", label: "inet", req: fleximanage.PathLabelRequest{Name: "mpls", Color: "#10ac84", Type: fleximanage.PathLabelTunnel},
			status: 500, kind: fleximanage.KindConflict, msg: "Duplicated path labels names are not allowed"},
		{name: "missing label", req: fleximanage.PathLabelRequest{Name: "ghost", Color: "#10ac84", Type: fleximanage.PathLabelTunnel},
			status: 404, kind: fleximanage.KindNotFound, msg: "Not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := startLab(t, nil, simulator.Options{})
			c, rec := l.client(t)
			labels := labelsByName(t, c)
			id := unknownID
			if tt.label != "" {
				id = labels[tt.label].ID
			}
			if tt.inUse {
				setLabels(t, c, deviceIDs(t, c)["hq"], map[string][]string{eth0: {id}})
			}
			got, err := c.UpdatePathLabel(t.Context(), id, tt.req)
			ex := rec.last(t)
			if ex.Method != http.MethodPut || ex.Path != "/api/pathlabels/"+id {
				t.Errorf("request = %s %s, want PUT /api/pathlabels/%s", ex.Method, ex.Path, id)
			}
			if tt.status != 0 {
				checkAPIError(t, err, tt.status, tt.kind, tt.msg)
				if tt.label != "" {
					if diff := cmp.Diff(labels[tt.label], labelsByName(t, c)[tt.label]); diff != "" {
						t.Errorf("a refused update changed the label (-want +got):\n%s", diff)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := fleximanage.PathLabel{ID: id, Name: tt.req.Name, Description: tt.req.Description, Color: tt.req.Color, Type: tt.req.Type}
			if diff := cmp.Diff(want, *got); diff != "" {
				t.Errorf("UpdatePathLabel() mismatch (-want +got):\n%s", diff)
			}
			stored, err := c.PathLabel(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, *stored); diff != "" {
				t.Errorf("stored label mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDeletePathLabel(t *testing.T) {
	tests := []struct {
		name   string
		label  string
		inUse  bool
		status int
		kind   fleximanage.Kind
		msg    string
	}{
		{name: "unused", label: "inet"},
		{name: "in use by a device", label: "mpls", inUse: true, status: 400, kind: fleximanage.KindConflict, msg: "is used by"},
		{name: "missing", status: 404, kind: fleximanage.KindNotFound, msg: "Not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := startLab(t, nil, simulator.Options{})
			c, rec := l.client(t)
			id := unknownID
			if tt.label != "" {
				id = labelsByName(t, c)[tt.label].ID
			}
			if tt.inUse {
				setLabels(t, c, deviceIDs(t, c)["hq"], map[string][]string{eth0: {id}})
			}
			err := c.DeletePathLabel(t.Context(), id)
			if tt.status != 0 {
				checkAPIError(t, err, tt.status, tt.kind, tt.msg)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ex := rec.last(t); ex.Status != http.StatusNoContent || ex.Method != http.MethodDelete {
				t.Errorf("DELETE answered %d to %s, want 204", ex.Status, ex.Method)
			}
			_, err = c.PathLabel(t.Context(), id)
			checkAPIError(t, err, 404, fleximanage.KindNotFound, "Not found")
		})
	}
}

// ---------------------------------------------------------------------------
// Apply

var locationRE = regexp.MustCompile(`^http://127\.0\.0\.1:\d+/api/jobs\?status=all&ids=\d+(%2C\d+)*&org=` + labOrgID + `$`)

func TestApply(t *testing.T) {
	type env struct {
		l      *lab
		c      *fleximanage.Client
		ids    map[string]string
		labels map[string]fleximanage.PathLabel
	}
	tests := []struct {
		name     string
		setup    func(t *testing.T, e env)
		req      func(t *testing.T, e env) fleximanage.ApplyRequest
		wantJobs int
		wantMsg  string
		check    func(t *testing.T, e env)
	}{
		{
			name: "start a stopped device",
			req: func(t *testing.T, e env) fleximanage.ApplyRequest {
				return fleximanage.ApplyRequest{Method: fleximanage.MethodStart, Devices: devSet(e.ids["branch-6"])}
			},
			wantJobs: 1, wantMsg: "Start device job added successfully",
			check: func(t *testing.T, e env) {
				if got := mustDevice(t, e.c, e.ids["branch-6"]).RunState(); got != "running" {
					t.Errorf("branch-6 state %q, want running", got)
				}
			},
		},
		{
			name: "stop two devices",
			req: func(t *testing.T, e env) fleximanage.ApplyRequest {
				return fleximanage.ApplyRequest{Method: fleximanage.MethodStop, Devices: devSet(e.ids["hq"], e.ids["dc1"])}
			},
			wantJobs: 2, wantMsg: "Stop device jobs added successfully",
			check: func(t *testing.T, e env) {
				for _, n := range []string{"hq", "dc1"} {
					if got := mustDevice(t, e.c, e.ids[n]).RunState(); got != "stopped" {
						t.Errorf("%s state %q, want stopped", n, got)
					}
				}
			},
		},
		{
			name: "upgrade",
			req: func(t *testing.T, e env) fleximanage.ApplyRequest {
				return fleximanage.ApplyRequest{Method: fleximanage.MethodUpgrade, Devices: devSet(e.ids["branch-5"])}
			},
			wantJobs: 1,
			check: func(t *testing.T, e env) {
				if got := mustDevice(t, e.c, e.ids["branch-5"]).Versions.Agent; got != "6.3.37" {
					t.Errorf("branch-5 agent %s after the upgrade, want 6.3.37", got)
				}
			},
		},
		{
			name: "sync",
			req: func(t *testing.T, e env) fleximanage.ApplyRequest {
				return fleximanage.ApplyRequest{Method: fleximanage.MethodSync, Devices: devSet(e.ids["branch-1"])}
			},
			wantJobs: 1,
			check: func(t *testing.T, e env) {
				if got := mustDevice(t, e.c, e.ids["branch-1"]).Sync.State; got != "synced" {
					t.Errorf("branch-1 sync state %q, want synced", got)
				}
			},
		},
		{
			name: "unlabelled tunnels",
			req: func(t *testing.T, e env) fleximanage.ApplyRequest {
				return fleximanage.ApplyRequest{Method: fleximanage.MethodTunnels, Devices: devSet(e.ids["hq"], e.ids["dc1"]), Meta: tunnelsMeta()}
			},
			wantJobs: 8, wantMsg: "8 tunnel creation jobs added.",
			check: func(t *testing.T, e env) {
				tuns, err := e.c.Tunnels(t.Context())
				if err != nil || len(tuns) != 4 {
					t.Errorf("Tunnels() = %d, %v; want the 4 WAN pairs", len(tuns), err)
				}
			},
		},
		{
			name: "delete tunnels",
			setup: func(t *testing.T, e env) {
				mplsTunnel(t, e.l, e.c)
			},
			req: func(t *testing.T, e env) fleximanage.ApplyRequest {
				tuns, err := e.c.Tunnels(t.Context())
				if err != nil || len(tuns) != 1 {
					t.Fatalf("Tunnels() = %d, %v", len(tuns), err)
				}
				return fleximanage.ApplyRequest{Method: fleximanage.MethodDelTunnels, Devices: devSet(e.ids["hq"]), Tunnels: devSet(tuns[0].ID)}
			},
			wantJobs: 2, wantMsg: "2 tunnel deletion jobs added.",
			check: func(t *testing.T, e env) {
				if tuns, err := e.c.Tunnels(t.Context()); err != nil || len(tuns) != 0 {
					t.Errorf("Tunnels() = %d, %v after deltunnels, want none", len(tuns), err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := startLab(t, nil, simulator.Options{})
			c, rec := l.client(t)
			e := env{l: l, c: c, ids: deviceIDs(t, c), labels: labelsByName(t, c)}
			if tt.setup != nil {
				tt.setup(t, e)
			}
			req := tt.req(t, e)
			rec.reset()
			res, err := c.Apply(t.Context(), req)
			if err != nil {
				t.Fatalf("Apply(%s) error = %v", req.Method, err)
			}
			ex := rec.last(t)
			if ex.Method != http.MethodPost || ex.Path != "/api/devices/apply" || query(t, ex).Get("org") != labOrgID || ex.Status != http.StatusAccepted {
				t.Errorf("request %s %s?%s answered %d, want POST /api/devices/apply?org= answered 202", ex.Method, ex.Path, ex.Query, ex.Status)
			}
			sent := members(t, ex.ReqBody)
			if got := string(sent["method"]); got != `"`+string(req.Method)+`"` {
				t.Errorf("sent method %s, want %q", got, req.Method)
			}
			if len(res.IDs) != tt.wantJobs || res.Status != fleximanage.ApplyCompleted || (tt.wantMsg != "" && res.Message != tt.wantMsg) {
				t.Errorf("Apply(%s) = %d ids, %q, %q; want %d ids, completed, %q", req.Method, len(res.IDs), res.Status, res.Message, tt.wantJobs, tt.wantMsg)
			}
			if !locationRE.MatchString(res.Location) {
				t.Errorf("Location = %q, want flexiManage's jobs URL", res.Location)
			}
			locIDs, org, err := fleximanage.ParseJobsLocation(res.Location)
			if err != nil || org != labOrgID {
				t.Fatalf("ParseJobsLocation(%q) = org %q, %v", res.Location, org, err)
			}
			if diff := cmp.Diff(res.IDs, locIDs); diff != "" {
				t.Errorf("Location ids differ from the body's (-body +location):\n%s", diff)
			}
			l.waitIdle(t)
			jobs, err := c.JobsAt(t.Context(), res.Location)
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range jobs {
				if j.State != fleximanage.JobComplete {
					t.Errorf("job %d (%s) is %s, want complete", j.ID, j.Data.Message.Title, j.State)
				}
			}
			if tt.check != nil {
				tt.check(t, e)
			}
		})
	}
}

func TestApplyUnlabelledTunnelsSendsEmptyLabelList(t *testing.T) {
	l := startLab(t, nil, simulator.Options{})
	c, rec := l.client(t)
	ids := deviceIDs(t, c)
	meta := tunnelsMeta()
	meta.PathLabels = nil
	if _, err := c.Apply(t.Context(), fleximanage.ApplyRequest{Method: fleximanage.MethodTunnels, Devices: devSet(ids["hq"], ids["dc1"]), Meta: meta}); err != nil {
		t.Fatal(err)
	}
	var body struct {
		Meta map[string]json.RawMessage `json:"meta"`
	}
	if err := json.Unmarshal(rec.last(t).ReqBody, &body); err != nil {
		t.Fatal(err)
	}
	if got := string(body.Meta["pathLabels"]); got != "[]" {
		t.Errorf("meta.pathLabels sent as %s, want []", got)
	}
	if got := string(body.Meta["advancedOptions"]); got != `{"mtu":"","mssClamp":"yes","ospfCost":"","routing":"ospf"}` {
		t.Errorf("meta.advancedOptions sent as %s", got)
	}
}

func TestApplyWithoutDevicesSendsNothing(t *testing.T) {
	l := startLab(t, nil, simulator.Options{})
	c, rec := l.client(t)
	for _, m := range []fleximanage.ApplyMethod{fleximanage.MethodStart, fleximanage.MethodStop, fleximanage.MethodUpgrade, fleximanage.MethodSync, fleximanage.MethodTunnels, fleximanage.MethodDelTunnels} {
		for name, devs := range map[string]map[string]bool{"nil": nil, "empty": {}} {
			t.Run(string(m)+"/"+name, func(t *testing.T) {
				res, err := c.Apply(t.Context(), fleximanage.ApplyRequest{Method: m, Devices: devs, Tunnels: devSet(unknownID)})
				if !errors.Is(err, fleximanage.ErrNoDevices) {
					t.Errorf("Apply(%s, %s devices) = %+v, %v; want ErrNoDevices", m, name, res, err)
				}
			})
		}
	}
	if n := len(rec.exchanges()); n != 0 {
		t.Errorf("sent %d requests, want none", n)
	}
	if got := l.sim.JobCounts(); len(got) != 0 {
		t.Errorf("jobs exist: %v", got)
	}
}

func TestApplyRefused(t *testing.T) {
	tests := []struct {
		name   string
		req    func(ids map[string]string) fleximanage.ApplyRequest
		status int
		kind   fleximanage.Kind
		msg    string
	}{
		{name: "unknown device", req: func(map[string]string) fleximanage.ApplyRequest {
			return fleximanage.ApplyRequest{Method: fleximanage.MethodStop, Devices: devSet(unknownID)}
		}, status: 404, kind: fleximanage.KindNotFound, msg: "Devices not found"},
		{name: "unknown method", req: func(ids map[string]string) fleximanage.ApplyRequest {
			return fleximanage.ApplyRequest{Method: "reboot", Devices: devSet(ids["hq"])}
		}, status: 500, kind: fleximanage.KindInvalid, msg: "Apply method not found"},
		{name: "tunnels on one device", req: func(ids map[string]string) fleximanage.ApplyRequest {
			return fleximanage.ApplyRequest{Method: fleximanage.MethodTunnels, Devices: devSet(ids["hq"]), Meta: tunnelsMeta()}
		}, status: 500, kind: fleximanage.KindInvalid, msg: "At least 2 devices must be selected to create tunnels"},
		{name: "unknown topology", req: func(ids map[string]string) fleximanage.ApplyRequest {
			m := tunnelsMeta()
			m.Topology = "ring"
			return fleximanage.ApplyRequest{Method: fleximanage.MethodTunnels, Devices: devSet(ids["hq"], ids["dc1"]), Meta: m}
		}, status: 500, kind: fleximanage.KindInvalid, msg: "Unknown topology when creating tunnels"},
		{name: "deleting a missing tunnel", req: func(ids map[string]string) fleximanage.ApplyRequest {
			return fleximanage.ApplyRequest{Method: fleximanage.MethodDelTunnels, Devices: devSet(ids["hq"]), Tunnels: devSet(unknownID)}
		}, status: 500, kind: fleximanage.KindConflict, msg: "Some tunnels were not found, try refresh and delete again"},
	}
	l := startLab(t, nil, simulator.Options{})
	c, rec := l.client(t)
	ids := deviceIDs(t, c)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec.reset()
			res, err := c.Apply(t.Context(), tt.req(ids))
			if err == nil {
				t.Fatalf("Apply() = %+v, want an error", res)
			}
			checkAPIError(t, err, tt.status, tt.kind, tt.msg)
			if n := len(rec.exchanges()); n != 1 {
				t.Errorf("sent %d requests, want 1", n)
			}
		})
	}
	if got := l.sim.JobCounts(); len(got) != 0 {
		t.Errorf("refused applies queued jobs: %v", got)
	}
}

func TestApplyDevice(t *testing.T) {
	l := startLab(t, nil, simulator.Options{})
	c, rec := l.client(t)
	ids, _ := mplsTunnel(t, l, c)

	t.Run("stop", func(t *testing.T) {
		rec.reset()
		res, err := c.ApplyDevice(t.Context(), ids["branch-2"], fleximanage.ApplyRequest{Method: fleximanage.MethodStop})
		if err != nil {
			t.Fatal(err)
		}
		ex := rec.last(t)
		if ex.Path != "/api/devices/"+ids["branch-2"]+"/apply" || ex.Status != http.StatusAccepted || query(t, ex).Get("org") != labOrgID {
			t.Errorf("request %s?%s answered %d, want POST /api/devices/{id}/apply?org= answered 202", ex.Path, ex.Query, ex.Status)
		}
		if _, has := members(t, ex.ReqBody)["devices"]; has {
			t.Errorf("ApplyDevice sent a devices member: %s", ex.ReqBody)
		}
		if len(res.IDs) != 1 || res.Status != fleximanage.ApplyCompleted || res.ErrorCodes == nil || len(res.ErrorCodes) != 0 || !locationRE.MatchString(res.Location) {
			t.Errorf("ApplyDevice(stop) = %+v, want one job, completed, errorCodes []", res)
		}
		l.waitIdle(t)
		if got := mustDevice(t, c, ids["branch-2"]).RunState(); got != "stopped" {
			t.Errorf("branch-2 state %q, want stopped", got)
		}
	})
	t.Run("deltunnels from an uninvolved device", func(t *testing.T) {
		tuns, err := c.Tunnels(t.Context())
		if err != nil || len(tuns) != 1 {
			t.Fatalf("Tunnels() = %d, %v", len(tuns), err)
		}
		res, err := c.ApplyDevice(t.Context(), ids["branch-3"], fleximanage.ApplyRequest{Method: fleximanage.MethodDelTunnels, Tunnels: devSet(tuns[0].ID)})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.IDs) != 2 {
			t.Errorf("ApplyDevice(deltunnels) = %+v, want 2 jobs", res)
		}
		if tuns, err := c.Tunnels(t.Context()); err != nil || len(tuns) != 0 {
			t.Errorf("Tunnels() = %d, %v, want none", len(tuns), err)
		}
	})
	errTests := []struct {
		name   string
		id     string
		req    fleximanage.ApplyRequest
		status int
		kind   fleximanage.Kind
		msg    string
	}{
		{name: "unknown device", id: unknownID, req: fleximanage.ApplyRequest{Method: fleximanage.MethodStop},
			status: 404, kind: fleximanage.KindNotFound, msg: "Device not found"},
		{name: "tunnels need two devices", id: ids["hq"], req: fleximanage.ApplyRequest{Method: fleximanage.MethodTunnels, Devices: devSet(ids["hq"], ids["dc1"]), Meta: tunnelsMeta()},
			status: 500, kind: fleximanage.KindInvalid, msg: "At least 2 devices must be selected to create tunnels"},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.ApplyDevice(t.Context(), tt.id, tt.req)
			checkAPIError(t, err, tt.status, tt.kind, tt.msg)
		})
	}
}

// ---------------------------------------------------------------------------
// Jobs

func TestJobsSplitsLongIDLists(t *testing.T) {
	l := startLab(t, nil, simulator.Options{})
	c, _ := l.client(t)
	all := fullMesh(t, l, c).IDs
	tests := []struct {
		name       string
		n          int
		wantChunks []int // ids per GET /jobs
	}{
		{name: "none", n: 0},
		{name: "one", n: 1, wantChunks: []int{1}},
		{name: "exactly 100", n: 100, wantChunks: []int{100}},
		{name: "101", n: 101, wantChunks: []int{100, 1}},
		{name: "112", n: 112, wantChunks: []int{100, 12}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jc, rec := l.client(t)
			ids := all[:tt.n]
			jobs, err := jc.Jobs(t.Context(), ids)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(sortedIDs(ids), jobIDsOf(jobs), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Jobs() ids mismatch (-want +got):\n%s", diff)
			}
			var chunks []int
			for _, ex := range rec.exchanges() {
				q := query(t, ex)
				if ex.Path != "/api/jobs" || q.Get("status") != "all" || q.Get("org") != labOrgID {
					t.Errorf("request %s?%s, want /api/jobs?status=all&ids=...&org=", ex.Path, ex.Query)
				}
				chunks = append(chunks, len(strings.Split(q.Get("ids"), ",")))
			}
			if diff := cmp.Diff(tt.wantChunks, chunks); diff != "" {
				t.Errorf("ids per request mismatch (-want +got):\n%s", diff)
			}
			for _, j := range jobs {
				if j.State != fleximanage.JobComplete || j.Data.Response.Method != "tunnels" || j.Device == nil {
					t.Errorf("job %d: state %s method %q device %v", j.ID, j.State, j.Data.Response.Method, j.Device)
				}
			}
		})
	}
}

func TestJobsAt(t *testing.T) {
	l := startLab(t, nil, simulator.Options{})
	c, rec := l.client(t)
	ids := deviceIDs(t, c)
	res, err := c.Apply(t.Context(), fleximanage.ApplyRequest{Method: fleximanage.MethodStop, Devices: devSet(ids["hq"], ids["dc1"], ids["branch-1"])})
	if err != nil {
		t.Fatal(err)
	}
	l.waitIdle(t)
	byIDs, err := c.Jobs(t.Context(), res.IDs)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		location string
		wantErr  bool
	}{
		{name: "apply's Location", location: res.Location},
		{name: "another server's Location", location: strings.Replace(res.Location, "127.0.0.1", "manage.example.com", 1)},
		{name: "another organization", location: strings.Replace(res.Location, labOrgID, "65a0000000000000000000a1", 1), wantErr: true},
		{name: "not a jobs URL", location: "http://127.0.0.1/api/devices?ids=1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec.reset()
			got, err := c.JobsAt(t.Context(), tt.location)
			if tt.wantErr {
				if err == nil {
					t.Errorf("JobsAt(%q) = %d jobs, want an error", tt.location, len(got))
				}
				if n := len(rec.exchanges()); n != 0 {
					t.Errorf("sent %d requests, want none", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(byIDs, got); diff != "" {
				t.Errorf("JobsAt() differs from Jobs(ids) (-want +got):\n%s", diff)
			}
			if ex := rec.last(t); ex.Path != "/api/jobs" {
				t.Errorf("JobsAt requested %s, want this client's /api/jobs", ex.Path)
			}
		})
	}
}

func TestParseJobsLocation(t *testing.T) {
	tests := []struct {
		name    string
		loc     string
		wantIDs []fleximanage.JobID
		wantOrg string
		wantErr bool
	}{
		{name: "two ids", loc: "http://127.0.0.1:3000/api/jobs?status=all&ids=1%2C2&org=65a000000000000000000001", wantIDs: []fleximanage.JobID{1, 2}, wantOrg: labOrgID},
		{name: "one id", loc: "https://manage.flexiwan.com/api/jobs?status=all&ids=4711&org=o1", wantIDs: []fleximanage.JobID{4711}, wantOrg: "o1"},
		{name: "plain commas", loc: "https://h/api/jobs?status=all&ids=7,8,9&org=o", wantIDs: []fleximanage.JobID{7, 8, 9}, wantOrg: "o"},
		{name: "no ids", loc: "https://h/api/jobs?status=all&org=o", wantOrg: "o"},
		{name: "not jobs", loc: "https://h/api/devices?status=all&ids=1&org=o", wantErr: true},
		{name: "bad id", loc: "https://h/api/jobs?status=all&ids=1%2Cx&org=o", wantErr: true},
		{name: "not a URL", loc: "http://[::1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids, org, err := fleximanage.ParseJobsLocation(tt.loc)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseJobsLocation(%q) error = %v, want error %v", tt.loc, err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if diff := cmp.Diff(tt.wantIDs, ids); diff != "" || org != tt.wantOrg {
				t.Errorf("ParseJobsLocation(%q) = %v, %q; want %v, %q", tt.loc, ids, org, tt.wantIDs, tt.wantOrg)
			}
		})
	}
}

func TestJob(t *testing.T) {
	l := startLab(t, nil, simulator.Options{Faults: &simulator.Faults{FailJobs: []simulator.JobFault{{Device: "dc1", Method: "stop", Message: "vpp refused to stop"}}}})
	c, rec := l.client(t)
	ids := deviceIDs(t, c)
	res, err := c.Apply(t.Context(), fleximanage.ApplyRequest{Method: fleximanage.MethodStop, Devices: devSet(ids["hq"], ids["dc1"])})
	if err != nil {
		t.Fatal(err)
	}
	l.waitIdle(t)
	hq, dc1 := mustDevice(t, c, ids["hq"]), mustDevice(t, c, ids["dc1"])

	tests := []struct {
		name      string
		id        fleximanage.JobID
		wantState fleximanage.JobState
		wantTitle string
		wantType  string
		wantErrs  []string
	}{
		{name: "complete", id: res.IDs[0], wantState: fleximanage.JobComplete, wantTitle: "Stop device hq", wantType: hq.MachineID},
		{name: "failed", id: res.IDs[1], wantState: fleximanage.JobFailed, wantTitle: "Stop device dc1", wantType: dc1.MachineID, wantErrs: []string{"vpp refused to stop"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec.reset()
			j, err := c.Job(t.Context(), tt.id)
			if err != nil {
				t.Fatal(err)
			}
			ex := rec.last(t)
			if ex.Path != "/api/jobs/"+tt.id.String() || query(t, ex).Get("org") != labOrgID {
				t.Errorf("request %s?%s, want /api/jobs/%d?org=", ex.Path, ex.Query, tt.id)
			}
			if !bytes.Contains(ex.RespBody, []byte(fmt.Sprintf(`"_id":"%d"`, tt.id))) {
				t.Errorf("the answer does not carry _id as a string, the case this test is about: %s", ex.RespBody)
			}
			if j.ID != tt.id || j.State != tt.wantState || j.Data.Message.Title != tt.wantTitle || j.Type != tt.wantType || j.Data.Response.Method != "stop" {
				t.Errorf("Job(%d) = id %d state %s title %q type %s method %q", tt.id, j.ID, j.State, j.Data.Message.Title, j.Type, j.Data.Response.Method)
			}
			if diff := cmp.Diff(tt.wantErrs, j.ErrorMessages()); diff != "" {
				t.Errorf("ErrorMessages() mismatch (-want +got):\n%s", diff)
			}
			if age := time.Since(j.Created()); age < 0 || age > time.Minute {
				t.Errorf("Created() = %v, want a moment ago", j.Created())
			}
		})
	}
	_, err = c.Job(t.Context(), 999999)
	checkAPIError(t, err, 500, fleximanage.KindNotFound, `job "999999" doesnt exist`)
}

func TestDeleteJob(t *testing.T) {
	l := startLab(t, nil, simulator.Options{})
	c, rec := l.client(t)
	ids := deviceIDs(t, c)
	// A disconnected device keeps its job inactive until it is deleted.
	l.sim.SetConnected("hq", false)
	res, err := c.Apply(t.Context(), fleximanage.ApplyRequest{Method: fleximanage.MethodStop, Devices: devSet(ids["hq"], ids["dc1"])})
	if err != nil {
		t.Fatal(err)
	}
	l.waitIdle(t)
	victim, other := res.IDs[0], res.IDs[1]
	if j, err := c.Job(t.Context(), victim); err != nil || j.State != fleximanage.JobInactive {
		t.Fatalf("Job(%d) = %+v, %v; want an inactive job", victim, j, err)
	}
	rec.reset()
	if err := c.DeleteJob(t.Context(), victim); err != nil {
		t.Fatal(err)
	}
	if ex := rec.last(t); ex.Method != http.MethodDelete || ex.Path != "/api/jobs/"+victim.String() || ex.Status != http.StatusNoContent {
		t.Errorf("request %s %s answered %d, want DELETE /api/jobs/%d answered 204", ex.Method, ex.Path, ex.Status, victim)
	}
	tests := []struct {
		name string
		call func() error
	}{
		{name: "Job", call: func() error { _, err := c.Job(t.Context(), victim); return err }},
		{name: "Jobs of the deleted job alone", call: func() error { _, err := c.Jobs(t.Context(), []fleximanage.JobID{victim}); return err }},
		{name: "Jobs with a live job too", call: func() error { _, err := c.Jobs(t.Context(), []fleximanage.JobID{other, victim}); return err }},
		{name: "DeleteJob again", call: func() error { return c.DeleteJob(t.Context(), victim) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			checkAPIError(t, err, 500, fleximanage.KindNotFound, fmt.Sprintf("job %q doesnt exist", victim.String()))
		})
	}
	if j, err := c.Job(t.Context(), other); err != nil || j.State != fleximanage.JobComplete {
		t.Errorf("Job(%d) = %+v, %v; the other job should be complete", other, j, err)
	}
}

// ---------------------------------------------------------------------------
// Static routes

func TestStaticRoutes(t *testing.T) {
	l := startLab(t, nil, simulator.Options{})
	c, rec := l.client(t)
	hq := deviceIDs(t, c)["hq"]
	ctx := t.Context()

	routes, err := c.StaticRoutes(ctx, hq)
	if err != nil || len(routes) != 0 {
		t.Fatalf("StaticRoutes(hq) = %+v, %v; want none", routes, err)
	}

	// Add: the body is wrapped in staticRouteRequest.
	rec.reset()
	req := fleximanage.StaticRouteRequest{Destination: "10.60.0.0/16", Gateway: "198.51.100.1", IfName: eth0, Metric: "20"}
	added, q, err := c.AddStaticRoute(ctx, hq, req)
	if err != nil {
		t.Fatal(err)
	}
	ex := rec.last(t)
	wantBody := `{"staticRouteRequest":{"destination":"10.60.0.0/16","gateway":"198.51.100.1","ifname":"pci:0000:00:03.00","metric":"20"}}`
	if string(ex.ReqBody) != wantBody {
		t.Errorf("POST body = %s, want %s", ex.ReqBody, wantBody)
	}
	if ex.Status != http.StatusCreated || ex.Path != "/api/devices/"+hq+"/staticroutes" {
		t.Errorf("POST %s answered %d, want 201", ex.Path, ex.Status)
	}
	if len(added.ID) != 24 || added.Destination != req.Destination || added.Gateway != req.Gateway || added.IfName != eth0 || added.Metric != "20" {
		t.Errorf("AddStaticRoute() = %+v", added)
	}
	if len(q.IDs) != 1 {
		t.Fatalf("AddStaticRoute() queued %v, want one job", q.IDs)
	}
	l.waitIdle(t)
	jobs, err := c.Jobs(ctx, q.IDs)
	if err != nil {
		t.Fatal(err)
	}
	if j := jobs[0]; j.State != fleximanage.JobComplete || j.Data.Message.Title != "Add Static Route in device hq" || j.Data.Message.Tasks[0].Message != "add-route" {
		t.Errorf("add job = %q %s %+v", j.Data.Message.Title, j.State, j.Data.Message.Tasks)
	}
	routes, err = c.StaticRoutes(ctx, hq)
	if err != nil || len(routes) != 1 || routes[0].ID != added.ID {
		t.Fatalf("StaticRoutes(hq) = %+v, %v; want the added route", routes, err)
	}

	// Patch: re-queue the add (add-failed), or a removal.
	for _, tc := range []struct {
		status, task string
	}{{"add-failed", "add-route"}, {"", "remove-route"}} {
		rec.reset()
		pq, err := c.UpdateStaticRoute(ctx, hq, added.ID, fleximanage.StaticRouteRequest{Destination: added.Destination, Gateway: added.Gateway, IfName: eth0, Status: tc.status})
		if err != nil {
			t.Fatal(err)
		}
		ex := rec.last(t)
		if ex.Method != http.MethodPatch || ex.Status != http.StatusOK {
			t.Errorf("PATCH (%q) = %s answered %d", tc.status, ex.Method, ex.Status)
		}
		// flexiManage reads the route id from the body, never from the path.
		var sent struct {
			R map[string]string `json:"staticRouteRequest"`
		}
		if err := json.Unmarshal(ex.ReqBody, &sent); err != nil || sent.R["_id"] != added.ID || sent.R["destination"] != added.Destination || sent.R["status"] != tc.status {
			t.Errorf("PATCH body = %s (%v), want staticRouteRequest with _id %s", ex.ReqBody, err, added.ID)
		}
		if len(pq.IDs) != 1 {
			t.Fatalf("UpdateStaticRoute(%q) queued %v, want one job", tc.status, pq.IDs)
		}
		l.waitIdle(t)
		jobs, err := c.Jobs(ctx, pq.IDs)
		if err != nil {
			t.Fatal(err)
		}
		if got := jobs[0].Data.Message.Tasks[0].Message; got != tc.task {
			t.Errorf("UpdateStaticRoute(%q) queued %s, want %s", tc.status, got, tc.task)
		}
	}
	// The removal queued by the patch above took the route away; add it
	// back for the delete.
	if routes, _ := c.StaticRoutes(ctx, hq); len(routes) != 0 {
		t.Fatalf("after the PATCH removal, routes = %+v", routes)
	}
	added, _, err = c.AddStaticRoute(ctx, hq, req)
	if err != nil {
		t.Fatal(err)
	}
	l.waitIdle(t)

	// Delete: the route stays until its job completes. Hold the job by
	// disconnecting the device.
	l.sim.SetConnected("hq", false)
	rec.reset()
	dq, err := c.DeleteStaticRoute(ctx, hq, added.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ex := rec.last(t); ex.Status != http.StatusNoContent || ex.Method != http.MethodDelete {
		t.Errorf("DELETE answered %d, want 204", ex.Status)
	}
	if len(dq.IDs) != 1 {
		t.Fatalf("DeleteStaticRoute() queued %v, want one job", dq.IDs)
	}
	if routes, _ := c.StaticRoutes(ctx, hq); len(routes) != 1 {
		t.Errorf("before the removal job ran, routes = %+v, want the route still there", routes)
	}
	l.sim.SetConnected("hq", true)
	l.waitIdle(t)
	if routes, err := c.StaticRoutes(ctx, hq); err != nil || len(routes) != 0 {
		t.Errorf("after the removal job, routes = %+v, %v; want none", routes, err)
	}
	if jobs, err := c.Jobs(ctx, dq.IDs); err != nil || jobs[0].State != fleximanage.JobComplete {
		t.Errorf("removal job = %+v, %v", jobs, err)
	}
}

func TestStaticRoutesRefused(t *testing.T) {
	l := startLab(t, nil, simulator.Options{})
	c, _ := l.client(t)
	hq := deviceIDs(t, c)["hq"]
	ok := fleximanage.StaticRouteRequest{Destination: "10.60.0.0/16", Gateway: "198.51.100.1", IfName: eth0}
	tests := []struct {
		name   string
		call   func() error
		status int
		kind   fleximanage.Kind
		msg    string
	}{
		{name: "list of unknown device", call: func() error { _, err := c.StaticRoutes(t.Context(), unknownID); return err },
			status: 404, kind: fleximanage.KindNotFound, msg: "Device not found"},
		{name: "add to unknown device", call: func() error { _, _, err := c.AddStaticRoute(t.Context(), unknownID, ok); return err },
			status: 404, kind: fleximanage.KindNotFound, msg: "Device not found"},
		{name: "gateway off the interface subnet", call: func() error {
			r := ok
			r.Gateway = "10.9.9.9"
			_, _, err := c.AddStaticRoute(t.Context(), hq, r)
			return err
		}, status: 500, kind: fleximanage.KindServer, msg: "are not on the same subnet"},
		{name: "bad destination", call: func() error {
			r := ok
			r.Destination = "10.60.0.0"
			_, _, err := c.AddStaticRoute(t.Context(), hq, r)
			return err
		}, status: 500, kind: fleximanage.KindInvalid, msg: "staticroutes validation failed"},
		{name: "delete unknown route", call: func() error { _, err := c.DeleteStaticRoute(t.Context(), hq, unknownID); return err },
			status: 404, kind: fleximanage.KindNotFound, msg: "Static route not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkAPIError(t, tt.call(), tt.status, tt.kind, tt.msg)
		})
	}
	if routes, _ := c.StaticRoutes(t.Context(), hq); len(routes) != 0 {
		t.Errorf("refused calls left routes: %+v", routes)
	}
}

// ---------------------------------------------------------------------------
// DHCP

func hqDHCP() fleximanage.DHCPRequest {
	return fleximanage.DHCPRequest{Interface: eth2, RangeStart: "10.0.0.100", RangeEnd: "10.0.0.200", DNS: []string{"8.8.8.8"}}
}

func TestDHCP(t *testing.T) {
	l := startLab(t, nil, simulator.Options{})
	c, rec := l.client(t)
	hq := deviceIDs(t, c)["hq"]
	ctx := t.Context()

	if ds, err := c.DHCPs(ctx, hq); err != nil || len(ds) != 0 {
		t.Fatalf("DHCPs(hq) = %+v, %v; want none", ds, err)
	}
	// Hold hq's jobs so that the entry stays add-wait.
	l.sim.SetConnected("hq", false)
	rec.reset()
	added, q, err := c.AddDHCP(ctx, hq, hqDHCP())
	if err != nil {
		t.Fatal(err)
	}
	ex := rec.last(t)
	if ex.Status != http.StatusAccepted || ex.Method != http.MethodPost || ex.Path != "/api/devices/"+hq+"/dhcp" {
		t.Errorf("%s %s answered %d, want POST .../dhcp answered 202", ex.Method, ex.Path, ex.Status)
	}
	if got := string(members(t, ex.ReqBody)["macAssign"]); got != "[]" {
		t.Errorf("macAssign sent as %s, want []", got)
	}
	want := fleximanage.DHCP{Interface: eth2, RangeStart: "10.0.0.100", RangeEnd: "10.0.0.200", DNS: []string{"8.8.8.8"}, MacAssign: []json.RawMessage{}, Status: "add-wait"}
	opts := []cmp.Option{cmpopts.IgnoreFields(fleximanage.DHCP{}, "ID"), cmpopts.IgnoreUnexported(fleximanage.DHCP{})}
	if diff := cmp.Diff(want, *added, opts...); diff != "" {
		t.Errorf("AddDHCP() mismatch (-want +got):\n%s", diff)
	}
	if len(q.IDs) != 1 {
		t.Fatalf("AddDHCP() queued %v, want one job", q.IDs)
	}

	refusals := []struct {
		name   string
		call   func() error
		status int
		kind   fleximanage.Kind
		msg    string
	}{
		{name: "update while add-wait", call: func() error { _, _, err := c.UpdateDHCP(ctx, hq, added.ID, hqDHCP()); return err },
			status: 500, kind: fleximanage.KindConflict, msg: "Only one device change is allowed at any time"},
		{name: "second entry on the interface", call: func() error { _, _, err := c.AddDHCP(ctx, hq, hqDHCP()); return err },
			status: 500, kind: fleximanage.KindConflict, msg: "DHCP already configured for that interface"},
		{name: "entry on a WAN", call: func() error {
			r := hqDHCP()
			r.Interface, r.RangeStart, r.RangeEnd = eth0, "198.51.100.2", "198.51.100.2"
			_, _, err := c.AddDHCP(ctx, hq, r)
			return err
		}, status: 500, kind: fleximanage.KindServer, msg: "DHCP Server can be defined only for LAN interfaces"},
		{name: "get unknown entry", call: func() error { _, err := c.DHCPEntry(ctx, hq, unknownID); return err },
			status: 404, kind: fleximanage.KindNotFound, msg: "DHCP ID not found"},
		{name: "delete unknown entry", call: func() error { _, err := c.DeleteDHCP(ctx, hq, unknownID, false); return err },
			status: 404, kind: fleximanage.KindNotFound, msg: "DHCP ID not found"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			checkAPIError(t, tt.call(), tt.status, tt.kind, tt.msg)
		})
	}

	l.sim.SetConnected("hq", true)
	l.waitIdle(t)
	got, err := c.DHCPEntry(ctx, hq, added.ID)
	if err != nil {
		t.Fatal(err)
	}
	want.Status = "complete"
	if diff := cmp.Diff(want, *got, opts...); diff != "" {
		t.Errorf("DHCPEntry() after the job mismatch (-want +got):\n%s", diff)
	}

	// Update: 202 and a modify job.
	upd := hqDHCP()
	upd.RangeStart, upd.RangeEnd = "10.0.0.50", "10.0.0.60"
	rec.reset()
	updated, uq, err := c.UpdateDHCP(ctx, hq, added.ID, upd)
	if err != nil {
		t.Fatal(err)
	}
	if ex := rec.last(t); ex.Status != http.StatusAccepted || ex.Method != http.MethodPut {
		t.Errorf("%s answered %d, want PUT answered 202", ex.Method, ex.Status)
	}
	if updated.ID != added.ID || updated.RangeStart != "10.0.0.50" || updated.RangeEnd != "10.0.0.60" || len(uq.IDs) != 1 {
		t.Errorf("UpdateDHCP() = %+v, queued %v", updated, uq.IDs)
	}
	l.waitIdle(t)
	list, err := c.DHCPs(ctx, hq)
	if err != nil || len(list) != 1 || list[0].RangeStart != "10.0.0.50" {
		t.Errorf("DHCPs(hq) = %+v, %v; want the updated entry", list, err)
	}
	if jobs, err := c.Jobs(ctx, uq.IDs); err != nil || jobs[0].Data.Message.Title != "Modify device hq" {
		t.Errorf("update job = %+v, %v; want Modify device hq", jobs, err)
	}
}

func TestDeleteDHCP(t *testing.T) {
	tests := []struct {
		name  string
		force bool
		// goneAtOnce: the entry leaves the list before its job has run.
		goneAtOnce bool
	}{
		{name: "without force", force: false},
		{name: "with force", force: true, goneAtOnce: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := startLab(t, nil, simulator.Options{})
			c, rec := l.client(t)
			hq := deviceIDs(t, c)["hq"]
			added, _, err := c.AddDHCP(t.Context(), hq, hqDHCP())
			if err != nil {
				t.Fatal(err)
			}
			l.waitIdle(t)
			l.sim.SetConnected("hq", false)
			rec.reset()
			q, err := c.DeleteDHCP(t.Context(), hq, added.ID, tt.force)
			if err != nil {
				t.Fatal(err)
			}
			ex := rec.last(t)
			wantForce := map[bool]string{true: "yes", false: "no"}[tt.force]
			if ex.Status != http.StatusAccepted || ex.Method != http.MethodDelete || query(t, ex).Get("force") != wantForce {
				t.Errorf("%s %s?%s answered %d, want DELETE with force=%s answered 202", ex.Method, ex.Path, ex.Query, ex.Status, wantForce)
			}
			if len(q.IDs) != 1 {
				t.Fatalf("DeleteDHCP() queued %v, want one job", q.IDs)
			}
			list, err := c.DHCPs(t.Context(), hq)
			if err != nil {
				t.Fatal(err)
			}
			if tt.goneAtOnce != (len(list) == 0) {
				t.Errorf("before the job ran, DHCPs = %+v; want gone: %v", list, tt.goneAtOnce)
			}
			if !tt.goneAtOnce && (len(list) != 1 || list[0].Status != "del-wait") {
				t.Errorf("before the job ran, DHCPs = %+v; want the entry in del-wait", list)
			}
			l.sim.SetConnected("hq", true)
			l.waitIdle(t)
			if list, err := c.DHCPs(t.Context(), hq); err != nil || len(list) != 0 {
				t.Errorf("after the job, DHCPs = %+v, %v; want none", list, err)
			}
		})
	}
}

func TestReapplyDHCP(t *testing.T) {
	l := startLab(t, nil, simulator.Options{Faults: &simulator.Faults{FailJobs: []simulator.JobFault{{Device: "hq", Method: "dhcp", Times: 1, Message: "dnsmasq failed"}}}})
	c, rec := l.client(t)
	ids := deviceIDs(t, c)
	failed, _, err := c.AddDHCP(t.Context(), ids["hq"], hqDHCP())
	if err != nil {
		t.Fatal(err)
	}
	l.waitIdle(t)
	if e, err := c.DHCPEntry(t.Context(), ids["hq"], failed.ID); err != nil || e.Status != "add-failed" {
		t.Fatalf("DHCPEntry() = %+v, %v; want add-failed", e, err)
	}
	rec.reset()
	e, q, err := c.ReapplyDHCP(t.Context(), ids["hq"], failed.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ex := rec.last(t); ex.Method != http.MethodPatch || ex.Status != http.StatusAccepted {
		t.Errorf("%s answered %d, want PATCH answered 202", ex.Method, ex.Status)
	}
	if e.ID != failed.ID || e.Status != "add-failed" || len(q.IDs) != 1 {
		t.Errorf("ReapplyDHCP() = %+v, queued %v; want the old status and one job", e, q.IDs)
	}
	l.waitIdle(t)
	if e, err := c.DHCPEntry(t.Context(), ids["hq"], failed.ID); err != nil || e.Status != "complete" {
		t.Errorf("after the re-applied job, DHCPEntry() = %+v, %v; want complete", e, err)
	}
	// Only failed entries can be re-applied.
	_, _, err = c.ReapplyDHCP(t.Context(), ids["hq"], failed.ID)
	checkAPIError(t, err, 500, fleximanage.KindServer, "Only allowed for add or removed failed jobs")
}

// ---------------------------------------------------------------------------
// Authentication and organizations

func TestAuthRefused(t *testing.T) {
	l := startLab(t, nil, simulator.Options{})
	if err := l.sim.AddKey(simulator.Key{Token: "fmsim_revoked"}); err != nil {
		t.Fatal(err)
	}
	l.sim.RevokeKey("fmsim_revoked")
	tests := []struct {
		name string
		key  string
		edit func(*http.Request)
		msg  string
	}{
		{name: "no bearer", edit: func(r *http.Request) { r.Header.Del("Authorization") }, msg: "No auth token"},
		{name: "APIKEY header instead of bearer", edit: func(r *http.Request) {
			r.Header.Set("APIKEY", strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
			r.Header.Del("Authorization")
		}, msg: "No auth token"},
		{name: "unknown key", key: "fmsim_wrong", msg: "invalid signature"},
		{name: "revoked key", key: "fmsim_revoked", msg: "Invalid token used"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rec := l.client(t, func(o *fleximanage.Options) {
				if tt.key != "" {
					o.Key = fleximanage.AccessKey(tt.key)
				}
			})
			rec.edit = tt.edit
			_, err := c.Devices(t.Context())
			checkAPIError(t, err, 401, fleximanage.KindAuth, tt.msg)
			if ex := rec.exchanges(); len(ex) != 1 || string(ex[0].RespBody) != `{"error":"`+tt.msg+`"}` {
				t.Errorf("exchanges = %+v, want one answered {\"error\":%q}", ex, tt.msg)
			}
		})
	}
}

func TestViewerKey(t *testing.T) {
	l := startLab(t, nil, simulator.Options{Keys: []simulator.Key{{Token: "fmsim_owner"}, {Token: "fmsim_viewer", Role: simulator.RoleViewer}}})
	owner, _ := l.client(t)
	ids, labels := deviceIDs(t, owner), labelsByName(t, owner)
	hq := mustDevice(t, owner, ids["hq"])
	c, rec := l.client(t, func(o *fleximanage.Options) { o.Key = "fmsim_viewer" })
	ctx := t.Context()

	reads := map[string]func() error{
		"Devices":      func() error { _, err := c.Devices(ctx); return err },
		"Device":       func() error { _, err := c.Device(ctx, ids["hq"]); return err },
		"PathLabels":   func() error { _, err := c.PathLabels(ctx); return err },
		"Tunnels":      func() error { _, err := c.Tunnels(ctx); return err },
		"DeviceStatus": func() error { _, err := c.DeviceStatus(ctx, ids["hq"]); return err },
		"StaticRoutes": func() error { _, err := c.StaticRoutes(ctx, ids["hq"]); return err },
	}
	for name, call := range reads {
		t.Run("read/"+name, func(t *testing.T) {
			if err := call(); err != nil {
				t.Errorf("%s with a viewer key: %v", name, err)
			}
		})
	}
	writes := map[string]func() error{
		"CreatePathLabel": func() error {
			_, err := c.CreatePathLabel(ctx, fleximanage.PathLabelRequest{Name: "wifi", Color: "#123456", Type: fleximanage.PathLabelTunnel})
			return err
		},
		"UpdatePathLabel": func() error {
			_, err := c.UpdatePathLabel(ctx, labels["inet"].ID, fleximanage.PathLabelRequest{Name: "inet2", Color: "#123456", Type: fleximanage.PathLabelTunnel})
			return err
		},
		"DeletePathLabel": func() error { return c.DeletePathLabel(ctx, labels["inet"].ID) },
		"UpdateDevice":    func() error { _, _, err := c.UpdateDevice(ctx, hq); return err },
		"Apply": func() error {
			_, err := c.Apply(ctx, fleximanage.ApplyRequest{Method: fleximanage.MethodStop, Devices: devSet(ids["hq"])})
			return err
		},
		"ApplyDevice": func() error {
			_, err := c.ApplyDevice(ctx, ids["hq"], fleximanage.ApplyRequest{Method: fleximanage.MethodStop})
			return err
		},
		"AddStaticRoute": func() error {
			_, _, err := c.AddStaticRoute(ctx, ids["hq"], fleximanage.StaticRouteRequest{Destination: "10.60.0.0/16", Gateway: "198.51.100.1"})
			return err
		},
		"AddDHCP":   func() error { _, _, err := c.AddDHCP(ctx, ids["hq"], hqDHCP()); return err },
		"DeleteJob": func() error { return c.DeleteJob(ctx, 1) },
	}
	for name, call := range writes {
		t.Run("write/"+name, func(t *testing.T) {
			rec.reset()
			checkAPIError(t, call(), 403, fleximanage.KindPermission, "You don't have permission to perform this operation")
			if n := len(rec.exchanges()); n != 1 {
				t.Errorf("sent %d requests, want 1", n)
			}
		})
	}
	if got := l.sim.JobCounts(); len(got) != 0 {
		t.Errorf("a viewer's writes queued jobs: %v", got)
	}
	if diff := cmp.Diff(labels, labelsByName(t, owner)); diff != "" {
		t.Errorf("a viewer's writes changed the labels (-want +got):\n%s", diff)
	}
}

func TestKeyScopedToAnotherOrg(t *testing.T) {
	l := startLab(t, multiOrgFleet(t), simulator.Options{Keys: []simulator.Key{{Token: "fmsim_owner"}, {Token: "fmsim_other", Orgs: []string{"other"}}}})
	owner, _ := l.client(t)
	ids := deviceIDs(t, owner)
	c, _ := l.client(t, func(o *fleximanage.Options) { o.Key = "fmsim_other" })
	ctx := t.Context()

	orgs, err := c.Organizations(ctx)
	if err != nil || len(orgs) != 1 || orgs[0].Name != "other" {
		t.Errorf("Organizations() = %+v, %v; want only other", orgs, err)
	}
	if _, err := c.ResolveOrg(ctx, "lab"); !errors.Is(err, fleximanage.ErrOrgNotFound) {
		t.Errorf("ResolveOrg(lab) error = %v, want ErrOrgNotFound", err)
	}
	if devs, err := c.Devices(ctx); err != nil || len(devs) != 0 {
		t.Errorf("Devices() of lab = %d, %v; want an empty list", len(devs), err)
	}
	if ls, err := c.PathLabels(ctx); err != nil || len(ls) != 0 {
		t.Errorf("PathLabels() of lab = %d, %v; want an empty list", len(ls), err)
	}
	_, err = c.Device(ctx, ids["hq"])
	checkAPIError(t, err, 404, fleximanage.KindNotFound, "Device not found")
	_, err = c.Apply(ctx, fleximanage.ApplyRequest{Method: fleximanage.MethodStop, Devices: devSet(ids["hq"])})
	checkAPIError(t, err, 404, fleximanage.KindNotFound, "Devices not found")

	other := c.WithOrg(orgs[0].ID)
	if devs, err := other.Devices(ctx); err != nil || len(devs) != 1 || devs[0].Name != "edge" {
		t.Errorf("Devices() of other = %+v, %v; want edge", devs, err)
	}
}

func TestOrgRequired(t *testing.T) {
	const msg = "Organization query parameter must be specified for this operation"
	l := startLab(t, nil, simulator.Options{})
	withOrg, _ := l.client(t)
	ids := deviceIDs(t, withOrg)
	labels := labelsByName(t, withOrg)
	hq := mustDevice(t, withOrg, ids["hq"])
	c, rec := l.client(t, func(o *fleximanage.Options) { o.Org = "" })
	ctx := t.Context()

	required := map[string]func() error{
		"Jobs":      func() error { _, err := c.Jobs(ctx, []fleximanage.JobID{1}); return err },
		"Job":       func() error { _, err := c.Job(ctx, 1); return err },
		"DeleteJob": func() error { return c.DeleteJob(ctx, 1) },
		"Apply": func() error {
			_, err := c.Apply(ctx, fleximanage.ApplyRequest{Method: fleximanage.MethodStop, Devices: devSet(ids["hq"])})
			return err
		},
		"ApplyDevice": func() error {
			_, err := c.ApplyDevice(ctx, ids["hq"], fleximanage.ApplyRequest{Method: fleximanage.MethodStop})
			return err
		},
		"UpdateDevice":  func() error { _, _, err := c.UpdateDevice(ctx, hq); return err },
		"DeviceTunnels": func() error { _, err := c.DeviceTunnels(ctx, ids["hq"]); return err },
		"CreatePathLabel": func() error {
			_, err := c.CreatePathLabel(ctx, fleximanage.PathLabelRequest{Name: "wifi", Color: "#123456"})
			return err
		},
		"UpdatePathLabel": func() error {
			_, err := c.UpdatePathLabel(ctx, labels["inet"].ID, fleximanage.PathLabelRequest{Name: "x"})
			return err
		},
		"DeletePathLabel": func() error { return c.DeletePathLabel(ctx, labels["inet"].ID) },
		"AddStaticRoute": func() error {
			_, _, err := c.AddStaticRoute(ctx, ids["hq"], fleximanage.StaticRouteRequest{})
			return err
		},
		"DeleteStaticRoute": func() error { _, err := c.DeleteStaticRoute(ctx, ids["hq"], unknownID); return err },
		"AddDHCP":           func() error { _, _, err := c.AddDHCP(ctx, ids["hq"], hqDHCP()); return err },
		"DHCPEntry":         func() error { _, err := c.DHCPEntry(ctx, ids["hq"], unknownID); return err },
		"DeleteDHCP":        func() error { _, err := c.DeleteDHCP(ctx, ids["hq"], unknownID, true); return err },
	}
	for name, call := range required {
		t.Run("required/"+name, func(t *testing.T) {
			rec.reset()
			ae := checkAPIError(t, call(), 500, fleximanage.KindInvalid, msg)
			if ae.Message != msg {
				t.Errorf("message = %q, want exactly %q", ae.Message, msg)
			}
			ex := rec.exchanges()
			if len(ex) != 1 {
				t.Fatalf("sent %d requests, want 1", len(ex))
			}
			if query(t, ex[0]).Has("org") {
				t.Errorf("a client without an organization sent org: %s", ex[0].Query)
			}
			if got := string(ex[0].RespBody); got != `{"error":"`+msg+`","code":500,"data":{}}` && got != `{"error":"`+msg+`","code":500,"data":null}` {
				t.Errorf("answer body = %s, want the service error shape", got)
			}
		})
	}
	optional := map[string]func() error{
		"Devices":      func() error { _, err := c.Devices(ctx); return err },
		"Device":       func() error { _, err := c.Device(ctx, ids["hq"]); return err },
		"DeviceStatus": func() error { _, err := c.DeviceStatus(ctx, ids["hq"]); return err },
		"Tunnels":      func() error { _, err := c.Tunnels(ctx); return err },
		"PathLabels":   func() error { _, err := c.PathLabels(ctx); return err },
		"PathLabel":    func() error { _, err := c.PathLabel(ctx, labels["inet"].ID); return err },
		"StaticRoutes": func() error { _, err := c.StaticRoutes(ctx, ids["hq"]); return err },
		"DHCPs":        func() error { _, err := c.DHCPs(ctx, ids["hq"]); return err },
	}
	for name, call := range optional {
		t.Run("optional/"+name, func(t *testing.T) {
			if err := call(); err != nil {
				t.Errorf("%s without an organization: %v", name, err)
			}
		})
	}
	if got := l.sim.JobCounts(); len(got) != 0 {
		t.Errorf("calls without an organization queued jobs: %v", got)
	}
}

func TestUnknownRouteAndMethod(t *testing.T) {
	l := startLab(t, nil, simulator.Options{})
	tests := []struct {
		name       string
		method     string
		path       string
		wantStatus int
		wantBody   string
		wantAllow  string
	}{
		{name: "unknown route", method: http.MethodGet, path: "/api/nosuch", wantStatus: 404, wantBody: `{"error":"not found"}`},
		{name: "unknown device subroute", method: http.MethodGet, path: "/api/devices/" + unknownID + "/nosuch", wantStatus: 404, wantBody: `{"error":"not found"}`},
		{name: "wrong method on labels", method: http.MethodPatch, path: "/api/pathlabels", wantStatus: 405, wantBody: `{"error":"PATCH method not allowed"}`, wantAllow: "GET, POST"},
		{name: "wrong method on apply", method: http.MethodGet, path: "/api/devices/apply", wantStatus: 405, wantBody: `{"error":"GET method not allowed"}`, wantAllow: "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := l.raw(t, tt.method, tt.path, nil)
			if status != tt.wantStatus || string(body) != tt.wantBody || h.Get("Allow") != tt.wantAllow {
				t.Errorf("%s %s = %d %s (Allow %q), want %d %s (Allow %q)", tt.method, tt.path, status, body, h.Get("Allow"), tt.wantStatus, tt.wantBody, tt.wantAllow)
			}
		})
	}
	// Through the client: a server URL with a wrong prefix misses every
	// route.
	c, rec := l.client(t, func(o *fleximanage.Options) { o.BaseURL = l.srv.URL + "/prefix" })
	_, err := c.Version(t.Context())
	checkAPIError(t, err, 404, fleximanage.KindNotFound, "not found")
	if ex := rec.last(t); ex.Path != "/prefix/api/version" {
		t.Errorf("requested %s, want /prefix/api/version", ex.Path)
	}
}

// ---------------------------------------------------------------------------
// Retries and errors

func TestRetriesThroughFaults(t *testing.T) {
	l := startLab(t, nil, simulator.Options{RetryAfter: -1})
	var mu sync.Mutex
	seen := map[int]int{}
	c, _ := l.client(t, func(o *fleximanage.Options) {
		o.PageSize = 3
		o.OnResponse = func(_, _ string, status int) {
			mu.Lock()
			seen[status]++
			mu.Unlock()
		}
	})
	ids, labels := deviceIDs(t, c), labelsByName(t, c) // before the faults
	l.sim.SetFaults(simulator.Faults{ErrorRate: 0.3, ErrorStatuses: []int{502, 503, 429}, Seed: 11})
	ctx := t.Context()

	for i := range 3 {
		devs, err := c.Devices(ctx)
		if err != nil || len(devs) != 8 {
			t.Fatalf("Devices() #%d = %d, %v", i, len(devs), err)
		}
	}
	created, err := c.CreatePathLabel(ctx, fleximanage.PathLabelRequest{Name: "wifi", Color: "#123456", Type: fleximanage.PathLabelTunnel})
	if err != nil {
		t.Fatalf("CreatePathLabel() through faults: %v", err)
	}
	for _, n := range []string{"hq", "dc1", "branch-1"} {
		setLabels(t, c, ids[n], map[string][]string{eth0: {labels["mpls"].ID}, eth1: {created.ID}})
	}
	res, err := c.Apply(ctx, fleximanage.ApplyRequest{Method: fleximanage.MethodTunnels, Devices: devSet(ids["hq"], ids["dc1"], ids["branch-1"]), Meta: tunnelsMeta(labels["mpls"].ID, created.ID)})
	if err != nil || len(res.IDs) != 12 {
		t.Fatalf("tunnels apply through faults = %+v, %v; want 12 jobs", res, err)
	}
	l.waitIdle(t)
	if _, err := c.Jobs(ctx, res.IDs); err != nil {
		t.Fatalf("Jobs() through faults: %v", err)
	}
	tuns, err := c.Tunnels(ctx)
	if err != nil || len(tuns) != 6 {
		t.Fatalf("Tunnels() through faults = %d, %v; want 6", len(tuns), err)
	}

	mu.Lock()
	faults := seen[502] + seen[503] + seen[429]
	mu.Unlock()
	if faults < 5 {
		t.Errorf("only %d injected faults met (%v); the test does not exercise retries", faults, seen)
	}
	l.sim.SetFaults(simulator.Faults{})
	if ls := labelsByName(t, c); len(ls) != 4 {
		t.Errorf("after retried writes there are %d labels, want 4: a write ran twice or not at all", len(ls))
	}
}

func TestRetryPolicyByStatus(t *testing.T) {
	tests := []struct {
		status       int
		kind         fleximanage.Kind
		wantAttempts int
	}{
		{status: 500, kind: fleximanage.KindServer, wantAttempts: 1},
		{status: 502, kind: fleximanage.KindTransient, wantAttempts: 3},
		{status: 503, kind: fleximanage.KindTransient, wantAttempts: 3},
		{status: 504, kind: fleximanage.KindTransient, wantAttempts: 3},
		{status: 429, kind: fleximanage.KindRateLimited, wantAttempts: 3},
	}
	calls := map[string]func(*fleximanage.Client, context.Context) error{
		"write": func(c *fleximanage.Client, ctx context.Context) error {
			_, err := c.CreatePathLabel(ctx, fleximanage.PathLabelRequest{Name: "wifi", Color: "#123456", Type: fleximanage.PathLabelTunnel})
			return err
		},
		"read": func(c *fleximanage.Client, ctx context.Context) error { _, err := c.PathLabels(ctx); return err },
	}
	for _, tt := range tests {
		for name, call := range calls {
			t.Run(fmt.Sprintf("%d/%s", tt.status, name), func(t *testing.T) {
				l := startLab(t, nil, simulator.Options{RetryAfter: -1})
				c, rec := l.client(t, func(o *fleximanage.Options) { o.MaxAttempts = 3 })
				l.sim.SetFaults(simulator.Faults{ErrorRate: 1, ErrorStatuses: []int{tt.status}})
				checkAPIError(t, call(c, t.Context()), tt.status, tt.kind, "")
				want := slices.Repeat([]int{tt.status}, tt.wantAttempts)
				if diff := cmp.Diff(want, rec.statuses()); diff != "" {
					t.Errorf("answers mismatch (-want +got):\n%s", diff)
				}
				l.sim.SetFaults(simulator.Faults{})
				if n := len(labelsByName(t, c)); n != 3 {
					t.Errorf("%d labels after failed calls, want 3", n)
				}
			})
		}
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	// One request per second: the second call meets a 429 with
	// Retry-After: 1 and succeeds once it has waited that long.
	l := startLab(t, nil, simulator.Options{RateLimit: 1, RateWindow: time.Second, RetryAfter: 1})
	c, rec := l.client(t)
	if _, err := c.Version(t.Context()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := c.Version(t.Context()); err != nil {
		t.Fatalf("Version() after a 429: %v", err)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("the retry came after %v, before Retry-After's 1s", waited)
	}
	if diff := cmp.Diff([]int{200, 429, 200}, rec.statuses()); diff != "" {
		t.Errorf("answers mismatch (-want +got):\n%s", diff)
	}
	if ex := rec.exchanges(); len(ex) == 3 && ex[1].Header.Get("Retry-After") != "1" {
		t.Errorf("the 429 carried Retry-After %q, want 1", ex[1].Header.Get("Retry-After"))
	}
}

func TestRetryAfterBeyondLimitIsReturned(t *testing.T) {
	l := startLab(t, nil, simulator.Options{RateLimit: 1, RateWindow: time.Hour, RetryAfter: 60})
	c, rec := l.client(t, func(o *fleximanage.Options) { o.MaxRetryAfter = time.Second })
	if _, err := c.Version(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The answer must come at once, long before this deadline.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := c.Version(ctx)
	if ctx.Err() != nil {
		t.Errorf("Version() waited out its context: a Retry-After beyond MaxRetryAfter must be returned, not waited for")
	}
	ae := checkAPIError(t, err, 429, fleximanage.KindRateLimited, "Request rate limit exceeded")
	if ae.RetryAfter != time.Minute {
		t.Errorf("RetryAfter = %v, want 1m", ae.RetryAfter)
	}
	if diff := cmp.Diff([]int{200, 429}, rec.statuses()); diff != "" {
		t.Errorf("answers mismatch (-want +got):\n%s", diff)
	}
}

// closedAddr returns the address of a port nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestTransportErrorsRetried(t *testing.T) {
	var mu sync.Mutex
	var attempts []string
	c, err := fleximanage.New(fleximanage.Options{
		BaseURL: "http://" + closedAddr(t), Key: "fmsim_key", Org: labOrgID, NoBudget: true,
		HTTPClient: &http.Client{Transport: &http.Transport{}}, MaxAttempts: 4,
		BackoffBase: time.Millisecond, BackoffMax: 2 * time.Millisecond,
		OnResponse: func(method, route string, status int) {
			mu.Lock()
			defer mu.Unlock()
			attempts = append(attempts, fmt.Sprintf("%s %s %d", method, route, status))
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ApplyDevice(t.Context(), unknownID, fleximanage.ApplyRequest{Method: fleximanage.MethodSync})
	ae := checkAPIError(t, err, 0, fleximanage.KindTransient, "")
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Errorf("error %v does not wrap the *net.OpError", err)
	}
	if ae.Path != "/api/devices/"+unknownID+"/apply" || ae.Op != "apply sync" {
		t.Errorf("APIError op %q path %q", ae.Op, ae.Path)
	}
	want := slices.Repeat([]string{"POST /devices/{id}/apply 0"}, 4)
	mu.Lock()
	got := attempts
	attempts = nil
	mu.Unlock()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("attempts mismatch (-want +got):\n%s", diff)
	}

	// A cancelled context stops the retries.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.Version(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Version(cancelled) error = %v, want context.Canceled", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(attempts) > 1 {
		t.Errorf("a cancelled call was tried %d times: %v", len(attempts), attempts)
	}
}

func TestKindOf(t *testing.T) {
	apiErr := &fleximanage.APIError{Op: "get device", Method: "GET", Path: "/api/devices/x", Status: 404, Kind: fleximanage.KindNotFound, Message: "Device not found"}
	tests := []struct {
		name     string
		err      error
		wantKind fleximanage.Kind
		wantOK   bool
	}{
		{name: "bare", err: apiErr, wantKind: fleximanage.KindNotFound, wantOK: true},
		{name: "wrapped", err: fmt.Errorf("reconcile hq: %w", apiErr), wantKind: fleximanage.KindNotFound, wantOK: true},
		{name: "wrapped twice", err: fmt.Errorf("plan: %w", fmt.Errorf("reconcile hq: %w", apiErr)), wantKind: fleximanage.KindNotFound, wantOK: true},
		{name: "joined", err: errors.Join(errors.New("other"), apiErr), wantKind: fleximanage.KindNotFound, wantOK: true},
		{name: "conflict", err: fmt.Errorf("x: %w", &fleximanage.APIError{Kind: fleximanage.KindConflict}), wantKind: fleximanage.KindConflict, wantOK: true},
		{name: "not an API error", err: errors.New("boom")},
		{name: "sentinel", err: fmt.Errorf("apply: %w", fleximanage.ErrNoDevices)},
		{name: "nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, ok := fleximanage.KindOf(tt.err)
			if k != tt.wantKind || ok != tt.wantOK {
				t.Errorf("KindOf(%v) = %s, %v; want %s, %v", tt.err, k, ok, tt.wantKind, tt.wantOK)
			}
			for _, kind := range []fleximanage.Kind{fleximanage.KindServer, fleximanage.KindNotFound, fleximanage.KindConflict} {
				if got, want := fleximanage.IsKind(tt.err, kind), tt.wantOK && kind == tt.wantKind; got != want {
					t.Errorf("IsKind(%v, %s) = %v, want %v", tt.err, kind, got, want)
				}
			}
		})
	}
	if got, want := apiErr.Error(), "get device: GET /api/devices/x: 404 Not Found: Device not found"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// TestKeyNeverLeaks drives successes, refusals, retries and transport
// failures with recognisable keys and a debug logger, and looks for the keys
// in every error and log line.
func TestKeyNeverLeaks(t *testing.T) {
	const (
		key   = "fmsecret-owner-4f1d9a7c2b3e"
		wrong = "fmsecret-wrong-8e2a6c0d1f5b"
	)
	l := startLab(t, nil, simulator.Options{Keys: []simulator.Key{{Token: key}}, RetryAfter: -1})
	var logs bytes.Buffer
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	withLogger := func(o *fleximanage.Options) { o.Logger = logger; o.MaxAttempts = 3 }
	c, _ := l.client(t, withLogger)
	bad, _ := l.client(t, withLogger, func(o *fleximanage.Options) { o.Key = wrong })
	gone, err := fleximanage.New(fleximanage.Options{BaseURL: "http://" + closedAddr(t), Key: key, Org: labOrgID, NoBudget: true,
		Logger: logger, MaxAttempts: 2, BackoffBase: time.Millisecond, BackoffMax: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	var errs []error
	note := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	ids := deviceIDs(t, c)
	_, err = c.Device(ctx, "hq")
	note(err)
	_, err = bad.Devices(ctx)
	note(err)
	_, err = gone.Devices(ctx)
	note(err)
	_, err = c.Apply(ctx, fleximanage.ApplyRequest{Method: "reboot", Devices: devSet(ids["hq"])})
	note(err)
	l.sim.SetFaults(simulator.Faults{ErrorRate: 1, ErrorStatuses: []int{503}})
	_, err = c.PathLabels(ctx)
	note(err)
	l.sim.SetFaults(simulator.Faults{ErrorRate: 1, ErrorStatuses: []int{429}})
	_, err = c.Tunnels(ctx)
	note(err)
	if len(errs) != 6 {
		t.Fatalf("got %d errors, want 6: %v", len(errs), errs)
	}
	for _, e := range errs {
		for _, s := range []string{e.Error(), fmt.Sprintf("%v", e), fmt.Sprintf("%+v", e), fmt.Sprintf("%#v", e)} {
			if strings.Contains(s, key) || strings.Contains(s, wrong) {
				t.Errorf("error text contains the access key: %s", s)
			}
		}
	}
	opts := fleximanage.Options{BaseURL: l.srv.URL, Key: key}
	for _, s := range []string{fmt.Sprintf("%v", opts), fmt.Sprintf("%+v", opts), fmt.Sprintf("%#v", opts)} {
		if strings.Contains(s, key) {
			t.Errorf("formatted Options contain the access key: %s", s)
		}
	}
	logger.Debug("options", "opts", opts, "key", opts.Key)
	logMu.Lock()
	out := logs.String()
	logMu.Unlock()
	if !strings.Contains(out, "retrying flexiManage request") || !strings.Contains(out, "flexiManage request failed") {
		t.Errorf("the debug log lacks the retry and failure lines this test needs:\n%s", out)
	}
	if strings.Contains(out, key) || strings.Contains(out, wrong) {
		t.Errorf("the debug log contains an access key:\n%s", out)
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (lw *lockedWriter) Write(p []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.w.Write(p)
}
