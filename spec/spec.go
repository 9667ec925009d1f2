package spec

import (
	"fmt"
	"net/netip"
)

// Pos is where something was declared.
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"col"`
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// LabelType is a path label's type.
type LabelType string

const (
	LabelTunnel LabelType = "Tunnel"
	LabelDIA    LabelType = "DIA"
)

// RunState is a device's desired router state. The zero value means the
// state is not managed.
type RunState string

const (
	StateUnmanaged RunState = ""
	Running        RunState = "running"
	Stopped        RunState = "stopped"
)

// GroupTopology is how a tunnel group pairs its devices.
type GroupTopology string

const (
	FullMesh    GroupTopology = "fullMesh"
	HubAndSpoke GroupTopology = "hubAndSpoke"
)

// Spec is the desired state read from a source.
type Spec struct {
	PathLabels []PathLabel
	Devices    []Device
	Tunnels    []TunnelGroup
	Settings   Settings
	Files      []string // the files read, in order
}

// PathLabel is a declared path label.
type PathLabel struct {
	Name string
	Type LabelType
	// Color is "" when not declared: an existing label keeps its colour, a
	// new one gets DefaultColor(Name).
	Color string
	// Description is nil when not declared (an existing label keeps its own).
	Description *string
	Pos         Pos
}

// Device is a declared device.
type Device struct {
	Name      string
	MachineID string   // optional; matched before the name when set
	State     RunState // "" = not managed
	Version   string   // "" = not managed; else the minimum router version
	// Interfaces whose labels are managed. Other interfaces are left alone.
	Interfaces []Interface
	// Routes is the exact set of static routes when ManageRoutes.
	Routes       []Route
	ManageRoutes bool
	// DHCP is the exact set of DHCP servers when ManageDHCP.
	DHCP       []DHCP
	ManageDHCP bool
	Pos        Pos
}

// Interface is a device interface whose labels are managed.
type Interface struct {
	Ref        string   // interface name (e.g. eth0) or devId
	PathLabels []string // exact set; empty = no labels
	Pos        Pos
}

// Route is a static route. Interface is an interface name or devId, or "".
type Route struct {
	Destination netip.Prefix
	Gateway     netip.Addr
	Interface   string
	Metric      int // 0 when not declared
	Pos         Pos
}

// DHCP is a DHCP server on a LAN interface.
type DHCP struct {
	Interface  string
	RangeStart netip.Addr
	RangeEnd   netip.Addr
	DNS        []netip.Addr
	Pos        Pos
}

// TunnelGroup is a declared set of tunnels.
type TunnelGroup struct {
	Name     string // "" when not named; see Label
	Topology GroupTopology
	// Hub is the hub's device name (hubAndSpoke only).
	Hub string
	// Members are the device names the patterns expanded to, without
	// duplicates: patterns in declaration order, the names a glob matches
	// in lexical order. Every device for fullMesh, the spokes for
	// hubAndSpoke.
	Members []string
	// PathLabels are label names; empty means unlabeled interfaces only.
	PathLabels []string
	Pos        Pos
}

// Label is how the group is named in plans and logs: its name, or its
// position when it has none.
func (g *TunnelGroup) Label() string {
	if g.Name != "" {
		return g.Name
	}
	return fmt.Sprintf("%s group at %s", g.Topology, g.Pos)
}

// Devices returns every device of the group: the hub first for hubAndSpoke.
func (g *TunnelGroup) Devices() []string {
	if g.Topology == HubAndSpoke {
		return append([]string{g.Hub}, g.Members...)
	}
	return append([]string(nil), g.Members...)
}

// Settings are source-wide settings.
type Settings struct {
	Prune        bool
	MaxDeletions int
	Pos          Pos
}

// DefaultMaxDeletions is the maxDeletions of a source that does not set it.
const DefaultMaxDeletions = 10

// IsEmpty reports whether the source declares nothing at all.
func (s *Spec) IsEmpty() bool {
	return len(s.PathLabels) == 0 && len(s.Devices) == 0 && len(s.Tunnels) == 0
}

// Label returns the declared label with the given name, or nil.
func (s *Spec) Label(name string) *PathLabel {
	for i := range s.PathLabels {
		if s.PathLabels[i].Name == name {
			return &s.PathLabels[i]
		}
	}
	return nil
}

// Device returns the declared device with the given name, or nil.
func (s *Spec) Device(name string) *Device {
	for i := range s.Devices {
		if s.Devices[i].Name == name {
			return &s.Devices[i]
		}
	}
	return nil
}

// DefaultColor derives a stable colour for a label from its name.
func DefaultColor(name string) string {
	var h uint32 = 2166136261
	for i := 0; i < len(name); i++ {
		h = (h ^ uint32(name[i])) * 16777619
	}
	// Keep colours readable: no very dark or very light ones.
	r, g, b := 0x30+(h>>16)&0x9f, 0x30+(h>>8)&0x9f, 0x30+h&0x9f
	return fmt.Sprintf("#%02x%02x%02x", r, g, b)
}
