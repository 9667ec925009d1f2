package fleximanage_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/flexiwan-gitops/reconciler/examples"
	"github.com/flexiwan-gitops/reconciler/fleximanage"
	"github.com/flexiwan-gitops/reconciler/fleximanage/simulator"
)

// This file checks the client and the simulator against flexiManage's own
// OpenAPI description (backend/api/openapi.yaml, kept beside API.md as
// reference data and read from there, never copied here): every request
// the client sends must be an operation of the spec, and every status the
// simulator answers must be one the spec declares for that operation, or
// one that fleximanage/API.md documents where the spec is silent or wrong
// (oasAllowed). The spec's "default" response is not counted as declaring
// anything: every operation has one, so it would accept every status.

// oasSpecEnv names the environment variable that points at the spec.
const oasSpecEnv = "FLEXIMANAGE_OPENAPI"

// oasAllowed are statuses the spec does not declare for an operation but
// API.md documents. Each entry must be needed by some exchange of the test.
var oasAllowed = []struct {
	method, path string // an operation of the spec; "*" matches any
	status       int
	reason       string
}{
	{"POST", "/devices/apply", 400, "API.md §0 step 4 and §13: the JSON body parser refuses a body that is not JSON with 400"},
	{"POST", "/devices/apply", 404, "API.md §5.1: when no selected device is left, 404 Devices not found"},
	{"POST", "/devices/{id}/apply", 404, "API.md §5.1 and §12 row 8: an unknown device answers 404 Device not found"},
	{"PUT", "/devices/{id}", 400, "API.md §4.3 Validation: the device checks answer 400 (e.g. Path Labels are not allowed on LAN interfaces)"},
	{"GET", "/pathlabels/{id}", 404, "API.md §7: a missing path label answers 404 Not found"},
	{"PUT", "/pathlabels/{id}", 400, "API.md §7: changing the type of a label in use answers 400 Path label is used by ..."},
	{"DELETE", "/pathlabels/{id}", 400, "API.md §7: deleting a label in use answers 400 Path label is used by ..."},
	{"*", "*", 429, "API.md §1.5: the global rate limiter answers 429 Request rate limit exceeded on any route"},
}

// oasLocateSpec finds the spec: $FLEXIMANAGE_OPENAPI, else
// ../shared/fleximanage/openapi.yaml next to the repository root (the
// directory holding go.mod).
func oasLocateSpec(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(oasSpecEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s=%s: %v", oasSpecEnv, p, err)
		}
		return p
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root := wd
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			t.Fatalf("no go.mod above %s", wd)
		}
		root = parent
	}
	p := filepath.Join(root, "..", "shared", "fleximanage", "openapi.yaml")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("flexiManage OpenAPI spec not found: set %s to its path, or place it at %s (../shared/fleximanage/openapi.yaml from the repository root)", oasSpecEnv, p)
	}
	return p
}

// oasSpec is the part of an OpenAPI document this test needs.
type oasSpec struct {
	file  string
	base  string // the servers URL path, e.g. /api
	paths []oasPath
}

type oasPath struct {
	template string
	segs     []string
	ops      map[string]map[string]bool // upper-case method → response keys as declared ("200", "2XX", "default")
}

var oasMethods = map[string]bool{"get": true, "put": true, "post": true, "delete": true, "patch": true, "head": true, "options": true, "trace": true}

func oasLoadSpec(t *testing.T, file string) *oasSpec {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Servers []struct {
			URL string `yaml:"url"`
		} `yaml:"servers"`
		Paths map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if len(doc.Servers) == 0 || len(doc.Paths) == 0 {
		t.Fatalf("%s: no servers or no paths: not an OpenAPI document?", file)
	}
	u, err := url.Parse(doc.Servers[0].URL)
	if err != nil {
		t.Fatalf("%s: servers[0].url: %v", file, err)
	}
	s := &oasSpec{file: file, base: strings.TrimRight(u.Path, "/")}
	for tmpl, item := range doc.Paths {
		p := oasPath{template: tmpl, segs: strings.Split(strings.Trim(tmpl, "/"), "/"), ops: map[string]map[string]bool{}}
		for m, n := range item {
			if !oasMethods[m] {
				continue // parameters, summary, ...
			}
			var op struct {
				Responses map[string]yaml.Node `yaml:"responses"`
			}
			if err := n.Decode(&op); err != nil {
				t.Fatalf("%s: %s %s: %v", file, m, tmpl, err)
			}
			codes := map[string]bool{}
			for c := range op.Responses {
				codes[c] = true
			}
			p.ops[strings.ToUpper(m)] = codes
		}
		s.paths = append(s.paths, p)
	}
	return s
}

// lookup finds the spec path of an /api request path: the one that matches
// with the most literal segments (OpenAPI: concrete paths win over
// templated ones). ok is false when no path matches.
func (s *oasSpec) lookup(reqPath string) (p *oasPath, ok bool) {
	rest, found := strings.CutPrefix(reqPath, s.base+"/")
	if !found {
		return nil, false
	}
	segs := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	best := -1
	for i := range s.paths {
		cand := &s.paths[i]
		if len(cand.segs) != len(segs) {
			continue
		}
		literal := 0
		match := true
		for j, sg := range cand.segs {
			switch {
			case strings.HasPrefix(sg, "{") && strings.HasSuffix(sg, "}"):
				match = match && segs[j] != ""
			case sg == segs[j]:
				literal++
			default:
				match = false
			}
		}
		if match && literal > best {
			p, best = cand, literal
		}
	}
	return p, p != nil
}

// oasDeclares reports whether codes declare status, exactly or as a range
// such as 2XX.
func oasDeclares(codes map[string]bool, status int) bool {
	return codes[strconv.Itoa(status)] || codes[fmt.Sprintf("%dXX", status/100)] || codes[fmt.Sprintf("%dxx", status/100)]
}

// oasExchange is one request as the client's transport saw it.
type oasExchange struct {
	step   string // the script step that sent it
	expect oasExpect
	method string
	path   string // escaped path, without the query
	status int    // 0: transport error
}

// oasExpect says how an exchange relates to the spec.
type oasExpect int

const (
	oasInSpec        oasExpect = iota // an operation of the spec, with a declared or allowed status
	oasUnknownPath                    // a path the spec does not have: 404 not found
	oasUnknownMethod                  // a path of the spec without that method: 405
)

// oasRecorder is an http.RoundTripper that records every exchange.
type oasRecorder struct {
	next   http.RoundTripper
	mu     sync.Mutex
	step   string
	expect oasExpect
	log    []oasExchange
}

func (r *oasRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	ex := oasExchange{method: req.Method, path: req.URL.EscapedPath()}
	if err == nil {
		ex.status = resp.StatusCode
	}
	r.mu.Lock()
	ex.step, ex.expect = r.step, r.expect
	r.log = append(r.log, ex)
	r.mu.Unlock()
	return resp, err
}

func (r *oasRecorder) setStep(s string, e oasExpect) {
	r.mu.Lock()
	r.step, r.expect = s, e
	r.mu.Unlock()
}

func (r *oasRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.log)
}

func (r *oasRecorder) exchanges() []oasExchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]oasExchange(nil), r.log...)
}

// oasSession runs the scripted session and remembers which Client methods
// it called.
type oasSession struct {
	t       *testing.T
	ctx     context.Context
	sim     *simulator.Simulator
	srv     *httptest.Server
	rec     *oasRecorder
	hc      *http.Client
	c       *fleximanage.Client
	called  map[string]bool
	current string
}

// call marks the start of a step that uses Client method m.
func (ss *oasSession) call(m string) {
	ss.called[m] = true
	ss.current = m
	ss.rec.setStep(m, oasInSpec)
}

func (ss *oasSession) ok(err error) {
	ss.t.Helper()
	if err != nil {
		ss.t.Fatalf("%s: %v", ss.current, err)
	}
}

// fails asserts that err is an *APIError with the given status.
func (ss *oasSession) fails(err error, status int) {
	ss.t.Helper()
	var ae *fleximanage.APIError
	if !errors.As(err, &ae) || ae.Status != status {
		ss.t.Fatalf("%s: error = %v, want an answer with status %d", ss.current, err, status)
	}
}

func (ss *oasSession) idle() {
	ss.t.Helper()
	if err := ss.sim.WaitIdle(ss.ctx); err != nil {
		ss.t.Fatal(err)
	}
}

// raw sends a request the client would not send, through the same
// recording transport, and asserts its status.
func (ss *oasSession) raw(what, method, target, token, body string, want int) {
	ss.t.Helper()
	ss.rawExpect(what, method, target, token, body, want, oasInSpec)
}

func (ss *oasSession) rawExpect(what, method, target, token, body string, want int, e oasExpect) {
	ss.t.Helper()
	ss.current = "raw: " + what
	ss.rec.setStep(ss.current, e)
	req, err := http.NewRequestWithContext(ss.ctx, method, ss.srv.URL+target, strings.NewReader(body))
	if err != nil {
		ss.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := ss.hc.Do(req)
	if err != nil {
		ss.t.Fatalf("%s: %v", ss.current, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		ss.t.Fatalf("%s: %v", ss.current, err)
	}
	if resp.StatusCode != want {
		ss.t.Fatalf("%s: %s %s answered %d %s, want %d", ss.current, method, target, resp.StatusCode, b, want)
	}
}

// newOASSession starts the simulator on the lab fleet, with instant jobs,
// and a client whose requests are recorded.
func newOASSession(t *testing.T, opts simulator.Options) *oasSession {
	t.Helper()
	fl, err := simulator.LoadFleet("lab/fleet.yaml", strings.NewReader(string(examples.LabFleet)))
	if err != nil {
		t.Fatal(err)
	}
	opts.Instant = true
	sim, err := simulator.New(fl, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	rec := &oasRecorder{next: srv.Client().Transport}
	hc := &http.Client{Transport: rec, Timeout: 30 * time.Second}
	c, err := fleximanage.New(fleximanage.Options{BaseURL: srv.URL, Key: fleximanage.AccessKey(sim.Token()), Org: sim.OrgID("lab"),
		HTTPClient: hc, NoBudget: true, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	return &oasSession{t: t, ctx: t.Context(), sim: sim, srv: srv, rec: rec, hc: hc, c: c, called: map[string]bool{}}
}

func TestOpenAPIContract(t *testing.T) {
	spec := oasLoadSpec(t, oasLocateSpec(t))
	// The first DHCP job of branch-1 fails, so that its entry can be
	// re-applied.
	ss := newOASSession(t, simulator.Options{NoRateLimit: true, Keys: []simulator.Key{{Token: "owner-key"}, {Token: "viewer-key", Role: simulator.RoleViewer}},
		Faults: &simulator.Faults{FailJobs: []simulator.JobFault{{Device: "branch-1", Method: "dhcp", Times: 1}}}})
	ctx, c := ss.ctx, ss.c
	const unknownObjectID = "0123456789abcdef01234567"
	const lanDevID = "pci:0000:00:05.00" // eth2 of every lab device

	ss.call("Version")
	_, err := c.Version(ctx)
	ss.ok(err)
	ss.call("Organizations")
	_, err = c.Organizations(ctx)
	ss.ok(err)
	ss.call("ResolveOrg")
	org, err := c.ResolveOrg(ctx, "lab")
	ss.ok(err)
	ss.call("Org")
	if c.Org() != org.ID {
		t.Fatalf("Org() = %s, want %s", c.Org(), org.ID)
	}
	ss.call("WithOrg")
	c = c.WithOrg(org.ID)
	ss.call("Budget")
	if c.Budget() != nil {
		t.Fatalf("Budget() = %v, want nil (NoBudget)", c.Budget())
	}
	ss.call("BaseURL")
	if c.BaseURL() != ss.srv.URL {
		t.Fatalf("BaseURL() = %s, want %s", c.BaseURL(), ss.srv.URL)
	}

	// Path labels.
	ss.call("PathLabels")
	labels, err := c.PathLabels(ctx)
	ss.ok(err)
	label := map[string]fleximanage.PathLabel{}
	for _, l := range labels {
		label[l.Name] = l
	}
	ss.call("PathLabel")
	_, err = c.PathLabel(ctx, label["mpls"].ID)
	ss.ok(err)
	_, err = c.PathLabel(ctx, unknownObjectID)
	ss.fails(err, http.StatusNotFound)
	ss.call("CreatePathLabel")
	tmp, err := c.CreatePathLabel(ctx, fleximanage.PathLabelRequest{Name: "oas-temp", Color: "#123456", Type: fleximanage.PathLabelTunnel})
	ss.ok(err)
	_, err = c.CreatePathLabel(ctx, fleximanage.PathLabelRequest{Name: "oas-temp", Color: "#123456", Type: fleximanage.PathLabelTunnel})
	ss.fails(err, http.StatusInternalServerError)
	ss.call("UpdatePathLabel")
	_, err = c.UpdatePathLabel(ctx, tmp.ID, fleximanage.PathLabelRequest{Name: "oas-temp", Description: "changed", Color: "#654321", Type: fleximanage.PathLabelTunnel})
	ss.ok(err)
	_, err = c.UpdatePathLabel(ctx, unknownObjectID, fleximanage.PathLabelRequest{Name: "oas-ghost", Color: "#654321", Type: fleximanage.PathLabelTunnel})
	ss.fails(err, http.StatusNotFound)
	ss.call("DeletePathLabel")
	ss.ok(c.DeletePathLabel(ctx, tmp.ID))
	ss.fails(c.DeletePathLabel(ctx, tmp.ID), http.StatusNotFound)

	// Devices.
	ss.call("Devices")
	devs, err := c.Devices(ctx)
	ss.ok(err)
	dev := map[string]string{}
	for _, d := range devs {
		dev[d.Name] = d.ID
	}
	ss.call("Device")
	hq, err := c.Device(ctx, dev["hq"])
	ss.ok(err)
	_, err = c.Device(ctx, unknownObjectID)
	ss.fails(err, http.StatusNotFound)
	ss.call("DeviceStatus")
	_, err = c.DeviceStatus(ctx, dev["hq"])
	ss.ok(err)
	ss.call("UpdateDevice")
	for _, name := range []string{"hq", "dc1"} {
		d, err := c.Device(ctx, dev[name])
		ss.ok(err)
		d.Interface("pci:0000:00:03.00").PathLabels = []fleximanage.PathLabel{{ID: label["mpls"].ID}}
		_, _, err = c.UpdateDevice(ctx, d) // a Tunnel label alone: 200, no job
		ss.ok(err)
	}
	hq.Interface("pci:0000:00:03.00").PathLabels = []fleximanage.PathLabel{{ID: label["mpls"].ID}}
	hq.Interface("pci:0000:00:04.00").Metric = "300"
	_, q, err := c.UpdateDevice(ctx, hq) // a metric change: 202, a modify job
	ss.ok(err)
	if len(q.IDs) != 1 {
		t.Fatalf("UpdateDevice(metric) queued %v, want one job", q.IDs)
	}
	hq.Interface(lanDevID).PathLabels = []fleximanage.PathLabel{{ID: label["inet"].ID}}
	_, _, err = c.UpdateDevice(ctx, hq)
	ss.fails(err, http.StatusBadRequest)
	before := ss.rec.count()
	if _, _, err := c.UpdateDevice(ctx, &fleximanage.Device{Name: "no-id"}); err == nil || ss.rec.count() != before {
		t.Fatalf("UpdateDevice(no _id) = %v after %d requests; want an error and nothing sent", err, ss.rec.count()-before)
	}
	ss.idle()

	// Tunnels and jobs.
	ss.call("Apply")
	meta := fleximanage.TunnelsMeta{PathLabels: []string{label["mpls"].ID}, Topology: fleximanage.FullMesh, AdvancedOptions: fleximanage.DefaultAdvancedOptions(), TunnelType: "site-to-site"}
	res, err := c.Apply(ctx, fleximanage.ApplyRequest{Method: fleximanage.MethodTunnels, Devices: map[string]bool{dev["hq"]: true, dev["dc1"]: true}, Meta: meta})
	ss.ok(err)
	if len(res.IDs) != 2 {
		t.Fatalf("tunnels apply = %+v, want two jobs", res)
	}
	_, err = c.Apply(ctx, fleximanage.ApplyRequest{Method: fleximanage.MethodStop, Devices: map[string]bool{unknownObjectID: true}})
	ss.fails(err, http.StatusNotFound)
	before = ss.rec.count()
	_, err = c.Apply(ctx, fleximanage.ApplyRequest{Method: fleximanage.MethodStart})
	if !errors.Is(err, fleximanage.ErrNoDevices) || ss.rec.count() != before {
		t.Fatalf("Apply(no devices) = %v after %d requests; want ErrNoDevices and nothing sent", err, ss.rec.count()-before)
	}
	ss.idle()
	ss.call("JobsAt")
	_, err = c.JobsAt(ctx, res.Location)
	ss.ok(err)
	before = ss.rec.count()
	if _, err := c.JobsAt(ctx, ss.srv.URL+"/api/jobs?status=all&ids=1&org="+unknownObjectID); err == nil || ss.rec.count() != before {
		t.Fatalf("JobsAt(another organization) = %v after %d requests; want an error and nothing sent", err, ss.rec.count()-before)
	}
	ss.call("Jobs")
	_, err = c.Jobs(ctx, res.IDs)
	ss.ok(err)
	_, err = c.Jobs(ctx, []fleximanage.JobID{999999})
	ss.fails(err, http.StatusInternalServerError)
	ss.call("JobsByState")
	_, err = c.JobsByState(ctx, fleximanage.JobComplete, 10)
	ss.ok(err)
	_, err = c.JobsByState(ctx, "finished", 0)
	ss.fails(err, http.StatusBadRequest)
	ss.call("Job")
	_, err = c.Job(ctx, res.IDs[0])
	ss.ok(err)
	_, err = c.Job(ctx, 999999)
	ss.fails(err, http.StatusInternalServerError)
	ss.call("Tunnels")
	tuns, err := c.Tunnels(ctx)
	ss.ok(err)
	if len(tuns) != 1 {
		t.Fatalf("Tunnels() = %d tunnels, want 1", len(tuns))
	}
	ss.call("DeviceTunnels")
	_, err = c.DeviceTunnels(ctx, dev["hq"])
	ss.ok(err)
	ss.call("DeletePathLabel")
	ss.fails(c.DeletePathLabel(ctx, label["mpls"].ID), http.StatusBadRequest)
	ss.call("UpdatePathLabel")
	_, err = c.UpdatePathLabel(ctx, label["mpls"].ID, fleximanage.PathLabelRequest{Name: "mpls", Color: label["mpls"].Color, Type: fleximanage.PathLabelDIA})
	ss.fails(err, http.StatusBadRequest)
	ss.call("ApplyDevice")
	del := fleximanage.ApplyRequest{Method: fleximanage.MethodDelTunnels, Tunnels: map[string]bool{tuns[0].ID: true}}
	_, err = c.ApplyDevice(ctx, dev["hq"], del)
	ss.ok(err)
	_, err = c.ApplyDevice(ctx, dev["hq"], del) // deleted already
	ss.fails(err, http.StatusInternalServerError)
	_, err = c.ApplyDevice(ctx, unknownObjectID, fleximanage.ApplyRequest{Method: fleximanage.MethodSync})
	ss.fails(err, http.StatusNotFound)
	_, err = c.ApplyDevice(ctx, dev["branch-6"], fleximanage.ApplyRequest{Method: fleximanage.MethodStart})
	ss.ok(err)
	ss.call("Apply")
	_, err = c.Apply(ctx, fleximanage.ApplyRequest{Method: fleximanage.MethodSync, Devices: map[string]bool{dev["branch-2"]: true}})
	ss.ok(err)
	ss.idle()

	// Static routes.
	b1 := dev["branch-1"]
	ss.call("StaticRoutes")
	_, err = c.StaticRoutes(ctx, b1)
	ss.ok(err)
	ss.call("AddStaticRoute")
	rt, _, err := c.AddStaticRoute(ctx, b1, fleximanage.StaticRouteRequest{Destination: "10.99.0.0/16", Gateway: "10.11.0.254", IfName: lanDevID})
	ss.ok(err)
	ss.idle()
	ss.call("UpdateStaticRoute")
	_, err = c.UpdateStaticRoute(ctx, b1, rt.ID, fleximanage.StaticRouteRequest{Destination: "10.99.0.0/16", Gateway: "10.11.0.254", IfName: lanDevID, Status: "add-failed"})
	ss.ok(err)
	ss.idle()
	ss.call("DeleteStaticRoute")
	_, err = c.DeleteStaticRoute(ctx, b1, rt.ID)
	ss.ok(err)
	_, err = c.DeleteStaticRoute(ctx, b1, unknownObjectID)
	ss.fails(err, http.StatusNotFound)
	ss.idle()

	// DHCP: the add job fails (fault), is re-applied, then replaced and
	// deleted.
	ss.call("DHCPs")
	_, err = c.DHCPs(ctx, b1)
	ss.ok(err)
	ss.call("AddDHCP")
	dh, _, err := c.AddDHCP(ctx, b1, fleximanage.DHCPRequest{Interface: lanDevID, RangeStart: "10.11.0.100", RangeEnd: "10.11.0.150"})
	ss.ok(err)
	ss.idle()
	ss.call("DHCPEntry")
	got, err := c.DHCPEntry(ctx, b1, dh.ID)
	ss.ok(err)
	if got.Status != "add-failed" {
		t.Fatalf("DHCP entry status after a failed job = %q, want add-failed", got.Status)
	}
	_, err = c.DHCPEntry(ctx, b1, unknownObjectID)
	ss.fails(err, http.StatusNotFound)
	ss.call("ReapplyDHCP")
	_, _, err = c.ReapplyDHCP(ctx, b1, dh.ID)
	ss.ok(err)
	ss.idle()
	ss.call("UpdateDHCP")
	_, _, err = c.UpdateDHCP(ctx, b1, dh.ID, fleximanage.DHCPRequest{Interface: lanDevID, RangeStart: "10.11.0.100", RangeEnd: "10.11.0.160", DNS: []string{"9.9.9.9"}})
	ss.ok(err)
	ss.idle()
	ss.call("DeleteDHCP")
	_, err = c.DeleteDHCP(ctx, b1, dh.ID, false)
	ss.ok(err)
	ss.idle()

	ss.call("DeleteJob")
	ss.ok(c.DeleteJob(ctx, res.IDs[0]))
	ss.fails(c.DeleteJob(ctx, res.IDs[0]), http.StatusInternalServerError)

	// Every exported method of *Client must have been called.
	var missing []string
	ct := reflect.TypeFor[*fleximanage.Client]()
	for i := range ct.NumMethod() {
		if m := ct.Method(i).Name; !ss.called[m] {
			missing = append(missing, m)
		}
	}
	if len(missing) > 0 {
		t.Errorf("the session does not call these Client methods, so their requests are not checked against the spec: %s", strings.Join(missing, ", "))
	}

	// Requests the client refuses or never sends, straight to the
	// simulator.
	lab, owner := "?org="+org.ID, "owner-key"
	ss.raw("apply with empty devices (the client refuses: it selects every device)", "POST", "/api/devices/apply"+lab, owner, `{"method":"sync","devices":{}}`, http.StatusAccepted)
	ss.raw("apply without devices and an unknown method", "POST", "/api/devices/apply"+lab, owner, `{"method":"reboot"}`, http.StatusInternalServerError)
	ss.raw("apply with a body that is not JSON", "POST", "/api/devices/apply"+lab, owner, `{"method":`, http.StatusBadRequest)
	ss.raw("a write without org", "POST", "/api/devices/apply", owner, `{"method":"sync","devices":{"`+dev["hq"]+`":true}}`, http.StatusInternalServerError)
	ss.raw("jobs of an organization the key does not reach (JobsAt refuses such a location)", "GET", "/api/jobs?status=all&ids=1&org="+unknownObjectID, owner, "", http.StatusInternalServerError)
	ss.raw("jobs with an unknown state", "GET", "/api/jobs?status=done"+strings.Replace(lab, "?", "&", 1), owner, "", http.StatusBadRequest)
	ss.raw("no bearer token", "GET", "/api/devices"+lab, "", "", http.StatusUnauthorized)
	ss.raw("an unknown key", "GET", "/api/devices"+lab, "no-such-key", "", http.StatusUnauthorized)
	ss.raw("a viewer key writes", "POST", "/api/pathlabels"+lab, "viewer-key", `{"name":"viewer","color":"#000000","type":"Tunnel"}`, http.StatusForbidden)
	ss.raw("a static route body that is not wrapped", "POST", "/api/devices/"+b1+"/staticroutes"+lab, owner, `{"destination":"10.98.0.0/16","gateway":"10.11.0.254"}`, http.StatusInternalServerError)
	ss.raw("DHCP without macAssign", "POST", "/api/devices/"+b1+"/dhcp"+lab, owner, `{"interface":"`+lanDevID+`","rangeStart":"10.11.0.100","rangeEnd":"10.11.0.150","dns":[]}`, http.StatusInternalServerError)
	ss.raw("a path label in another organization", "GET", "/api/pathlabels/"+label["mpls"].ID+"?org="+unknownObjectID, owner, "", http.StatusNotFound)
	ss.rawExpect("a route that does not exist", "GET", "/api/nosuchthing"+lab, owner, "", http.StatusNotFound, oasUnknownPath)
	ss.rawExpect("a device without id (UpdateDevice refuses it): the collection has no PUT", "PUT", "/api/devices/"+lab, owner, `{}`, http.StatusMethodNotAllowed, oasUnknownMethod)

	// The rate limiter, on a simulator of its own.
	rl := newOASSession(t, simulator.Options{RateLimit: 1, Keys: []simulator.Key{{Token: owner}}})
	rl.raw("first request of the window", "GET", "/api/organizations", owner, "", http.StatusOK)
	rl.raw("over the rate limit", "GET", "/api/organizations", owner, "", http.StatusTooManyRequests)

	exs := append(ss.rec.exchanges(), rl.rec.exchanges()...)
	var problems []string
	used := make([]bool, len(oasAllowed))
	for _, ex := range exs {
		if msg := oasCheck(spec, ex, used); msg != "" {
			problems = append(problems, fmt.Sprintf("%s: %s %s %s", ex.step, ex.method, ex.path, msg))
		}
	}
	for i, a := range oasAllowed {
		if !used[i] {
			problems = append(problems, fmt.Sprintf("allow-list entry %s %s %d is not needed by any exchange: remove it (%s)", a.method, a.path, a.status, a.reason))
		}
	}
	if len(problems) > 0 {
		t.Errorf("%d of %d exchanges disagree with %s:\n  %s", len(problems), len(exs), spec.file, strings.Join(problems, "\n  "))
	}
}

// oasCheck returns what is wrong with ex, or "". It marks the allow-list
// entries it uses.
func oasCheck(spec *oasSpec, ex oasExchange, used []bool) string {
	p, found := spec.lookup(ex.path)
	var codes map[string]bool
	hasMethod := false
	if found {
		codes, hasMethod = p.ops[ex.method]
	}
	switch ex.expect {
	case oasUnknownPath:
		if found {
			return fmt.Sprintf("answered %d, but the spec has %s", ex.status, p.template)
		}
		return ""
	case oasUnknownMethod:
		switch {
		case !found:
			return "is not a path of the spec"
		case hasMethod:
			return fmt.Sprintf("answered %d, but the spec has %s %s", ex.status, ex.method, p.template)
		}
		return ""
	}
	switch {
	case !found:
		return "is not a path of the spec"
	case !hasMethod:
		return fmt.Sprintf("matches %s, which has no %s in the spec", p.template, ex.method)
	case oasDeclares(codes, ex.status):
		return ""
	}
	for i, a := range oasAllowed {
		if a.status == ex.status && (a.method == "*" || a.method == ex.method) && (a.path == "*" || a.path == p.template) {
			used[i] = true
			return ""
		}
	}
	return fmt.Sprintf("(%s %s) answered %d; the spec declares %s", ex.method, p.template, ex.status, oasDeclared(codes))
}

// oasDeclared lists the statuses codes declare, for messages.
func oasDeclared(codes map[string]bool) string {
	var out []string
	for c := range codes {
		out = append(out, c)
	}
	sort.Strings(out)
	return strings.Join(out, ", ") + ` ("default" does not count)`
}
