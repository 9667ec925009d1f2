package simulator

import (
	"encoding/json"
	"net/http"
	"strconv"
)

func (s *Simulator) getVersion(c *call) (reply, *apiError) {
	return reply{body: map[string]string{"version": s.version}}, nil
}

type wireOrg struct {
	ID               string `json:"_id"`
	Name             string `json:"name"`
	Description      string `json:"description"`
	Account          string `json:"account"`
	Group            string `json:"group"`
	EncryptionMethod string `json:"encryptionMethod"`
	VxlanPort        string `json:"vxlanPort"`
	TunnelRange      string `json:"tunnelRange"`
}

// getOrganizations ignores org: it lists what the key reaches.
func (s *Simulator) getOrganizations(c *call) (reply, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []wireOrg{}
	for _, o := range s.orgs {
		if c.key.orgs == nil || c.key.orgs[o.id] {
			out = append(out, wireOrg{o.id, o.name, o.description, o.account, o.group, o.encryption, o.vxlanPort, o.tunnelRange})
		}
	}
	return reply{body: out}, nil
}

// pageBounds applies offset/limit to n items.
func pageBounds(c *call, n int) (from, to int) {
	offset, _ := queryInt(c.query, "offset")
	limit, hasLimit := queryInt(c.query, "limit")
	from = min(max(offset, 0), n)
	to = n
	if hasLimit && limit > 0 {
		to = min(from+limit, n)
	}
	return from, to
}

// getDevices serves GET /devices (org optional).
func (s *Simulator) getDevices(c *call) (reply, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	orgs, aerr := s.orgListLocked(c, false)
	if aerr != nil {
		return reply{}, aerr
	}
	flt, aerr := parseFilters(c.query.Get("filters"))
	if aerr != nil {
		return reply{}, aerr
	}
	var sel []*device
	for _, d := range s.devices {
		if inList(orgs, d.org) {
			sel = append(sel, d)
		}
	}
	resp := c.query.Get("response")
	sortField := c.query.Get("sortField")
	if flt == nil && sortField == "" {
		// The common case, kept cheap: render only the page.
		if len(sel) > 0 {
			c.header.Set("records-total", strconv.Itoa(len(sel)))
		}
		from, to := pageBounds(c, len(sel))
		size := 4096 // a detailed device is ~3.5 kB
		switch resp {
		case "ids":
			size = 64
		case "summary":
			size = 512
		}
		page := s.pageBuffer(2 + size*(to-from))
		b := append(*page, '[')
		for i, d := range sel[from:to] {
			if i > 0 {
				b = append(b, ',')
			}
			b = s.appendDeviceShape(b, d, resp)
		}
		*page = append(b, ']')
		return reply{body: json.RawMessage(*page), page: page}, nil
	}
	var items []json.RawMessage
	for _, d := range sel {
		b := json.RawMessage(s.renderDeviceShape(d, resp))
		if flt != nil {
			ok, aerr := flt.match(b)
			if aerr != nil {
				return reply{}, aerr
			}
			if !ok {
				continue
			}
		}
		items = append(items, b)
	}
	if err := sortGeneric(items, sortField, c.query.Get("sortOrder")); err != nil {
		return reply{}, svcErr(500, "%s", err.Error())
	}
	if len(items) > 0 {
		c.header.Set("records-total", strconv.Itoa(len(items)))
	}
	from, to := pageBounds(c, len(items))
	parts := make([][]byte, 0, to-from)
	for _, b := range items[from:to] {
		parts = append(parts, b)
	}
	return reply{body: joinRaw(parts)}, nil
}

func (s *Simulator) renderDeviceShape(d *device, resp string) []byte {
	return s.appendDeviceShape(nil, d, resp)
}

func (s *Simulator) appendDeviceShape(dst []byte, d *device, resp string) []byte {
	switch resp {
	case "ids":
		b, _ := json.Marshal(map[string]string{"_id": d.id, "name": d.name})
		return append(dst, b...)
	case "summary":
		st := d.state
		if !d.connected {
			st = "pending"
		}
		b, _ := json.Marshal(map[string]any{
			"_id": d.id, "name": d.name, "machineId": d.machineID, "hostname": d.hostname, "isApproved": d.approved,
			"isConnected": d.connected, "deviceStatus": map[string]string{"state": st},
			"versions":             wireVersions{d.versions.agent, d.versions.router, d.versions.device, d.versions.vpp, d.versions.frr},
			"pendingNotifications": 0,
		})
		return append(dst, b...)
	}
	return s.appendDeviceLocked(dst, d, true)
}

// deviceInOrgsLocked finds a device by path id among orgs, with mongoose's
// cast error for an id that is not an ObjectId.
func (s *Simulator) deviceInOrgsLocked(id string, orgs []string) (*device, *apiError) {
	if aerr := castObjectID(id, "_id", "devices"); aerr != nil {
		return nil, aerr
	}
	d := s.devByID[id]
	if d == nil || !inList(orgs, d.org) {
		return nil, svcErr(http.StatusNotFound, "Device not found")
	}
	return d, nil
}

// getDevice serves GET /devices/{id}: an array of one device.
func (s *Simulator) getDevice(c *call) (reply, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	orgs, aerr := s.orgListLocked(c, false)
	if aerr != nil {
		return reply{}, aerr
	}
	d, aerr := s.deviceInOrgsLocked(c.params["id"], orgs)
	if aerr != nil {
		return reply{}, aerr
	}
	return reply{body: joinRaw([][]byte{s.renderDeviceLocked(d, false)})}, nil
}

type wireIfaceStatus struct {
	DevID          string `json:"devId"`
	InternetAccess string `json:"internetAccess"`
	LinkStatus     string `json:"linkStatus"`
}

// getDeviceStatus serves GET /devices/{id}/status.
func (s *Simulator) getDeviceStatus(c *call) (reply, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	orgs, aerr := s.orgListLocked(c, false)
	if aerr != nil {
		return reply{}, aerr
	}
	d, aerr := s.deviceInOrgsLocked(c.params["id"], orgs)
	if aerr != nil {
		return reply{}, aerr
	}
	conn := "disconnected"
	if d.connected {
		conn = "connected"
	}
	ifs := []wireIfaceStatus{}
	for _, f := range d.ifaces {
		st := wireIfaceStatus{DevID: f.devID}
		if f.assigned {
			st.LinkStatus = "up"
			if f.typ == "WAN" {
				st.InternetAccess = "yes"
			}
		}
		ifs = append(ifs, st)
	}
	body := struct {
		Sync       wireSync          `json:"sync"`
		IsApproved bool              `json:"isApproved"`
		Connection string            `json:"connection"`
		Interfaces []wireIfaceStatus `json:"interfaces"`
		LTEStatus  any               `json:"lteStatus,omitempty"`
		WiFiStatus any               `json:"wifiStatus,omitempty"`
	}{wireSync{d.sync.state, d.sync.hash, d.sync.trials, d.sync.autoSync}, d.approved, conn, ifs, nil, nil}
	if d.connected {
		body.LTEStatus, body.WiFiStatus = map[string]any{}, map[string]any{}
	}
	return reply{body: body}, nil
}
