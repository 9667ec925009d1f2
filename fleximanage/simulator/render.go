package simulator

import (
	"bytes"
	"encoding/json"
	"sort"
)

// splice appends the members of extra (sorted, skipping those in skip) to
// the JSON object b. Values are written as encoding/json would write a
// RawMessage (compact, HTML-escaped), so the result can be embedded in
// other rendered JSON as is.
func splice(b []byte, extra map[string]json.RawMessage, skip map[string]bool) []byte {
	var keys []string
	return spliceSorted(b, extra, skip, &keys)
}

// spliceSorted is splice with a cache of extra's sorted keys in *keys (see
// sortedKeysCached); the caller holds s.mu.
func spliceSorted(b []byte, extra map[string]json.RawMessage, skip map[string]bool, keys *[]string) []byte {
	if len(extra) == 0 {
		return b
	}
	open := false
	for _, k := range sortedKeysCached(extra, keys) {
		if skip[k] {
			continue
		}
		if !open {
			b = bytes.TrimRight(b, " \n")
			b = b[:len(b)-1] // drop '}'
			open = true
			if b[len(b)-1] != '{' {
				b = append(b, ',')
			}
		} else {
			b = append(b, ',')
		}
		b = appendQuotedKey(b, k)
		b = append(b, ':')
		b = appendRawJSON(b, extra[k])
	}
	if open {
		b = append(b, '}')
	}
	return b
}

// sortedKeysCached returns the keys of m in order. *cache is reused when it
// still holds exactly m's keys (as many, all present), so a stale cache can
// cost a sort but never give a wrong answer.
func sortedKeysCached(m map[string]json.RawMessage, cache *[]string) []string {
	if c := *cache; len(c) == len(m) {
		same := true
		for _, k := range c {
			if _, ok := m[k]; !ok {
				same = false
				break
			}
		}
		if same {
			return c
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	*cache = keys
	return keys
}

// appendQuotedKey appends k as a JSON string, with a fast path for the
// usual member name: printable ASCII without quote or backslash. (Not
// strconv.AppendQuote: its \x7f, \a and \U escapes are not JSON.)
func appendQuotedKey(b []byte, k string) []byte {
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(k) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, k...)
	return append(b, '"')
}

// appendRawJSON appends v as encoding/json writes a json.RawMessage:
// compacted, with < > & U+2028 U+2029 escaped. Values without whitespace
// or those characters (nearly all) are copied as they are.
func appendRawJSON(b []byte, v json.RawMessage) []byte {
	plain := true
	for _, c := range v {
		switch c {
		case ' ', '\t', '\r', '\n', '<', '>', '&', 0xe2: // 0xe2 starts U+2028 and U+2029
			plain = false
		}
	}
	if plain {
		return append(b, v...)
	}
	var c, e bytes.Buffer
	if json.Compact(&c, v) != nil {
		return append(b, v...)
	}
	json.HTMLEscape(&e, c.Bytes())
	return append(b, e.Bytes()...)
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
	return s.appendIfaceLocked(nil, d, f)
}

// appendIfaceLocked appends the interface's JSON to b.
func (s *Simulator) appendIfaceLocked(b []byte, d *device, f *iface) []byte {
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
	m, _ := json.Marshal(w)
	return spliceSorted(append(b, m...), f.other, ifaceCore, &f.otherKeys)
}

type wireRoute struct {
	ID          string `json:"_id"`
	Destination string `json:"destination"`
	Gateway     string `json:"gateway"`
	IfName      string `json:"ifname,omitempty"`
	Metric      string `json:"metric"`
}

var routeCore = map[string]bool{"_id": true, "destination": true, "gateway": true, "ifname": true, "metric": true, "status": true}

func (r *route) render() []byte { return r.appendTo(nil) }

func (r *route) appendTo(b []byte) []byte {
	m, _ := json.Marshal(wireRoute{ID: r.id, Destination: r.destination, Gateway: r.gateway, IfName: r.ifname, Metric: r.metric})
	return splice(append(b, m...), r.other, routeCore)
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

func (e *dhcpEntry) render(withStatus bool) []byte { return e.appendTo(nil, withStatus) }

func (e *dhcpEntry) appendTo(b []byte, withStatus bool) []byte {
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
	m, _ := json.Marshal(w)
	return splice(append(b, m...), e.other, dhcpCore)
}

func joinRaw(parts [][]byte) json.RawMessage {
	n := 2 + len(parts)
	for _, p := range parts {
		n += len(p)
	}
	var buf bytes.Buffer
	buf.Grow(n) // one allocation: a page of devices is megabytes
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
	ID              string       `json:"_id"`
	Org             string       `json:"org"`
	Account         string       `json:"account"`
	Name            string       `json:"name"`
	Description     string       `json:"description"`
	Site            string       `json:"site"`
	MachineID       string       `json:"machineId"`
	Hostname        string       `json:"hostname"`
	Serial          string       `json:"serial"`
	FromToken       string       `json:"fromToken"`
	IPList          string       `json:"ipList"`
	IsApproved      bool         `json:"isApproved"`
	IsConnected     bool         `json:"isConnected"`
	DeviceStatus    any          `json:"deviceStatus"`
	State           any          `json:"state"`
	Versions        wireVersions `json:"versions"`
	Sync            wireSync     `json:"sync"`
	OrgInfo         *wireOrgInfo `json:"orgInfo"`
	UpgradeSchedule wireUpgrade  `json:"upgradeSchedule"`
	// interfaces, staticroutes and dhcp follow, appended by
	// renderDeviceLocked (already rendered: no second compaction).
}

type wireOrgInfo struct {
	VxlanPort string `json:"vxlanPort"`
}

type wireUpgrade struct {
	JobQueued bool    `json:"jobQueued"`
	Time      *string `json:"time"`
}

type wireState struct {
	State string `json:"state"`
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
	return s.appendDeviceLocked(nil, d, list)
}

// appendDeviceLocked appends the device's JSON to b: a page of devices is
// rendered into one buffer.
func (s *Simulator) appendDeviceLocked(b []byte, d *device, list bool) []byte {
	w := wireDevice{
		ID: d.id, Org: d.org, Account: d.account, Name: d.name, Description: d.description, Site: d.site,
		MachineID: d.machineID, Hostname: d.hostname, Serial: d.serial, FromToken: "default", IPList: "",
		IsApproved: d.approved, IsConnected: d.connected,
		Versions:        wireVersions{d.versions.agent, d.versions.router, d.versions.device, d.versions.vpp, d.versions.frr},
		Sync:            wireSync{d.sync.state, d.sync.hash, d.sync.trials, d.sync.autoSync},
		UpgradeSchedule: wireUpgrade{JobQueued: d.upgradeQueued},
	}
	if o := s.orgByID[d.org]; o != nil {
		w.OrgInfo = &wireOrgInfo{VxlanPort: o.vxlanPort}
	}
	status := wireState{State: d.state}
	switch {
	case d.connected:
		w.DeviceStatus, w.State = status, status
	case list:
		w.DeviceStatus, w.State = wireState{State: "pending"}, "pending"
		w.Sync.State = "unknown"
	default:
		w.DeviceStatus, w.State = struct{}{}, "pending"
	}
	m, _ := json.Marshal(w)
	b = append(b, m[:len(m)-1]...)
	b = append(b, `,"interfaces":[`...)
	for i, f := range d.ifaces {
		if i > 0 {
			b = append(b, ',')
		}
		b = s.appendIfaceLocked(b, d, f)
	}
	b = append(b, `],"staticroutes":[`...)
	for i, r := range d.routes {
		if i > 0 {
			b = append(b, ',')
		}
		b = r.appendTo(b)
	}
	b = append(b, `],"dhcp":[`...)
	for i, e := range d.dhcp {
		if i > 0 {
			b = append(b, ',')
		}
		b = e.appendTo(b, true)
	}
	b = append(b, "]}"...)
	if list {
		return spliceSorted(b, d.other, listSkip, &d.otherKeys)
	}
	return spliceSorted(b, d.other, deviceCore, &d.otherKeys)
}
