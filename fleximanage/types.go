package fleximanage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// FlexString is a string member that flexiManage sometimes sends as a number
// (metrics, masks, ports). It decodes from either and encodes as a string.
type FlexString string

func (s *FlexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*s = ""
	case len(b) > 0 && b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = FlexString(v)
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("want a string or a number, got %s", b)
		}
		*s = FlexString(n.String())
	}
	return nil
}

// Organization is one element of GET /organizations.
type Organization struct {
	ID               string     `json:"_id"`
	Name             string     `json:"name"`
	Description      string     `json:"description"`
	Account          string     `json:"account"`
	Group            string     `json:"group"`
	EncryptionMethod string     `json:"encryptionMethod"`
	VxlanPort        FlexString `json:"vxlanPort"`
	TunnelRange      string     `json:"tunnelRange"`
}

// PathLabelType is a path label's type. flexiManage's default is DIA;
// labels that carry tunnels must be Tunnel.
type PathLabelType string

const (
	PathLabelDIA    PathLabelType = "DIA"
	PathLabelTunnel PathLabelType = "Tunnel"
)

// PathLabel is a path label as listed by GET /pathlabels and as populated in
// a device interface's pathlabels. In a device PUT only _id matters.
type PathLabel struct {
	ID          string        `json:"_id"`
	Name        string        `json:"name,omitempty"`
	Description string        `json:"description,omitempty"`
	Color       string        `json:"color,omitempty"`
	Type        PathLabelType `json:"type,omitempty"`
}

// PathLabelRequest is the body of POST and PUT /pathlabels. PUT is a full
// replacement, so every field is always sent.
type PathLabelRequest struct {
	Name        string        `json:"name"`
	Description string        `json:"description"`
	Color       string        `json:"color"`
	Type        PathLabelType `json:"type"`
}

// Versions are the software versions a device reports.
type Versions struct {
	Agent  string `json:"agent,omitempty"`
	Router string `json:"router,omitempty"`
	Device string `json:"device,omitempty"`
	VPP    string `json:"vpp,omitempty"`
	FRR    string `json:"frr,omitempty"`
}

// SyncStatus is a device's configuration sync state.
type SyncStatus struct {
	State    string `json:"state,omitempty"`
	Hash     string `json:"hash,omitempty"`
	Trials   int    `json:"trials,omitempty"`
	AutoSync string `json:"autoSync,omitempty"`
}

// Device is a device as returned by GET /devices and GET /devices/{id}.
// Build PUT bodies from GET /devices/{id}: the list omits members (bgp,
// routingFilters, ...) that a PUT would then wipe.
type Device struct {
	ID           string          `json:"_id"`
	Org          string          `json:"org"`
	Name         string          `json:"name"`
	Description  string          `json:"description"`
	Site         string          `json:"site"`
	MachineID    string          `json:"machineId"`
	Hostname     string          `json:"hostname"`
	IsApproved   bool            `json:"isApproved"`
	IsConnected  bool            `json:"isConnected"`
	DeviceStatus json.RawMessage `json:"deviceStatus"`
	State        json.RawMessage `json:"state"`
	Versions     Versions        `json:"versions"`
	Sync         SyncStatus      `json:"sync"`
	Interfaces   []Interface     `json:"interfaces"`
	StaticRoutes []StaticRoute   `json:"staticroutes"`
	DHCP         []DHCP          `json:"dhcp"`

	raw Fields
}

func (d *Device) UnmarshalJSON(b []byte) error {
	type plain Device
	var p plain
	raw, err := unmarshalKeeping(b, &p)
	if err != nil {
		return err
	}
	*d = Device(p)
	d.raw = raw
	return nil
}

func (d Device) MarshalJSON() ([]byte, error) {
	type plain Device
	return marshalKeeping(plain(d), d.raw)
}

// RunState returns the router state (running, stopped, failed, pending) the
// device reports: deviceStatus.state, else state as a string or as an
// object with a state member. It is "" when flexiManage knows none (a
// disconnected device).
func (d *Device) RunState() string {
	var obj struct {
		State string `json:"state"`
	}
	if json.Unmarshal(d.DeviceStatus, &obj) == nil && obj.State != "" {
		return obj.State
	}
	var s string
	if json.Unmarshal(d.State, &s) == nil {
		return s
	}
	if json.Unmarshal(d.State, &obj) == nil {
		return obj.State
	}
	return ""
}

// Interface returns the interface with the given devId, or nil.
func (d *Device) Interface(devID string) *Interface {
	for i := range d.Interfaces {
		if d.Interfaces[i].DevID == devID {
			return &d.Interfaces[i]
		}
	}
	return nil
}

// Interface types as flexiManage stores them.
const (
	InterfaceWAN   = "WAN"
	InterfaceLAN   = "LAN"
	InterfaceTrunk = "TRUNK"
	InterfaceNone  = "NONE"
)

// Interface is one element of a device's interfaces. _id is what tunnels
// reference and must always be sent back; devId is the stable address.
type Interface struct {
	ID         string      `json:"_id"`
	DevID      string      `json:"devId"`
	Name       string      `json:"name"`
	Type       string      `json:"type"`
	IsAssigned bool        `json:"isAssigned"`
	DHCP       string      `json:"dhcp"`
	IPv4       string      `json:"IPv4"`
	IPv4Mask   FlexString  `json:"IPv4Mask"`
	Gateway    string      `json:"gateway"`
	Metric     FlexString  `json:"metric"`
	PublicIP   string      `json:"PublicIP"`
	Routing    string      `json:"routing"`
	PathLabels []PathLabel `json:"pathlabels"`

	raw Fields
}

func (f *Interface) UnmarshalJSON(b []byte) error {
	type plain Interface
	var p plain
	raw, err := unmarshalKeeping(b, &p)
	if err != nil {
		return err
	}
	*f = Interface(p)
	f.raw = raw
	return nil
}

func (f Interface) MarshalJSON() ([]byte, error) {
	type plain Interface
	return marshalKeeping(plain(f), f.raw)
}

// IsWAN reports whether the interface is an assigned WAN, the only kind
// flexiManage builds tunnels on.
func (f *Interface) IsWAN() bool { return f.IsAssigned && f.Type == InterfaceWAN }

// StaticRoute is one element of a device's staticroutes. ifname is the
// interface devId; metric is a string.
type StaticRoute struct {
	ID          string     `json:"_id,omitempty"`
	Destination string     `json:"destination"`
	Gateway     string     `json:"gateway"`
	IfName      string     `json:"ifname"`
	Metric      FlexString `json:"metric"`

	raw Fields
}

func (r *StaticRoute) UnmarshalJSON(b []byte) error {
	type plain StaticRoute
	var p plain
	raw, err := unmarshalKeeping(b, &p)
	if err != nil {
		return err
	}
	*r = StaticRoute(p)
	r.raw = raw
	return nil
}

func (r StaticRoute) MarshalJSON() ([]byte, error) {
	type plain StaticRoute
	return marshalKeeping(plain(r), r.raw)
}

// DHCP is one DHCP server entry, in a device's dhcp or from the /dhcp
// endpoints. macAssign must always be an array, even empty.
type DHCP struct {
	ID         string            `json:"_id,omitempty"`
	Interface  string            `json:"interface"`
	RangeStart string            `json:"rangeStart"`
	RangeEnd   string            `json:"rangeEnd"`
	DNS        []string          `json:"dns"`
	MacAssign  []json.RawMessage `json:"macAssign"`
	Status     string            `json:"status,omitempty"`

	raw Fields
}

func (d *DHCP) UnmarshalJSON(b []byte) error {
	type plain DHCP
	var p plain
	raw, err := unmarshalKeeping(b, &p)
	if err != nil {
		return err
	}
	*d = DHCP(p)
	d.raw = raw
	return nil
}

func (d DHCP) MarshalJSON() ([]byte, error) {
	type plain DHCP
	if d.MacAssign == nil {
		d.MacAssign = []json.RawMessage{}
	}
	if d.DNS == nil {
		d.DNS = []string{}
	}
	return marshalKeeping(plain(d), d.raw)
}

// DeviceStatus is the answer of GET /devices/{id}/status.
type DeviceStatus struct {
	Sync       SyncStatus        `json:"sync"`
	IsApproved bool              `json:"isApproved"`
	Connection string            `json:"connection"` // connected | disconnected
	Interfaces []InterfaceStatus `json:"interfaces"`
	LTEStatus  json.RawMessage   `json:"lteStatus,omitempty"`
	WiFiStatus json.RawMessage   `json:"wifiStatus,omitempty"`
}

// InterfaceStatus is the link state of one interface.
type InterfaceStatus struct {
	DevID          string `json:"devId"`
	InternetAccess string `json:"internetAccess"`
	LinkStatus     string `json:"linkStatus"`
}

// TunnelDevice is one end of a tunnel as GET /tunnels (and, with fewer
// members, GET /devices/{id}/tunnels) shows it.
type TunnelDevice struct {
	ID          string `json:"_id"`
	MachineID   string `json:"machineId"`
	Name        string `json:"name"`
	Hostname    string `json:"hostname"`
	IsConnected bool   `json:"isConnected"`
}

// TunnelInterface is interfaceADetails / interfaceBDetails of a listed tunnel.
type TunnelInterface struct {
	Name     string     `json:"name"`
	DevID    string     `json:"devId"`
	IPv4     string     `json:"IPv4"`
	PublicIP string     `json:"PublicIP"`
	PubPort  FlexString `json:"PublicPort"`
}

// TunnelLabel is a tunnel's path label. GET /tunnels gives only name and
// color (no _id); GET /devices/{id}/tunnels gives the whole label.
type TunnelLabel struct {
	ID    string        `json:"_id,omitempty"`
	Name  string        `json:"name"`
	Color string        `json:"color,omitempty"`
	Type  PathLabelType `json:"type,omitempty"`
}

// TunnelOrg is the org member of a tunnel.
type TunnelOrg struct {
	ID          string     `json:"_id"`
	TunnelRange string     `json:"tunnelRange"`
	VxlanPort   FlexString `json:"vxlanPort"`
}

// AdvancedOptions are a tunnel's advanced options, as stored and as sent in
// a tunnels apply (where the object itself is required).
type AdvancedOptions struct {
	MTU      FlexString `json:"mtu"`
	MSSClamp string     `json:"mssClamp"`
	OSPFCost FlexString `json:"ospfCost"`
	OSPFArea FlexString `json:"ospfArea,omitempty"`
	Routing  string     `json:"routing"`
}

// Tunnel is an active tunnel. The PSK material flexiManage includes in
// GET /devices/{id}/tunnels (tunnelKeys) is deliberately not modelled, so it
// is dropped on decoding and can never be logged.
type Tunnel struct {
	ID                string          `json:"_id"`
	Num               int             `json:"num"`
	IsActive          bool            `json:"isActive"`
	DeviceA           TunnelDevice    `json:"deviceA"`
	DeviceB           TunnelDevice    `json:"deviceB"`
	InterfaceA        string          `json:"interfaceA"`
	InterfaceB        string          `json:"interfaceB"`
	InterfaceADetails TunnelInterface `json:"interfaceADetails"`
	InterfaceBDetails TunnelInterface `json:"interfaceBDetails"`
	PathLabel         *TunnelLabel    `json:"pathlabel,omitempty"`
	EncryptionMethod  string          `json:"encryptionMethod"`
	AdvancedOptions   AdvancedOptions `json:"advancedOptions"`
	DeviceAconf       bool            `json:"deviceAconf"`
	DeviceBconf       bool            `json:"deviceBconf"`
	IsPending         bool            `json:"isPending"`
	PendingReason     string          `json:"pendingReason"`
	TunnelStatus      string          `json:"tunnelStatus"`
	Org               TunnelOrg       `json:"org"`
}

// LabelName returns the tunnel's path label name, "" for an unlabeled tunnel.
func (t *Tunnel) LabelName() string {
	if t.PathLabel == nil {
		return ""
	}
	return t.PathLabel.Name
}

// JobState is a kue job state, as flexiManage returns it.
type JobState string

const (
	JobInactive JobState = "inactive"
	JobActive   JobState = "active"
	JobComplete JobState = "complete"
	JobFailed   JobState = "failed"
	JobDelayed  JobState = "delayed"
)

// Terminal reports whether the job will not change state again.
func (s JobState) Terminal() bool { return s == JobComplete || s == JobFailed }

// ParseJobState returns the state named s, or an error for anything that is
// not a kue state.
func ParseJobState(s string) (JobState, error) {
	switch st := JobState(s); st {
	case JobInactive, JobActive, JobComplete, JobFailed, JobDelayed:
		return st, nil
	}
	return "", fmt.Errorf("unknown job state %q", s)
}

// JobID is a kue job id. flexiManage sends it as a number in lists and
// sometimes as a numeric string in GET /jobs/{id}.
type JobID int64

func (id *JobID) UnmarshalJSON(b []byte) error {
	var s FlexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	n, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil {
		return fmt.Errorf("job id %s is not an integer", b)
	}
	*id = JobID(n)
	return nil
}

func (id JobID) String() string { return strconv.FormatInt(int64(id), 10) }

// JobDevice is the device member of a listed job.
type JobDevice struct {
	ID        string `json:"_id"`
	MachineID string `json:"machineId"`
	Name      string `json:"name"`
	Hostname  string `json:"hostname"`
}

// JobTask is one message of a job.
type JobTask struct {
	Entity  string          `json:"entity"`
	Message string          `json:"message"`
	Params  json.RawMessage `json:"params,omitempty"`
}

// JobResponse is data.response (and result): the method and its data.
type JobResponse struct {
	Method string          `json:"method"`
	Data   json.RawMessage `json:"data,omitempty"`
}

// JobData is a job's data member.
type JobData struct {
	Message struct {
		Title string    `json:"title"`
		Tasks []JobTask `json:"tasks"`
	} `json:"message"`
	Response JobResponse `json:"response"`
	Metadata struct {
		Target   string `json:"target"`
		Username string `json:"username"`
		Org      string `json:"org"`
	} `json:"metadata"`
}

// Job is a device job (§8.3 of the API notes).
type Job struct {
	ID        JobID           `json:"_id"`
	Type      string          `json:"type"` // the device's machineId
	Device    *JobDevice      `json:"device,omitempty"`
	Data      JobData         `json:"data"`
	Result    *JobResponse    `json:"result,omitempty"`
	CreatedAt FlexString      `json:"created_at"`
	State     JobState        `json:"state"`
	Progress  FlexString      `json:"progress,omitempty"`
	Error     json.RawMessage `json:"error,omitempty"`
}

// Created returns created_at as a time (it is epoch milliseconds).
func (j *Job) Created() time.Time {
	ms, err := strconv.ParseInt(string(j.CreatedAt), 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// ErrorMessages returns the failure texts of a failed job: each
// error.errors[i].error, or the whole error member as text when it does not
// have that shape.
func (j *Job) ErrorMessages() []string {
	raw := bytes.TrimSpace(j.Error)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) || bytes.Equal(raw, []byte(`""`)) {
		return nil
	}
	var shaped struct {
		Errors []struct {
			Error json.RawMessage `json:"error"`
		} `json:"errors"`
	}
	if json.Unmarshal(raw, &shaped) == nil && len(shaped.Errors) > 0 {
		msgs := make([]string, 0, len(shaped.Errors))
		for _, e := range shaped.Errors {
			var s string
			if json.Unmarshal(e.Error, &s) == nil {
				msgs = append(msgs, s)
			} else {
				msgs = append(msgs, string(e.Error))
			}
		}
		return msgs
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}
	}
	return []string{string(raw)}
}

// ApplyMethod is a method of the Apply API this client sends.
type ApplyMethod string

const (
	MethodTunnels    ApplyMethod = "tunnels"
	MethodDelTunnels ApplyMethod = "deltunnels"
	MethodStart      ApplyMethod = "start"
	MethodStop       ApplyMethod = "stop"
	MethodUpgrade    ApplyMethod = "upgrade"
	MethodSync       ApplyMethod = "sync"
)

// Topology is a tunnels apply's pairing.
type Topology string

const (
	FullMesh    Topology = "fullMesh"
	HubAndSpoke Topology = "hubAndSpoke"
)

// TunnelsMeta is the meta of a tunnels apply. PathLabels empty means
// "between unlabeled interfaces only"; it is always sent as an array.
type TunnelsMeta struct {
	PathLabels      []string        `json:"pathLabels"`
	Topology        Topology        `json:"topology"`
	Hub             string          `json:"hub,omitempty"`
	AdvancedOptions AdvancedOptions `json:"advancedOptions"`
	TunnelType      string          `json:"tunnelType"`
}

// DefaultAdvancedOptions are the UI's defaults for a new tunnel.
func DefaultAdvancedOptions() AdvancedOptions {
	return AdvancedOptions{MTU: "", MSSClamp: "yes", OSPFCost: "", Routing: "ospf"}
}

// ApplyRequest is the body of POST /devices/apply and /devices/{id}/apply.
type ApplyRequest struct {
	Method  ApplyMethod     `json:"method"`
	Devices map[string]bool `json:"devices,omitempty"`
	Meta    any             `json:"meta,omitempty"`
	Tunnels map[string]bool `json:"tunnels,omitempty"`
}

// ApplyStatus is the status member of an apply answer.
type ApplyStatus string

const (
	ApplyCompleted          ApplyStatus = "completed"
	ApplyPartiallyCompleted ApplyStatus = "partially completed"
	ApplyUnknown            ApplyStatus = "unknown"
)

// ApplyResult is the 202 answer of an apply call, plus the Location header
// (only set when jobs were queued).
type ApplyResult struct {
	IDs        []JobID     `json:"ids"`
	Status     ApplyStatus `json:"status"`
	Message    string      `json:"message"`
	ErrorCodes []string    `json:"errorCodes,omitempty"`
	Location   string      `json:"-"`
}

// JobsQueued reports whether the answer carries job ids to track.
func (r *ApplyResult) JobsQueued() bool { return len(r.IDs) > 0 }

// Untracked reports whether flexiManage accepted the call but answered
// without job ids because it generated more than 1000 tasks; the jobs run
// in the background and cannot be followed by id.
func (r *ApplyResult) Untracked() bool { return r.Status == ApplyUnknown && len(r.IDs) == 0 }

// joinIDs renders ids as flexiManage's ids query parameter value.
func joinIDs(ids []JobID) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(id.String())
	}
	return b.String()
}
