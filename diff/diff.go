package diff

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/flexiwan-gitops/reconciler/live"
	"github.com/flexiwan-gitops/reconciler/spec"
)

// Options change what Compute may delete.
type Options struct {
	// Prune deletes unmanaged tunnels between declared devices and
	// undeclared path labels that nothing uses.
	Prune bool
}

// Result is the difference between the desired and the live state.
type Result struct {
	// Devices pairs each declared device with its live device (nil when not
	// found; then a Problem says so).
	Devices []DevicePair

	Labels     []LabelChange
	Interfaces []InterfaceChange
	Routes     []RouteChange
	DHCP       []DHCPChange
	Run        []RunChange
	Upgrades   []UpgradeChange

	// Desired is every tunnel the groups expand to; Missing those not live.
	Desired []DesiredTunnel
	Missing []DesiredTunnel
	// Delete are live tunnels to delete, with why.
	Delete []TunnelDelete
	// Repair are desired live tunnels left half-configured.
	Repair []TunnelRepair
	// Unmanaged are tunnels between declared devices that no group covers;
	// kept because prune is off.
	Unmanaged []live.Tunnel
	// UnmanagedLabels are live labels the source does not declare (kept).
	UnmanagedLabels []string

	// FinalLabels gives the labels every declared interface ends with:
	// device id → devId → label names.
	FinalLabels map[string]map[string][]string
	// Types are the label types after the plan (declared or live).
	Types LabelTypes

	Problems []Problem
	Notes    []string
}

// DevicePair is a declared device and the live device it resolved to.
type DevicePair struct {
	Spec *spec.Device
	Live *live.Device
}

// Problem is a reason the desired state cannot be reached.
type Problem struct {
	Pos spec.Pos // where the source declares the object concerned, if anywhere
	Msg string
}

func (p Problem) String() string {
	if p.Pos.File == "" {
		return p.Msg
	}
	return p.Pos.String() + ": " + p.Msg
}

// ChangeKind is what happens to an object.
type ChangeKind string

const (
	Create ChangeKind = "create"
	Update ChangeKind = "update"
	Delete ChangeKind = "delete"
)

// LabelChange creates, updates or deletes a path label.
type LabelChange struct {
	Kind        ChangeKind
	Name        string
	ID          string // live id; "" for Create
	Type        string
	Color       string
	Description string
	Fields      []string // what an Update changes, e.g. "color: #aaaaaa → #bbbbbb"
}

// InterfaceChange changes the labels of one interface.
type InterfaceChange struct {
	DeviceID   string
	DeviceName string
	DevID      string
	IfaceName  string
	From, To   []string
	// Moved are labels of To that are on another interface of the device
	// now: flexiManage refuses a label on two WANs of one device, so they
	// can only be added in the same request that removes them there.
	Moved []string
}

// RouteChange adds, updates or removes a static route.
type RouteChange struct {
	Kind       ChangeKind
	DeviceID   string
	DeviceName string
	Route      live.Route // desired values for Create/Update, live ones for Delete
	// ViaNewTunnel: the gateway is in no interface subnet and no tunnel of
	// the device yet; it can only be added after the tunnels are created.
	ViaNewTunnel bool
}

// DHCPChange adds, updates or removes a DHCP server.
type DHCPChange struct {
	Kind       ChangeKind
	DeviceID   string
	DeviceName string
	DHCP       live.DHCP
	IfaceName  string
}

// RunChange starts or stops a device.
type RunChange struct {
	DeviceID   string
	DeviceName string
	From, To   string
}

// UpgradeChange upgrades a device whose version is below the declared one.
type UpgradeChange struct {
	DeviceID   string
	DeviceName string
	From, To   string
}

// DesiredTunnel is a tunnel a group expands to.
type DesiredTunnel struct {
	Key   live.TunnelKey
	Group int // index in spec.Tunnels of the first group that wants it
}

// DeleteReason says why a tunnel is deleted.
type DeleteReason string

const (
	NotDesired DeleteReason = "no longer desired" // managed by a group that no longer expands to it
	Pruned     DeleteReason = "unmanaged, pruned"
)

// TunnelDelete is a live tunnel to delete.
type TunnelDelete struct {
	Tunnel live.Tunnel
	Reason DeleteReason
	Group  int // the managing group for NotDesired, -1 otherwise
}

// TunnelRepair is a desired tunnel whose add-tunnel job failed on one or
// both ends: a sync of those devices re-sends it.
type TunnelRepair struct {
	Tunnel  live.Tunnel
	Devices []string // ids of the devices whose end is not configured
}

type ctx struct {
	sp      *spec.Spec
	st      *live.State
	opts    Options
	res     *Result
	byName  map[string]*live.Device // declared name → live
	declIDs map[string]string       // live id → declared name
	byID    map[string]*live.Device // live id → live device
	// tunnelsOf: live device id → indexes in st.Tunnels of its tunnels, in
	// order (built on first use by deviceTunnels).
	tunnelsOf map[string][]int
	// groupsOf: declared device name → indexes of the groups it is in (built
	// on first use by groupsWith).
	groupsOf map[string][]int
}

// Compute compares sp with st.
func Compute(sp *spec.Spec, st *live.State, opts Options) *Result {
	c := &ctx{sp: sp, st: st, opts: opts, res: &Result{FinalLabels: map[string]map[string][]string{}, Types: LabelTypes{}},
		byName: map[string]*live.Device{}, declIDs: map[string]string{}, byID: make(map[string]*live.Device, len(st.Devices))}
	for i := range st.Devices {
		c.byID[st.Devices[i].ID] = &st.Devices[i]
	}
	c.resolveDevices()
	c.labels()
	c.interfaces()
	c.tunnels()
	c.routes()
	c.dhcp()
	c.runAndVersion()
	c.labelPrune()
	return c.res
}

func (c *ctx) problem(p spec.Pos, format string, args ...any) {
	c.res.Problems = append(c.res.Problems, Problem{Pos: p, Msg: fmt.Sprintf(format, args...)})
}

func (c *ctx) note(format string, args ...any) {
	c.res.Notes = append(c.res.Notes, fmt.Sprintf(format, args...))
}

func (c *ctx) resolveDevices() {
	names := make([]string, 0, len(c.st.Devices))
	byName := map[string][]*live.Device{}
	byMachine := map[string]*live.Device{}
	for i := range c.st.Devices {
		d := &c.st.Devices[i]
		names = append(names, d.Name)
		byName[d.Name] = append(byName[d.Name], d)
		byMachine[strings.ToUpper(d.MachineID)] = d
	}
	for i := range c.sp.Devices {
		sd := &c.sp.Devices[i]
		var ld *live.Device
		switch {
		case sd.MachineID != "":
			ld = byMachine[strings.ToUpper(sd.MachineID)]
			if ld == nil {
				c.problem(sd.Pos, "device %q: no device with machineId %s in flexiManage organization %s", sd.Name, sd.MachineID, c.orgName())
			}
		case len(byName[sd.Name]) == 1:
			ld = byName[sd.Name][0]
		case len(byName[sd.Name]) > 1:
			c.problem(sd.Pos, "device %q: %d devices in flexiManage have this name; add its machineId to the source", sd.Name, len(byName[sd.Name]))
		default:
			c.problem(sd.Pos, "device %q is not in flexiManage organization %s (closest: %s); devices register themselves, the reconciler never creates one",
				sd.Name, c.orgName(), strings.Join(spec.Closest(sd.Name, names, 3), ", "))
		}
		if ld != nil {
			if other, dup := c.declIDs[ld.ID]; dup {
				c.problem(sd.Pos, "device %q resolves to the same flexiManage device as %q", sd.Name, other)
				ld = nil
			} else {
				c.declIDs[ld.ID] = sd.Name
				c.byName[sd.Name] = ld
			}
		}
		c.res.Devices = append(c.res.Devices, DevicePair{Spec: sd, Live: ld})
	}
}

func (c *ctx) orgName() string {
	if c.st.Org.Name != "" {
		return fmt.Sprintf("%q", c.st.Org.Name)
	}
	return c.st.Org.ID
}

func (c *ctx) labels() {
	for _, l := range c.st.Labels {
		c.res.Types[l.Name] = l.Type
	}
	for i := range c.sp.PathLabels {
		sl := &c.sp.PathLabels[i]
		c.res.Types[sl.Name] = string(sl.Type)
		ll := c.st.Label(sl.Name)
		if ll == nil {
			color := sl.Color
			if color == "" {
				color = spec.DefaultColor(sl.Name)
			}
			desc := ""
			if sl.Description != nil {
				desc = *sl.Description
			}
			c.res.Labels = append(c.res.Labels, LabelChange{Kind: Create, Name: sl.Name, Type: string(sl.Type), Color: color, Description: desc})
			continue
		}
		ch := LabelChange{Kind: Update, Name: sl.Name, ID: ll.ID, Type: ll.Type, Color: ll.Color, Description: ll.Description}
		if string(sl.Type) != ll.Type {
			ch.Fields = append(ch.Fields, fmt.Sprintf("type: %s → %s", ll.Type, sl.Type))
			ch.Type = string(sl.Type)
			if n := c.labelUses(sl.Name); n != "" {
				c.problem(sl.Pos, "path label %q is %s in flexiManage and %s here; flexiManage refuses to change the type of a label in use (%s)", sl.Name, ll.Type, sl.Type, n)
			}
		}
		if sl.Color != "" && !strings.EqualFold(sl.Color, ll.Color) {
			ch.Fields = append(ch.Fields, fmt.Sprintf("color: %s → %s", ll.Color, sl.Color))
			ch.Color = sl.Color
		}
		if sl.Description != nil && *sl.Description != ll.Description {
			ch.Fields = append(ch.Fields, fmt.Sprintf("description: %q → %q", ll.Description, *sl.Description))
			ch.Description = *sl.Description
		}
		if len(ch.Fields) > 0 {
			c.res.Labels = append(c.res.Labels, ch)
		}
	}
}

// labelUses describes the live uses of a label, "" when unused.
func (c *ctx) labelUses(name string) string {
	ifs, tuns := 0, 0
	for _, d := range c.st.Devices {
		for _, f := range d.Interfaces {
			if has(f.Labels, name) {
				ifs++
			}
		}
	}
	for _, t := range c.st.Tunnels {
		if t.Label == name {
			tuns++
		}
	}
	if ifs+tuns == 0 {
		return ""
	}
	return fmt.Sprintf("%d interfaces, %d tunnels", ifs, tuns)
}

func (c *ctx) interfaces() {
	for _, p := range c.res.Devices {
		if p.Live == nil {
			continue
		}
		final := map[string][]string{}
		// Which interface carries each label after the change, and now.
		now := map[string]string{}
		for _, f := range p.Live.Interfaces {
			for _, l := range f.Labels {
				now[l] = f.DevID
			}
		}
		declared := map[string]bool{}
		for i := range p.Spec.Interfaces {
			si := &p.Spec.Interfaces[i]
			lf := p.Live.Interface(si.Ref)
			if lf == nil {
				names := make([]string, 0, len(p.Live.Interfaces))
				for _, f := range p.Live.Interfaces {
					names = append(names, f.Name)
				}
				c.problem(si.Pos, "device %q has no interface %q (it has: %s)", p.Spec.Name, si.Ref, strings.Join(names, ", "))
				continue
			}
			declared[lf.DevID] = true
			to := append([]string{}, si.PathLabels...)
			if len(to) > 0 && lf.Type != "WAN" {
				c.problem(si.Pos, "interface %q of device %q is %s: flexiManage allows path labels on WAN interfaces only", si.Ref, p.Spec.Name, strings.ToLower(lf.Type))
			}
			final[lf.DevID] = to
		}
		// A label kept on an undeclared interface blocks declaring it on
		// another one.
		for i := range p.Spec.Interfaces {
			si := &p.Spec.Interfaces[i]
			lf := p.Live.Interface(si.Ref)
			if lf == nil {
				continue
			}
			for _, l := range si.PathLabels {
				if on, ok := now[l]; ok && on != lf.DevID && !declared[on] {
					other := p.Live.InterfaceByDevID(on)
					c.problem(si.Pos, "path label %q is on interface %q of device %q, which the source does not manage; declare %q too (flexiManage allows a label on one interface per device)",
						l, other.Name, p.Spec.Name, other.Name)
				}
			}
		}
		c.res.FinalLabels[p.Live.ID] = final
		for _, f := range p.Live.Interfaces {
			to, ok := final[f.DevID]
			if !ok || sameSet(f.Labels, to) {
				continue
			}
			// From is sorted: the order flexiManage lists an interface's
			// labels in means nothing (the live fingerprint ignores it too),
			// and the plan must not depend on it.
			from := append([]string{}, f.Labels...)
			sort.Strings(from)
			ch := InterfaceChange{DeviceID: p.Live.ID, DeviceName: p.Spec.Name, DevID: f.DevID, IfaceName: f.Name, From: from, To: to}
			for _, l := range to {
				if on, ok := now[l]; ok && on != f.DevID {
					ch.Moved = append(ch.Moved, l)
				}
			}
			c.res.Interfaces = append(c.res.Interfaces, ch)
		}
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !has(b, x) {
			return false
		}
	}
	return true
}

// liveDevices returns the live devices in flexiManage's natural order.
func (c *ctx) liveDevices() []*live.Device {
	out := make([]*live.Device, len(c.st.Devices))
	for i := range c.st.Devices {
		out[i] = &c.st.Devices[i]
	}
	return out
}

// groupCall is the tunnels call a declared group stands for.
func (c *ctx) groupCall(g *spec.TunnelGroup) (Call, bool) {
	call := Call{Topology: string(g.Topology), Labels: g.PathLabels}
	for _, n := range g.Devices() {
		d := c.byName[n]
		if d == nil {
			return call, false
		}
		call.Devices = append(call.Devices, d.ID)
	}
	if g.Topology == spec.HubAndSpoke {
		call.Hub = c.byName[g.Hub].ID
	}
	return call, true
}

func (c *ctx) tunnels() {
	eps := Endpoints(c.liveDevices(), c.res.FinalLabels)
	// Expand every group first, so that the maps and slices below are
	// allocated once at their size (they hold every desired tunnel).
	expanded := make([][]live.TunnelKey, len(c.sp.Tunnels))
	total := 0
	for gi := range c.sp.Tunnels {
		g := &c.sp.Tunnels[gi]
		call, ok := c.groupCall(g)
		if !ok {
			continue // a member is missing: already a problem
		}
		keys, skipped := Expand(call, eps, c.res.Types)
		expanded[gi] = keys
		total += len(keys)
		for _, s := range skipped {
			a, b := c.byID[s[0]], c.byID[s[1]]
			c.note("group %s: no tunnel between %s (router %s) and %s (router %s): flexiManage needs the same router major version",
				g.Label(), a.Name, a.RouterVersion, b.Name, b.RouterVersion)
		}
		if len(keys) == 0 && len(skipped) == 0 {
			c.note("group %s expands to no tunnel: no pair of WAN interfaces of its devices carries %s", g.Label(), labelsText(g.PathLabels))
		}
	}
	desired := make(map[live.TunnelKey]int, total)
	order := make([]live.TunnelKey, 0, total)
	for gi, keys := range expanded {
		for _, k := range keys {
			if _, dup := desired[k]; !dup {
				desired[k] = gi
				order = append(order, k)
			}
		}
	}
	SortKeys(order)
	c.res.Desired = make([]DesiredTunnel, 0, len(order))
	liveByKey := make(map[live.TunnelKey]*live.Tunnel, len(c.st.Tunnels))
	for i := range c.st.Tunnels {
		t := &c.st.Tunnels[i]
		liveByKey[t.Key()] = t
	}
	for _, k := range order {
		dt := DesiredTunnel{Key: k, Group: desired[k]}
		c.res.Desired = append(c.res.Desired, dt)
		t := liveByKey[k]
		if t == nil {
			c.res.Missing = append(c.res.Missing, dt)
			continue
		}
		if t.Pending {
			c.note("tunnel %s is pending in flexiManage: %s", c.st.DescribeKey(k), t.PendingReason)
			continue
		}
		if !t.AConf || !t.BConf {
			r := TunnelRepair{Tunnel: *t}
			for _, e := range []struct {
				end  live.End
				conf bool
			}{{t.A, t.AConf}, {t.B, t.BConf}} {
				if e.conf {
					continue
				}
				if d := c.byID[e.end.DeviceID]; d != nil && !d.Connected {
					c.note("tunnel %s is not configured on %s, which is disconnected; it will be repaired once the device reconnects", c.st.DescribeKey(k), d.Name)
					continue
				}
				r.Devices = append(r.Devices, e.end.DeviceID)
			}
			if len(r.Devices) > 0 {
				c.res.Repair = append(c.res.Repair, r)
			}
		}
	}
	// Live tunnels that are not desired.
	for i := range c.st.Tunnels {
		t := c.st.Tunnels[i]
		k := t.Key()
		if _, ok := desired[k]; ok {
			continue
		}
		_, aDecl := c.declIDs[t.A.DeviceID]
		_, bDecl := c.declIDs[t.B.DeviceID]
		if !aDecl || !bDecl {
			continue // touches an undeclared device: never touched
		}
		if g := c.owner(t); g >= 0 {
			c.res.Delete = append(c.res.Delete, TunnelDelete{Tunnel: t, Reason: NotDesired, Group: g})
			continue
		}
		if c.opts.Prune {
			c.res.Delete = append(c.res.Delete, TunnelDelete{Tunnel: t, Reason: Pruned, Group: -1})
		} else {
			c.res.Unmanaged = append(c.res.Unmanaged, t)
		}
	}
	sort.SliceStable(c.res.Delete, func(i, j int) bool { return KeyLess(c.res.Delete[i].Tunnel.Key(), c.res.Delete[j].Tunnel.Key()) })
	sort.SliceStable(c.res.Unmanaged, func(i, j int) bool { return KeyLess(c.res.Unmanaged[i].Key(), c.res.Unmanaged[j].Key()) })
	c.blockedLabelRemovals()
}

func labelsText(ls []string) string {
	if len(ls) == 0 {
		return "no label (unlabeled)"
	}
	return "label " + strings.Join(ls, ", ")
}

// owner returns the index of the first declared group that covers t, or -1.
//
// A group covers a tunnel on one of its labels (or an unlabeled tunnel, for
// an unlabeled group) when both ends are members of the group, one of them
// the hub for hubAndSpoke. A hubAndSpoke group also covers its hub's
// tunnels on its labels to any declared device whose interface still
// carries that label in the desired state: that is how a spoke that left
// the star is told apart from tunnels nobody declared, and its tunnel is
// deleted without prune.
func (c *ctx) owner(t live.Tunnel) int {
	an, bn := c.declIDs[t.A.DeviceID], c.declIDs[t.B.DeviceID]
	for _, gi := range c.groupsWith(an, bn) {
		g := &c.sp.Tunnels[gi]
		if len(g.PathLabels) == 0 {
			if t.Label != "" {
				continue
			}
		} else if !has(g.PathLabels, t.Label) {
			continue
		}
		switch g.Topology {
		case spec.HubAndSpoke:
			if (an == g.Hub && has(g.Members, bn)) || (bn == g.Hub && has(g.Members, an)) {
				return gi
			}
			if t.Label != "" && ((an == g.Hub && c.keepsLabel(t.B, t.Label)) || (bn == g.Hub && c.keepsLabel(t.A, t.Label))) {
				return gi
			}
		default:
			if has(g.Members, an) && has(g.Members, bn) {
				return gi
			}
		}
	}
	return -1
}

// groupsWith returns, in declaration order, the indexes of the groups that
// have device an or device bn (declared names) as hub or member: only they
// can cover a tunnel between the two. Trying every group for every
// undesired tunnel instead is quadratic in the size of the organization.
func (c *ctx) groupsWith(an, bn string) []int {
	if c.groupsOf == nil {
		c.groupsOf = map[string][]int{}
		for gi := range c.sp.Tunnels {
			for _, n := range c.sp.Tunnels[gi].Devices() {
				if l := c.groupsOf[n]; len(l) == 0 || l[len(l)-1] != gi {
					c.groupsOf[n] = append(l, gi)
				}
			}
		}
	}
	a, b := c.groupsOf[an], c.groupsOf[bn]
	out := make([]int, 0, len(a)+len(b))
	for len(a) > 0 || len(b) > 0 {
		switch {
		case len(b) == 0 || (len(a) > 0 && a[0] < b[0]):
			out, a = append(out, a[0]), a[1:]
		case len(a) == 0 || b[0] < a[0]:
			out, b = append(out, b[0]), b[1:]
		default: // equal
			out, a, b = append(out, a[0]), a[1:], b[1:]
		}
	}
	return out
}

// keepsLabel reports whether the interface at end e carries label l in the
// desired state (declared interfaces) or now (the others).
func (c *ctx) keepsLabel(e live.End, l string) bool {
	if to, ok := c.res.FinalLabels[e.DeviceID][e.DevID]; ok {
		return has(to, l)
	}
	d := c.byID[e.DeviceID]
	if d == nil {
		return false
	}
	f := d.InterfaceByDevID(e.DevID)
	return f != nil && has(f.Labels, l)
}

// blockedLabelRemovals: every live tunnel using a label that an interface
// loses must be deleted by the plan, or the removal will be refused.
func (c *ctx) blockedLabelRemovals() {
	deleted := map[string]bool{}
	for _, d := range c.res.Delete {
		deleted[d.Tunnel.ID] = true
	}
	for _, ch := range c.res.Interfaces {
		for _, l := range ch.From {
			if has(ch.To, l) {
				continue
			}
			for _, ti := range c.deviceTunnels(ch.DeviceID) {
				t := c.st.Tunnels[ti]
				if t.Label != l || deleted[t.ID] {
					continue
				}
				onIt := (t.A.DeviceID == ch.DeviceID && t.A.DevID == ch.DevID) || (t.B.DeviceID == ch.DeviceID && t.B.DevID == ch.DevID)
				if !onIt {
					continue
				}
				pos := c.sp.Device(ch.DeviceName).Pos
				_, aDecl := c.declIDs[t.A.DeviceID]
				_, bDecl := c.declIDs[t.B.DeviceID]
				switch {
				case !aDecl || !bDecl:
					c.problem(pos, "label %q cannot leave interface %s of device %q: tunnel %s connects it to a device this source does not declare, and such tunnels are never touched; delete it in flexiManage or declare that device",
						l, ch.IfaceName, ch.DeviceName, c.st.DescribeKey(t.Key()))
				default:
					c.problem(pos, "label %q cannot leave interface %s of device %q: unmanaged tunnel %s uses it; delete it in flexiManage or enable prune",
						l, ch.IfaceName, ch.DeviceName, c.st.DescribeKey(t.Key()))
				}
			}
		}
	}
}

func (c *ctx) routes() {
	for _, p := range c.res.Devices {
		if p.Live == nil || !p.Spec.ManageRoutes {
			continue
		}
		key := func(dst, gw string) string { return normPrefix(dst) + " via " + normAddr(gw) }
		liveBy := map[string]live.Route{}
		for _, r := range p.Live.Routes {
			liveBy[key(r.Destination, r.Gateway)] = r
		}
		seen := map[string]bool{}
		for _, sr := range p.Spec.Routes {
			want := live.Route{Destination: sr.Destination.String(), Gateway: sr.Gateway.String()}
			if sr.Interface != "" {
				f := p.Live.Interface(sr.Interface)
				if f == nil {
					c.problem(sr.Pos, "static route %s via %s: device %q has no interface %q", want.Destination, want.Gateway, p.Spec.Name, sr.Interface)
					continue
				}
				want.IfName = f.DevID
			}
			if sr.Metric != 0 {
				want.Metric = strconv.Itoa(sr.Metric)
			}
			k := key(want.Destination, want.Gateway)
			seen[k] = true
			lr, ok := liveBy[k]
			via := !c.gatewayReachable(p.Live, sr.Gateway)
			switch {
			case !ok:
				c.res.Routes = append(c.res.Routes, RouteChange{Kind: Create, DeviceID: p.Live.ID, DeviceName: p.Spec.Name, Route: want, ViaNewTunnel: via})
			case lr.IfName != want.IfName || (want.Metric != "" && lr.Metric != want.Metric):
				want.ID = lr.ID
				if want.Metric == "" {
					want.Metric = lr.Metric
				}
				c.res.Routes = append(c.res.Routes, RouteChange{Kind: Update, DeviceID: p.Live.ID, DeviceName: p.Spec.Name, Route: want, ViaNewTunnel: via})
			}
		}
		for _, r := range p.Live.Routes {
			if !seen[key(r.Destination, r.Gateway)] {
				c.res.Routes = append(c.res.Routes, RouteChange{Kind: Delete, DeviceID: p.Live.ID, DeviceName: p.Spec.Name, Route: r})
			}
		}
	}
}

func normPrefix(s string) string {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.String()
	}
	return s
}

func normAddr(s string) string {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.String()
	}
	return s
}

// gatewayReachable: the gateway is inside a subnet of one of the device's
// interfaces or of one of its active tunnels' loopbacks.
func (c *ctx) gatewayReachable(d *live.Device, gw netip.Addr) bool {
	for _, f := range d.Interfaces {
		if f.IPv4 == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f.IPv4 + "/" + f.IPv4Mask); err == nil && p.Masked().Contains(gw) {
			return true
		}
	}
	for _, ti := range c.deviceTunnels(d.ID) {
		t := &c.st.Tunnels[ti]
		a, _ := TunnelLoopbacks(t.Num, c.st.Org.TunnelRange)
		if p, err := netip.ParsePrefix(a + "/31"); err == nil && p.Contains(gw) {
			return true
		}
	}
	return false
}

// deviceTunnels returns the indexes in st.Tunnels of the live tunnels
// with an end on device id, in their order. Scanning every tunnel for each
// route or each interface losing a label instead is quadratic in the size
// of the organization.
func (c *ctx) deviceTunnels(id string) []int {
	if c.tunnelsOf == nil {
		c.tunnelsOf = make(map[string][]int, len(c.st.Devices))
		for i := range c.st.Tunnels {
			t := &c.st.Tunnels[i]
			c.tunnelsOf[t.A.DeviceID] = append(c.tunnelsOf[t.A.DeviceID], i)
			if t.B.DeviceID != t.A.DeviceID {
				c.tunnelsOf[t.B.DeviceID] = append(c.tunnelsOf[t.B.DeviceID], i)
			}
		}
	}
	return c.tunnelsOf[id]
}

// TunnelLoopbacks returns the loopback addresses of tunnel num in an org
// whose tunnel range is rng (fleximanage/API.md §5.4 step 7).
func TunnelLoopbacks(num int, rng string) (a, b string) {
	base, err := netip.ParseAddr(rng)
	if err != nil || !base.Is4() {
		base = netip.MustParseAddr("10.100.0.0")
	}
	o := base.As4()
	h := (num%127 + 1) * 2
	l := num / 127
	return fmt.Sprintf("%d.%d.%d.%d", o[0], o[1], l, h), fmt.Sprintf("%d.%d.%d.%d", o[0], o[1], l, h+1)
}

func (c *ctx) dhcp() {
	for _, p := range c.res.Devices {
		if p.Live == nil || !p.Spec.ManageDHCP {
			continue
		}
		liveBy := map[string]live.DHCP{}
		for _, h := range p.Live.DHCP {
			liveBy[h.Interface] = h
		}
		seen := map[string]bool{}
		for _, sh := range p.Spec.DHCP {
			f := p.Live.Interface(sh.Interface)
			if f == nil {
				c.problem(sh.Pos, "dhcp: device %q has no interface %q", p.Spec.Name, sh.Interface)
				continue
			}
			want := live.DHCP{Interface: f.DevID, RangeStart: sh.RangeStart.String(), RangeEnd: sh.RangeEnd.String()}
			for _, a := range sh.DNS {
				want.DNS = append(want.DNS, a.String())
			}
			seen[f.DevID] = true
			lh, ok := liveBy[f.DevID]
			switch {
			case !ok:
				c.res.DHCP = append(c.res.DHCP, DHCPChange{Kind: Create, DeviceID: p.Live.ID, DeviceName: p.Spec.Name, DHCP: want, IfaceName: f.Name})
			case lh.RangeStart != want.RangeStart || lh.RangeEnd != want.RangeEnd || !sameList(lh.DNS, want.DNS):
				want.ID = lh.ID
				c.res.DHCP = append(c.res.DHCP, DHCPChange{Kind: Update, DeviceID: p.Live.ID, DeviceName: p.Spec.Name, DHCP: want, IfaceName: f.Name})
			}
		}
		for _, h := range p.Live.DHCP {
			if !seen[h.Interface] {
				name := h.Interface
				if f := p.Live.InterfaceByDevID(h.Interface); f != nil {
					name = f.Name
				}
				c.res.DHCP = append(c.res.DHCP, DHCPChange{Kind: Delete, DeviceID: p.Live.ID, DeviceName: p.Spec.Name, DHCP: h, IfaceName: name})
			}
		}
	}
}

func sameList(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (c *ctx) runAndVersion() {
	for _, p := range c.res.Devices {
		if p.Live == nil {
			continue
		}
		d := p.Live
		if !d.Approved {
			c.note("device %s is not approved in flexiManage: its jobs will not run until it is", d.Name)
		}
		if p.Spec.State != spec.StateUnmanaged {
			want := string(p.Spec.State)
			switch {
			case !d.Connected:
				c.note("device %s is disconnected: its run state is unknown and is left alone", d.Name)
			case d.State == "pending":
				c.note("device %s is changing state (pending): left alone this time", d.Name)
			case want == "running" && d.State != "running":
				c.res.Run = append(c.res.Run, RunChange{DeviceID: d.ID, DeviceName: p.Spec.Name, From: d.State, To: want})
			case want == "stopped" && d.State == "running":
				c.res.Run = append(c.res.Run, RunChange{DeviceID: d.ID, DeviceName: p.Spec.Name, From: d.State, To: want})
			}
		}
		if p.Spec.Version != "" {
			cmp, ok := compareVersions(d.Version, p.Spec.Version)
			switch {
			case !ok:
				c.note("device %s reports version %q, which is not comparable with %s: no upgrade planned", d.Name, d.Version, p.Spec.Version)
			case cmp < 0:
				c.res.Upgrades = append(c.res.Upgrades, UpgradeChange{DeviceID: d.ID, DeviceName: p.Spec.Name, From: d.Version, To: p.Spec.Version})
			}
		}
	}
}

// compareVersions compares dotted numeric versions (missing parts are 0).
func compareVersions(a, b string) (int, bool) {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(pa), len(pb)); i++ {
		x, y := 0, 0
		var err error
		if i < len(pa) {
			if x, err = strconv.Atoi(strings.TrimSpace(pa[i])); err != nil {
				return 0, false
			}
		}
		if i < len(pb) {
			if y, err = strconv.Atoi(pb[i]); err != nil {
				return 0, false
			}
		}
		if x != y {
			if x < y {
				return -1, true
			}
			return 1, true
		}
	}
	return 0, true
}

// labelPrune deletes undeclared labels with prune, when nothing will use
// them after the plan.
func (c *ctx) labelPrune() {
	deleted := map[string]bool{}
	for _, d := range c.res.Delete {
		deleted[d.Tunnel.ID] = true
	}
	// By name, so that the plan does not depend on the order flexiManage
	// lists the labels in.
	labels := append([]live.Label(nil), c.st.Labels...)
	sort.Slice(labels, func(i, j int) bool { return labels[i].Name < labels[j].Name })
	for _, l := range labels {
		if c.sp.Label(l.Name) != nil {
			continue
		}
		if !c.opts.Prune {
			c.res.UnmanagedLabels = append(c.res.UnmanagedLabels, l.Name)
			continue
		}
		var users []string
		for _, d := range c.st.Devices {
			for _, f := range d.Interfaces {
				if !has(f.Labels, l.Name) {
					continue
				}
				if to, ok := c.res.FinalLabels[d.ID][f.DevID]; ok && !has(to, l.Name) {
					continue // the plan removes it
				}
				users = append(users, d.Name+"/"+f.Name)
			}
		}
		for _, t := range c.st.Tunnels {
			if t.Label == l.Name && !deleted[t.ID] {
				users = append(users, "tunnel "+c.st.DescribeKey(t.Key()))
			}
		}
		if len(users) > 0 {
			sort.Strings(users)
			if len(users) > 3 {
				users = append(users[:3], fmt.Sprintf("and %d more", len(users)-3))
			}
			c.note("path label %s is not declared but stays: still used by %s", l.Name, strings.Join(users, ", "))
			continue
		}
		c.res.Labels = append(c.res.Labels, LabelChange{Kind: Delete, Name: l.Name, ID: l.ID, Type: l.Type, Color: l.Color, Description: l.Description})
	}
}
