package planner

import (
	"fmt"
	"sort"
	"strings"

	"github.com/flexiwan-gitops/reconciler/diff"
	"github.com/flexiwan-gitops/reconciler/live"
)

// modify plans the device PUTs: additions (PhaseModifyAdd), removals of
// routes and DHCP (PhaseRemoveRoutes) and label removals and moves plus
// routes through new tunnels (PhaseModifyRemove). Each phase has at most
// one PUT per device.
func (b *builder) modify() {
	// The changes by device, in their order: looking them up per device in
	// the whole lists would be quadratic in a greenfield organization,
	// where every device changes.
	ifsBy := map[string][]diff.InterfaceChange{}
	for _, ch := range b.res.Interfaces {
		ifsBy[ch.DeviceID] = append(ifsBy[ch.DeviceID], ch)
	}
	routesBy := map[string][]diff.RouteChange{}
	for _, r := range b.res.Routes {
		routesBy[r.DeviceID] = append(routesBy[r.DeviceID], r)
	}
	dhcpBy := map[string][]diff.DHCPChange{}
	for _, h := range b.res.DHCP {
		dhcpBy[h.DeviceID] = append(dhcpBy[h.DeviceID], h)
	}
	for _, p := range b.res.Devices {
		if p.Live == nil {
			continue
		}
		d := p.Live
		ifs, routes, dhcps := ifsBy[d.ID], routesBy[d.ID], dhcpBy[d.ID]
		if len(ifs)+len(routes)+len(dhcps) == 0 {
			continue
		}
		ref := DeviceRef{ID: d.ID, Name: p.Spec.Name}

		// Phase 3: add labels (not moved ones), add or change routes that
		// need no new tunnel, add or change DHCP.
		add := &DeviceEdit{Device: ref}
		for _, ch := range ifs {
			labels := append([]string{}, ch.From...)
			for _, l := range ch.To {
				if !contains(labels, l) && !contains(ch.Moved, l) {
					labels = append(labels, l)
				}
			}
			if !sameSet(labels, ch.From) {
				add.Interfaces = append(add.Interfaces, IfaceEdit{DevID: ch.DevID, Name: ch.IfaceName, From: ch.From, Labels: labels})
				add.Changes = append(add.Changes, fmt.Sprintf("%s labels: %s → %s", ch.IfaceName, list(ch.From), list(labels)))
			}
		}
		routes3 := liveRoutes(d.Routes)
		changed3 := false
		for _, r := range routes {
			if r.Kind == diff.Delete || r.ViaNewTunnel {
				continue
			}
			routes3 = applyRoute(routes3, r)
			add.Changes = append(add.Changes, routeLine(r, d))
			changed3 = true
		}
		if changed3 {
			rs := routes3
			add.Routes = &rs
		}
		dhcp3 := liveDHCP(d.DHCP)
		changedD3 := false
		for _, h := range dhcps {
			if h.Kind == diff.Delete {
				continue
			}
			dhcp3 = applyDHCP(dhcp3, h)
			add.Changes = append(add.Changes, dhcpLine(h))
			changedD3 = true
		}
		if changedD3 {
			ds := dhcp3
			add.DHCP = &ds
		}
		b.putStep(PhaseModifyAdd, add, "add what the source declares before anything is removed")

		// Phase 5: remove routes and DHCP no longer declared (before the
		// tunnels they may go through are deleted).
		rem := &DeviceEdit{Device: ref}
		routes5 := routes3
		for _, r := range routes {
			if r.Kind == diff.Delete {
				routes5 = removeRoute(routes5, r.Route)
				rem.Changes = append(rem.Changes, routeLine(r, d))
			}
		}
		if len(rem.Changes) > 0 {
			rs := routes5
			rem.Routes = &rs
		}
		dhcp5 := dhcp3
		removedD := false
		for _, h := range dhcps {
			if h.Kind == diff.Delete {
				dhcp5 = removeDHCP(dhcp5, h.DHCP.Interface)
				rem.Changes = append(rem.Changes, dhcpLine(h))
				removedD = true
			}
		}
		if removedD {
			ds := dhcp5
			rem.DHCP = &ds
		}
		b.putStep(PhaseRemoveRoutes, rem, "routes and DHCP servers the source no longer declares")

		// Phase 7: remove labels and move labels (their tunnels are gone by
		// now); add routes that go through tunnels created earlier.
		fin := &DeviceEdit{Device: ref}
		for _, ch := range ifs {
			var had []string
			for _, e := range add.Interfaces {
				if e.DevID == ch.DevID {
					had = e.Labels
				}
			}
			if had == nil {
				had = ch.From
			}
			if !sameSet(had, ch.To) {
				fin.Interfaces = append(fin.Interfaces, IfaceEdit{DevID: ch.DevID, Name: ch.IfaceName, From: had, Labels: ch.To})
				fin.Changes = append(fin.Changes, fmt.Sprintf("%s labels: %s → %s", ch.IfaceName, list(had), list(ch.To)))
			}
		}
		routes7 := routes5
		via := false
		for _, r := range routes {
			if r.Kind != diff.Delete && r.ViaNewTunnel {
				routes7 = applyRoute(routes7, r)
				fin.Changes = append(fin.Changes, routeLine(r, d)+" (through a tunnel created by this plan)")
				via = true
			}
		}
		if via {
			rs := routes7
			fin.Routes = &rs
		}
		b.putStep(PhaseModifyRemove, fin, "remove what the source no longer declares, after the new tunnels are up")
	}
}

func (b *builder) putStep(phase Phase, e *DeviceEdit, reason string) {
	if len(e.Changes) == 0 {
		return
	}
	// The members a PUT changes, with fields in the order encoding/json
	// gives a map (sorted), so the rendering reads the same either way.
	type labelRef struct {
		ID string `json:"_id"`
	}
	type ifaceBody struct {
		DevID      string     `json:"devId"`
		Name       string     `json:"name"`
		PathLabels []labelRef `json:"pathlabels"`
	}
	type routeBody struct {
		ID          string `json:"_id,omitempty"`
		Destination string `json:"destination"`
		Gateway     string `json:"gateway"`
		IfName      string `json:"ifname,omitempty"`
		Metric      string `json:"metric,omitempty"`
	}
	type dhcpBody struct {
		ID         string   `json:"_id,omitempty"`
		DNS        []string `json:"dns"`
		Interface  string   `json:"interface"`
		MacAssign  []any    `json:"macAssign"`
		RangeEnd   string   `json:"rangeEnd"`
		RangeStart string   `json:"rangeStart"`
	}
	var body struct {
		DHCP         *[]dhcpBody  `json:"dhcp,omitempty"`
		Interfaces   []ifaceBody  `json:"interfaces,omitempty"`
		StaticRoutes *[]routeBody `json:"staticroutes,omitempty"`
	}
	for _, f := range e.Interfaces {
		pls := make([]labelRef, 0, len(f.Labels))
		for _, l := range f.Labels {
			pls = append(pls, labelRef{ID: b.labelRef(l)})
		}
		body.Interfaces = append(body.Interfaces, ifaceBody{DevID: f.DevID, Name: f.Name, PathLabels: pls})
	}
	if e.Routes != nil {
		rs := make([]routeBody, 0, len(*e.Routes))
		for _, r := range *e.Routes {
			rs = append(rs, routeBody{ID: r.ID, Destination: r.Destination, Gateway: r.Gateway, IfName: r.IfName, Metric: r.Metric})
		}
		body.StaticRoutes = &rs
	}
	if e.DHCP != nil {
		ds := make([]dhcpBody, 0, len(*e.DHCP))
		for _, h := range *e.DHCP {
			ds = append(ds, dhcpBody{ID: h.ID, DNS: nonNil(h.DNS), Interface: h.Interface, MacAssign: []any{}, RangeEnd: h.RangeEnd, RangeStart: h.RangeStart})
		}
		body.DHCP = &ds
	}
	jobs := 0
	if e.Routes != nil || e.DHCP != nil || b.touchesDIA(e) {
		jobs = 1 // a modify job; a Tunnel-label change alone queues none
	}
	b.add(Step{Phase: phase, Action: ModifyDevice, Target: "device " + e.Device.Name, Reason: reason,
		Request: Request{Method: "PUT", Path: "/api/devices/" + e.Device.ID + b.orgQuery(), Body: mustJSON(body)},
		Modify:  e, ExpectedJobs: jobs})
}

// touchesDIA: DIA labels reach the device (multilink); Tunnel labels do not.
func (b *builder) touchesDIA(e *DeviceEdit) bool {
	for _, f := range e.Interfaces {
		for _, l := range symDiff(f.From, f.Labels) {
			if b.res.Types[l] == "DIA" {
				return true
			}
		}
	}
	return false
}

func symDiff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !contains(b, x) {
			out = append(out, x)
		}
	}
	for _, x := range b {
		if !contains(a, x) {
			out = append(out, x)
		}
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !contains(b, x) {
			return false
		}
	}
	return true
}

func list(ls []string) string {
	if len(ls) == 0 {
		return "[]"
	}
	s := append([]string{}, ls...)
	sort.Strings(s)
	return "[" + strings.Join(s, ", ") + "]"
}

func liveRoutes(rs []live.Route) []Route {
	out := []Route{}
	for _, r := range rs {
		out = append(out, Route{ID: r.ID, Destination: r.Destination, Gateway: r.Gateway, IfName: r.IfName, Metric: r.Metric})
	}
	return out
}

func sameRoute(r Route, dst, gw string) bool {
	return diffKey(r.Destination, r.Gateway) == diffKey(dst, gw)
}

func diffKey(dst, gw string) string { return strings.TrimSpace(dst) + " via " + strings.TrimSpace(gw) }

func applyRoute(rs []Route, ch diff.RouteChange) []Route {
	want := Route{ID: ch.Route.ID, Destination: ch.Route.Destination, Gateway: ch.Route.Gateway, IfName: ch.Route.IfName, Metric: ch.Route.Metric}
	out := make([]Route, 0, len(rs)+1)
	replaced := false
	for _, r := range rs {
		if r.ID != "" && r.ID == want.ID {
			out = append(out, want)
			replaced = true
			continue
		}
		out = append(out, r)
	}
	if !replaced {
		out = append(out, want)
	}
	return out
}

func removeRoute(rs []Route, lr live.Route) []Route {
	out := make([]Route, 0, len(rs))
	for _, r := range rs {
		if (lr.ID != "" && r.ID == lr.ID) || (r.ID == "" && sameRoute(r, lr.Destination, lr.Gateway)) {
			continue
		}
		out = append(out, r)
	}
	return out
}

func routeLine(ch diff.RouteChange, d *live.Device) string {
	r := ch.Route
	s := r.Destination + " via " + r.Gateway
	if r.IfName != "" {
		name := r.IfName
		if f := d.InterfaceByDevID(r.IfName); f != nil {
			name = f.Name
		}
		s += " dev " + name
	}
	if r.Metric != "" {
		s += " metric " + r.Metric
	}
	switch ch.Kind {
	case diff.Create:
		return "+ route " + s
	case diff.Update:
		return "~ route " + s
	}
	return "- route " + s
}

func liveDHCP(hs []live.DHCP) []DHCP {
	out := []DHCP{}
	for _, h := range hs {
		out = append(out, DHCP{ID: h.ID, Interface: h.Interface, RangeStart: h.RangeStart, RangeEnd: h.RangeEnd, DNS: append([]string{}, h.DNS...)})
	}
	return out
}

func applyDHCP(hs []DHCP, ch diff.DHCPChange) []DHCP {
	want := DHCP{ID: ch.DHCP.ID, Interface: ch.DHCP.Interface, RangeStart: ch.DHCP.RangeStart, RangeEnd: ch.DHCP.RangeEnd, DNS: nonNil(ch.DHCP.DNS)}
	out := make([]DHCP, 0, len(hs)+1)
	replaced := false
	for _, h := range hs {
		if h.Interface == want.Interface {
			out = append(out, want)
			replaced = true
			continue
		}
		out = append(out, h)
	}
	if !replaced {
		out = append(out, want)
	}
	return out
}

func removeDHCP(hs []DHCP, iface string) []DHCP {
	out := make([]DHCP, 0, len(hs))
	for _, h := range hs {
		if h.Interface != iface {
			out = append(out, h)
		}
	}
	return out
}

func dhcpLine(ch diff.DHCPChange) string {
	h := ch.DHCP
	s := fmt.Sprintf("dhcp %s %s-%s", ch.IfaceName, h.RangeStart, h.RangeEnd)
	if len(h.DNS) > 0 {
		s += " dns " + strings.Join(h.DNS, ",")
	}
	switch ch.Kind {
	case diff.Create:
		return "+ " + s
	case diff.Update:
		return "~ " + s
	}
	return "- " + s
}
