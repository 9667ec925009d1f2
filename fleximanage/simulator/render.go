package simulator

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"
)

// splice appends the members of extra (sorted, skipping those in skip) to
// the JSON object b.
func splice(b []byte, extra map[string]json.RawMessage, skip map[string]bool) []byte {
	if len(extra) == 0 {
		return b
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		if !skip[k] {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return b
	}
	sort.Strings(keys)
	b = bytes.TrimRight(b, " \n")
	b = b[:len(b)-1] // drop '}'
	empty := len(b) > 0 && b[len(b)-1] == '{'
	for _, k := range keys {
		if !empty {
			b = append(b, ',')
		}
		empty = false
		b = strconv.AppendQuote(b, k)
		b = append(b, ':')
		b = append(b, extra[k]...)
	}
	return append(b, '}')
}

type wireLabel struct {
	ID          string `json:"_id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Color       string `json:"color"`
	Type        string `json:"type"`
}

func (l *label) wire() wireLabel {
	return wireLabel{ID: l.id, Name: l.name, Description: l.description, Color: l.color, Type: l.typ}
}

type wireVersions struct {
	Agent  string `json:"agent"`
	Router string `json:"router"`
	Device string `json:"device"`
	VPP    string `json:"vpp"`
	FRR    string `json:"frr"`
}

type wireSync struct {
	State    string `json:"state"`
	Hash     string `json:"hash"`
	Trials   int    `json:"trials"`
	AutoSync string `json:"autoSync"`
}

type wireIface struct {
	ID             string      `json:"_id"`
	DevID          string      `json:"devId"`
	ParentDevID    string      `json:"parentDevId"`
	VlanTag        string      `json:"vlanTag"`
	Name           string      `json:"name"`
	Type           string      `json:"type"`
	IsAssigned     bool        `json:"isAssigned"`
	DHCP           string      `json:"dhcp"`
	IPv4           string      `json:"IPv4"`
	IPv4Mask       string      `json:"IPv4Mask"`
	Gateway        string      `json:"gateway"`
	Metric         string      `json:"metric"`
	PublicIP       string      `json:"PublicIP"`
	PublicPort     string      `json:"PublicPort"`
	Routing        string      `json:"routing"`
	InternetAccess string      `json:"internetAccess"`
	LinkStatus     string      `json:"linkStatus"`
	PathLabels     []wireLabel `json:"pathlabels"`
}

// ifaceCore are the interface members the simulator models; everything
// else an interface carries is kept in iface.other.
var ifaceCore = map[string]bool{
	"_id": true, "devId": true, "parentDevId": true, "vlanTag": true, "name": true, "type": true, "isAssigned": true,
	"dhcp": true, "IPv4": true, "IPv4Mask": true, "gateway": true, "metric": true, "PublicIP": true, "PublicPort": true,
	"routing": true, "internetAccess": true, "linkStatus": true, "pathlabels": true,
}

func (s *Simulator) renderIfaceLocked(d *device, f *iface) []byte {
	w := wireIface{
		ID: f.id, DevID: f.devID, ParentDevID: f.parentDevID, VlanTag: f.vlanTag, Name: f.name, Type: f.typ,
		IsAssigned: f.assigned, DHCP: f.dhcp, IPv4: f.ipv4, IPv4Mask: f.ipv4Mask, Gateway: f.gateway, Metric: f.metric,
		PublicIP: f.publicIP, PublicPort: f.publicPort, Routing: f.routing, PathLabels: []wireLabel{},
	}
	if d.connected && f.assigned {
		w.LinkStatus = "up"
		if f.typ == "WAN" {
			w.InternetAccess = "yes"
		}
	}
	for _, lid := range f.labels {
		if l := s.labelByID[lid]; l != nil {
			w.PathLabels = append(w.PathLabels, l.wire())
		}
	}
	b, _ := json.Marshal(w)
	return splice(b, f.other, ifaceCore)
}

type wireRoute struct {
	ID          string `json:"_id"`
	Destination string `json:"destination"`
	Gateway     string `json:"gateway"`
	IfName      string `json:"ifname,omitempty"`
	Metric      string `json:"metric"`
}

var routeCore = map[string]bool{"_id": true, "destination": true, "gateway": true, "ifname": true, "metric": true, "status": true}

func (r *route) render() []byte {
	b, _ := json.Marshal(wireRoute{ID: r.id, Destination: r.destination, Gateway: r.gateway, IfName: r.ifname, Metric: r.metric})
	return splice(b, r.other, routeCore)
}

type wireDHCP struct {
	ID         string          `json:"_id"`
	Interface  string          `json:"interface"`
	RangeStart string          `json:"rangeStart"`
	RangeEnd   string          `json:"rangeEnd"`
	DNS        []string        `json:"dns"`
	MacAssign  json.RawMessage `json:"macAssign"`
	Status     string          `json:"status,omitempty"`
}

var dhcpCore = map[string]bool{"_id": true, "interface": true, "rangeStart": true, "rangeEnd": true, "dns": true, "macAssign": true, "status": true}

func (e *dhcpEntry) render(withStatus bool) []byte {
	w := wireDHCP{ID: e.id, Interface: e.iface, RangeStart: e.rangeStart, RangeEnd: e.rangeEnd, DNS: e.dns, MacAssign: e.macAssign}
	if w.DNS == nil {
		w.DNS = []string{}
	}
	if len(w.MacAssign) == 0 {
		w.MacAssign = json.RawMessage("[]")
	}
	if withStatus {
		w.Status = e.status
	}
	b, _ := json.Marshal(w)
	return splice(b, e.other, dhcpCore)
}

func joinRaw(parts [][]byte) json.RawMessage {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i, p := range parts {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(p)
	}
	buf.WriteByte(']')
	return buf.Bytes()
}

type wireDevice struct {
	ID              string          `json:"_id"`
	Org             string          `json:"org"`
	Account         string          `json:"account"`
	Name            string          `json:"name"`
	Description     string          `json:"description"`
	Site            string          `json:"site"`
	MachineID       string          `json:"machineId"`
	Hostname        string          `json:"hostname"`
	Serial          string          `json:"serial"`
	FromToken       string          `json:"fromToken"`
	IPList          string          `json:"ipList"`
	IsApproved      bool            `json:"isApproved"`
	IsConnected     bool            `json:"isConnected"`
	DeviceStatus    any             `json:"deviceStatus"`
	State           any             `json:"state"`
	Versions        wireVersions    `json:"versions"`
	Sync            wireSync        `json:"sync"`
	OrgInfo         map[string]any  `json:"orgInfo"`
	UpgradeSchedule map[string]any  `json:"upgradeSchedule"`
	Interfaces      json.RawMessage `json:"interfaces"`
	StaticRoutes    json.RawMessage `json:"staticroutes"`
	DHCP            json.RawMessage `json:"dhcp"`
}

// deviceCore are the device members the simulator models.
var deviceCore = map[string]bool{
	"_id": true, "org": true, "account": true, "name": true, "description": true, "site": true, "machineId": true,
	"hostname": true, "serial": true, "fromToken": true, "ipList": true, "isApproved": true, "isConnected": true,
	"deviceStatus": true, "state": true, "versions": true, "sync": true, "orgInfo": true, "upgradeSchedule": true,
	"interfaces": true, "staticroutes": true, "dhcp": true,
}

// listOmits are what GET /devices leaves out of each device.
var listOmits = map[string]bool{"bgp": true, "routingFilters": true, "advancedRouting": true, "applications": true, "labels": true}

var listSkip = func() map[string]bool {
	m := map[string]bool{}
	for k := range deviceCore {
		m[k] = true
	}
	for k := range listOmits {
		m[k] = true
	}
	return m
}()

// renderDeviceLocked renders a device as GET /devices/{id} (list=false) or
// GET /devices (list=true) shows it.
func (s *Simulator) renderDeviceLocked(d *device, list bool) []byte {
	w := wireDevice{
		ID: d.id, Org: d.org, Account: d.account, Name: d.name, Description: d.description, Site: d.site,
		MachineID: d.machineID, Hostname: d.hostname, Serial: d.serial, FromToken: "default", IPList: "",
		IsApproved: d.approved, IsConnected: d.connected,
		Versions:        wireVersions{d.versions.agent, d.versions.router, d.versions.device, d.versions.vpp, d.versions.frr},
		Sync:            wireSync{d.sync.state, d.sync.hash, d.sync.trials, d.sync.autoSync},
		UpgradeSchedule: map[string]any{"time": nil, "jobQueued": d.upgradeQueued},
	}
	if o := s.orgByID[d.org]; o != nil {
		w.OrgInfo = map[string]any{"vxlanPort": o.vxlanPort}
	}
	status := map[string]any{"state": d.state}
	switch {
	case d.connected:
		w.DeviceStatus, w.State = status, status
	case list:
		w.DeviceStatus, w.State = map[string]any{"state": "pending"}, "pending"
		w.Sync.State = "unknown"
	default:
		w.DeviceStatus, w.State = map[string]any{}, "pending"
	}
	parts := make([][]byte, len(d.ifaces))
	for i, f := range d.ifaces {
		parts[i] = s.renderIfaceLocked(d, f)
	}
	w.Interfaces = joinRaw(parts)
	parts = make([][]byte, len(d.routes))
	for i, r := range d.routes {
		parts[i] = r.render()
	}
	w.StaticRoutes = joinRaw(parts)
	parts = make([][]byte, len(d.dhcp))
	for i, e := range d.dhcp {
		parts[i] = e.render(true)
	}
	w.DHCP = joinRaw(parts)
	b, _ := json.Marshal(w)
	if list {
		return splice(b, d.other, listSkip)
	}
	return splice(b, d.other, deviceCore)
}
