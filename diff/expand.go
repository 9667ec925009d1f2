package diff

import (
	"slices"
	"strconv"
	"strings"

	"github.com/flexiwan-gitops/reconciler/live"
)

// Endpoint is a device as flexiManage's tunnel creation sees it: its router
// major version and its assigned WAN interfaces with their labels.
type Endpoint struct {
	DeviceID    string
	RouterMajor int
	WANs        []WAN
}

// WAN is an assigned WAN interface and the names of the labels it carries.
type WAN struct {
	DevID  string
	Labels []string
}

// LabelTypes maps a label name to its type; a DIA label counts as a label
// on an interface but matches nothing.
type LabelTypes map[string]string

func (lt LabelTypes) isDIA(name string) bool { return lt[name] == "DIA" }

// Call is a flexiManage tunnels call: its pairing and labels. Labels empty
// means unlabeled interfaces only (flexiManage's pathLabels: []).
type Call struct {
	Topology string // fullMesh | hubAndSpoke
	Hub      string // device id, hubAndSpoke only
	Devices  []string
	Labels   []string
}

// Expand returns the tunnels flexiManage would create for call on
// endpoints (fleximanage/API.md §5.4), before skipping existing ones: every
// pair of the topology whose router major versions match, every WAN × WAN,
// and for each requested label carried by both interfaces one tunnel; with
// no labels requested, one unlabeled tunnel when neither interface carries
// any label (a DIA label counts). Pairs whose versions differ are returned
// in skipped.
func Expand(call Call, eps map[string]*Endpoint, types LabelTypes) (keys []live.TunnelKey, skipped [][2]string) {
	want := map[string]bool{}
	for _, l := range call.Labels {
		want[l] = true
	}
	pair := func(a, b *Endpoint) {
		if a == nil || b == nil || a.DeviceID == b.DeviceID {
			return
		}
		if a.RouterMajor != b.RouterMajor {
			skipped = append(skipped, [2]string{a.DeviceID, b.DeviceID})
			return
		}
		for _, wa := range a.WANs {
			for _, wb := range b.WANs {
				ea, eb := live.EndKey{Device: a.DeviceID, DevID: wa.DevID}, live.EndKey{Device: b.DeviceID, DevID: wb.DevID}
				if len(want) == 0 {
					if len(wa.Labels) == 0 && len(wb.Labels) == 0 {
						keys = append(keys, live.NewTunnelKey(ea, eb, ""))
					}
					continue
				}
				for _, l := range wa.Labels {
					if !want[l] || types.isDIA(l) || !has(wb.Labels, l) {
						continue
					}
					keys = append(keys, live.NewTunnelKey(ea, eb, l))
				}
			}
		}
	}
	switch call.Topology {
	case "hubAndSpoke":
		hub := eps[call.Hub]
		for _, d := range call.Devices {
			if d != call.Hub {
				pair(hub, eps[d])
			}
		}
	default:
		for i, da := range call.Devices {
			for _, db := range call.Devices[i+1:] {
				pair(eps[da], eps[db])
			}
		}
	}
	return keys, skipped
}

func has(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// Endpoints builds the endpoints of devices with interface labels given by
// labels (device id → devId → label names); an interface missing from
// labels keeps its live labels.
func Endpoints(devs []*live.Device, labels map[string]map[string][]string) map[string]*Endpoint {
	out := make(map[string]*Endpoint, len(devs))
	for _, d := range devs {
		ep := &Endpoint{DeviceID: d.ID, RouterMajor: major(d.RouterVersion)}
		for _, f := range d.Interfaces {
			if !f.IsWAN() {
				continue
			}
			ls := f.Labels
			if m, ok := labels[d.ID]; ok {
				if l, ok := m[f.DevID]; ok {
					ls = l
				}
			}
			ep.WANs = append(ep.WANs, WAN{DevID: f.DevID, Labels: ls})
		}
		out[d.ID] = ep
	}
	return out
}

func major(v string) int {
	n, err := strconv.Atoi(strings.SplitN(v, ".", 2)[0])
	if err != nil {
		return -1
	}
	return n
}

// SortKeys orders tunnel keys deterministically.
func SortKeys(ks []live.TunnelKey) {
	slices.SortFunc(ks, compareKeys)
}

func compareKeys(a, b live.TunnelKey) int {
	if c := compareEnds(a.A, b.A); c != 0 {
		return c
	}
	if c := compareEnds(a.B, b.B); c != 0 {
		return c
	}
	return strings.Compare(a.Label, b.Label)
}

func compareEnds(a, b live.EndKey) int {
	if c := strings.Compare(a.Device, b.Device); c != 0 {
		return c
	}
	return strings.Compare(a.DevID, b.DevID)
}

// KeyLess is the order of SortKeys.
func KeyLess(a, b live.TunnelKey) bool {
	if a.A != b.A {
		return endLess(a.A, b.A)
	}
	if a.B != b.B {
		return endLess(a.B, b.B)
	}
	return a.Label < b.Label
}

func endLess(a, b live.EndKey) bool {
	if a.Device != b.Device {
		return a.Device < b.Device
	}
	return a.DevID < b.DevID
}
