package planner

import (
	"fmt"
	"sort"
	"strings"

	"github.com/flexiwan-gitops/reconciler/diff"
	"github.com/flexiwan-gitops/reconciler/live"
)

// phaseCall is a tunnels call being planned.
type phaseCall struct {
	call  diff.Call
	group string
	would []live.TunnelKey
}

func (b *builder) liveDevices() []*live.Device {
	out := make([]*live.Device, len(b.st.Devices))
	for i := range b.st.Devices {
		out[i] = &b.st.Devices[i]
	}
	return out
}

// labelsAt returns the interface labels in force during a phase: before
// PhaseModifyRemove, labels are only added (moved ones excepted); from it
// on they are the final ones.
func (b *builder) labelsAt(phase Phase) map[string]map[string][]string {
	if phase >= PhaseModifyRemove {
		return b.res.FinalLabels
	}
	out := map[string]map[string][]string{}
	for _, ch := range b.res.Interfaces {
		labels := append([]string{}, ch.From...)
		for _, l := range ch.To {
			if !contains(labels, l) && !contains(ch.Moved, l) {
				labels = append(labels, l)
			}
		}
		if out[ch.DeviceID] == nil {
			out[ch.DeviceID] = map[string][]string{}
		}
		out[ch.DeviceID][ch.DevID] = labels
	}
	return out
}

// creatable reports whether flexiManage would create tunnel k on eps: both
// interfaces carry its label, or carry none for an unlabeled tunnel.
func creatable(k live.TunnelKey, eps map[string]*diff.Endpoint, types diff.LabelTypes) bool {
	wan := func(e live.EndKey) *diff.WAN {
		ep := eps[e.Device]
		if ep == nil {
			return nil
		}
		for i := range ep.WANs {
			if ep.WANs[i].DevID == e.DevID {
				return &ep.WANs[i]
			}
		}
		return nil
	}
	a, bw := wan(k.A), wan(k.B)
	if a == nil || bw == nil {
		return false
	}
	if k.Label == "" {
		return len(a.Labels) == 0 && len(bw.Labels) == 0
	}
	return types[k.Label] != "DIA" && contains(a.Labels, k.Label) && contains(bw.Labels, k.Label)
}

func (b *builder) tunnels() {
	desired := map[live.TunnelKey]bool{}
	for _, d := range b.res.Desired {
		desired[d.Key] = true
	}
	existing := map[live.TunnelKey]bool{}
	for i := range b.st.Tunnels {
		existing[b.st.Tunnels[i].Key()] = true
	}
	eps4 := diff.Endpoints(b.liveDevices(), b.labelsAt(PhaseCreateTunnels))
	var now, later []live.TunnelKey
	for _, m := range b.res.Missing {
		if creatable(m.Key, eps4, b.res.Types) {
			now = append(now, m.Key)
		} else {
			later = append(later, m.Key)
		}
	}
	created := b.createCalls(PhaseCreateTunnels, eps4, now, desired, existing)
	b.repairs()
	b.pendingLater = later
	b.createdEarly = created
}

// createMoved plans the tunnels that need the labels moved in
// PhaseModifyRemove. It runs after deleteTunnels has planned the deletions.
func (b *builder) createMoved(deleted map[live.TunnelKey]bool) {
	if len(b.pendingLater) == 0 {
		return
	}
	desired := map[live.TunnelKey]bool{}
	for _, d := range b.res.Desired {
		desired[d.Key] = true
	}
	existing := map[live.TunnelKey]bool{}
	for i := range b.st.Tunnels {
		if k := b.st.Tunnels[i].Key(); !deleted[k] {
			existing[k] = true
		}
	}
	for k := range b.createdEarly {
		existing[k] = true
	}
	eps := diff.Endpoints(b.liveDevices(), b.labelsAt(PhaseCreateMovedTunnels))
	b.createCalls(PhaseCreateMovedTunnels, eps, b.pendingLater, desired, existing)
}

// createCalls plans tunnels calls that create exactly targets: whole group
// calls where that is safe, then pairs merged into stars. It returns the
// tunnels planned.
func (b *builder) createCalls(phase Phase, eps map[string]*diff.Endpoint, targets []live.TunnelKey, desired, existing map[live.TunnelKey]bool) map[live.TunnelKey]bool {
	assigned := map[live.TunnelKey]bool{}
	if len(targets) == 0 {
		return assigned
	}
	target := map[live.TunnelKey]bool{}
	for _, k := range targets {
		target[k] = true
	}
	var calls []phaseCall
	wouldOf := func(c diff.Call) ([]live.TunnelKey, bool) {
		raw, _ := diff.Expand(c, eps, b.res.Types)
		var would []live.TunnelKey
		safe := true
		seen := map[live.TunnelKey]bool{}
		for _, k := range raw {
			if existing[k] || assigned[k] || seen[k] {
				continue
			}
			seen[k] = true
			if !desired[k] || !target[k] {
				safe = false
			}
			would = append(would, k)
		}
		diff.SortKeys(would)
		return would, safe
	}
	// Whole groups, unless they are single pairs (those are merged below).
	for gi := range b.sp.Tunnels {
		call, ok := b.res.GroupCall(b.sp, gi)
		if !ok || pairLike(call) {
			continue
		}
		would, safe := wouldOf(call)
		if len(would) == 0 || !safe || len(would) > MaxTunnelsPerCall {
			continue
		}
		calls = append(calls, phaseCall{call: call, group: b.group[gi], would: would})
		for _, k := range would {
			assigned[k] = true
		}
	}
	// What is left goes pair by pair, merged into stars.
	type pairKey struct{ a, b string }
	byPair := map[pairKey]map[string]bool{}
	for _, k := range targets {
		if assigned[k] {
			continue
		}
		pk := pairKey{k.A.Device, k.B.Device}
		if byPair[pk] == nil {
			byPair[pk] = map[string]bool{}
		}
		byPair[pk][k.Label] = true
	}
	buckets := map[string][]edge{}
	pks := make([]pairKey, 0, len(byPair))
	for pk := range byPair {
		pks = append(pks, pk)
	}
	sort.Slice(pks, func(i, j int) bool {
		if pks[i].a != pks[j].a {
			return pks[i].a < pks[j].a
		}
		return pks[i].b < pks[j].b
	})
	for _, pk := range pks {
		var labels []string
		unlabeled := false
		for l := range byPair[pk] {
			if l == "" {
				unlabeled = true
			} else {
				labels = append(labels, l)
			}
		}
		sort.Strings(labels)
		var cands [][]string
		if len(labels) > 0 {
			cands = append(cands, labels)
		}
		if unlabeled {
			cands = append(cands, nil)
		}
		for _, ls := range cands {
			try := func(ls []string) bool {
				c := diff.Call{Topology: "fullMesh", Devices: []string{pk.a, pk.b}, Labels: ls}
				would, safe := wouldOf(c)
				if !safe || len(would) == 0 {
					return false
				}
				key := strings.Join(ls, ",")
				buckets[key] = append(buckets[key], edge{a: pk.a, b: pk.b, labels: ls, would: would})
				for _, k := range would {
					assigned[k] = true
				}
				return true
			}
			if try(ls) {
				continue
			}
			for _, l := range ls { // one label at a time
				try([]string{l})
			}
		}
	}
	bkeys := make([]string, 0, len(buckets))
	for k := range buckets {
		bkeys = append(bkeys, k)
	}
	sort.Strings(bkeys)
	for _, bk := range bkeys {
		edges := buckets[bk]
		for len(edges) > 0 {
			deg := map[string]int{}
			for _, e := range edges {
				deg[e.a]++
				deg[e.b]++
			}
			hub := ""
			for d, n := range deg {
				if hub == "" || n > deg[hub] || (n == deg[hub] && b.dev(d).Name+d < b.dev(hub).Name+hub) {
					hub = d
				}
			}
			var star, rest []edge
			for _, e := range edges {
				if e.a == hub || e.b == hub {
					star = append(star, e)
				} else {
					rest = append(rest, e)
				}
			}
			edges = rest
			sort.Slice(star, func(i, j int) bool { return b.dev(other(star[i], hub)).Name < b.dev(other(star[j], hub)).Name })
			for len(star) > 0 {
				var chunk []edge
				n := 0
				for len(star) > 0 && (len(chunk) == 0 || n+len(star[0].would) <= MaxTunnelsPerCall) {
					chunk = append(chunk, star[0])
					n += len(star[0].would)
					star = star[1:]
				}
				pc := phaseCall{call: diff.Call{Labels: chunk[0].labels}}
				if len(chunk) == 1 {
					pc.call.Topology = "fullMesh"
					pc.call.Devices = []string{chunk[0].a, chunk[0].b}
				} else {
					pc.call.Topology, pc.call.Hub = "hubAndSpoke", hub
					pc.call.Devices = []string{hub}
					for _, e := range chunk {
						pc.call.Devices = append(pc.call.Devices, other(e, hub))
					}
				}
				for _, e := range chunk {
					pc.would = append(pc.would, e.would...)
				}
				diff.SortKeys(pc.would)
				calls = append(calls, pc)
			}
		}
	}
	for _, k := range targets {
		if !assigned[k] {
			b.plan.Notes = append(b.plan.Notes, fmt.Sprintf("tunnel %s cannot be created safely in this run: no tunnels call creates it without creating undesired tunnels too", b.st.DescribeKey(k)))
		}
	}
	// Steps; a call whose pairing overlaps an earlier call's waits for its
	// answer, so that flexiManage sees those tunnels as existing.
	owner := map[live.TunnelKey]int{}
	for _, pc := range calls {
		raw, _ := diff.Expand(pc.call, eps, b.res.Types)
		seen := map[int]bool{}
		var after []int
		for _, k := range raw {
			if o, ok := owner[k]; ok && !seen[o] {
				seen[o] = true
				after = append(after, o)
			}
		}
		sort.Ints(after)
		st := b.tunnelsStep(phase, pc)
		st.After = after
		for _, k := range raw {
			if !existing[k] {
				if _, ok := owner[k]; !ok {
					owner[k] = st.ID
				}
			}
		}
	}
	return assigned
}

// edge is a pair call waiting to be merged into a star.
type edge struct {
	a, b   string
	labels []string
	would  []live.TunnelKey
}

func other(e edge, hub string) string {
	if e.a == hub {
		return e.b
	}
	return e.a
}

// pairLike: the call pairs exactly two devices.
func pairLike(c diff.Call) bool { return len(c.Devices) == 2 }

func (b *builder) tunnelRef(k live.TunnelKey, id string) TunnelRef {
	end := func(e live.EndKey) EndRef {
		r := EndRef{DeviceID: e.Device, DevID: e.DevID, Interface: e.DevID}
		if d := b.devs[e.Device]; d != nil {
			r.Device = d.Name
			if f := d.InterfaceByDevID(e.DevID); f != nil {
				r.Interface = f.Name
			}
		}
		return r
	}
	a, bb := end(k.A), end(k.B)
	if bb.Device < a.Device || (bb.Device == a.Device && bb.Interface < a.Interface) {
		a, bb = bb, a
	}
	return TunnelRef{ID: id, A: a, B: bb, Label: k.Label}
}

func (b *builder) hasIPv4(e live.EndKey) bool {
	d := b.devs[e.Device]
	if d == nil {
		return false
	}
	f := d.InterfaceByDevID(e.DevID)
	return f != nil && f.IPv4 != ""
}

func (b *builder) tunnelsStep(phase Phase, pc phaseCall) *Step {
	var devs []DeviceRef
	for _, id := range pc.call.Devices {
		devs = append(devs, b.dev(id))
	}
	labelIDs := []string{}
	for _, l := range pc.call.Labels {
		labelIDs = append(labelIDs, b.labelRef(l))
	}
	meta := map[string]any{
		"pathLabels":      labelIDs,
		"topology":        pc.call.Topology,
		"advancedOptions": map[string]string{"mtu": "", "mssClamp": "yes", "ospfCost": "", "routing": "ospf"},
		"tunnelType":      "site-to-site",
	}
	tp := &TunnelsParams{Topology: pc.call.Topology, Labels: append([]string{}, pc.call.Labels...), Group: pc.group}
	if pc.call.Topology == "hubAndSpoke" {
		meta["hub"] = pc.call.Hub
		tp.Hub = b.dev(pc.call.Hub)
	}
	jobs := 0
	var creates []TunnelRef
	for _, k := range pc.would {
		r := b.tunnelRef(k, "")
		if !b.hasIPv4(k.A) || !b.hasIPv4(k.B) {
			r.Pending = true
		} else {
			jobs += 2
		}
		creates = append(creates, r)
	}
	target := fmt.Sprintf("%s of %s", pc.call.Topology, deviceList(devs))
	if pc.call.Topology == "hubAndSpoke" {
		target = fmt.Sprintf("star from %s to %d spokes", tp.Hub.Name, len(devs)-1)
		if len(devs) == 2 {
			target = fmt.Sprintf("star from %s to %s", tp.Hub.Name, devs[1].Name)
		}
	}
	if pc.group != "" {
		target = "group " + pc.group + " (" + target + ")"
	}
	reason := fmt.Sprintf("%d declared tunnels missing on %s", len(pc.would), labelsText(pc.call.Labels))
	if phase == PhaseCreateMovedTunnels {
		reason += "; their labels move between interfaces in the phase before"
	}
	return b.add(Step{Phase: phase, Action: CreateTunnels, Target: target, Reason: reason,
		Request: Request{Method: "POST", Path: "/api/devices/apply" + b.orgQuery(), Body: devicesBody("tunnels", devs, map[string]any{"meta": meta})},
		Devices: devs, Tunnels: tp, Creates: creates, ExpectedJobs: jobs})
}

func labelsText(ls []string) string {
	if len(ls) == 0 {
		return "unlabeled interfaces"
	}
	return "label " + strings.Join(ls, ", ")
}

// repairs plans one sync per device that has a desired tunnel whose
// add-tunnel job failed on its end (flexiManage leaves it half-configured).
func (b *builder) repairs() {
	byDev := map[string][]live.Tunnel{}
	var order []string
	for _, r := range b.res.Repair {
		for _, d := range r.Devices {
			if _, ok := byDev[d]; !ok {
				order = append(order, d)
			}
			byDev[d] = append(byDev[d], r.Tunnel)
		}
	}
	sort.Slice(order, func(i, j int) bool { return b.dev(order[i]).Name < b.dev(order[j]).Name })
	for _, id := range order {
		ref := b.dev(id)
		var reps []TunnelRef
		for _, t := range byDev[id] {
			reps = append(reps, b.tunnelRef(t.Key(), t.ID))
		}
		b.add(Step{Phase: PhaseCreateTunnels, Action: SyncDevice, Target: "device " + ref.Name,
			Reason:  fmt.Sprintf("%d tunnels are not configured on this device (an add-tunnel job failed); a sync sends them again", len(reps)),
			Request: Request{Method: "POST", Path: "/api/devices/" + id + "/apply" + b.orgQuery(), Body: mustJSON(map[string]string{"method": "sync"})},
			Devices: []DeviceRef{ref}, Repairs: reps, ExpectedJobs: 1})
	}
}

// deleteTunnels plans the deletions (as few deltunnels calls as the
// 1000-tunnel limit allows), then the creations that had to wait for them.
func (b *builder) deleteTunnels() {
	dels := b.res.Delete
	deleted := map[live.TunnelKey]bool{}
	for _, d := range dels {
		deleted[d.Tunnel.Key()] = true
	}
	for len(dels) > 0 {
		n := min(len(dels), MaxTunnelsPerCall)
		chunk := dels[:n]
		dels = dels[n:]
		devIDs := map[string]bool{}
		ids := map[string]bool{}
		var refs []TunnelRef
		reasons := map[diff.DeleteReason]int{}
		jobs := 0
		for _, d := range chunk {
			t := d.Tunnel
			devIDs[t.A.DeviceID], devIDs[t.B.DeviceID] = true, true
			ids[t.ID] = true
			refs = append(refs, b.tunnelRef(t.Key(), t.ID))
			reasons[d.Reason]++
			if !t.Pending {
				jobs += 2
			}
		}
		var why []string
		if n := reasons[diff.NotDesired]; n > 0 {
			why = append(why, fmt.Sprintf("%d no longer desired by their group", n))
		}
		if n := reasons[diff.Pruned]; n > 0 {
			why = append(why, fmt.Sprintf("%d not declared by any group (prune)", n))
		}
		devs := sortedDeviceRefs(devIDs, b)
		b.add(Step{Phase: PhaseDeleteTunnels, Action: DeleteTunnels, Target: fmt.Sprintf("%d tunnels", len(refs)),
			Reason:  strings.Join(why, "; ") + "; the ids are re-read just before sending",
			Request: Request{Method: "POST", Path: "/api/devices/apply" + b.orgQuery(), Body: devicesBody("deltunnels", devs, map[string]any{"tunnels": ids})},
			Devices: devs, Deletes: refs, ExpectedJobs: jobs})
	}
	// PhaseModifyRemove steps were planned by modify(); the moved-label
	// creations come after them.
	b.createMoved(deleted)
}
