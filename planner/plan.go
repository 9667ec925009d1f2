package planner

import (
	"encoding/json"
	"fmt"
	"time"
)

// FormatVersion is the version of the Plan's JSON form. It changes when a
// saved plan of an older version could be misread.
const FormatVersion = 1

// Plan is an ordered list of API calls that takes the live state to the
// desired state. It is a plain value: it serialises to JSON, it is rendered
// by package render, and the executor runs it.
type Plan struct {
	FormatVersion int `json:"formatVersion"`
	// Revision is the source revision (a git commit SHA, or a digest of a
	// directory's files).
	Revision string `json:"revision"`
	// Source says where the desired state came from.
	Source string `json:"source,omitempty"`
	Org    Org    `json:"org"`
	// LiveFingerprint is live.State.Fingerprint of the state planned from.
	LiveFingerprint string    `json:"liveFingerprint"`
	CreatedAt       time.Time `json:"createdAt"`
	Prune           bool      `json:"prune"`
	MaxDeletions    int       `json:"maxDeletions"`

	Steps []Step `json:"steps"`
	// Unmanaged lists live objects between declared devices that the
	// source does not declare and that are kept (prune is off).
	Unmanaged []Unmanaged `json:"unmanaged,omitempty"`
	// Notes are things a reviewer should know that need no call.
	Notes   []string `json:"notes,omitempty"`
	Summary Summary  `json:"summary"`
}

// Org identifies the organization.
type Org struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool { return len(p.Steps) == 0 }

// Step is one API call.
type Step struct {
	ID     int    `json:"id"`
	Phase  Phase  `json:"phase"`
	Wave   int    `json:"wave,omitempty"` // upgrade batches, run one after another
	Action Action `json:"action"`
	Target string `json:"target"`
	// Reason explains the step to people. The executor never reads it.
	Reason string `json:"reason"`
	// After lists steps of the same phase whose answers must have arrived
	// before this one is sent (calls whose tunnels overlap).
	After []int `json:"after,omitempty"`
	// Request is what will be sent. Ids that do not exist yet (labels
	// created by an earlier step) appear as "$label:<name>"; a device PUT
	// shows only the members it changes, merged at apply time into the
	// device as GET /devices/{id} returns it.
	Request      Request `json:"request"`
	ExpectedJobs int     `json:"expectedJobs"`

	Label   *LabelParams   `json:"label,omitempty"`
	Devices []DeviceRef    `json:"devices,omitempty"`
	Tunnels *TunnelsParams `json:"tunnels,omitempty"`
	// Creates lists the tunnels a tunnels call creates.
	Creates []TunnelRef `json:"creates,omitempty"`
	// Deletes lists the tunnels a deltunnels call deletes.
	Deletes []TunnelRef `json:"deletes,omitempty"`
	// Repairs lists the half-configured tunnels a sync repairs.
	Repairs []TunnelRef    `json:"repairs,omitempty"`
	Modify  *DeviceEdit    `json:"modify,omitempty"`
	Upgrade *UpgradeParams `json:"upgrade,omitempty"`
}

// Request is an HTTP request of flexiManage's API.
type Request struct {
	Method string          `json:"method"`
	Path   string          `json:"path"`
	Body   json.RawMessage `json:"body,omitempty"`
}

// DeviceRef names a device.
type DeviceRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// LabelParams are a path label's values.
type LabelParams struct {
	ID          string   `json:"id,omitempty"`
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	Color       string   `json:"color"`
	Description string   `json:"description"`
	Changes     []string `json:"changes,omitempty"`
}

// TunnelsParams are a tunnels call's pairing.
type TunnelsParams struct {
	Topology string    `json:"topology"`
	Hub      DeviceRef `json:"hub,omitempty"`
	// Labels are label names; empty means unlabeled interfaces only.
	Labels []string `json:"labels"`
	// Group is the declared group the call stands for, if any.
	Group string `json:"group,omitempty"`
}

// TunnelRef is a tunnel by its ends and label.
type TunnelRef struct {
	ID    string `json:"id,omitempty"` // live id (deletes and repairs)
	A     EndRef `json:"a"`
	B     EndRef `json:"b"`
	Label string `json:"label,omitempty"`
	// Pending: an interface has no IPv4 address; flexiManage stores the
	// tunnel as pending and sends no job.
	Pending bool `json:"pending,omitempty"`
}

func (t TunnelRef) String() string {
	l := t.Label
	if l == "" {
		l = "unlabeled"
	}
	return fmt.Sprintf("%s/%s <-> %s/%s [%s]", t.A.Device, t.A.Interface, t.B.Device, t.B.Interface, l)
}

// EndRef is one end of a tunnel.
type EndRef struct {
	Device    string `json:"device"`
	DeviceID  string `json:"deviceId"`
	Interface string `json:"interface"`
	DevID     string `json:"devId"`
}

// DeviceEdit is what a device PUT changes. Only the interfaces listed get
// new labels; Routes and DHCP, when not nil, replace the device's lists.
type DeviceEdit struct {
	Device     DeviceRef   `json:"device"`
	Interfaces []IfaceEdit `json:"interfaces,omitempty"`
	Routes     *[]Route    `json:"routes,omitempty"`
	DHCP       *[]DHCP     `json:"dhcp,omitempty"`
	// Changes describe the edit for people, one line each.
	Changes []string `json:"changes"`
}

// IfaceEdit sets an interface's labels.
type IfaceEdit struct {
	DevID  string   `json:"devId"`
	Name   string   `json:"name"`
	From   []string `json:"from"`
	Labels []string `json:"labels"`
}

// Route is a static route as the device PUT sends it.
type Route struct {
	ID          string `json:"id,omitempty"` // kept for routes that already exist
	Destination string `json:"destination"`
	Gateway     string `json:"gateway"`
	IfName      string `json:"ifname,omitempty"`
	Metric      string `json:"metric,omitempty"`
}

// DHCP is a DHCP server as the device PUT sends it.
type DHCP struct {
	ID         string   `json:"id,omitempty"`
	Interface  string   `json:"interface"`
	RangeStart string   `json:"rangeStart"`
	RangeEnd   string   `json:"rangeEnd"`
	DNS        []string `json:"dns"`
}

// UpgradeParams say what an upgrade aims at.
type UpgradeParams struct {
	From map[string]string `json:"from"` // device name → version now
	To   map[string]string `json:"to"`   // device name → declared version
}

// Unmanaged is a live object kept because the source does not declare it.
type Unmanaged struct {
	Kind string `json:"kind"` // tunnel | pathLabel
	Name string `json:"name"`
	ID   string `json:"id"`
}

// Summary counts what the plan does.
type Summary struct {
	Calls           int `json:"calls"`
	ExpectedJobs    int `json:"expectedJobs"`
	LabelsCreated   int `json:"labelsCreated"`
	LabelsUpdated   int `json:"labelsUpdated"`
	LabelsDeleted   int `json:"labelsDeleted"`
	DevicesChanged  int `json:"devicesModified"`
	TunnelsCreated  int `json:"tunnelsCreated"`
	TunnelsDeleted  int `json:"tunnelsDeleted"`
	TunnelsRepaired int `json:"tunnelsRepaired"`
	RoutesAdded     int `json:"routesAdded"`
	RoutesChanged   int `json:"routesChanged"`
	RoutesRemoved   int `json:"routesRemoved"`
	DHCPAdded       int `json:"dhcpAdded"`
	DHCPChanged     int `json:"dhcpChanged"`
	DHCPRemoved     int `json:"dhcpRemoved"`
	Started         int `json:"devicesStarted"`
	Stopped         int `json:"devicesStopped"`
	Upgraded        int `json:"devicesUpgraded"`
	Deletions       int `json:"deletions"`
	Unmanaged       int `json:"unmanaged"`
}
