package simulator

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

type wireTunnelDevice struct {
	ID           string          `json:"_id"`
	MachineID    string          `json:"machineId"`
	Name         string          `json:"name"`
	Hostname     string          `json:"hostname"`
	IsConnected  bool            `json:"isConnected"`
	Status       string          `json:"status"`
	Versions     wireVersions    `json:"versions"`
	Sync         wireSync        `json:"sync"`
	StaticRoutes json.RawMessage `json:"staticroutes"`
}

type wireTunnelIfc struct {
	Name               string `json:"name"`
	DevID              string `json:"devId"`
	IPv4               string `json:"IPv4"`
	PublicIP           string `json:"PublicIP"`
	PublicPort         string `json:"PublicPort"`
	UseFixedPublicPort bool   `json:"useFixedPublicPort"`
}

type wireTunnelLabel struct {
	Name  string `json:"name"`
	Color string `json:"color"`
}

type wireTunnelOrg struct {
	ID          string `json:"_id"`
	TunnelRange string `json:"tunnelRange"`
	VxlanPort   string `json:"vxlanPort,omitempty"`
}

type wireSideStatus struct {
	Status string `json:"status,omitempty"`
}

type wireTunnel struct {
	ID                    string            `json:"_id"`
	Num                   int               `json:"num"`
	IsActive              bool              `json:"isActive"`
	DeviceA               *wireTunnelDevice `json:"deviceA,omitempty"`
	DeviceB               *wireTunnelDevice `json:"deviceB,omitempty"`
	InterfaceA            string            `json:"interfaceA,omitempty"`
	InterfaceB            string            `json:"interfaceB,omitempty"`
	InterfaceADetails     *wireTunnelIfc    `json:"interfaceADetails,omitempty"`
	InterfaceBDetails     *wireTunnelIfc    `json:"interfaceBDetails,omitempty"`
	PathLabel             *wireTunnelLabel  `json:"pathlabel,omitempty"`
	EncryptionMethod      string            `json:"encryptionMethod,omitempty"`
	AdvancedOptions       *advOptions       `json:"advancedOptions,omitempty"`
	DeviceAconf           bool              `json:"deviceAconf"`
	DeviceBconf           bool              `json:"deviceBconf"`
	IsPending             bool              `json:"isPending"`
	PendingReason         string            `json:"pendingReason"`
	NotificationsSettings map[string]any    `json:"notificationsSettings"`
	Org                   wireTunnelOrg     `json:"org"`
	TunnelStatus          string            `json:"tunnelStatus"`
	TunnelStatusA         wireSideStatus    `json:"tunnelStatusA"`
	TunnelStatusB         wireSideStatus    `json:"tunnelStatusB"`
}

// sideStatus is what a device reports about one of its tunnels: nothing
// when it is disconnected or does not have the tunnel configured.
func (s *Simulator) sideStatusLocked(t *tunnel, side *device, conf bool) wireSideStatus {
	if side == nil || !side.connected || !conf {
		return wireSideStatus{}
	}
	a, b := s.devByID[t.devA], s.devByID[t.devB]
	if !t.pending && t.aConf && t.bConf && a != nil && b != nil && a.connected && b.connected && a.state == "running" && b.state == "running" {
		return wireSideStatus{Status: "up"}
	}
	return wireSideStatus{Status: "down"}
}

func (s *Simulator) tunnelStatusLocked(t *tunnel) (string, wireSideStatus, wireSideStatus) {
	sa := s.sideStatusLocked(t, s.devByID[t.devA], t.aConf)
	sb := s.sideStatusLocked(t, s.devByID[t.devB], t.bConf)
	switch {
	case sa.Status == "" || sb.Status == "":
		return "N/A", sa, sb
	case t.pending:
		return "Pending", sa, sb
	case sa.Status == "up" && sb.Status == "up":
		return "Connected", sa, sb
	}
	return "Not Connected", sa, sb
}

func (s *Simulator) tunnelDeviceLocked(d *device) *wireTunnelDevice {
	if d == nil {
		return nil
	}
	parts := make([][]byte, len(d.routes))
	for i, r := range d.routes {
		parts[i] = r.render()
	}
	return &wireTunnelDevice{
		ID: d.id, MachineID: d.machineID, Name: d.name, Hostname: d.hostname, IsConnected: d.connected, Status: d.state,
		Versions: wireVersions{d.versions.agent, d.versions.router, d.versions.device, d.versions.vpp, d.versions.frr},
		Sync:     wireSync{d.sync.state, d.sync.hash, d.sync.trials, d.sync.autoSync}, StaticRoutes: joinRaw(parts),
	}
}

func tunnelIfc(f *iface) *wireTunnelIfc {
	if f == nil {
		return &wireTunnelIfc{}
	}
	return &wireTunnelIfc{Name: f.name, DevID: f.devID, IPv4: f.ipv4, PublicIP: f.publicIP, PublicPort: f.publicPort}
}

func (s *Simulator) renderTunnelLocked(t *tunnel, summary bool) wireTunnel {
	da, db := s.devByID[t.devA], s.devByID[t.devB]
	w := wireTunnel{
		ID: t.id, Num: t.num, IsActive: t.active, InterfaceA: t.ifcA, InterfaceB: t.ifcB,
		DeviceAconf: t.aConf, DeviceBconf: t.bConf, IsPending: t.pending, PendingReason: t.pendingReason,
		NotificationsSettings: map[string]any{},
	}
	if o := s.orgByID[t.org]; o != nil {
		w.Org = wireTunnelOrg{ID: o.id, TunnelRange: o.tunnelRange, VxlanPort: o.vxlanPort}
	}
	w.TunnelStatus, w.TunnelStatusA, w.TunnelStatusB = s.tunnelStatusLocked(t)
	w.DeviceA, w.DeviceB = s.tunnelDeviceLocked(da), s.tunnelDeviceLocked(db)
	if summary {
		w.DeviceA.Name, w.DeviceB.Name = "", ""
		w.InterfaceA, w.InterfaceB = "", ""
		return w
	}
	var fa, fb *iface
	if da != nil {
		fa = da.ifaceByID(t.ifcA)
	}
	if db != nil {
		fb = db.ifaceByID(t.ifcB)
	}
	w.InterfaceADetails, w.InterfaceBDetails = tunnelIfc(fa), tunnelIfc(fb)
	if l := s.labelByID[t.label]; l != nil {
		w.PathLabel = &wireTunnelLabel{Name: l.name, Color: l.color}
	}
	w.EncryptionMethod = t.encryption
	adv := t.adv
	w.AdvancedOptions = &adv
	return w
}

// getTunnels serves GET /tunnels: active tunnels only.
func (s *Simulator) getTunnels(c *call) (reply, *apiError) {
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
	summary := c.query.Get("response") == "summary"
	_, hasOff := c.query["offset"]
	_, hasLim := c.query["limit"]
	paged := hasOff || hasLim
	var sel []*tunnel
	for _, t := range s.tunnels {
		if t.active && inList(orgs, t.org) {
			sel = append(sel, t)
		}
	}
	sortField := c.query.Get("sortField")
	if flt == nil && sortField == "" {
		if !paged || len(sel) > 0 {
			c.header.Set("records-total", strconv.Itoa(len(sel)))
		}
		from, to := pageBounds(c, len(sel))
		page := s.pageBuffer(2 + 1700*(to-from)) // a tunnel is ~1.6 kB
		b := append(*page, '[')
		for i, t := range sel[from:to] {
			if i > 0 {
				b = append(b, ',')
			}
			w := s.renderTunnelLocked(t, summary)
			b = w.appendJSON(b)
		}
		*page = append(b, ']')
		return reply{body: json.RawMessage(*page), page: page}, nil
	}
	var items []wireTunnel
	for _, t := range sel {
		w := s.renderTunnelLocked(t, summary)
		if flt != nil {
			ok, aerr := flt.match(w)
			if aerr != nil {
				return reply{}, aerr
			}
			if !ok {
				continue
			}
		}
		items = append(items, w)
	}
	if err := sortGeneric(items, sortField, c.query.Get("sortOrder")); err != nil {
		return reply{}, svcErr(500, "%s", err.Error())
	}
	if !paged || len(items) > 0 {
		c.header.Set("records-total", strconv.Itoa(len(items)))
	}
	from, to := pageBounds(c, len(items))
	b := []byte{'['}
	for i := range items[from:to] {
		if i > 0 {
			b = append(b, ',')
		}
		b = items[from+i].appendJSON(b)
	}
	return reply{body: json.RawMessage(append(b, ']'))}, nil
}

type wireFullTunnelDevice struct {
	ID         string          `json:"_id"`
	Name       string          `json:"name"`
	MachineID  string          `json:"machineId"`
	Interfaces json.RawMessage `json:"interfaces"`
}

type wireTunnelKeys struct {
	Key1 string `json:"key1"`
	Key2 string `json:"key2"`
	Key3 string `json:"key3"`
	Key4 string `json:"key4"`
}

type wireFullTunnel struct {
	ID                        string                `json:"_id"`
	Num                       int                   `json:"num"`
	Org                       wireTunnelOrg         `json:"org"`
	IsActive                  bool                  `json:"isActive"`
	EncryptionMethod          string                `json:"encryptionMethod"`
	DeviceA                   *wireFullTunnelDevice `json:"deviceA"`
	DeviceB                   *wireFullTunnelDevice `json:"deviceB"`
	InterfaceA                string                `json:"interfaceA"`
	InterfaceB                string                `json:"interfaceB"`
	PathLabel                 *wireLabel            `json:"pathlabel"`
	Peer                      any                   `json:"peer"`
	DeviceAconf               bool                  `json:"deviceAconf"`
	DeviceBconf               bool                  `json:"deviceBconf"`
	PendingTunnelModification bool                  `json:"pendingTunnelModification"`
	Status                    string                `json:"status"`
	AdvancedOptions           advOptions            `json:"advancedOptions"`
	NotificationsSettings     map[string]any        `json:"notificationsSettings"`
	IsPending                 bool                  `json:"isPending"`
	PendingType               string                `json:"pendingType"`
	PendingReason             string                `json:"pendingReason"`
	PendingTime               *time.Time            `json:"pendingTime"`
	CreatedAt                 time.Time             `json:"createdAt"`
	UpdatedAt                 time.Time             `json:"updatedAt"`
	TunnelKeys                *wireTunnelKeys       `json:"tunnelKeys"`
	TunnelStatusA             wireSideStatus        `json:"tunnelStatusA"`
	TunnelStatusB             wireSideStatus        `json:"tunnelStatusB"`
	TunnelStatus              string                `json:"tunnelStatus"`
}

func (s *Simulator) fullTunnelDeviceLocked(d *device) *wireFullTunnelDevice {
	if d == nil {
		return nil
	}
	parts := make([][]byte, len(d.ifaces))
	for i, f := range d.ifaces {
		parts[i] = s.renderIfaceLocked(d, f)
	}
	return &wireFullTunnelDevice{ID: d.id, Name: d.name, MachineID: d.machineID, Interfaces: joinRaw(parts)}
}

// getDeviceTunnels serves GET /devices/{id}/tunnels (org required): the
// stored documents, PSK keys included.
func (s *Simulator) getDeviceTunnels(c *call) (reply, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	orgs, aerr := s.orgListLocked(c, true)
	if aerr != nil {
		return reply{}, aerr
	}
	d, aerr := s.deviceInOrgsLocked(c.params["id"], orgs)
	if aerr != nil {
		return reply{}, aerr
	}
	out := []wireFullTunnel{}
	for _, t := range s.tunnels {
		if !t.active || t.org != d.org || (t.devA != d.id && t.devB != d.id) {
			continue
		}
		w := wireFullTunnel{
			ID: t.id, Num: t.num, IsActive: t.active, EncryptionMethod: t.encryption,
			DeviceA: s.fullTunnelDeviceLocked(s.devByID[t.devA]), DeviceB: s.fullTunnelDeviceLocked(s.devByID[t.devB]),
			InterfaceA: t.ifcA, InterfaceB: t.ifcB, DeviceAconf: t.aConf, DeviceBconf: t.bConf, Status: t.status,
			AdvancedOptions: t.adv, NotificationsSettings: map[string]any{}, IsPending: t.pending, PendingType: t.pendingType,
			PendingReason: t.pendingReason, CreatedAt: t.createdAt, UpdatedAt: t.updatedAt,
		}
		if o := s.orgByID[t.org]; o != nil {
			w.Org = wireTunnelOrg{ID: o.id, TunnelRange: o.tunnelRange}
		}
		if l := s.labelByID[t.label]; l != nil {
			lw := l.wire()
			w.PathLabel = &lw
		}
		if !t.pendingTime.IsZero() {
			pt := t.pendingTime
			w.PendingTime = &pt
		}
		if t.keys != nil {
			w.TunnelKeys = &wireTunnelKeys{t.keys[0], t.keys[1], t.keys[2], t.keys[3]}
		}
		w.TunnelStatus, w.TunnelStatusA, w.TunnelStatusB = s.tunnelStatusLocked(t)
		out = append(out, w)
	}
	return reply{body: out}, nil
}

var _ = http.StatusOK
