package simulator

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
)

// parseRouteLocked reads one static route and runs validateStaticRoute and
// the schema checks. status is the HTTP status of validateStaticRoute's
// errors (400 from a device PUT, 500 from POST /staticroutes).
func (s *Simulator) parseRouteLocked(d *device, ifs []*iface, m map[string]json.RawMessage, idx int, status int) (*route, *apiError) {
	r := &route{other: map[string]json.RawMessage{}}
	for _, f := range []struct {
		k   string
		dst *string
	}{{"_id", &r.id}, {"destination", &r.destination}, {"gateway", &r.gateway}, {"ifname", &r.ifname}, {"metric", &r.metric}} {
		v, _, ok := strField(m, f.k)
		if !ok {
			return nil, svcErr(500, "Validation failed: staticroutes.%d.%s: Cast to string failed", idx, f.k)
		}
		*f.dst = v
	}
	for k, v := range m {
		if !routeCore[k] {
			r.other[k] = v
		}
	}
	if r.gateway == "" {
		return nil, svcErr(status, "Gateway is required in a static route")
	}
	if r.destination == "" {
		return nil, svcErr(status, "Destination is required in a static route")
	}
	gw, gwErr := netip.ParseAddr(r.gateway)
	onLink, _, _ := boolField(m, "onLink")
	if r.ifname != "" {
		var f *iface
		for _, x := range ifs {
			if x.devID == r.ifname {
				f = x
			}
		}
		if f == nil {
			return nil, svcErr(status, "Static route interface not found '%s'", r.ifname)
		}
		if f.ipv4 == "" && f.dhcp != "yes" {
			return nil, svcErr(status, "The static route via interface %s cannot be installed. The interface does not have an IP Address", f.name)
		}
		if p, ok := f.subnet(); ok && !onLink && (gwErr != nil || !p.Contains(gw)) {
			return nil, svcErr(status, "Interface IP %s and gateway %s are not on the same subnet", f.ipv4, r.gateway)
		}
	} else if gwErr != nil || !s.gatewayReachableLocked(d, ifs, gw) {
		return nil, svcErr(status, "Static route gateway %s not overlapped with any interface or tunnel", r.gateway)
	}
	if p, err := netip.ParsePrefix(r.destination); err != nil || !p.Addr().Is4() {
		return nil, svcErr(500, "Validation failed: staticroutes.%d.destination: Destination should be a valid ipv4 with mask type", idx)
	}
	if gwErr != nil || !gw.Is4() {
		return nil, svcErr(500, "Validation failed: staticroutes.%d.gateway: Gateway should be a valid ipv4 address", idx)
	}
	if r.id == "" {
		r.id = s.ids.next()
	} else if aerr := castObjectID(r.id, "staticroutes._id", "devices"); aerr != nil {
		return nil, aerr
	}
	return r, nil
}

// gatewayReachableLocked: the gateway is inside an interface subnet or a
// tunnel loopback /31 of the device.
func (s *Simulator) gatewayReachableLocked(d *device, ifs []*iface, gw netip.Addr) bool {
	for _, f := range ifs {
		if p, ok := f.subnet(); ok && p.Contains(gw) {
			return true
		}
	}
	o := s.orgByID[d.org]
	for _, t := range s.tunnels {
		if !t.active || (t.devA != d.id && t.devB != d.id) {
			continue
		}
		ipA, _ := tunnelParams(t.num, o.tunnelRange)
		if p, err := netip.ParsePrefix(ipA + "/31"); err == nil && p.Contains(gw) {
			return true
		}
	}
	return false
}

// parseDHCPLocked reads one DHCP entry and runs validateDhcpRequest (500s).
func (s *Simulator) parseDHCPLocked(d *device, ifs []*iface, m map[string]json.RawMessage, keepID bool) (*dhcpEntry, *apiError) {
	e := &dhcpEntry{other: map[string]json.RawMessage{}, status: "failed"}
	for _, f := range []struct {
		k   string
		dst *string
	}{{"_id", &e.id}, {"interface", &e.iface}, {"rangeStart", &e.rangeStart}, {"rangeEnd", &e.rangeEnd}} {
		v, _, ok := strField(m, f.k)
		if !ok {
			return nil, svcErr(500, "Validation failed: dhcp.%s: Cast to string failed", f.k)
		}
		*f.dst = v
	}
	if st, has, ok := strField(m, "status"); has && ok {
		e.status = st
	}
	if e.iface == "" {
		return nil, svcErr(500, "Interface is required to define DHCP Server")
	}
	var f *iface
	for _, x := range ifs {
		if x.devID == e.iface {
			f = x
		}
	}
	if f == nil {
		return nil, svcErr(500, "Unknown interface: %s in DHCP Server parameters", e.iface)
	}
	if !f.assigned {
		return nil, svcErr(500, "DHCP Server can be defined only for assigned interfaces (%s)", f.name)
	}
	if f.typ != "LAN" {
		return nil, svcErr(500, "DHCP Server can be defined only for LAN interfaces")
	}
	p, ok := f.subnet()
	if !ok {
		return nil, svcErr(500, "DHCP Server cannot be defined for interface %s without IP", f.name)
	}
	start, err1 := netip.ParseAddr(e.rangeStart)
	end, err2 := netip.ParseAddr(e.rangeEnd)
	if err1 != nil || !p.Contains(start) {
		return nil, svcErr(500, "DHCP Server Range Start IP address is not on the same subnet with interface IP")
	}
	if err2 != nil || !p.Contains(end) {
		return nil, svcErr(500, "DHCP Server Range End IP address is not on the same subnet with interface IP")
	}
	if p.Bits() < 31 {
		if start == p.Addr() || start == lastAddr(p) {
			return nil, svcErr(500, "DHCP Server Range Start IP address cannot be Network or Broadcast IP")
		}
		if end == p.Addr() || end == lastAddr(p) {
			return nil, svcErr(500, "DHCP Server Range End IP address cannot be Network or Broadcast IP")
		}
	}
	if end.Less(start) {
		return nil, svcErr(500, "DHCP Server Range End IP address must be greater than Start IP address")
	}
	macs, ok := arrayOf(m["macAssign"])
	if !ok {
		return nil, svcErr(500, "Cannot read properties of undefined (reading 'map')")
	}
	seen := map[string]map[string]bool{"MACs": {}, "hosts": {}, "IPs": {}}
	for _, mr := range macs {
		mm, _ := objectOf(mr)
		for word, key := range map[string]string{"MACs": "mac", "hosts": "host", "IPs": "ipv4"} {
			v, _, _ := strField(mm, key)
			if seen[word][v] {
				return nil, svcErr(500, "DHCP Server MAC bindings %s are not unique", word)
			}
			seen[word][v] = true
		}
	}
	e.macAssign = compactJSON(m["macAssign"])
	if dr, has := m["dns"]; has && !bytes.Equal(bytes.TrimSpace(dr), []byte("null")) {
		var dns []string
		if json.Unmarshal(dr, &dns) != nil {
			return nil, svcErr(500, "Validation failed: dhcp.dns: Cast to [string] failed")
		}
		e.dns = dns
	}
	for k, v := range m {
		if !dhcpCore[k] {
			e.other[k] = v
		}
	}
	if e.id == "" || !keepID {
		e.id = s.ids.next()
	} else if aerr := castObjectID(e.id, "dhcp._id", "devices"); aerr != nil {
		return nil, aerr
	}
	return e, nil
}

// deviceForWriteLocked resolves {id} for the /staticroutes and /dhcp
// endpoints.
func (s *Simulator) deviceForLocked(c *call, required bool) (*device, string, *apiError) {
	orgs, aerr := s.orgListLocked(c, required)
	if aerr != nil {
		return nil, "", aerr
	}
	d, aerr := s.deviceInOrgsLocked(c.params["id"], orgs)
	if aerr != nil {
		return nil, "", aerr
	}
	org := d.org
	if len(orgs) > 0 {
		org = orgs[0]
	}
	return d, org, nil
}

func (s *Simulator) getRoutes(c *call) (reply, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, _, aerr := s.deviceForLocked(c, false)
	if aerr != nil {
		return reply{}, aerr
	}
	parts := make([][]byte, len(d.routes))
	for i, r := range d.routes {
		parts[i] = r.render()
	}
	return reply{body: joinRaw(parts)}, nil
}

func wrappedRoute(body map[string]json.RawMessage) (map[string]json.RawMessage, *apiError) {
	m, ok := objectOf(body["staticRouteRequest"])
	if !ok {
		return nil, svcErr(500, "Cannot read properties of undefined (reading 'destination')")
	}
	return m, nil
}

type createdRoute struct {
	ID          string `json:"_id"`
	Gateway     string `json:"gateway"`
	Destination string `json:"destination"`
	IfName      string `json:"ifname,omitempty"`
	Metric      string `json:"metric"`
}

// postRoute serves POST /devices/{id}/staticroutes (body wrapped in
// staticRouteRequest).
func (s *Simulator) postRoute(c *call) (reply, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, org, aerr := s.deviceForLocked(c, true)
	if aerr != nil {
		return reply{}, aerr
	}
	if !d.approved {
		return reply{}, svcErr(http.StatusBadRequest, "Device must be first approved")
	}
	m, aerr := wrappedRoute(c.body)
	if aerr != nil {
		return reply{}, aerr
	}
	r, aerr := s.parseRouteLocked(d, d.ifaces, m, len(d.routes), http.StatusInternalServerError)
	if aerr != nil {
		if strings.HasPrefix(aerr.msg, "Validation failed: staticroutes.") {
			_, rest, _ := strings.Cut(aerr.msg, ": staticroutes.")
			_, rest, _ = strings.Cut(rest, ".")
			aerr.msg = "staticroutes validation failed: " + rest
		}
		return reply{}, aerr
	}
	r.id = s.ids.next()
	d.routes = append(d.routes, r)
	dev, rid := d, r.id
	params := map[string]any{"addr": r.destination, "via": r.gateway}
	if r.ifname != "" {
		params["dev_id"] = r.ifname
	}
	if r.metric != "" {
		params["metric"] = r.metric
	}
	j := s.enqueueLocked(d, "Add Static Route in device "+d.hostname, []jobTask{{Entity: "agent", Message: "add-route", Params: params}},
		"staticroutes", map[string]any{"deviceId": d.id, "routeId": rid, "message": "add-route"}, nil)
	_ = dev
	c.header.Set("Location", location(c.r, org, []int64{j.id}))
	return reply{status: http.StatusCreated, body: createdRoute{ID: r.id, Gateway: r.gateway, Destination: r.destination, IfName: r.ifname, Metric: r.metric}}, nil
}

// deleteRoute serves DELETE /devices/{id}/staticroutes/{route}: the route
// leaves the device when its remove-route job completes.
func (s *Simulator) deleteRoute(c *call) (reply, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, org, aerr := s.deviceForLocked(c, true)
	if aerr != nil {
		return reply{}, aerr
	}
	var r *route
	for _, x := range d.routes {
		if x.id == c.params["route"] {
			r = x
		}
	}
	if r == nil {
		return reply{}, svcErr(http.StatusNotFound, "Static route not found")
	}
	j := s.queueRouteRemovalLocked(d, r.destination, r.gateway, r.ifname, r.id)
	c.header.Set("Location", location(c.r, org, []int64{j.id}))
	return reply{status: http.StatusNoContent}, nil
}

func (s *Simulator) queueRouteRemovalLocked(d *device, dst, gw, ifname, rid string) *job {
	dev := d
	params := map[string]any{"addr": dst, "via": gw}
	if ifname != "" {
		params["dev_id"] = ifname
	}
	return s.enqueueLocked(d, "Delete Static Route in device "+d.hostname, []jobTask{{Entity: "agent", Message: "remove-route", Params: params}},
		"staticroutes", map[string]any{"deviceId": d.id, "routeId": rid, "message": "remove-route"}, func(ok bool) {
			if !ok {
				return
			}
			for i, x := range dev.routes {
				if x.id == rid {
					dev.routes = append(dev.routes[:i:i], dev.routes[i+1:]...)
					break
				}
			}
		})
}

// patchRoute serves PATCH /devices/{id}/staticroutes/{route}: re-queue an add
// (status add-failed) or a removal, from the body (the path's route id is
// not used, as in flexiManage).
func (s *Simulator) patchRoute(c *call) (reply, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, org, aerr := s.deviceForLocked(c, true)
	if aerr != nil {
		return reply{}, aerr
	}
	if !d.approved {
		return reply{}, svcErr(http.StatusBadRequest, "Device must be first approved")
	}
	m, aerr := wrappedRoute(c.body)
	if aerr != nil {
		return reply{}, aerr
	}
	dst, _, _ := strField(m, "destination")
	gw, _, _ := strField(m, "gateway")
	ifn, _, _ := strField(m, "ifname")
	rid, _, _ := strField(m, "_id")
	st, _, _ := strField(m, "status")
	var j *job
	if st == "add-failed" {
		params := map[string]any{"addr": dst, "via": gw}
		if ifn != "" {
			params["dev_id"] = ifn
		}
		j = s.enqueueLocked(d, "Add Static Route in device "+d.hostname, []jobTask{{Entity: "agent", Message: "add-route", Params: params}},
			"staticroutes", map[string]any{"deviceId": d.id, "routeId": rid, "message": "add-route"}, nil)
	} else {
		j = s.queueRouteRemovalLocked(d, dst, gw, ifn, rid)
	}
	c.header.Set("Location", location(c.r, org, []int64{j.id}))
	return reply{body: map[string]string{"deviceId": d.id}}, nil
}

func (s *Simulator) getDHCPs(c *call) (reply, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, _, aerr := s.deviceForLocked(c, false)
	if aerr != nil {
		return reply{}, aerr
	}
	from, to := pageBounds(c, len(d.dhcp))
	parts := make([][]byte, 0, to-from)
	for _, e := range d.dhcp[from:to] {
		parts = append(parts, e.render(true))
	}
	return reply{body: joinRaw(parts)}, nil
}

func (d *device) dhcpByID(id string) *dhcpEntry {
	for _, e := range d.dhcp {
		if e.id == id {
			return e
		}
	}
	return nil
}

func (s *Simulator) getDHCP(c *call) (reply, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, _, aerr := s.deviceForLocked(c, true)
	if aerr != nil {
		return reply{}, aerr
	}
	e := d.dhcpByID(c.params["dhcpId"])
	if e == nil {
		return reply{}, svcErr(http.StatusNotFound, "DHCP ID not found")
	}
	return reply{body: json.RawMessage(e.render(true))}, nil
}

func (s *Simulator) queueDHCPLocked(d *device, e *dhcpEntry, add bool) *job {
	dev, id := d, e.id
	title, msg := "Add DHCP in device "+d.hostname, "add-dhcp-config"
	if !add {
		title, msg = "Delete DHCP in device "+d.hostname, "remove-dhcp-config"
	}
	j := s.enqueueLocked(d, title, []jobTask{{Entity: "agent", Message: msg, Params: map[string]any{"interface": e.iface, "range_start": e.rangeStart, "range_end": e.rangeEnd, "dns": e.dns}}},
		"dhcp", map[string]any{"deviceId": d.id, "dhcpId": id, "message": msg}, func(ok bool) {
			x := dev.dhcpByID(id)
			if x == nil {
				return
			}
			switch {
			case ok && add:
				x.status = "complete"
			case ok:
				for i, y := range dev.dhcp {
					if y == x {
						dev.dhcp = append(dev.dhcp[:i:i], dev.dhcp[i+1:]...)
						break
					}
				}
			case add:
				x.status = "add-failed"
			default:
				x.status = "remove-failed"
			}
		})
	j.remove = func() {
		if x := dev.dhcpByID(id); x != nil {
			x.status = "job-deleted"
		}
	}
	return j
}

// postDHCP serves POST /devices/{id}/dhcp: 202 with the stored entry.
func (s *Simulator) postDHCP(c *call) (reply, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, org, aerr := s.deviceForLocked(c, true)
	if aerr != nil {
		return reply{}, aerr
	}
	if !d.approved {
		return reply{}, svcErr(500, "Device must be first approved")
	}
	e, aerr := s.parseDHCPLocked(d, d.ifaces, c.body, false)
	if aerr != nil {
		return reply{}, aerr
	}
	for _, x := range d.dhcp {
		if x.iface == e.iface {
			return reply{}, svcErr(500, "DHCP already configured for that interface")
		}
	}
	e.status = "add-wait"
	e.other = map[string]json.RawMessage{} // options and leases are sent, not stored
	d.dhcp = append(d.dhcp, e)
	j := s.queueDHCPLocked(d, e, true)
	c.header.Set("Location", location(c.r, org, []int64{j.id}))
	out := struct {
		Interface  string          `json:"interface"`
		RangeStart string          `json:"rangeStart"`
		RangeEnd   string          `json:"rangeEnd"`
		DNS        []string        `json:"dns"`
		MacAssign  json.RawMessage `json:"macAssign"`
		Status     string          `json:"status"`
		ID         string          `json:"_id"`
	}{e.iface, e.rangeStart, e.rangeEnd, nonNil(e.dns), e.macAssign, e.status, e.id}
	return reply{status: http.StatusAccepted, body: out}, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (s *Simulator) dhcpWriteCommonLocked(c *call) (*device, string, *dhcpEntry, *apiError) {
	d, org, aerr := s.deviceForLocked(c, true)
	if aerr != nil {
		return nil, "", nil, aerr
	}
	if !d.approved {
		return nil, "", nil, svcErr(500, "Device must be first approved")
	}
	for _, x := range d.dhcp {
		if strings.Contains(x.status, "wait") {
			return nil, "", nil, svcErr(500, "Only one device change is allowed at any time")
		}
	}
	e := d.dhcpByID(c.params["dhcpId"])
	if e == nil {
		return nil, "", nil, svcErr(http.StatusNotFound, "DHCP ID not found")
	}
	return d, org, e, nil
}

// putDHCP serves PUT /devices/{id}/dhcp/{dhcpId}: replace the entry and
// run a modify (202).
func (s *Simulator) putDHCP(c *call) (reply, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, org, e, aerr := s.dhcpWriteCommonLocked(c)
	if aerr != nil {
		return reply{}, aerr
	}
	ne, aerr := s.parseDHCPLocked(d, d.ifaces, c.body, false)
	if aerr != nil {
		return reply{}, aerr
	}
	for _, x := range d.dhcp {
		if x != e && x.iface == ne.iface {
			return reply{}, svcErr(500, "Multiple DHCP for the same interface not allowed")
		}
	}
	ne.id, ne.status, ne.other = e.id, "failed", map[string]json.RawMessage{}
	old := *d
	old.dhcp = append([]*dhcpEntry{}, d.dhcp...)
	for i, x := range d.dhcp {
		if x == e {
			d.dhcp[i] = ne
		}
	}
	var ids []int64
	if tasks := s.modifyTasksLocked(&old, d); len(tasks) > 0 {
		if len(tasks) > 1 {
			tasks = []jobTask{{Entity: "agent", Message: "aggregated", Params: map[string]any{"requests": tasks}}}
		}
		j := s.enqueueLocked(d, "Modify device "+d.hostname, tasks, "modify", map[string]any{"device": d.id, "org": d.org, "user": jobUsername}, nil)
		ids = append(ids, j.id)
		c.header.Set("Location", location(c.r, org, ids))
	}
	return reply{status: http.StatusAccepted, body: json.RawMessage(ne.render(false))}, nil
}

// patchDHCP serves PATCH: re-queue an entry whose add or removal failed.
func (s *Simulator) patchDHCP(c *call) (reply, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, org, e, aerr := s.dhcpWriteCommonLocked(c)
	if aerr != nil {
		return reply{}, aerr
	}
	if e.status != "add-failed" && e.status != "remove-failed" {
		return reply{}, svcErr(500, "Only allowed for add or removed failed jobs")
	}
	j := s.queueDHCPLocked(d, e, e.status == "add-failed")
	c.header.Set("Location", location(c.r, org, []int64{j.id}))
	return reply{status: http.StatusAccepted, body: json.RawMessage(e.render(true))}, nil
}

// deleteDHCP serves DELETE ?force=yes|no: 202, empty body.
func (s *Simulator) deleteDHCP(c *call) (reply, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, org, aerr := s.deviceForLocked(c, true)
	if aerr != nil {
		return reply{}, aerr
	}
	e := d.dhcpByID(c.params["dhcpId"])
	if e == nil {
		return reply{}, svcErr(http.StatusNotFound, "DHCP ID not found")
	}
	prev := e.status
	e.status = "del-wait"
	if prev != "del-wait" {
		j := s.queueDHCPLocked(d, e, false)
		c.header.Set("Location", location(c.r, org, []int64{j.id}))
	}
	if c.query.Get("force") == "yes" {
		for i, x := range d.dhcp {
			if x == e {
				d.dhcp = append(d.dhcp[:i:i], d.dhcp[i+1:]...)
				break
			}
		}
	}
	return reply{status: http.StatusAccepted}, nil
}
