package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// putError is a PUT /devices/{id} error: its data is null.
func putError(status int, format string, args ...any) *apiError {
	e := svcErr(status, format, args...)
	e.nullData = true
	return e
}

// typeErr mimics the TypeError a JavaScript service throws on a body of the
// wrong shape (500).
func typeErr(prop string) *apiError {
	return putError(http.StatusInternalServerError, "Cannot read properties of undefined (reading '%s')", prop)
}

// parsedIface is one interface of a PUT body.
type parsedIface struct {
	f       *iface
	fields  map[string]json.RawMessage
	hasLbls bool
	origIdx int // index in the stored device, -1 for new
}

func objectOf(r json.RawMessage) (map[string]json.RawMessage, bool) {
	r = bytes.TrimSpace(r)
	if len(r) == 0 || r[0] != '{' {
		return nil, false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(r, &m) != nil {
		return nil, false
	}
	return m, true
}

func arrayOf(r json.RawMessage) ([]json.RawMessage, bool) {
	r = bytes.TrimSpace(r)
	if len(r) == 0 || r[0] != '[' {
		return nil, false
	}
	var a []json.RawMessage
	if json.Unmarshal(r, &a) != nil {
		return nil, false
	}
	return a, true
}

func boolField(m map[string]json.RawMessage, k string) (v, present, ok bool) {
	r, has := m[k]
	if !has || bytes.Equal(bytes.TrimSpace(r), []byte("null")) {
		return false, false, true
	}
	if json.Unmarshal(r, &v) == nil {
		return v, true, true
	}
	var s string
	if json.Unmarshal(r, &s) == nil && (s == "true" || s == "false") {
		return s == "true", true, true
	}
	return false, true, false
}

// putDevice serves PUT /devices/{id}: the whole device is replaced from the
// body, after flexiManage's checks, in flexiManage's order. Nothing changes
// unless every check passes.
func (s *Simulator) putDevice(c *call) (reply, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	orgs, aerr := s.orgListLocked(c, true)
	if aerr != nil {
		aerr.nullData = true
		return reply{}, aerr
	}
	if aerr := castObjectID(c.params["id"], "_id", "devices"); aerr != nil {
		aerr.nullData = true
		return reply{}, aerr
	}
	orig := s.devByID[c.params["id"]]
	if orig == nil || !inList(orgs, orig.org) {
		return reply{}, putError(http.StatusNotFound, "Device not found")
	}
	body := c.body

	name, hasName, ok := strField(body, "name")
	if _, present := body["name"]; present && (!ok || !decodeJS(body["name"]).truthy()) {
		return reply{}, putError(500, "Device name must be set")
	}
	if !hasName && orig.name == "" {
		return reply{}, putError(500, "Device name must be set")
	}
	approve, _, _ := boolField(body, "isApproved")
	if !orig.approved && !approve {
		return reply{}, putError(http.StatusBadRequest, "Device must be first approved")
	}

	ifRaw, ok := arrayOf(body["interfaces"])
	if !ok {
		return reply{}, typeErr("length")
	}
	// First loop over the body's interfaces: shape and labels.
	var parsed []*parsedIface
	foreignLabel := false
	for _, r := range ifRaw {
		m, ok := objectOf(r)
		if !ok {
			return reply{}, typeErr("devId")
		}
		pf, aerr := s.parseIfaceLocked(orig, m)
		if aerr != nil {
			return reply{}, aerr
		}
		for _, lid := range pf.f.labels {
			if l := s.labelByID[lid]; l == nil || l.org != orig.org {
				foreignLabel = true
			}
		}
		parsed = append(parsed, pf)
	}
	if foreignLabel {
		return reply{}, putError(http.StatusBadRequest, "Not allowed to assign path labels of a different organization")
	}
	byDevID := map[string]*parsedIface{}
	for _, p := range parsed {
		byDevID[p.f.devID] = p
	}
	routesRaw, routesGiven := arrayOf(body["staticroutes"])
	// Loop over the stored interfaces: removals and unassignments.
	for _, of := range orig.ifaces {
		p := byDevID[of.devID]
		if p == nil && !of.isVLAN() {
			return reply{}, putError(http.StatusBadRequest, "Not allowed to remove interfaces")
		}
		if !of.assigned {
			continue
		}
		kind := ""
		switch {
		case p == nil:
			kind = "Removed"
		case !p.f.assigned:
			kind = "Unassigned"
		case p.f.typ != "LAN" && p.f.typ != "WAN":
			kind = p.f.typ
		}
		if kind != "" && routesGiven {
			for _, rr := range routesRaw {
				m, _ := objectOf(rr)
				if ifn, _, _ := strField(m, "ifname"); ifn == of.devID {
					return reply{}, putError(500, "%s interface %s used by existing static routes, please delete related static routes before", kind, of.name)
				}
			}
		}
		if kind == "" && p.f.typ != "WAN" {
			kind = p.f.typ
		}
		if kind != "" && s.ifaceHasTunnelLocked(orig, of) {
			return reply{}, putError(500, "%s interface %s used by existing tunnels, please delete related tunnels before", kind, of.name)
		}
	}
	// Second loop over the body's interfaces: label removals, additions, shape.
	for _, p := range parsed {
		of := orig.ifaceByDevID(p.f.devID)
		if of == nil {
			if p.f.parentDevID == "" {
				return reply{}, putError(http.StatusBadRequest, "Not allowed to add interfaces")
			}
		} else if p.f.assigned {
			for _, lid := range of.labels {
				if !contains(p.f.labels, lid) && s.labelUsedOnIfaceLocked(orig, of, lid) {
					return reply{}, putError(http.StatusBadRequest, "Removed label used by existing tunnels, please delete related tunnels before")
				}
			}
		}
		if _, ok := objectOf(p.fields["ospf"]); !ok {
			return reply{}, typeErr("keyId")
		}
		if p.f.assigned && p.f.typ == "WAN" {
			servers, ok1 := arrayOf(p.fields["dnsServers"])
			if _, ok2 := arrayOf(p.fields["dnsDomains"]); !ok1 || !ok2 {
				return reply{}, typeErr("length")
			}
			useDHCPDNS, _, _ := boolField(p.fields, "useDhcpDnsServers")
			if len(servers) == 0 && (p.f.dhcp != "yes" || !useDHCPDNS) {
				return reply{}, putError(http.StatusBadRequest, "DNS ip address is required for %s", p.f.name)
			}
		}
		if p.f.typ == "LAN" && !p.hasLbls {
			return reply{}, typeErr("length")
		}
	}
	// DHCP.
	var dhcp []*dhcpEntry
	if dr, given := body["dhcp"]; given {
		list, ok := arrayOf(dr)
		if !ok {
			return reply{}, typeErr("length")
		}
		seen := map[string]bool{}
		for _, r := range list {
			m, ok := objectOf(r)
			if !ok {
				return reply{}, typeErr("interface")
			}
			e, aerr := s.parseDHCPLocked(orig, parsedIfaces(parsed), m, true)
			if aerr != nil {
				aerr.nullData = true
				return reply{}, aerr
			}
			if seen[e.iface] {
				return reply{}, putError(500, "Multiple DHCP for the same interface not allowed")
			}
			seen[e.iface] = true
			dhcp = append(dhcp, e)
		}
	} else {
		dhcp = orig.dhcp
	}
	// Static routes.
	var routes []*route
	if routesGiven {
		seen := map[string]bool{}
		for i, r := range routesRaw {
			m, ok := objectOf(r)
			if !ok {
				return reply{}, typeErr("gateway")
			}
			rt, aerr := s.parseRouteLocked(orig, parsedIfaces(parsed), m, i, http.StatusBadRequest)
			if aerr != nil {
				aerr.nullData = true
				return reply{}, aerr
			}
			k := rt.destination + " via " + rt.gateway
			if seen[k] {
				return reply{}, putError(http.StatusBadRequest, "Duplicated static routes detected: %s", k)
			}
			seen[k] = true
			routes = append(routes, rt)
		}
	} else {
		routes = orig.routes
	}
	// validateDevice.
	running := orig.state == "running" && orig.connected
	if msg := s.validateDeviceLocked(parsedIfaces(parsed), running); msg != "" {
		return reply{}, putError(http.StatusBadRequest, "%s", msg)
	}
	if hasName && !deviceNmRE.MatchString(name) {
		return reply{}, putError(500, "Validation failed: name: Device name format is invalid")
	}

	// Every check passed: build the new device and commit.
	upd := *orig
	upd.ifaces = parsedIfaces(parsed)
	upd.routes, upd.dhcp = routes, dhcp
	if hasName {
		upd.name = name
	}
	if v, has, ok := strField(body, "description"); has && ok {
		upd.description = v
	}
	if v, has, ok := strField(body, "site"); has && ok {
		upd.site = v
	}
	upd.other = map[string]json.RawMessage{}
	for k, v := range orig.other {
		upd.other[k] = v
	}
	for _, k := range []string{"ospf", "bgp", "firewall", "routingFilters", "advancedRouting", "coords", "labels", "policies"} {
		if v, has := body[k]; has {
			upd.other[k] = v
		}
	}
	if vr, ok := objectOf(body["versions"]); ok {
		for k, dst := range map[string]*string{"agent": &upd.versions.agent, "router": &upd.versions.router, "device": &upd.versions.device, "vpp": &upd.versions.vpp, "frr": &upd.versions.frr} {
			if v, has, ok := strField(vr, k); has && ok {
				*dst = v
			}
		}
	}
	if approve {
		upd.approved = true
	}
	wasApproved := orig.approved
	tasks := s.modifyTasksLocked(orig, &upd)
	*orig = upd
	return s.finishPutLocked(c, orig, tasks, !wasApproved)
}

func parsedIfaces(ps []*parsedIface) []*iface {
	out := make([]*iface, len(ps))
	for i, p := range ps {
		out[i] = p.f
	}
	return out
}

// parseIfaceLocked reads one interface of a PUT body. Members the simulator
// does not model are kept as sent.
func (s *Simulator) parseIfaceLocked(orig *device, m map[string]json.RawMessage) (*parsedIface, *apiError) {
	f := &iface{other: map[string]json.RawMessage{}}
	p := &parsedIface{f: f, fields: m, origIdx: -1}
	strs := []struct {
		key string
		dst *string
	}{{"_id", &f.id}, {"devId", &f.devID}, {"parentDevId", &f.parentDevID}, {"vlanTag", &f.vlanTag}, {"name", &f.name},
		{"type", &f.typ}, {"dhcp", &f.dhcp}, {"IPv4", &f.ipv4}, {"IPv4Mask", &f.ipv4Mask}, {"gateway", &f.gateway},
		{"metric", &f.metric}, {"PublicIP", &f.publicIP}, {"PublicPort", &f.publicPort}, {"routing", &f.routing}}
	for _, sf := range strs {
		v, _, ok := strField(m, sf.key)
		if !ok {
			return nil, putError(500, "Validation failed: interfaces.%s: Cast to string failed", sf.key)
		}
		*sf.dst = v
	}
	f.typ = strings.ToUpper(f.typ)
	assigned, _, ok := boolField(m, "isAssigned")
	if !ok {
		return nil, putError(500, "Validation failed: interfaces.isAssigned: Cast to Boolean failed")
	}
	f.assigned = assigned
	if f.metric == "" {
		f.metric = "0"
	}
	if of := orig.ifaceByDevID(f.devID); of != nil && f.id == "" {
		// Dropping _id gives the interface a new id: tunnels pointing at
		// the old one no longer find it.
		f.id = s.ids.next()
	} else if f.id == "" {
		f.id = s.ids.next()
	} else if aerr := castObjectID(f.id, "interfaces._id", "devices"); aerr != nil {
		aerr.nullData = true
		return nil, aerr
	}
	if pr, has := m["pathlabels"]; has && !bytes.Equal(bytes.TrimSpace(pr), []byte("null")) {
		list, ok := arrayOf(pr)
		if !ok {
			return nil, typeErr("length")
		}
		p.hasLbls = true
		for _, lr := range list {
			lm, ok := objectOf(lr)
			if !ok {
				return nil, putError(500, "Cannot read properties of undefined (reading 'toString')")
			}
			id, has, ok := strField(lm, "_id")
			if !has || !ok {
				return nil, putError(500, "Cannot read properties of undefined (reading 'toString')")
			}
			f.labels = append(f.labels, id)
		}
	}
	for k, v := range m {
		if !ifaceCore[k] {
			f.other[k] = v
		}
	}
	return p, nil
}

func (s *Simulator) ifaceHasTunnelLocked(d *device, f *iface) bool {
	for _, t := range s.tunnels {
		if t.active && ((t.devA == d.id && t.ifcA == f.id) || (t.devB == d.id && t.ifcB == f.id)) {
			return true
		}
	}
	return false
}

func (s *Simulator) labelUsedOnIfaceLocked(d *device, f *iface, lid string) bool {
	for _, t := range s.tunnels {
		if t.active && t.label == lid && ((t.devA == d.id && t.ifcA == f.id) || (t.devB == d.id && t.ifcB == f.id)) {
			return true
		}
	}
	return false
}

// validateDeviceLocked is flexiManage's validateDevice for a PUT body.
func (s *Simulator) validateDeviceLocked(ifs []*iface, running bool) string {
	if len(ifs) < 2 {
		return "There should be at least two interfaces"
	}
	if running {
		lan, wan, n := false, false, 0
		for _, f := range ifs {
			if f.assigned {
				n++
				lan = lan || f.typ == "LAN"
				wan = wan || f.typ == "WAN"
			}
		}
		if n < 2 || !lan || !wan {
			return "There should be at least one LAN and one WAN interfaces"
		}
	}
	for _, f := range ifs {
		if !f.assigned {
			continue
		}
		if m, err := strconv.Atoi(f.metric); err == nil && m >= 2000000000 {
			return "Metric should be lower than 2000000000"
		}
	}
	for _, f := range ifs {
		if !f.assigned {
			continue
		}
		if f.typ != "WAN" && f.typ != "LAN" && f.typ != "TRUNK" {
			return fmt.Sprintf("Invalid interface type for %s: %s", f.name, f.typ)
		}
		if f.dhcp != "yes" && f.typ != "TRUNK" {
			if msg := ipProblem(f); msg != "" {
				return fmt.Sprintf("[%s]: %s", f.name, msg)
			}
		}
		switch f.typ {
		case "LAN":
			if len(f.labels) > 0 {
				return "Path Labels are not allowed on LAN interfaces"
			}
			if f.dhcp != "yes" && f.gateway != "" {
				return "LAN interfaces should not be assigned a default GW"
			}
		case "WAN":
			if f.routing == "OSPF" {
				return "OSPF should not be configured on WAN interface"
			}
			if f.dhcp != "yes" {
				if a, err := netip.ParseAddr(f.gateway); err != nil || !a.Is4() {
					return "All WAN interfaces should be assigned a default GW"
				}
			}
		}
	}
	// Overlapping subnets between assigned interfaces (identical LAN
	// subnets are bridges and allowed).
	for i, a := range ifs {
		pa, ok := a.subnet()
		if !a.assigned || !ok {
			continue
		}
		for _, b := range ifs[i+1:] {
			pb, ok := b.subnet()
			if !b.assigned || !ok {
				continue
			}
			if a.typ == "LAN" && b.typ == "LAN" && pa == pb {
				continue
			}
			if pa.Overlaps(pb) {
				return "IP addresses of the assigned interfaces have an overlap"
			}
		}
	}
	var metrics []string
	seenUnassigned := map[string]bool{}
	for _, f := range ifs {
		switch {
		case f.assigned && f.typ == "WAN":
			metrics = append(metrics, normMetric(f.metric))
		case !f.assigned && f.gateway != "" && !seenUnassigned[normMetric(f.metric)]:
			seenUnassigned[normMetric(f.metric)] = true
			metrics = append(metrics, normMetric(f.metric))
		}
	}
	sort.Strings(metrics)
	for i := 1; i < len(metrics); i++ {
		if metrics[i] == metrics[i-1] {
			return "Duplicated metrics are not allowed on WAN interfaces"
		}
	}
	seen := map[string]bool{}
	for _, f := range ifs {
		if !f.isWAN() {
			continue
		}
		for _, l := range f.labels {
			if seen[l] {
				return "Setting the same path label on multiple WAN interfaces is not allowed"
			}
			seen[l] = true
		}
	}
	return ""
}

func normMetric(m string) string {
	f, err := strconv.ParseFloat(strings.TrimSpace(m), 64)
	if err != nil {
		return "NaN:" + m
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

func ipProblem(f *iface) string {
	if f.ipv4 == "" {
		return "Interface does not have an IPv4 address"
	}
	if f.ipv4Mask == "" {
		return "Interface does not have an IPv4 mask"
	}
	a, err := netip.ParseAddr(f.ipv4)
	if err != nil || !a.Is4() {
		return fmt.Sprintf("IPv4 address %s/%s is not valid", f.ipv4, f.ipv4Mask)
	}
	bits, err := strconv.Atoi(f.ipv4Mask)
	if err != nil || bits < 0 || bits > 32 {
		return fmt.Sprintf("IPv4 mask %s/%s is not valid", f.ipv4, f.ipv4Mask)
	}
	if bits < 31 {
		p := netip.PrefixFrom(a, bits).Masked()
		if a == p.Addr() || a == lastAddr(p) {
			return fmt.Sprintf("IP (%s/%s) cannot be Local or Broadcast address", f.ipv4, f.ipv4Mask)
		}
	}
	return ""
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n |= (1<<(32-p.Bits()) - 1)
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// deviceVisible is what of an assigned interface reaches the device in a
// modify job. Tunnel-type path labels do not (only DIA labels do), nor do
// the name or the public address alone.
func (s *Simulator) deviceVisibleLocked(f *iface) string {
	var dia []string
	for _, lid := range f.labels {
		if l := s.labelByID[lid]; l != nil && l.typ == "DIA" {
			dia = append(dia, lid)
		}
	}
	sort.Strings(dia)
	other := map[string]json.RawMessage{}
	for k, v := range f.other {
		switch k {
		case "internetAccess", "linkStatus", "useFixedPublicPort", "locked", "driver", "MAC", "isPublicAddressRateLimited":
			continue
		}
		other[k] = compactJSON(v)
	}
	v := []any{f.devID, f.parentDevID, f.dhcp, f.ipv4, f.ipv4Mask, f.typ, f.assigned, dia, f.routing, other}
	if f.typ == "WAN" {
		v = append(v, f.gateway, normMetric(f.metric))
	}
	return mustJSON(v)
}

func compactJSON(r json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, r) != nil {
		return r
	}
	return b.Bytes()
}

// modifyTasksLocked lists the device messages a PUT from orig to upd sends.
func (s *Simulator) modifyTasksLocked(orig, upd *device) []jobTask {
	var tasks []jobTask
	for _, nf := range upd.ifaces {
		of := orig.ifaceByDevID(nf.devID)
		switch {
		case of == nil || (!of.assigned && nf.assigned):
			if nf.assigned {
				tasks = append(tasks, jobTask{Entity: "agent", Message: "add-interface", Params: map[string]any{"dev_id": nf.devID}})
			}
		case of.assigned && !nf.assigned:
			tasks = append(tasks, jobTask{Entity: "agent", Message: "remove-interface", Params: map[string]any{"dev_id": nf.devID}})
		case nf.assigned && s.deviceVisibleLocked(of) != s.deviceVisibleLocked(nf):
			tasks = append(tasks, jobTask{Entity: "agent", Message: "modify-interface", Params: map[string]any{"dev_id": nf.devID}})
		}
	}
	routeKey := func(r *route) string { return r.destination + "|" + r.gateway + "|" + r.ifname + "|" + r.metric }
	oldR, newR := map[string]*route{}, map[string]*route{}
	for _, r := range orig.routes {
		oldR[routeKey(r)] = r
	}
	for _, r := range upd.routes {
		newR[routeKey(r)] = r
	}
	for _, k := range sortedKeys(oldR) {
		if newR[k] == nil {
			r := oldR[k]
			tasks = append(tasks, jobTask{Entity: "agent", Message: "remove-route", Params: map[string]any{"addr": r.destination, "via": r.gateway}})
		}
	}
	for _, k := range sortedKeys(newR) {
		if oldR[k] == nil {
			r := newR[k]
			tasks = append(tasks, jobTask{Entity: "agent", Message: "add-route", Params: map[string]any{"addr": r.destination, "via": r.gateway}})
		}
	}
	dhcpKey := func(e *dhcpEntry) string {
		return mustJSON([]any{e.iface, e.rangeStart, e.rangeEnd, e.dns, compactJSON(e.macAssign)})
	}
	oldD, newD := map[string]*dhcpEntry{}, map[string]*dhcpEntry{}
	for _, e := range orig.dhcp {
		oldD[dhcpKey(e)] = e
	}
	for _, e := range upd.dhcp {
		newD[dhcpKey(e)] = e
	}
	for _, k := range sortedKeys(oldD) {
		if newD[k] == nil {
			tasks = append(tasks, jobTask{Entity: "agent", Message: "remove-dhcp-config", Params: map[string]any{"interface": oldD[k].iface}})
		}
	}
	for _, k := range sortedKeys(newD) {
		if oldD[k] == nil {
			tasks = append(tasks, jobTask{Entity: "agent", Message: "add-dhcp-config", Params: map[string]any{"interface": newD[k].iface}})
		}
	}
	for _, k := range []string{"ospf", "bgp", "routingFilters", "advancedRouting", "firewall"} {
		if !bytes.Equal(compactJSON(orig.other[k]), compactJSON(upd.other[k])) {
			tasks = append(tasks, jobTask{Entity: "agent", Message: "modify-" + k})
		}
	}
	return tasks
}

// finishPutLocked queues the jobs of a committed PUT and answers: 202 with
// Location when a job was queued, 200 otherwise. Approving a device queues a
// full sync instead of a modify.
func (s *Simulator) finishPutLocked(c *call, d *device, tasks []jobTask, approval bool) (reply, *apiError) {
	var ids []int64
	switch {
	case approval:
		j := s.enqueueLocked(d, "Sync device "+d.hostname, []jobTask{{Entity: "agent", Message: "sync-device", Params: map[string]any{"requests": []any{}}}},
			"sync", map[string]any{"handlers": map[string]any{}, "machineId": d.machineID}, nil)
		ids = append(ids, j.id)
	case len(tasks) > 0:
		msgTasks := tasks
		if len(tasks) > 1 {
			msgTasks = []jobTask{{Entity: "agent", Message: "aggregated", Params: map[string]any{"requests": tasks}}}
		}
		j := s.enqueueLocked(d, "Modify device "+d.hostname, msgTasks, "modify",
			map[string]any{"device": d.id, "org": d.org, "user": jobUsername}, nil)
		ids = append(ids, j.id)
	}
	body := json.RawMessage(s.renderDeviceLocked(d, false))
	if len(ids) > 0 {
		c.header.Set("Location", location(c.r, d.org, ids))
		return reply{status: http.StatusAccepted, body: body}, nil
	}
	return reply{status: http.StatusOK, body: body}, nil
}
