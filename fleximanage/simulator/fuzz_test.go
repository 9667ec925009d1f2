package simulator

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// The fuzz targets below send arbitrary JSON bodies to the write handlers
// of a fresh simulator and check what flexiManage guarantees whatever the
// body: an answer (no panic) with a JSON body and a status of the
// documented set, and no stored change when the request is refused.

// fuzzFleetYAML is a small fleet with fixed ids, so that seeds can name
// its objects: two approved, connected devices a and b with labelled WANs,
// a static route and a DHCP server on a, a tunnel a/eth0-b/eth0 (mpls), and
// an unapproved, disconnected device c.
const fuzzFleetYAML = `
organizations:
  - name: fuzz
    id: 65a0000000000000000000f1
    encryptionMethod: psk
    pathLabels:
      - {id: 65a00000000000000000a001, name: mpls, type: Tunnel, color: "#2e86de"}
      - {id: 65a00000000000000000a002, name: inet, type: Tunnel, color: "#10ac84"}
      - {id: 65a00000000000000000a003, name: spare, type: Tunnel, color: "#ee5253"}
      - {id: 65a00000000000000000a004, name: lte, type: DIA, color: "#222222"}
    devices:
      - name: a
        id: 65a00000000000000000d001
        interfaces:
          - {id: 65a00000000000000000e011, name: eth0, type: WAN, ipv4: 198.51.100.2/30, gateway: 198.51.100.1, metric: 100, pathLabels: [mpls]}
          - {id: 65a00000000000000000e012, name: eth1, type: WAN, ipv4: 203.0.113.2/29, gateway: 203.0.113.1, metric: 200, pathLabels: [inet]}
          - {id: 65a00000000000000000e013, name: eth2, type: LAN, ipv4: 10.0.0.1/24}
        staticRoutes:
          - {destination: 10.50.0.0/16, gateway: 10.0.0.254, interface: eth2}
        dhcp:
          - {interface: eth2, rangeStart: 10.0.0.100, rangeEnd: 10.0.0.200, dns: [8.8.8.8]}
      - name: b
        id: 65a00000000000000000d002
        interfaces:
          - {id: 65a00000000000000000e021, name: eth0, type: WAN, ipv4: 198.51.100.6/30, gateway: 198.51.100.5, metric: 100, pathLabels: [mpls]}
          - {id: 65a00000000000000000e022, name: eth1, type: WAN, ipv4: 203.0.113.10/29, gateway: 203.0.113.9, metric: 200, pathLabels: [inet]}
          - {id: 65a00000000000000000e023, name: eth2, type: LAN, ipv4: 10.1.0.1/24}
      - name: c
        id: 65a00000000000000000d003
        approved: false
        connected: false
        interfaces:
          - {id: 65a00000000000000000e031, name: eth0, type: WAN, ipv4: 198.51.100.10/30, gateway: 198.51.100.9, metric: 100}
          - {id: 65a00000000000000000e032, name: eth1, type: LAN, ipv4: 10.2.0.1/24}
    tunnels:
      - {a: a/eth0, b: b/eth0, pathLabel: mpls}
`

const (
	fuzzToken = "fuzz-token"
	fuzzOrg   = "65a0000000000000000000f1"
)

// fuzzDevices are the ids of devices a, b and c.
var fuzzDevices = []string{"65a00000000000000000d001", "65a00000000000000000d002", "65a00000000000000000d003"}

var fuzzFleetOnce = sync.OnceValues(func() (*Fleet, error) {
	return LoadFleet("fuzz fleet", strings.NewReader(fuzzFleetYAML))
})

// newFuzzSim returns a fresh simulator of the fuzz fleet with instant jobs.
func newFuzzSim(t testing.TB) *Simulator {
	t.Helper()
	fl, err := fuzzFleetOnce()
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(fl, Options{Keys: []Key{{Token: fuzzToken}}, Instant: true, NoRateLimit: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// exchange is one request and its answer.
type exchange struct {
	method, target string
	status         int
	header         http.Header
	body           []byte
}

// send runs one request through s.ServeHTTP.
func send(s *Simulator, method, target string, body []byte) exchange {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	req.Header.Set("Authorization", "Bearer "+fuzzToken)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return exchange{method: method, target: target, status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// checkAnswer asserts the guarantees every answer keeps: a status in
// allowed, a JSON body (none for 204), an error body with an "error" text
// for a refusal, and for a refusal no change of the stored state.
func checkAnswer(t *testing.T, ex exchange, allowed []int, before, after string) {
	t.Helper()
	ok := false
	for _, st := range allowed {
		ok = ok || st == ex.status
	}
	if !ok {
		t.Fatalf("%s %s answered %d %s; want one of %v", ex.method, ex.target, ex.status, ex.body, allowed)
	}
	if ex.status == http.StatusNoContent {
		if len(ex.body) != 0 {
			t.Fatalf("%s %s answered 204 with a body %q", ex.method, ex.target, ex.body)
		}
	} else if !json.Valid(ex.body) {
		t.Fatalf("%s %s answered %d with a body that is not JSON: %q", ex.method, ex.target, ex.status, ex.body)
	}
	if ex.status < 400 {
		return
	}
	var eb struct {
		Error *string `json:"error"`
	}
	if json.Unmarshal(ex.body, &eb) != nil || eb.Error == nil || *eb.Error == "" {
		t.Fatalf("%s %s answered %d with %s; want an {\"error\": text} body", ex.method, ex.target, ex.status, ex.body)
	}
	if before != after {
		t.Fatalf("%s %s was refused (%d %s) but changed the stored state", ex.method, ex.target, ex.status, *eb.Error)
	}
}

// checkReads asserts that after an accepted write every read still answers
// 200 with JSON: nothing the write stored breaks rendering.
func checkReads(t *testing.T, s *Simulator) {
	t.Helper()
	targets := []string{"/api/devices?org=" + fuzzOrg, "/api/tunnels?org=" + fuzzOrg, "/api/pathlabels?org=" + fuzzOrg,
		"/api/jobs?status=all&org=" + fuzzOrg}
	for _, id := range fuzzDevices {
		targets = append(targets, "/api/devices/"+id+"?org="+fuzzOrg, "/api/devices/"+id+"/tunnels?org="+fuzzOrg,
			"/api/devices/"+id+"/status?org="+fuzzOrg, "/api/devices/"+id+"/staticroutes?org="+fuzzOrg, "/api/devices/"+id+"/dhcp?org="+fuzzOrg)
	}
	for _, tg := range targets {
		ex := send(s, http.MethodGet, tg, nil)
		if ex.status != http.StatusOK || !json.Valid(ex.body) {
			t.Fatalf("after an accepted write, GET %s answered %d %q", tg, ex.status, ex.body)
		}
	}
}

// FuzzApply sends bodies to POST /devices/apply (target 0) and
// POST /devices/{id}/apply (targets 1-3: devices a, b, c). Seeds:
// testdata/fuzz/FuzzApply.
func FuzzApply(f *testing.F) {
	f.Fuzz(func(t *testing.T, target uint8, body []byte) {
		s := newFuzzSim(t)
		path := "/api/devices/apply"
		perDevice := target%4 != 0
		if perDevice {
			path = "/api/devices/" + fuzzDevices[target%4-1] + "/apply"
		}
		before := s.StateDigest()
		ex := send(s, http.MethodPost, path+"?org="+fuzzOrg, body)
		// 400: express.json refuses a body that is not JSON (API.md §0,
		// §13); 404: no selected device (§5.1); 500: everything else.
		checkAnswer(t, ex, []int{http.StatusAccepted, http.StatusBadRequest, http.StatusNotFound, http.StatusInternalServerError}, before, s.StateDigest())
		if perDevice && ex.status == http.StatusNotFound {
			t.Fatalf("POST %s answered 404 for a device that exists: %s", path, ex.body)
		}
		if ex.status != http.StatusAccepted {
			return
		}
		var res struct {
			IDs        *[]int64  `json:"ids"`
			Status     string    `json:"status"`
			Message    *string   `json:"message"`
			ErrorCodes *[]string `json:"errorCodes"`
		}
		if err := json.Unmarshal(ex.body, &res); err != nil || res.IDs == nil || res.Message == nil {
			t.Fatalf("POST %s answered 202 %s; want {ids, status, message} (%v)", path, ex.body, err)
		}
		switch res.Status {
		case "completed", "partially completed", "unknown":
		default:
			t.Fatalf("POST %s answered status %q", path, res.Status)
		}
		if perDevice != (res.ErrorCodes != nil) {
			t.Fatalf("POST %s answered %s: errorCodes is in the answer of /devices/{id}/apply only", path, ex.body)
		}
		if loc := ex.header.Get("Location"); (loc != "") != (len(*res.IDs) > 0) {
			t.Fatalf("POST %s answered ids %v with Location %q; want a Location exactly when jobs were queued", path, *res.IDs, loc)
		}
		checkReads(t, s)
	})
}

// FuzzPutDevice sends bodies to PUT /devices/{id} of device a, b or c.
// Seeds: each device as GET shows it, and testdata/fuzz/FuzzPutDevice
// (those bodies edited).
// An accepted body must also round-trip: the device as GET then shows it,
// sent back unchanged, is a no-op (200, no job, nothing stored changes).
func FuzzPutDevice(f *testing.F) {
	s := newFuzzSim(f)
	for i, id := range fuzzDevices {
		ex := send(s, http.MethodGet, "/api/devices/"+id+"?org="+fuzzOrg, nil)
		var devs []json.RawMessage
		if ex.status != http.StatusOK || json.Unmarshal(ex.body, &devs) != nil || len(devs) != 1 {
			f.Fatalf("GET device %s = %d %s", id, ex.status, ex.body)
		}
		f.Add(uint8(i), []byte(devs[0]))
	}
	f.Fuzz(func(t *testing.T, sel uint8, body []byte) {
		s := newFuzzSim(t)
		id := fuzzDevices[int(sel)%len(fuzzDevices)]
		target := "/api/devices/" + id + "?org=" + fuzzOrg
		before := s.StateDigest()
		ex := send(s, http.MethodPut, target, body)
		// 200/202 (API.md §4.3), 400 validation or a body that is not
		// JSON (§0, §13), 500. The device exists, so never 404.
		checkAnswer(t, ex, []int{http.StatusOK, http.StatusAccepted, http.StatusBadRequest, http.StatusInternalServerError}, before, s.StateDigest())
		if ex.status >= 400 {
			return
		}
		var dev struct {
			ID string `json:"_id"`
		}
		if err := json.Unmarshal(ex.body, &dev); err != nil || dev.ID != id {
			t.Fatalf("PUT %s answered %d %s; want the device object (%v)", target, ex.status, ex.body, err)
		}
		if loc := ex.header.Get("Location"); (loc != "") != (ex.status == http.StatusAccepted) {
			t.Fatalf("PUT %s answered %d with Location %q; want a Location exactly with 202", target, ex.status, loc)
		}
		checkReads(t, s)

		if err := s.WaitIdle(t.Context()); err != nil {
			t.Fatal(err)
		}
		got := send(s, http.MethodGet, target, nil)
		var devs []json.RawMessage
		if got.status != http.StatusOK || json.Unmarshal(got.body, &devs) != nil || len(devs) != 1 {
			t.Fatalf("GET %s after PUT = %d %s", target, got.status, got.body)
		}
		before = s.StateDigest()
		again := send(s, http.MethodPut, target, devs[0])
		if again.status != http.StatusOK || again.header.Get("Location") != "" {
			t.Fatalf("PUT of the device exactly as GET shows it answered %d (Location %q) %s; want 200 and no job", again.status, again.header.Get("Location"), again.body)
		}
		if after := s.StateDigest(); after != before {
			t.Fatalf("PUT of the device exactly as GET shows it changed the stored state")
		}
	})
}

// FuzzPathLabels sends bodies to POST /pathlabels (op 0), and
// PUT (op 1) and DELETE (op 2) /pathlabels/{id}. Seeds:
// testdata/fuzz/FuzzPathLabels.
func FuzzPathLabels(f *testing.F) {
	f.Fuzz(func(t *testing.T, op uint8, id string, body []byte) {
		s := newFuzzSim(t)
		var method, target string
		var allowed []int
		switch op % 3 {
		case 0:
			// 201; 400 over 200 labels or not JSON; 500 validation or a
			// duplicate name (API.md §7, §0).
			method, target, allowed = http.MethodPost, "/api/pathlabels", []int{http.StatusCreated, http.StatusBadRequest, http.StatusInternalServerError}
		case 1:
			// 200; 400 type change of a used label or not JSON; 404; 500.
			method, target, allowed = http.MethodPut, "/api/pathlabels/"+url.PathEscape(id), []int{http.StatusOK, http.StatusBadRequest, http.StatusNotFound, http.StatusInternalServerError}
		default:
			// 204; 400 label in use or not JSON; 404; 500.
			method, target, allowed = http.MethodDelete, "/api/pathlabels/"+url.PathEscape(id), []int{http.StatusNoContent, http.StatusBadRequest, http.StatusNotFound, http.StatusInternalServerError}
		}
		if op%3 != 0 && id == "" {
			// /pathlabels/ is the collection, which has no PUT or DELETE:
			// 405 from the route matcher (API.md §0).
			allowed = []int{http.StatusMethodNotAllowed, http.StatusBadRequest}
		}
		before := s.StateDigest()
		ex := send(s, method, target+"?org="+fuzzOrg, body)
		checkAnswer(t, ex, allowed, before, s.StateDigest())
		if ex.status >= 400 {
			return
		}
		switch ex.status {
		case http.StatusCreated, http.StatusOK:
			var l struct {
				ID string `json:"_id"`
			}
			if err := json.Unmarshal(ex.body, &l); err != nil || l.ID == "" || (op%3 == 1 && l.ID != id) {
				t.Fatalf("%s %s answered %d %s; want the label with its _id (%v)", method, target, ex.status, ex.body, err)
			}
			if got := send(s, http.MethodGet, "/api/pathlabels/"+l.ID+"?org="+fuzzOrg, nil); got.status != http.StatusOK || !sameLabel(got.body, ex.body) {
				t.Fatalf("%s %s answered %s but GET shows %d %s", method, target, ex.body, got.status, got.body)
			}
		case http.StatusNoContent:
			if got := send(s, http.MethodGet, "/api/pathlabels/"+url.PathEscape(id)+"?org="+fuzzOrg, nil); got.status != http.StatusNotFound {
				t.Fatalf("DELETE %s answered 204 but GET then answers %d %s", target, got.status, got.body)
			}
		}
		checkReads(t, s)
		checkLabelNamesUnique(t, s)
	})
}

// sameLabel compares the name, description, colour and type of two label
// bodies.
func sameLabel(a, b []byte) bool {
	var la, lb struct {
		ID          string `json:"_id"`
		Name        string `json:"name"`
		Description string `json:"description"`
		Color       string `json:"color"`
		Type        string `json:"type"`
	}
	return json.Unmarshal(a, &la) == nil && json.Unmarshal(b, &lb) == nil && la == lb
}

// checkLabelNamesUnique: label names are unique per organization
// (API.md §7), whatever was accepted.
func checkLabelNamesUnique(t *testing.T, s *Simulator) {
	t.Helper()
	ex := send(s, http.MethodGet, "/api/pathlabels?org="+fuzzOrg, nil)
	var ls []struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(ex.body, &ls); err != nil {
		t.Fatalf("GET /pathlabels = %d %s", ex.status, ex.body)
	}
	seen := map[string]bool{}
	for _, l := range ls {
		if seen[l.Name] {
			t.Fatalf("two path labels are named %q: %s", l.Name, ex.body)
		}
		seen[l.Name] = true
	}
}

// TestStateDigest keeps the fuzz targets' oracle honest: reads leave the
// digest alone, and every kind of accepted write changes it.
func TestStateDigest(t *testing.T) {
	const a, b = "65a00000000000000000d001", "65a00000000000000000d002"
	const spare, tunnel = "65a00000000000000000a003", "65a000000000000000000004"
	getDevice := func(s *Simulator, id string) map[string]any {
		ex := send(s, http.MethodGet, "/api/devices/"+id+"?org="+fuzzOrg, nil)
		var ds []map[string]any
		if err := json.Unmarshal(ex.body, &ds); err != nil || len(ds) != 1 {
			t.Fatalf("GET device %s = %d %s", id, ex.status, ex.body)
		}
		return ds[0]
	}
	putDevice := func(s *Simulator, id string, edit func(d map[string]any)) exchange {
		d := getDevice(s, id)
		edit(d)
		body, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		return send(s, http.MethodPut, "/api/devices/"+id+"?org="+fuzzOrg, body)
	}
	iface := func(d map[string]any, i int) map[string]any { return d["interfaces"].([]any)[i].(map[string]any) }
	tests := []struct {
		name   string
		status int
		write  func(s *Simulator) exchange
	}{
		{"create a label", http.StatusCreated, func(s *Simulator) exchange {
			return send(s, http.MethodPost, "/api/pathlabels?org="+fuzzOrg, []byte(`{"name":"new","color":"#000000","type":"Tunnel"}`))
		}},
		{"rename a label", http.StatusOK, func(s *Simulator) exchange {
			return send(s, http.MethodPut, "/api/pathlabels/"+spare+"?org="+fuzzOrg, []byte(`{"name":"other","color":"#ee5253","type":"Tunnel"}`))
		}},
		{"delete a label", http.StatusNoContent, func(s *Simulator) exchange {
			return send(s, http.MethodDelete, "/api/pathlabels/"+spare+"?org="+fuzzOrg, nil)
		}},
		{"describe a device", http.StatusOK, func(s *Simulator) exchange {
			return putDevice(s, a, func(d map[string]any) { d["description"] = "changed" })
		}},
		{"label an interface", http.StatusOK, func(s *Simulator) exchange {
			return putDevice(s, a, func(d map[string]any) { iface(d, 1)["pathlabels"] = []any{map[string]any{"_id": spare}} })
		}},
		{"change an unmodelled interface member", http.StatusAccepted, func(s *Simulator) exchange {
			return putDevice(s, a, func(d map[string]any) { iface(d, 2)["mtu"] = 1400 })
		}},
		{"change an unmodelled device member", http.StatusAccepted, func(s *Simulator) exchange {
			return putDevice(s, a, func(d map[string]any) { d["ospf"].(map[string]any)["helloInterval"] = 5 })
		}},
		{"add a static route", http.StatusAccepted, func(s *Simulator) exchange {
			return putDevice(s, b, func(d map[string]any) {
				d["staticroutes"] = []any{map[string]any{"destination": "10.60.0.0/16", "gateway": "10.1.0.254"}}
			})
		}},
		{"create tunnels", http.StatusAccepted, func(s *Simulator) exchange {
			return send(s, http.MethodPost, "/api/devices/apply?org="+fuzzOrg, []byte(`{"method":"tunnels","devices":{"`+a+`":true,"`+b+`":true},"meta":{"pathLabels":["65a00000000000000000a002"],"topology":"fullMesh","advancedOptions":{"mtu":"","mssClamp":"yes","ospfCost":"","routing":"ospf"},"tunnelType":"site-to-site"}}`))
		}},
		{"delete a tunnel", http.StatusAccepted, func(s *Simulator) exchange {
			return send(s, http.MethodPost, "/api/devices/"+a+"/apply?org="+fuzzOrg, []byte(`{"method":"deltunnels","tunnels":{"`+tunnel+`":true}}`))
		}},
		{"stop a device", http.StatusAccepted, func(s *Simulator) exchange {
			return send(s, http.MethodPost, "/api/devices/"+b+"/apply?org="+fuzzOrg, []byte(`{"method":"stop"}`))
		}},
		{"add a DHCP server", http.StatusAccepted, func(s *Simulator) exchange {
			return send(s, http.MethodPost, "/api/devices/"+b+"/dhcp?org="+fuzzOrg, []byte(`{"interface":"pci:0000:00:05.00","rangeStart":"10.1.0.10","rangeEnd":"10.1.0.20","dns":[],"macAssign":[]}`))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newFuzzSim(t)
			before := s.StateDigest()
			checkReads(t, s)
			if got := s.StateDigest(); got != before {
				t.Fatalf("reads changed StateDigest")
			}
			ex := tc.write(s)
			if ex.status != tc.status {
				t.Fatalf("%s %s = %d %s, want %d", ex.method, ex.target, ex.status, ex.body, tc.status)
			}
			if err := s.WaitIdle(t.Context()); err != nil {
				t.Fatal(err)
			}
			if s.StateDigest() == before {
				t.Errorf("%s (%s %s) left StateDigest unchanged", tc.name, ex.method, ex.target)
			}
		})
	}
}
