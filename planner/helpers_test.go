package planner_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flexiwan-gitops/reconciler/diff"
	"github.com/flexiwan-gitops/reconciler/live"
	"github.com/flexiwan-gitops/reconciler/planner"
	"github.com/flexiwan-gitops/reconciler/spec"
)

// ---- building live states by hand ----

// fleet builds a live.State. Device ids are "id-<name>", label ids
// "lid-<name>", interface devIds are the interface names.
type fleet struct {
	st   live.State
	nTun int
}

func newFleet() *fleet {
	return &fleet{st: live.State{Org: live.Org{ID: "org1", Name: "acme", EncryptionMethod: "psk", TunnelRange: "10.100.0.0"}}}
}

func (f *fleet) label(name, typ string) *fleet {
	f.st.Labels = append(f.st.Labels, live.Label{ID: "lid-" + name, Name: name, Type: typ, Color: "#101010"})
	return f
}

// device adds a connected, approved, running device on router 6.3.10.
func (f *fleet) device(name string, ifs ...live.Interface) *live.Device {
	f.st.Devices = append(f.st.Devices, live.Device{ID: "id-" + name, Name: name, MachineID: "M-" + name, Hostname: name,
		Approved: true, Connected: true, State: "running", Version: "6.3.10", RouterVersion: "6.3.10", AgentVersion: "6.3.10", Interfaces: ifs})
	return &f.st.Devices[len(f.st.Devices)-1]
}

func wan(name string, labels ...string) live.Interface {
	return live.Interface{ID: "ifc-" + name, DevID: name, Name: name, Type: "WAN", Assigned: true, IPv4: "192.0.2.1", IPv4Mask: "24", Labels: labels}
}

func lan(name string) live.Interface {
	return live.Interface{ID: "ifc-" + name, DevID: name, Name: name, Type: "LAN", Assigned: true, IPv4: "10.0.0.1", IPv4Mask: "24"}
}

// tunnel adds a configured tunnel between "dev/ifc" ends and returns its id.
func (f *fleet) tunnel(a, b, label string) string {
	f.nTun++
	end := func(s string) live.End {
		dev, ifc, ok := strings.Cut(s, "/")
		if !ok {
			panic("bad end " + s)
		}
		return live.End{DeviceID: "id-" + dev, DeviceName: dev, IfaceID: "ifc-" + ifc, DevID: ifc, IfaceName: ifc}
	}
	id := fmt.Sprintf("tun-%d", f.nTun)
	f.st.Tunnels = append(f.st.Tunnels, live.Tunnel{ID: id, Num: f.nTun, A: end(a), B: end(b), Label: label, AConf: true, BConf: true})
	return id
}

func (f *fleet) state() *live.State { return &f.st }

// ---- specs and plans ----

func parseSpec(t testing.TB, src string) *spec.Spec {
	t.Helper()
	sp, err := spec.Parse("test.yaml", strings.NewReader(src))
	if err != nil {
		t.Fatalf("spec.Parse() error = %v\nsource:\n%s", err, src)
	}
	return sp
}

var planTime = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func opts() planner.Options {
	o := planner.DefaultOptions()
	o.Revision = "rev1"
	o.Now = planTime
	return o
}

// mustPlan builds a plan and checks every invariant a plan must hold
// (checkPlan); it returns the plan and what the simulation ended with.
func mustPlan(t *testing.T, src string, st *live.State, o planner.Options) (*planner.Plan, *simResult) {
	t.Helper()
	sp := parseSpec(t, src)
	p, err := planner.Build(sp, st, o)
	if err != nil {
		t.Fatalf("Build() error = %v", err)
	}
	return p, checkPlan(t, sp, st, p, o)
}

func refusal(t *testing.T, err error) *planner.Refused {
	t.Helper()
	var r *planner.Refused
	if !errors.As(err, &r) {
		t.Fatalf("Build() error = %v, want a *planner.Refused", err)
	}
	return r
}

// stepLine is a step in one line, for comparing plans in tests.
func stepLine(s planner.Step) string {
	return fmt.Sprintf("%s %s %s", s.Phase, s.Action, s.Target)
}

func stepLines(p *planner.Plan) []string {
	out := []string{}
	for _, s := range p.Steps {
		out = append(out, stepLine(s))
	}
	return out
}

func refKey(r planner.TunnelRef) live.TunnelKey {
	return live.NewTunnelKey(live.EndKey{Device: r.A.DeviceID, DevID: r.A.DevID}, live.EndKey{Device: r.B.DeviceID, DevID: r.B.DevID}, r.Label)
}

func refStrings(rs []planner.TunnelRef) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.String())
	}
	sort.Strings(out)
	return out
}

func stepsOf(p *planner.Plan, a planner.Action) []planner.Step {
	var out []planner.Step
	for _, s := range p.Steps {
		if s.Action == a {
			out = append(out, s)
		}
	}
	return out
}

// ---- the simulation: an independent check of a plan ----

// simResult is the organization as the simulation leaves it.
type simResult struct {
	tunnels map[live.TunnelKey]bool
	// labels: device id → devId → label names.
	labels  map[string]map[string][]string
	desired map[live.TunnelKey]bool
}

// checkPlan replays p against st the way flexiManage would run it, from
// the requests alone, and fails the test when:
//   - steps are not numbered in order, phases go backwards, or a create/add
//     phase comes after a delete/remove one (make before break);
//   - a request body is not valid JSON, an apply call has no (or an empty)
//     devices map, or a step touches a device the source does not declare;
//   - a tunnels call would make flexiManage create a tunnel that is not in
//     the step's Creates (recomputed with diff.Expand from the request,
//     under the interface labels in force in its phase, minus the tunnels
//     that exist by then), or creates an undesired tunnel, or more than
//     planner.MaxTunnelsPerCall;
//   - a deltunnels call names an id that is not active (flexiManage fails
//     the whole call), or a device PUT removes a label a tunnel still uses,
//     puts a label on two WANs of a device, or labels a non-WAN interface;
//   - at the end a desired tunnel does not exist, unless the plan says why.
func checkPlan(t *testing.T, sp *spec.Spec, st *live.State, p *planner.Plan, o planner.Options) *simResult {
	t.Helper()
	prune := sp.Settings.Prune
	if o.Prune != nil {
		prune = *o.Prune
	}
	res := diff.Compute(sp, st, diff.Options{Prune: prune})
	if len(res.Problems) > 0 {
		t.Fatalf("checkPlan: diff problems %v", res.Problems)
	}
	declared := map[string]bool{}
	for _, dp := range res.Devices {
		if dp.Live != nil {
			declared[dp.Live.ID] = true
		}
	}
	desired := map[live.TunnelKey]bool{}
	for _, d := range res.Desired {
		desired[d.Key] = true
	}
	labelName := map[string]string{}
	types := diff.LabelTypes{}
	for _, l := range st.Labels {
		labelName[l.ID] = l.Name
		types[l.Name] = l.Type
	}
	for _, l := range sp.PathLabels {
		types[l.Name] = string(l.Type)
	}
	resolveLabel := func(ref string) string {
		if n, ok := strings.CutPrefix(ref, "$label:"); ok {
			return n
		}
		n, ok := labelName[ref]
		if !ok {
			t.Errorf("label reference %q is neither a live label id nor a placeholder", ref)
		}
		return n
	}
	labels := map[string]map[string][]string{}
	devPtrs := make([]*live.Device, 0, len(st.Devices))
	for i := range st.Devices {
		d := &st.Devices[i]
		devPtrs = append(devPtrs, d)
		labels[d.ID] = map[string][]string{}
		for _, f := range d.Interfaces {
			labels[d.ID][f.DevID] = append([]string{}, f.Labels...)
		}
	}
	existing := map[live.TunnelKey]bool{}
	active := map[string]live.TunnelKey{}
	for _, tn := range st.Tunnels {
		existing[tn.Key()] = true
		active[tn.ID] = tn.Key()
	}

	created := map[int][]live.TunnelKey{} // step id → tunnels it created
	var phaseCreated []live.TunnelKey
	var phaseDeleted []string
	endPhase := func() {
		for _, k := range phaseCreated {
			existing[k] = true
		}
		for _, id := range phaseDeleted {
			delete(existing, active[id])
			delete(active, id)
		}
		phaseCreated, phaseDeleted = nil, nil
	}
	var phase planner.Phase
	var eps map[string]*diff.Endpoint
	lastMake, firstBreak := -1, -1
	byID := map[int]planner.Step{}
	for i, s := range p.Steps {
		byID[s.ID] = s
		if s.ID != i+1 {
			t.Errorf("step %d has id %d", i+1, s.ID)
		}
		if s.Phase < phase {
			t.Errorf("step %d (%s) is in phase %s after phase %s", s.ID, s.Action, s.Phase, phase)
		}
		if s.Phase != phase {
			endPhase()
			phase = s.Phase
		}
		if s.Phase.Creates() {
			lastMake = i
		}
		switch {
		case s.Action.IsDestructive(), s.Phase == planner.PhaseRemoveRoutes, s.Phase == planner.PhaseDeleteTunnels, s.Phase == planner.PhaseModifyRemove:
			if firstBreak < 0 {
				firstBreak = i
			}
		}
		if !strings.HasSuffix(s.Request.Path, "?org="+st.Org.ID) {
			t.Errorf("step %d: path %q does not end with ?org=%s", s.ID, s.Request.Path, st.Org.ID)
		}
		var body map[string]json.RawMessage
		if len(s.Request.Body) > 0 {
			if !json.Valid(s.Request.Body) {
				t.Errorf("step %d: body is not valid JSON: %s", s.ID, s.Request.Body)
				continue
			}
			if err := json.Unmarshal(s.Request.Body, &body); err != nil {
				t.Errorf("step %d: body is not a JSON object: %v", s.ID, err)
				continue
			}
		}
		var devices []string
		if strings.HasPrefix(s.Request.Path, "/api/devices/apply") {
			var m map[string]bool
			if err := json.Unmarshal(body["devices"], &m); err != nil || len(m) == 0 {
				t.Errorf("step %d (%s): apply call with no devices (flexiManage would select every device): %s", s.ID, s.Action, s.Request.Body)
			}
			for id := range m {
				devices = append(devices, id)
			}
			sort.Strings(devices)
		}
		for _, id := range devices {
			if !declared[id] {
				t.Errorf("step %d (%s) touches device %s, which the source does not declare", s.ID, s.Action, id)
			}
		}
		var method string
		if raw, ok := body["method"]; ok {
			_ = json.Unmarshal(raw, &method)
		}
		switch s.Action {
		case planner.StartDevices, planner.StopDevices, planner.UpgradeDevices:
			want := map[planner.Action]string{planner.StartDevices: "start", planner.StopDevices: "stop", planner.UpgradeDevices: "upgrade"}[s.Action]
			if method != want || !strings.HasPrefix(s.Request.Path, "/api/devices/apply") {
				t.Errorf("step %d: %s sends method %q to %s", s.ID, s.Action, method, s.Request.Path)
			}
		case planner.SyncDevice:
			if method != "sync" || len(s.Devices) != 1 || s.Request.Path != "/api/devices/"+s.Devices[0].ID+"/apply?org="+st.Org.ID {
				t.Errorf("step %d: sync request %s %s", s.ID, s.Request.Path, s.Request.Body)
			}
			if !declared[s.Devices[0].ID] {
				t.Errorf("step %d syncs undeclared device %s", s.ID, s.Devices[0].ID)
			}
		case planner.ModifyDevice:
			checkModify(t, s, body, declared, labels, existing, types, resolveLabel, st)
			eps = nil
		case planner.DeleteTunnels:
			var ids map[string]bool
			if err := json.Unmarshal(body["tunnels"], &ids); err != nil || len(ids) == 0 {
				t.Errorf("step %d: deltunnels without tunnels: %s", s.ID, s.Request.Body)
			}
			var fromRefs []string
			for _, r := range s.Deletes {
				fromRefs = append(fromRefs, r.ID)
			}
			var fromBody []string
			for id := range ids {
				fromBody = append(fromBody, id)
				k, ok := active[id]
				if !ok {
					t.Errorf("step %d deletes tunnel %s, which is not active by then (flexiManage fails the whole call)", s.ID, id)
					continue
				}
				if !declared[k.A.Device] || !declared[k.B.Device] {
					t.Errorf("step %d deletes tunnel %s, which touches an undeclared device", s.ID, id)
				}
				if desired[k] {
					t.Errorf("step %d deletes desired tunnel %s", s.ID, st.DescribeKey(k))
				}
				phaseDeleted = append(phaseDeleted, id)
			}
			sort.Strings(fromRefs)
			sort.Strings(fromBody)
			if d := cmp.Diff(fromRefs, fromBody); d != "" {
				t.Errorf("step %d: Deletes and request ids differ (-refs +body):\n%s", s.ID, d)
			}
			if len(ids) > planner.MaxTunnelsPerCall {
				t.Errorf("step %d deletes %d tunnels, more than %d", s.ID, len(ids), planner.MaxTunnelsPerCall)
			}
		case planner.CreateTunnels:
			var meta struct {
				PathLabels      []string        `json:"pathLabels"`
				Topology        string          `json:"topology"`
				Hub             string          `json:"hub"`
				AdvancedOptions json.RawMessage `json:"advancedOptions"`
				TunnelType      string          `json:"tunnelType"`
			}
			if method != "tunnels" {
				t.Errorf("step %d: tunnels step sends method %q", s.ID, method)
			}
			if err := json.Unmarshal(body["meta"], &meta); err != nil {
				t.Errorf("step %d: meta: %v", s.ID, err)
			}
			if meta.PathLabels == nil || len(meta.AdvancedOptions) == 0 || string(meta.AdvancedOptions) == "null" || meta.TunnelType != "site-to-site" {
				t.Errorf("step %d: meta lacks a field flexiManage requires: %s", s.ID, body["meta"])
			}
			if len(devices) < 2 {
				t.Errorf("step %d: tunnels call with %d devices", s.ID, len(devices))
			}
			call := diff.Call{Topology: meta.Topology, Hub: meta.Hub, Devices: devices}
			switch meta.Topology {
			case "fullMesh":
			case "hubAndSpoke":
				if !contains(devices, meta.Hub) {
					t.Errorf("step %d: hub %q is not among the devices", s.ID, meta.Hub)
				}
			default:
				t.Errorf("step %d: topology %q", s.ID, meta.Topology)
			}
			for _, ref := range meta.PathLabels {
				n := resolveLabel(ref)
				if types[n] == "DIA" {
					t.Errorf("step %d asks for tunnels on DIA label %s", s.ID, n)
				}
				call.Labels = append(call.Labels, n)
			}
			// What flexiManage creates: the pairing under the labels in
			// force now, minus tunnels that exist when the call runs.
			before := map[live.TunnelKey]bool{} // created by the steps it waits for
			for _, a := range afterClosure(s, byID) {
				if byID[a].Phase != s.Phase || a >= s.ID {
					t.Errorf("step %d waits for step %d, which is not an earlier step of its phase", s.ID, a)
				}
				for _, c := range created[a] {
					before[c] = true
				}
			}
			exists := func(k live.TunnelKey) bool { return existing[k] || before[k] }
			if eps == nil { // labels change only in device PUTs, which run in other phases
				eps = diff.Endpoints(devPtrs, labels)
			}
			raw, _ := diff.Expand(call, eps, types)
			var would []live.TunnelKey
			seen := map[live.TunnelKey]bool{}
			for _, k := range raw {
				if seen[k] || exists(k) {
					continue
				}
				seen[k] = true
				would = append(would, k)
				if !desired[k] {
					t.Errorf("step %d (%s) makes flexiManage create undesired tunnel %s", s.ID, s.Target, st.DescribeKey(k))
				}
			}
			var creates []live.TunnelKey
			for _, r := range s.Creates {
				creates = append(creates, refKey(r))
			}
			if d := cmp.Diff(keyList(would), keyList(creates)); d != "" {
				t.Errorf("step %d (%s): Creates differ from what flexiManage would create (-flexiManage +Creates):\n%s", s.ID, s.Target, d)
			}
			if len(would) > planner.MaxTunnelsPerCall {
				t.Errorf("step %d creates %d tunnels, more than %d", s.ID, len(would), planner.MaxTunnelsPerCall)
			}
			created[s.ID] = would
			phaseCreated = append(phaseCreated, would...)
		}
	}
	endPhase()
	if lastMake >= 0 && firstBreak >= 0 && lastMake > firstBreak {
		t.Errorf("make before break: step %d (%s) adds after step %d (%s) removed", lastMake+1, p.Steps[lastMake].Phase, firstBreak+1, p.Steps[firstBreak].Phase)
	}
	unsafeNote := false
	for _, n := range p.Notes {
		if strings.Contains(n, "cannot be created safely") {
			unsafeNote = true
		}
	}
	if !unsafeNote {
		for k := range desired {
			if !existing[k] {
				t.Errorf("desired tunnel %s does not exist after the plan", st.DescribeKey(k))
			}
		}
	}
	return &simResult{tunnels: existing, labels: labels, desired: desired}
}

func afterClosure(s planner.Step, byID map[int]planner.Step) []int {
	seen := map[int]bool{}
	var out []int
	var walk func(ids []int)
	walk = func(ids []int) {
		for _, a := range ids {
			if seen[a] {
				continue
			}
			seen[a] = true
			out = append(out, a)
			walk(byID[a].After)
		}
	}
	walk(s.After)
	return out
}

func checkModify(t *testing.T, s planner.Step, body map[string]json.RawMessage, declared map[string]bool,
	labels map[string]map[string][]string, existing map[live.TunnelKey]bool, types diff.LabelTypes, resolve func(string) string, st *live.State) {
	t.Helper()
	if s.Modify == nil || s.Request.Method != "PUT" || s.Request.Path != "/api/devices/"+s.Modify.Device.ID+"?org="+st.Org.ID {
		t.Errorf("step %d: modify request %s %s", s.ID, s.Request.Method, s.Request.Path)
		return
	}
	id := s.Modify.Device.ID
	if !declared[id] {
		t.Errorf("step %d modifies undeclared device %s", s.ID, id)
	}
	d := st.Device(id)
	raw, ok := body["interfaces"]
	if !ok {
		return
	}
	var ifs []struct {
		DevID      string `json:"devId"`
		PathLabels []struct {
			ID string `json:"_id"`
		} `json:"pathlabels"`
	}
	if err := json.Unmarshal(raw, &ifs); err != nil {
		t.Errorf("step %d: interfaces: %v", s.ID, err)
		return
	}
	for _, f := range ifs {
		lf := d.InterfaceByDevID(f.DevID)
		if lf == nil {
			t.Errorf("step %d: device %s has no interface %s", s.ID, d.Name, f.DevID)
			continue
		}
		to := []string{}
		for _, pl := range f.PathLabels {
			to = append(to, resolve(pl.ID))
		}
		if len(to) > 0 && !lf.IsWAN() {
			t.Errorf("step %d puts labels on %s/%s, which is not a WAN (flexiManage answers 400)", s.ID, d.Name, lf.Name)
		}
		for _, l := range labels[id][f.DevID] {
			if contains(to, l) {
				continue
			}
			for k := range existing {
				onIt := (k.A == live.EndKey{Device: id, DevID: f.DevID}) || (k.B == live.EndKey{Device: id, DevID: f.DevID})
				if onIt && k.Label == l {
					t.Errorf("step %d removes label %s from %s/%s while tunnel %s uses it (flexiManage answers 400)", s.ID, l, d.Name, lf.Name, st.DescribeKey(k))
				}
			}
		}
		labels[id][f.DevID] = to
	}
	on := map[string]string{}
	for devID, ls := range labels[id] {
		for _, l := range ls {
			if other, dup := on[l]; dup {
				t.Errorf("after step %d label %s is on %s and %s of device %s (flexiManage answers 400)", s.ID, l, other, devID, d.Name)
			}
			on[l] = devID
		}
	}
}

// keyList canonicalises keys for comparison ("dev/devId <-> dev/devId [label]").
func keyList(ks []live.TunnelKey) []string {
	out := []string{}
	for _, k := range ks {
		k = live.NewTunnelKey(k.A, k.B, k.Label)
		out = append(out, fmt.Sprintf("%s/%s <-> %s/%s [%s]", k.A.Device, k.A.DevID, k.B.Device, k.B.DevID, k.Label))
	}
	sort.Strings(out)
	return out
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func planJSON(t *testing.T, p *planner.Plan) string {
	t.Helper()
	b, err := json.MarshalIndent(p, "", " ")
	if err != nil {
		t.Fatalf("json.Marshal(plan) error = %v", err)
	}
	return string(b)
}
