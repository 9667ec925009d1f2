// Package live is the model of a flexiManage organization's state as the
// reconciler sees it: path labels, devices with their interfaces, static
// routes and DHCP, and active tunnels, keyed by names and natural keys
// (fleximanage/API.md §6.3). It is a plain value: reading it from
// flexiManage is liveread's job, comparing it with the desired state is
// diff's.
package live

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"sort"
)

// State is one read of an organization.
type State struct {
	Org     Org      `json:"org"`
	Labels  []Label  `json:"labels"`
	Devices []Device `json:"devices"`
	Tunnels []Tunnel `json:"tunnels"`
}

// Org is the organization.
type Org struct {
	ID               string `json:"id"`
	Name             string `json:"name"`
	EncryptionMethod string `json:"encryptionMethod"`
	TunnelRange      string `json:"tunnelRange"`
}

// Label is a path label.
type Label struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Type        string `json:"type"` // Tunnel | DIA
	Color       string `json:"color"`
	Description string `json:"description"`
}

// Device is a device with what the reconciler manages of it.
type Device struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	MachineID string `json:"machineId"`
	Hostname  string `json:"hostname"`
	Approved  bool   `json:"approved"`
	Connected bool   `json:"connected"`
	// State is the router state: running, stopped, failed, pending, or ""
	// when flexiManage does not know it (a disconnected device).
	State string `json:"state"`
	// Version is versions.device, RouterVersion versions.router.
	Version       string      `json:"version"`
	RouterVersion string      `json:"routerVersion"`
	AgentVersion  string      `json:"agentVersion"`
	Interfaces    []Interface `json:"interfaces"`
	Routes        []Route     `json:"routes"`
	DHCP          []DHCP      `json:"dhcp"`
}

// Interface is a device interface.
type Interface struct {
	ID       string   `json:"id"` // what tunnels reference
	DevID    string   `json:"devId"`
	Name     string   `json:"name"`
	Type     string   `json:"type"` // WAN | LAN | TRUNK | NONE
	Assigned bool     `json:"assigned"`
	IPv4     string   `json:"ipv4"`
	IPv4Mask string   `json:"ipv4Mask"`
	Labels   []string `json:"labels"` // label names
}

// IsWAN reports whether flexiManage builds tunnels on the interface.
func (f *Interface) IsWAN() bool { return f.Assigned && f.Type == "WAN" }

// Route is a static route. IfName is an interface devId or "".
type Route struct {
	ID          string `json:"id"`
	Destination string `json:"destination"`
	Gateway     string `json:"gateway"`
	IfName      string `json:"ifname"`
	Metric      string `json:"metric"`
}

// DHCP is a DHCP server entry. Interface is a devId.
type DHCP struct {
	ID         string   `json:"id"`
	Interface  string   `json:"interface"`
	RangeStart string   `json:"rangeStart"`
	RangeEnd   string   `json:"rangeEnd"`
	DNS        []string `json:"dns"`
	Status     string   `json:"status"`
}

// Tunnel is an active tunnel.
type Tunnel struct {
	ID            string `json:"id"`
	Num           int    `json:"num"`
	A             End    `json:"a"`
	B             End    `json:"b"`
	Label         string `json:"label"` // label name, "" = unlabeled
	AConf         bool   `json:"aConf"`
	BConf         bool   `json:"bConf"`
	Pending       bool   `json:"pending"`
	PendingReason string `json:"pendingReason"`
}

// End is one end of a tunnel.
type End struct {
	DeviceID   string `json:"deviceId"`
	DeviceName string `json:"deviceName"`
	IfaceID    string `json:"ifaceId"`
	DevID      string `json:"devId"`
	IfaceName  string `json:"ifaceName"`
}

// TunnelKey is a tunnel's natural key: the unordered pair of (device id,
// interface devId) plus the label name. flexiManage reuses _id and num, so
// they are never part of it.
type TunnelKey struct {
	A, B  EndKey
	Label string
}

// EndKey is one end of a TunnelKey.
type EndKey struct {
	Device string // device id
	DevID  string // interface devId
}

// NewTunnelKey orders the ends so that equal tunnels have equal keys.
func NewTunnelKey(a, b EndKey, label string) TunnelKey {
	if b.Device < a.Device || (b.Device == a.Device && b.DevID < a.DevID) {
		a, b = b, a
	}
	return TunnelKey{A: a, B: b, Label: label}
}

// Key returns the tunnel's natural key.
func (t *Tunnel) Key() TunnelKey {
	return NewTunnelKey(EndKey{t.A.DeviceID, t.A.DevID}, EndKey{t.B.DeviceID, t.B.DevID}, t.Label)
}

// Device returns the device with the given id, or nil.
func (s *State) Device(id string) *Device {
	for i := range s.Devices {
		if s.Devices[i].ID == id {
			return &s.Devices[i]
		}
	}
	return nil
}

// Label returns the label with the given name, or nil.
func (s *State) Label(name string) *Label {
	for i := range s.Labels {
		if s.Labels[i].Name == name {
			return &s.Labels[i]
		}
	}
	return nil
}

// Interface returns the interface whose name or devId is ref, or nil. A
// name is preferred over a devId.
func (d *Device) Interface(ref string) *Interface {
	for i := range d.Interfaces {
		if d.Interfaces[i].Name == ref {
			return &d.Interfaces[i]
		}
	}
	for i := range d.Interfaces {
		if d.Interfaces[i].DevID == ref {
			return &d.Interfaces[i]
		}
	}
	return nil
}

// InterfaceByDevID returns the interface with the given devId, or nil.
func (d *Device) InterfaceByDevID(devID string) *Interface {
	for i := range d.Interfaces {
		if d.Interfaces[i].DevID == devID {
			return &d.Interfaces[i]
		}
	}
	return nil
}

// Fingerprint is a digest of everything a plan depends on, so that a saved
// plan can be refused when the organization changed after it was made.
// Connectivity and tunnel status are left out: they change all the time
// and do not change what a plan sends.
func (s *State) Fingerprint() string {
	h := sha256.New()
	w := &fpWriter{w: h}
	w.str("live/v1", s.Org.ID, s.Org.Name, s.Org.EncryptionMethod, s.Org.TunnelRange)
	for _, i := range order(len(s.Labels), func(i int) string { return s.Labels[i].ID }) {
		l := &s.Labels[i]
		w.str("label", l.ID, l.Name, l.Type, l.Color, l.Description)
	}
	for _, i := range order(len(s.Devices), func(i int) string { return s.Devices[i].ID }) {
		d := &s.Devices[i]
		w.str("device", d.ID, d.Name, d.MachineID, d.Hostname, d.State, d.Version, d.RouterVersion, d.AgentVersion)
		w.flag(d.Approved)
		for _, j := range order(len(d.Interfaces), func(j int) string { return d.Interfaces[j].DevID }) {
			f := &d.Interfaces[j]
			w.str("iface", f.ID, f.DevID, f.Name, f.Type, f.IPv4, f.IPv4Mask)
			w.flag(f.Assigned)
			w.str(sortedCopy(f.Labels)...)
		}
		for _, j := range order(len(d.Routes), func(j int) string { return d.Routes[j].ID }) {
			r := &d.Routes[j]
			w.str("route", r.ID, r.Destination, r.Gateway, r.IfName, r.Metric)
		}
		for _, j := range order(len(d.DHCP), func(j int) string { return d.DHCP[j].ID }) {
			e := &d.DHCP[j]
			w.str("dhcp", e.ID, e.Interface, e.RangeStart, e.RangeEnd)
			w.str(e.DNS...)
		}
	}
	for _, i := range order(len(s.Tunnels), func(i int) string { return s.Tunnels[i].ID }) {
		t := &s.Tunnels[i]
		w.str("tunnel", t.ID, t.A.DeviceID, t.A.IfaceID, t.A.DevID, t.B.DeviceID, t.B.IfaceID, t.B.DevID, t.Label, t.PendingReason)
		w.num(t.Num)
		w.flag(t.AConf)
		w.flag(t.BConf)
		w.flag(t.Pending)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// fpWriter feeds values to a hash unambiguously: each string is preceded by
// its length, each list by its count.
type fpWriter struct {
	w   io.Writer
	buf [binary.MaxVarintLen64]byte
}

func (f *fpWriter) num(n int) {
	k := binary.PutVarint(f.buf[:], int64(n))
	f.w.Write(f.buf[:k])
}

func (f *fpWriter) flag(b bool) {
	if b {
		f.num(1)
	} else {
		f.num(0)
	}
}

func (f *fpWriter) str(ss ...string) {
	f.num(len(ss))
	for _, s := range ss {
		f.num(len(s))
		io.WriteString(f.w, s)
	}
}

// order returns the indexes 0..n-1 sorted by key.
func order(n int, key func(int) string) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return key(idx[a]) < key(idx[b]) })
	return idx
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// String renders a tunnel key with device and interface names from s.
func (s *State) DescribeKey(k TunnelKey) string {
	end := func(e EndKey) string {
		d := s.Device(e.Device)
		if d == nil {
			return e.Device + "/" + e.DevID
		}
		name := e.DevID
		if f := d.InterfaceByDevID(e.DevID); f != nil {
			name = f.Name
		}
		return d.Name + "/" + name
	}
	a, b := end(k.A), end(k.B)
	if b < a {
		a, b = b, a
	}
	lbl := "unlabeled"
	if k.Label != "" {
		lbl = k.Label
	}
	return a + " <-> " + b + " [" + lbl + "]"
}
