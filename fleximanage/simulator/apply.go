package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// applyResult is what an apply method returns.
type applyResult struct {
	jobs       []*job
	ids        []int64 // when set, overrides jobs (ids: [] for untracked work)
	untracked  bool
	status     string
	message    string
	errorCodes []string
}

func (r *applyResult) idList() []int64 {
	if r.untracked {
		return []int64{}
	}
	return jobIDs(r.jobs)
}

// applyData is the dispatcher's data: the request body plus the org.
type applyData struct {
	org  string
	body map[string]json.RawMessage
}

type applyMethod func(s *Simulator, devs []*device, data applyData) (*applyResult, *apiError)

func (s *Simulator) dispatcher() map[string]applyMethod {
	return map[string]applyMethod{
		"tunnels":    (*Simulator).applyTunnels,
		"deltunnels": (*Simulator).applyDelTunnels,
		"start":      (*Simulator).applyStart,
		"stop":       (*Simulator).applyStop,
		"reset":      (*Simulator).applyReset,
		"upgrade":    (*Simulator).applyUpgrade,
		"sync":       (*Simulator).applySync,
	}
}

type applyReply struct {
	IDs        []int64   `json:"ids"`
	Status     string    `json:"status"`
	Message    string    `json:"message"`
	ErrorCodes *[]string `json:"errorCodes,omitempty"`
}

func bodyMethod(body map[string]json.RawMessage) string {
	var m string
	if json.Unmarshal(body["method"], &m) != nil {
		return ""
	}
	return m
}

// selectedIDs reads body.devices as flexiManage does: Object.keys of a
// truthy value. ok is false when it is absent or yields no keys.
func selectedIDs(raw json.RawMessage) (keys []string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil
	}
	switch raw[0] {
	case '{':
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) == nil {
			return sortedKeysInOrder(raw, m)
		}
	case '[':
		var a []json.RawMessage
		if json.Unmarshal(raw, &a) == nil {
			for i := range a {
				keys = append(keys, strconv.Itoa(i))
			}
		}
	case '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			for i := range []rune(s) {
				keys = append(keys, strconv.Itoa(i))
			}
		}
	}
	return keys
}

// sortedKeysInOrder returns an object's keys in document order.
func sortedKeysInOrder(raw json.RawMessage, m map[string]json.RawMessage) []string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	var keys []string
	if _, err := dec.Token(); err != nil {
		return sortedKeys(m)
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return sortedKeys(m)
		}
		k, _ := t.(string)
		keys = append(keys, k)
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return sortedKeys(m)
		}
	}
	return keys
}

// postApply serves POST /devices/apply.
func (s *Simulator) postApply(c *call) (reply, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	orgs, aerr := s.orgListLocked(c, true)
	if aerr != nil {
		return reply{}, aerr
	}
	keys := selectedIDs(c.body["devices"])
	want := map[string]bool{}
	for _, k := range keys {
		if aerr := castObjectID(k, "_id", "devices"); aerr != nil {
			return reply{}, aerr
		}
		want[k] = true
	}
	var devs []*device
	for _, d := range s.devices {
		if inList(orgs, d.org) && (len(keys) == 0 || want[d.id]) {
			devs = append(devs, d)
		}
	}
	if len(devs) == 0 {
		return reply{}, svcErr(http.StatusNotFound, "Devices not found")
	}
	fn := s.dispatcher()[bodyMethod(c.body)]
	if fn == nil {
		return reply{}, svcErr(http.StatusInternalServerError, "Apply method not found")
	}
	org := ""
	if len(orgs) > 0 {
		org = orgs[0]
	}
	res, aerr := fn(s, devs, applyData{org: org, body: c.body})
	if aerr != nil {
		return reply{}, aerr
	}
	ids := res.idList()
	if len(ids) > 0 {
		c.header.Set("Location", location(c.r, org, ids))
	}
	return reply{status: http.StatusAccepted, body: applyReply{IDs: ids, Status: res.status, Message: res.message}}, nil
}

// postDeviceApply serves POST /devices/{id}/apply.
func (s *Simulator) postDeviceApply(c *call) (reply, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	orgs, aerr := s.orgListLocked(c, true)
	if aerr != nil {
		return reply{}, aerr
	}
	id := c.params["id"]
	if !objectIDRE.MatchString(strings.ToLower(id)) {
		return reply{}, svcErr(http.StatusInternalServerError, "input must be a 24 character hex string, 12 byte Uint8Array, or an integer")
	}
	d := s.devByID[id]
	if d == nil || !inList(orgs, d.org) {
		return reply{}, svcErr(http.StatusNotFound, "Device not found")
	}
	fn := s.dispatcher()[bodyMethod(c.body)]
	if fn == nil {
		return reply{}, svcErr(http.StatusInternalServerError, "Apply method not found")
	}
	res, aerr := fn(s, []*device{d}, applyData{org: orgs[0], body: c.body})
	if aerr != nil {
		return reply{}, aerr
	}
	ids := res.idList()
	if len(ids) > 0 {
		c.header.Set("Location", location(c.r, orgs[0], ids))
	}
	codes := res.errorCodes
	if codes == nil {
		codes = []string{}
	}
	return reply{status: http.StatusAccepted, body: applyReply{IDs: ids, Status: res.status, Message: res.message, ErrorCodes: &codes}}, nil
}

// jsValue is a decoded JSON value with JavaScript's truthiness and Number().
type jsValue struct{ v any }

func decodeJS(raw json.RawMessage) jsValue {
	if len(bytes.TrimSpace(raw)) == 0 {
		return jsValue{v: undefined{}}
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return jsValue{v: undefined{}}
	}
	return jsValue{v: v}
}

type undefined struct{}

func (j jsValue) isUndefined() bool { _, ok := j.v.(undefined); return ok }

func (j jsValue) truthy() bool {
	switch x := j.v.(type) {
	case undefined, nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case json.Number:
		f, _ := x.Float64()
		return f != 0 && !math.IsNaN(f)
	}
	return true // objects and arrays
}

// number is JavaScript's Number(v).
func (j jsValue) number() float64 {
	switch x := j.v.(type) {
	case undefined:
		return math.NaN()
	case nil:
		return 0
	case bool:
		if x {
			return 1
		}
		return 0
	case string:
		t := strings.TrimSpace(x)
		if t == "" {
			return 0
		}
		f, err := strconv.ParseFloat(t, 64)
		if err != nil {
			return math.NaN()
		}
		return f
	case json.Number:
		f, _ := x.Float64()
		return f
	case []any:
		switch len(x) {
		case 0:
			return 0
		case 1:
			return jsValue{v: x[0]}.number()
		}
	}
	return math.NaN()
}

func (j jsValue) str() (string, bool) {
	s, ok := j.v.(string)
	return s, ok
}

func validOSPFArea(v jsValue) bool {
	if s, ok := v.str(); ok {
		if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
			return true
		}
	}
	n := v.number()
	return !math.IsNaN(n) && n >= 0 && n <= 4294967295 && n == math.Trunc(n)
}

const maxTunnelsPerDevice = 8000
const maxTunnelsPerOrg = 32000

// tunnelTask is one tunnel to create.
type tunnelTask struct {
	a, b   *device
	fa, fb *iface
	label  string
}

// applyTunnels is method "tunnels" (fleximanage/API.md §5.4).
func (s *Simulator) applyTunnels(devs []*device, data applyData) (*applyResult, *apiError) {
	body := data.body
	sel := map[string]bool{}
	if v := decodeJS(body["devices"]); v.truthy() {
		for _, k := range selectedIDs(body["devices"]) {
			sel[k] = true
		}
	}
	var op []*device
	for _, d := range devs {
		if sel[d.id] {
			op = append(op, d)
		}
	}
	metaRaw := bytes.TrimSpace(body["meta"])
	var meta map[string]json.RawMessage
	if len(metaRaw) == 0 || metaRaw[0] != '{' || json.Unmarshal(metaRaw, &meta) != nil {
		if mv := decodeJS(metaRaw); mv.isUndefined() || mv.v == nil {
			return nil, svcErr(500, "Cannot read properties of %s (reading 'tunnelType')", jsNullish(mv))
		}
		meta = map[string]json.RawMessage{}
	}
	if tt, _ := decodeJS(meta["tunnelType"]).str(); tt == "peer" {
		peers := decodeJS(meta["peers"])
		if arr, ok := peers.v.([]any); !ok || len(arr) == 0 {
			return nil, svcErr(500, "Peers identifiers were not specified")
		}
		return &applyResult{status: "completed", message: "No peer tunnel creation jobs added."}, nil
	}
	if len(op) < 2 {
		return nil, svcErr(500, "At least 2 devices must be selected to create tunnels")
	}
	if ns := decodeJS(meta["notificationsSettings"]); ns.truthy() {
		if m, ok := ns.v.(map[string]any); ok && len(m) > 0 {
			return nil, svcErr(500, "Cannot destructure property 'warningThreshold' of 'notificationsSettings[eventType]' as it is undefined.")
		}
	}
	advRaw := bytes.TrimSpace(meta["advancedOptions"])
	adv := decodeJS(advRaw)
	if adv.isUndefined() || adv.v == nil {
		return nil, svcErr(500, "Cannot set properties of %s (setting 'ospfCost')", jsNullish(adv))
	}
	advObj, isObj := adv.v.(map[string]any)
	field := func(k string) jsValue {
		if !isObj {
			return jsValue{v: undefined{}}
		}
		v, ok := advObj[k]
		if !ok {
			return jsValue{v: undefined{}}
		}
		return jsValue{v: v}
	}
	ospfCost := math.NaN()
	if isObj {
		c := field("ospfCost")
		if c.truthy() {
			ospfCost = c.number()
		} else {
			ospfCost = 100
		}
	}
	mtu := field("mtu")
	if !mtu.isUndefined() {
		if s, ok := mtu.str(); !ok || s != "" {
			n := mtu.number()
			if math.IsNaN(n) || n < 500 || n > 1500 {
				return nil, svcErr(500, "MTU value must be between 500 and 1500")
			}
		}
	}
	mss := field("mssClamp")
	if mss.truthy() {
		if s, _ := mss.str(); s != "yes" && s != "no" {
			return nil, svcErr(500, `MSS Clamping must be "yes" or "no"`)
		}
	}
	if math.IsNaN(ospfCost) || ospfCost <= 0 {
		return nil, svcErr(500, "OSPF cost must be a positive numeric value or empty")
	}
	if area := field("ospfArea"); area.truthy() && !validOSPFArea(area) {
		return nil, svcErr(500, "OSPF area must be a valid area")
	}
	topology, _ := decodeJS(meta["topology"]).str()
	if topology != "hubAndSpoke" && topology != "fullMesh" {
		return nil, svcErr(500, "Unknown topology when creating tunnels")
	}
	hubIdx := -1
	if topology == "hubAndSpoke" {
		hub := decodeJS(meta["hub"])
		if !hub.truthy() {
			return nil, svcErr(500, "Hub must be specified for hub and spoke topology")
		}
		hs, _ := hub.str()
		for i, d := range op {
			if d.id == hs {
				hubIdx = i
			}
		}
		if hubIdx < 0 {
			return nil, svcErr(500, "Hub device not found")
		}
	}
	routing, _ := field("routing").str()
	if routing == "bgp" {
		for _, d := range devs {
			if !d.bgpEnabled() {
				return nil, svcErr(500, "BGP is not enabled on all selected devices")
			}
		}
	}
	plRaw := decodeJS(meta["pathLabels"])
	plArr, ok := plRaw.v.([]any)
	if !ok {
		if s, isStr := plRaw.str(); isStr {
			for _, r := range s {
				plArr = append(plArr, string(r))
			}
		} else {
			return nil, svcErr(500, "Cannot read properties of %s (reading 'length')", jsNullish(plRaw))
		}
	}
	specified := map[string]bool{}
	for _, p := range plArr {
		if ps, ok := p.(string); ok {
			specified[ps] = true
		} else {
			specified[fmt.Sprint(p)] = true
		}
	}
	o := s.orgByID[data.org]
	if o == nil {
		return nil, svcErr(500, "Cannot destructure property 'encryptionMethod' of '(intermediate value)' as it is null.")
	}
	if o.encryption != "none" && o.encryption != "ikev2" && o.encryption != "psk" {
		return nil, svcErr(500, "Not supported key exchange method")
	}

	// Everything below creates state; nothing above did.
	storedAdv := advOptions{MSSClamp: "", Routing: ""}
	storedAdv.MTU = rawOrUndefined(field("mtu"))
	if s, ok := mss.str(); ok {
		storedAdv.MSSClamp = s
	}
	storedAdv.OSPFCost = raw(ospfCost)
	storedAdv.OSPFArea = rawOrUndefined(field("ospfArea"))
	storedAdv.Routing = routing

	reasons := newReasonSet()
	tasks := s.planTunnelsLocked(o, op, specified, topology == "hubAndSpoke", hubIdx, reasons)
	now := time.Now()
	if len(tasks) > 1000 {
		for _, tk := range tasks {
			s.createTunnelLocked(o, tk, storedAdv, now)
		}
		msg := "Adding more than 1000 jobs in progress, check the result on the Jobs page."
		if !reasons.empty() {
			msg += " " + reasons.join()
		}
		return &applyResult{untracked: true, status: "unknown", message: msg}, nil
	}
	var jobs []*job
	fulfilled := 0
	for _, tk := range tasks {
		js, err := s.createTunnelLocked(o, tk, storedAdv, now)
		if err != "" {
			reasons.add(err)
			continue
		}
		fulfilled++
		jobs = append(jobs, js...)
	}
	status := "completed"
	if fulfilled < len(tasks) {
		status = "partially completed"
	}
	// flexiManage compares the number of jobs with the number of tunnels.
	msg := "tunnel creation jobs added."
	switch {
	case len(tasks) == 0 || fulfilled == 0:
		msg = "No " + msg
	case len(jobs) < len(tasks):
		msg = fmt.Sprintf("%d of %d %s", len(jobs), len(tasks), msg)
	default:
		msg = fmt.Sprintf("%d %s", len(jobs), msg)
	}
	if !reasons.empty() {
		msg += " " + reasons.join()
	}
	return &applyResult{jobs: jobs, status: status, message: msg}, nil
}

func rawOrUndefined(v jsValue) json.RawMessage {
	if v.isUndefined() {
		return nil
	}
	return raw(v.v)
}

func jsNullish(v jsValue) string {
	if v.v == nil {
		return "null"
	}
	return "undefined"
}

func (d *device) bgpEnabled() bool {
	var b struct {
		Enable bool `json:"enable"`
	}
	_ = json.Unmarshal(d.other["bgp"], &b)
	return b.Enable
}

// reasonSet is a Set of reasons in insertion order.
type reasonSet struct {
	seen  map[string]bool
	order []string
}

func newReasonSet() *reasonSet { return &reasonSet{seen: map[string]bool{}} }

func (r *reasonSet) add(s string) {
	if !r.seen[s] {
		r.seen[s] = true
		r.order = append(r.order, s)
	}
}
func (r *reasonSet) empty() bool  { return len(r.order) == 0 }
func (r *reasonSet) join() string { return strings.Join(r.order, " ") }

type wanCandidate struct {
	f      *iface
	labels []string // label ids; "" stands for a DIA label (null)
}

// wanCandidates are the device's assigned WANs with their label sets; DIA
// labels count as labels but match nothing.
func (s *Simulator) wanCandidatesLocked(d *device) []wanCandidate {
	var out []wanCandidate
	for _, f := range d.ifaces {
		if !f.isWAN() {
			continue
		}
		c := wanCandidate{f: f}
		for _, lid := range f.labels {
			if l := s.labelByID[lid]; l != nil && l.typ == "DIA" {
				c.labels = append(c.labels, "")
			} else {
				c.labels = append(c.labels, lid)
			}
		}
		out = append(out, c)
	}
	return out
}

func tunnelKey(ifcA, ifcB, label string) string { return ifcA + ":" + ifcB + ":" + label }

// planTunnelsLocked pairs devices and interfaces as handleTunnels does and
// returns the tunnels to create.
func (s *Simulator) planTunnelsLocked(o *org, op []*device, specified map[string]bool, hubAndSpoke bool, hubIdx int, reasons *reasonSet) []tunnelTask {
	inOp := map[string]bool{}
	for _, d := range op {
		inOp[d.id] = true
	}
	labeled := len(specified) > 0
	perDevice := map[string]int{}
	exists := map[string]bool{}
	for _, t := range s.tunnels {
		if !t.active || t.org != o.id || (t.label != "") != labeled || (!inOp[t.devA] && !inOp[t.devB]) {
			continue
		}
		perDevice[t.devA]++
		perDevice[t.devB]++
		exists[tunnelKey(t.ifcA, t.ifcB, t.label)] = true
	}
	all := specified["FFFFFF"]
	var tasks []tunnelTask
	aStart, aStop := 0, len(op)-1
	if hubAndSpoke {
		aStart, aStop = hubIdx, hubIdx+1
	}
	for ia := aStart; ia < aStop; ia++ {
		bStart := 0
		if !hubAndSpoke {
			bStart = ia + 1
		}
		for ib := bStart; ib < len(op); ib++ {
			if ia == ib {
				continue
			}
			da, db := op[ia], op[ib]
			if majorOf(da.versions.router) != majorOf(db.versions.router) {
				reasons.add("Router version mismatch for some devices.")
				continue
			}
			if o.encryption == "none" {
				ok := true
				for _, d := range []*device{da, db} {
					if majorOf(d.versions.agent) < 4 {
						reasons.add("None encryption method not supported on some of devices.")
						ok = false
					}
				}
				if !ok {
					continue
				}
			}
			if o.encryption == "ikev2" {
				ok := true
				for _, d := range []*device{da, db} {
					if !d.ikev2 || majorOf(d.versions.agent) < 4 {
						reasons.add("Device certificate is missing or expired on some of devices.")
						ok = false
					}
				}
				if !ok {
					continue
				}
			}
			wa, wb := s.wanCandidatesLocked(da), s.wanCandidatesLocked(db)
			if len(wa) == 0 || len(wb) == 0 {
				reasons.add("Some devices have no valid WAN interfaces.")
				continue
			}
			found := false
			add := func(ca, cb wanCandidate, lbl string) {
				if exists[tunnelKey(ca.f.id, cb.f.id, lbl)] || exists[tunnelKey(cb.f.id, ca.f.id, lbl)] {
					reasons.add("Some tunnels exist already.")
					return
				}
				if perDevice[da.id] > maxTunnelsPerDevice-1 || perDevice[db.id] > maxTunnelsPerDevice-1 {
					reasons.add(fmt.Sprintf("Exceeded limit of %d tunnels per device.", maxTunnelsPerDevice))
					return
				}
				perDevice[da.id]++
				perDevice[db.id]++
				tasks = append(tasks, tunnelTask{a: da, b: db, fa: ca.f, fb: cb.f, label: lbl})
			}
			for _, ca := range wa {
				for _, cb := range wb {
					if !labeled {
						found = true
						if len(ca.labels) == 0 && len(cb.labels) == 0 {
							add(ca, cb, "")
						} else {
							reasons.add("No Path Labels specified but some devices have interfaces with Path Labels.")
						}
						continue
					}
					for _, la := range ca.labels {
						if la == "" || !contains(cb.labels, la) {
							continue
						}
						if !all && !specified[la] {
							continue
						}
						found = true
						add(ca, cb, la)
					}
				}
			}
			if !found {
				reasons.add("Some devices have interfaces without specified Path Labels.")
			}
		}
	}
	return tasks
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// createTunnelLocked stores one tunnel and queues its two jobs. A pending
// tunnel gets no jobs and returns flexiManage's rejection text.
func (s *Simulator) createTunnelLocked(o *org, tk tunnelTask, adv advOptions, now time.Time) ([]*job, string) {
	reuse := o.inactiveTunnels > 0
	if !reuse && o.nextTunnelNum >= maxTunnelsPerOrg-1 {
		return nil, "Failed to get a new tunnel number"
	}
	t := s.newTunnelLocked(o, tk.a, tk.b, tk.fa, tk.fb, tk.label, adv, now)
	if t.pending {
		return nil, fmt.Sprintf("Tunnel #%d set as pending - %s", t.num, t.pendingReason)
	}
	return s.queueTunnelJobsLocked(t, true), ""
}

// queueTunnelJobsLocked queues the add-tunnel (add) or remove-tunnel jobs of
// t on both of its devices.
func (s *Simulator) queueTunnelJobsLocked(t *tunnel, add bool) []*job {
	da, db := s.devByID[t.devA], s.devByID[t.devB]
	if da == nil || db == nil {
		return nil
	}
	fa, fb := da.ifaceByID(t.ifcA), db.ifaceByID(t.ifcB)
	nameA, nameB := "", ""
	if fa != nil {
		nameA = fa.name
	}
	if fb != nil {
		nameB = fb.name
	}
	verb, method, msg := "Create", "tunnels", "add-tunnel"
	if !add {
		verb, method, msg = "Delete", "deltunnels", "remove-tunnel"
	}
	title := fmt.Sprintf("%s tunnel between (%s,%s) and (%s,%s)", verb, da.hostname, nameA, db.hostname, nameB)
	var labelRef any
	if t.label != "" {
		labelRef = t.label
	}
	var out []*job
	for _, side := range []struct {
		d      *device
		target string
	}{{da, "deviceAconf"}, {db, "deviceBconf"}} {
		params := map[string]any{"tunnel-id": t.num}
		if add {
			params = s.addTunnelParamsLocked(t, side.target == "deviceAconf")
		}
		resp := map[string]any{"username": jobUsername, "org": t.org, "tunnelId": t.num, "deviceA": t.devA, "deviceB": t.devB, "pathlabel": labelRef, "target": side.target}
		num, org, target := t.num, t.org, side.target
		var effect func(bool)
		if add {
			effect = func(ok bool) {
				if !ok {
					return // errorTunnelAdd only logs: the tunnel stays half-configured
				}
				for _, x := range s.tunnels {
					if x.org == org && x.num == num {
						if target == "deviceAconf" {
							x.aConf = true
						} else {
							x.bConf = true
						}
					}
				}
			}
		}
		j := s.enqueueLocked(side.d, title, []jobTask{{Entity: "agent", Message: msg, Params: params}}, method, resp, effect)
		out = append(out, j)
	}
	return out
}

func (s *Simulator) addTunnelParamsLocked(t *tunnel, sideA bool) map[string]any {
	o := s.orgByID[t.org]
	ipA, ipB := tunnelParams(t.num, o.tunnelRange)
	h := (t.num%127 + 1) * 2
	l := t.num / 127
	da, db := s.devByID[t.devA], s.devByID[t.devB]
	fa, fb := da.ifaceByID(t.ifcA), db.ifaceByID(t.ifcB)
	src, dst, addr, mac := fa, fb, ipA, fmt.Sprintf("02:00:27:fd:%02x:%02x", l&0xff, h&0xff)
	if !sideA {
		src, dst, addr, mac = fb, fa, ipB, fmt.Sprintf("02:00:27:fd:%02x:%02x", l&0xff, (h+1)&0xff)
	}
	p := map[string]any{
		"src": ifaceIP(src), "dst": ifaceIP(dst), "dstPort": o.vxlanPort, "tunnel-id": t.num,
		"dev_id":         devIDOf(src),
		"loopback-iface": map[string]any{"addr": addr + "/31", "mac": mac, "mtu": 1500, "routing": t.adv.Routing},
	}
	if t.keys != nil {
		a, b := map[string]any{"spi": l*256 + h, "crypto-key": t.keys[0], "integr-key": t.keys[1], "crypto-alg": "aes-cbc-128", "integr-alg": "sha-256-128"},
			map[string]any{"spi": l*256 + h + 1, "crypto-key": t.keys[2], "integr-key": t.keys[3], "crypto-alg": "aes-cbc-128", "integr-alg": "sha-256-128"}
		if sideA {
			p["ipsec"] = map[string]any{"local-sa": a, "remote-sa": b}
		} else {
			p["ipsec"] = map[string]any{"local-sa": b, "remote-sa": a}
		}
	}
	return p
}

func ifaceIP(f *iface) string {
	if f == nil {
		return ""
	}
	return f.ipv4
}

func devIDOf(f *iface) string {
	if f == nil {
		return ""
	}
	return f.devID
}

// applyDelTunnels is method "deltunnels" (fleximanage/API.md §5.5).
func (s *Simulator) applyDelTunnels(devs []*device, data applyData) (*applyResult, *apiError) {
	body := data.body
	var sel []*tunnel
	tv := decodeJS(body["tunnels"])
	fv := decodeJS(body["filters"])
	switch {
	case tv.truthy():
		keys := selectedIDs(body["tunnels"])
		want := map[string]bool{}
		for _, k := range keys {
			if aerr := castObjectID(k, "_id", "tunnels"); aerr != nil {
				return nil, aerr
			}
			want[k] = true
		}
		for _, t := range s.tunnels {
			if t.active && t.org == data.org && want[t.id] {
				sel = append(sel, t)
			}
		}
		if len(sel) != len(want) {
			return nil, svcErr(500, "Some tunnels were not found, try refresh and delete again")
		}
	case fv.truthy():
		fs := ""
		if str, ok := fv.str(); ok {
			fs = str
		} else {
			fs = string(body["filters"])
		}
		flt, aerr := parseFilters(fs)
		if aerr != nil {
			return nil, aerr
		}
		for _, t := range s.tunnels {
			if !t.active || t.org != data.org {
				continue
			}
			ok := true
			if flt != nil {
				var aerr *apiError
				ok, aerr = flt.match(s.renderTunnelLocked(t, false))
				if aerr != nil {
					return nil, aerr
				}
			}
			if ok {
				sel = append(sel, t)
			}
		}
	default:
		return nil, svcErr(500, "Cannot read properties of undefined (reading 'length')")
	}
	if len(devs) == 0 || len(sel) == 0 {
		return nil, svcErr(500, "Delete tunnels failed. No tunnels' ids provided or no devices found")
	}
	o := s.orgByID[data.org]
	reasons := newReasonSet()
	var jobs []*job
	fulfilled := 0
	for _, t := range sel {
		if blocked := s.routeViaTunnelLocked(t, o); blocked {
			reasons.add("Some static routes defined via removed tunnel, please remove static routes first")
			continue
		}
		wasPending := t.pending
		t.active = false
		o.inactiveTunnels++
		t.aConf, t.bConf = false, false
		t.status = "down"
		t.keys = nil
		t.updatedAt = time.Now()
		if wasPending {
			reasons.add("Tunnel was in pending state")
			continue
		}
		js := s.queueTunnelJobsLocked(t, false)
		if len(js) > 0 {
			fulfilled++
		}
		jobs = append(jobs, js...)
	}
	if len(sel) > 1000 {
		return &applyResult{untracked: true, status: "unknown", message: "More than 1000 jobs in progress, check the result on the Jobs page."}, nil
	}
	status := "completed"
	if fulfilled < len(sel) {
		status = "partially completed"
	}
	msg := "tunnel deletion jobs added."
	switch {
	case fulfilled == 0:
		msg = "No " + msg
	case len(jobs) < len(sel):
		msg = fmt.Sprintf("%d of %d %s", len(jobs), len(sel), msg)
	default:
		msg = fmt.Sprintf("%d %s", len(jobs), msg)
	}
	if !reasons.empty() {
		msg += " " + reasons.join()
	}
	return &applyResult{jobs: jobs, status: status, message: msg}, nil
}

// routeViaTunnelLocked: does a static route on either end use the tunnel's
// loopback addresses as its gateway?
func (s *Simulator) routeViaTunnelLocked(t *tunnel, o *org) bool {
	ipA, ipB := tunnelParams(t.num, o.tunnelRange)
	for _, id := range []string{t.devA, t.devB} {
		d := s.devByID[id]
		if d == nil {
			continue
		}
		for _, r := range d.routes {
			if r.gateway == ipA || r.gateway == ipB {
				return true
			}
		}
	}
	return false
}

func plural(n int, word string) string {
	if n > 1 {
		return word + "s"
	}
	return word
}

// applyStart is method "start": validate each device as running, queue a
// start-router job on those that pass.
func (s *Simulator) applyStart(devs []*device, data applyData) (*applyResult, *apiError) {
	var jobs []*job
	var errs []string
	for _, d := range devs {
		if msg := s.validateRunnableLocked(d); msg != "" {
			if !contains(errs, msg) {
				errs = append(errs, msg)
			}
			continue
		}
		d.state = "pending"
		dev := d
		jobs = append(jobs, s.enqueueLocked(d, "Start device "+d.hostname, []jobTask{{Entity: "agent", Message: "start-router", Params: map[string]any{}}},
			"start", map[string]any{"device": d.id, "org": data.org}, func(ok bool) {
				if ok {
					dev.state = "running"
				} else {
					dev.state = "stopped"
				}
			}))
	}
	if len(jobs) < len(devs) {
		return &applyResult{jobs: jobs, status: "partially completed", errorCodes: []string{},
			message: fmt.Sprintf("Warning: %d of %d start device jobs added. Some devices have following errors: %s", len(jobs), len(devs), strings.Join(errs, ". "))}, nil
	}
	return &applyResult{jobs: jobs, status: "completed", message: "Start device " + plural(len(devs), "job") + " added successfully"}, nil
}

// validateRunnableLocked is the part of validateDevice(isRunning) that start
// applies: interfaces and addresses fit for a running router.
func (s *Simulator) validateRunnableLocked(d *device) string {
	if len(d.ifaces) < 2 {
		return "There should be at least two interfaces"
	}
	lan, wan := false, false
	assigned := 0
	for _, f := range d.ifaces {
		if !f.assigned {
			continue
		}
		assigned++
		lan = lan || f.typ == "LAN"
		wan = wan || f.typ == "WAN"
	}
	if assigned < 2 || !lan || !wan {
		return "There should be at least one LAN and one WAN interfaces"
	}
	for _, f := range d.ifaces {
		if f.assigned && f.dhcp != "yes" && f.typ != "TRUNK" && f.ipv4 == "" {
			return fmt.Sprintf("[%s]: Interface does not have an IPv4 address", f.name)
		}
	}
	return ""
}

// applyStop is method "stop": no checks, one stop-router job per device.
func (s *Simulator) applyStop(devs []*device, data applyData) (*applyResult, *apiError) {
	var jobs []*job
	for _, d := range devs {
		d.state = "pending"
		dev := d
		prev := "running"
		jobs = append(jobs, s.enqueueLocked(d, "Stop device "+d.hostname, []jobTask{{Entity: "agent", Message: "stop-router", Params: map[string]any{}}},
			"stop", map[string]any{"device": d.id, "org": data.org}, func(ok bool) {
				if ok {
					dev.state = "stopped"
				} else {
					dev.state = prev
				}
			}))
	}
	return &applyResult{jobs: jobs, status: "completed", message: "Stop device " + plural(len(devs), "job") + " added successfully"}, nil
}

// applyReset is method "reset".
func (s *Simulator) applyReset(devs []*device, data applyData) (*applyResult, *apiError) {
	var jobs []*job
	for _, d := range devs {
		prev := d.state
		d.state = "pending"
		dev := d
		jobs = append(jobs, s.enqueueLocked(d, "Reset device "+d.hostname, []jobTask{{Entity: "agent", Message: "reset-device"}},
			"reset", map[string]any{"device": d.id, "org": data.org}, func(bool) { dev.state = prev }))
	}
	return &applyResult{jobs: jobs, status: "completed", message: "Reset device " + plural(len(devs), "job") + " added successfully"}, nil
}

// applyUpgrade is method "upgrade": every device gets an upgrade to the
// latest version, whatever it runs now. The simulated device reports its new
// versions when the job completes.
func (s *Simulator) applyUpgrade(devs []*device, data applyData) (*applyResult, *apiError) {
	target := s.latestVersion
	mm := strings.Join(strings.SplitN(target, ".", 3)[:min(2, len(strings.SplitN(target, ".", 3)))], ".")
	var jobs []*job
	for _, d := range devs {
		prev := d.state
		if prev == "pending" || prev == "" {
			prev = "running"
		}
		d.state = "pending"
		if mm == "6.1" || mm == "6.2" {
			jobs = append(jobs, s.enqueueLocked(d, "Pre Upgrade Tasks "+d.hostname,
				[]jobTask{{Entity: "agent", Message: "exec_timeout", Params: map[string]any{"cmd": "pre-upgrade", "timeout": 60}}}, "", nil, nil))
		}
		dev := d
		j := s.enqueueLocked(d, "Upgrade device "+d.hostname, []jobTask{{Entity: "agent", Message: "upgrade-device-sw", Params: map[string]any{"version": target}}},
			"upgrade", map[string]any{"device": d.id, "org": data.org}, func(ok bool) {
				dev.upgradeQueued = false
				dev.state = prev
				if ok {
					dev.versions.agent, dev.versions.router, dev.versions.device = target, target, target
				}
			})
		j.remove = func() { dev.upgradeQueued = false }
		jobs = append(jobs, j)
		d.upgradeQueued = true
	}
	return &applyResult{jobs: jobs, status: "completed", message: ""}, nil
}

// applySync is method "sync": only the first device; its full-sync job
// re-sends every active tunnel, which repairs half-configured ones.
func (s *Simulator) applySync(devs []*device, data applyData) (*applyResult, *apiError) {
	d := devs[0]
	if !d.approved {
		return nil, svcErr(500, "Sync device failed, please approve device first")
	}
	d.sync.state, d.sync.autoSync, d.sync.trials = "syncing", "on", 0
	for _, t := range s.tunnels {
		if t.active && t.pending && (t.devA == d.id || t.devB == d.id) {
			s.reactivatePendingLocked(t)
		}
	}
	dev := d
	j := s.enqueueLocked(d, "Sync device "+d.hostname, []jobTask{{Entity: "agent", Message: "sync-device", Params: map[string]any{"requests": []any{}}}},
		"sync", map[string]any{"handlers": map[string]any{}, "machineId": d.machineID}, func(ok bool) {
			if !ok {
				return
			}
			dev.sync.hash = ""
			dev.sync.state = "synced"
			for _, t := range s.tunnels {
				if !t.active || t.pending {
					continue
				}
				if t.devA == dev.id {
					t.aConf = true
				}
				if t.devB == dev.id {
					t.bConf = true
				}
			}
		})
	return &applyResult{jobs: []*job{j}, status: "completed", message: ""}, nil
}

// reactivatePendingLocked clears a pending tunnel whose interfaces now have
// addresses.
func (s *Simulator) reactivatePendingLocked(t *tunnel) {
	da, db := s.devByID[t.devA], s.devByID[t.devB]
	if da == nil || db == nil {
		return
	}
	fa, fb := da.ifaceByID(t.ifcA), db.ifaceByID(t.ifcB)
	if fa == nil || fb == nil || fa.ipv4 == "" || fb.ipv4 == "" {
		return
	}
	t.pending, t.pendingType, t.pendingReason, t.pendingTime = false, "", "", time.Time{}
}
