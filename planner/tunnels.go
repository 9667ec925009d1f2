package planner

import (
	"container/heap"
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
	raw   []live.TunnelKey // diff.Expand of call, when already known
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
	desired := make(map[live.TunnelKey]bool, len(b.res.Desired))
	for _, d := range b.res.Desired {
		desired[d.Key] = true
	}
	existing := make(map[live.TunnelKey]bool, len(b.st.Tunnels))
	for i := range b.st.Tunnels {
		existing[b.st.Tunnels[i].Key()] = true
	}
	eps4 := diff.Endpoints(b.liveDevices(), b.labelsAt(PhaseCreateTunnels))
	now := make([]live.TunnelKey, 0, len(b.res.Missing))
	var later []live.TunnelKey
	for _, m := range b.res.Missing {
		if creatable(m.Key, eps4, b.res.Types) {
			now = append(now, m.Key)
		} else {
			later = append(later, m.Key)
		}
	}
	created := b.createCalls(PhaseCreateTunnels, eps4, now, desired, existing)
	// A tunnel that no call can create safely under this phase's labels
	// (a label still to be removed or moved would pair other interfaces
	// too) may be creatable once the labels are final: try again then,
	// rather than leave it to the next run.
	for _, k := range now {
		if !created[k] {
			later = append(later, k)
		}
	}
	diff.SortKeys(later)
	b.repairs()
	b.pendingLater = later
	b.createdEarly = created
	b.desired, b.existing = desired, existing
}

// createMoved plans the tunnels that need the labels moved in
// PhaseModifyRemove. It runs after deleteTunnels has planned the deletions.
func (b *builder) createMoved(deleted map[live.TunnelKey]bool) {
	if len(b.pendingLater) == 0 {
		return
	}
	// The maps of the first create phase, updated: PhaseCreateTunnels is
	// planned, so they can change in place.
	existing := b.existing
	for k := range deleted {
		delete(existing, k)
	}
	for k := range b.createdEarly {
		existing[k] = true
	}
	eps := diff.Endpoints(b.liveDevices(), b.labelsAt(PhaseCreateMovedTunnels))
	b.createCalls(PhaseCreateMovedTunnels, eps, b.pendingLater, b.desired, existing)
}

// createCalls plans tunnels calls that create exactly targets: whole group
// calls where that is safe, then pairs merged into stars. It returns the
// tunnels planned.
func (b *builder) createCalls(phase Phase, eps map[string]*diff.Endpoint, targets []live.TunnelKey, desired, existing map[live.TunnelKey]bool) map[live.TunnelKey]bool {
	assigned := make(map[live.TunnelKey]bool, len(targets))
	if len(targets) == 0 {
		return assigned
	}
	target := make(map[live.TunnelKey]bool, len(targets))
	targetDevs := map[string]bool{}
	for _, k := range targets {
		target[k] = true
		targetDevs[k.A.Device], targetDevs[k.B.Device] = true, true
	}
	// relevant: the call pairs two devices that a target connects. A call
	// that does not creates no target, so it is either empty or unsafe:
	// skipping it saves expanding every converged group of the
	// organization, in both create phases.
	relevant := func(c diff.Call) bool {
		if c.Topology == "hubAndSpoke" && !targetDevs[c.Hub] {
			return false
		}
		n := 0
		for _, d := range c.Devices {
			if targetDevs[d] {
				if n++; n == 2 {
					return true
				}
			}
		}
		return false
	}
	var calls []phaseCall
	var lastRaw []live.TunnelKey // the expansion wouldOf computed last
	wouldOf := func(c diff.Call) ([]live.TunnelKey, bool) {
		raw, _ := diff.Expand(c, eps, b.res.Types)
		lastRaw = raw
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
		call, ok := b.groupCalls[gi].call, b.groupCalls[gi].ok
		if !ok || pairLike(call) || !relevant(call) {
			continue
		}
		would, safe := wouldOf(call)
		if len(would) == 0 || !safe {
			continue
		}
		parts := []phaseCall{{call: call, group: b.group[gi], would: would, raw: lastRaw}}
		if len(would) > MaxTunnelsPerCall {
			parts = splitGroup(call, b.group[gi], wouldOf)
		}
		for _, pc := range parts {
			calls = append(calls, pc)
			for _, k := range pc.would {
				assigned[k] = true
			}
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
		// Greedy stars: take the device with the most edges left (ties:
		// the smallest name+id) as a hub with all its edges, and repeat.
		// Degrees are kept up to date in a lazy max-heap, so that this
		// stays O(E log E) rather than a recount per star.
		edges := buckets[bk]
		deg := map[string]int{}
		adj := map[string][]int{}
		for i, e := range edges {
			deg[e.a]++
			deg[e.b]++
			adj[e.a] = append(adj[e.a], i)
			adj[e.b] = append(adj[e.b], i)
		}
		h := &degHeap{}
		for d, n := range deg {
			h.items = append(h.items, degItem{dev: d, key: b.dev(d).Name + d, deg: n})
		}
		heap.Init(h)
		used := make([]bool, len(edges))
		for h.Len() > 0 {
			top := heap.Pop(h).(degItem)
			if top.deg != deg[top.dev] || top.deg == 0 {
				continue // stale
			}
			hub := top.dev
			var star []edge
			for _, i := range adj[hub] {
				if used[i] {
					continue
				}
				used[i] = true
				e := edges[i]
				star = append(star, e)
				o := other(e, hub)
				deg[o]--
				if deg[o] > 0 {
					heap.Push(h, degItem{dev: o, key: b.dev(o).Name + o, deg: deg[o]})
				}
			}
			deg[hub] = 0
			sort.SliceStable(star, func(i, j int) bool { return b.dev(other(star[i], hub)).Name < b.dev(other(star[j], hub)).Name })
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
		if !assigned[k] && phase == PhaseCreateMovedTunnels {
			b.plan.Notes = append(b.plan.Notes, fmt.Sprintf("tunnel %s cannot be created safely in this run: no tunnels call creates it without creating undesired tunnels too", b.st.DescribeKey(k)))
		}
	}
	// Steps; a call whose pairing overlaps an earlier call's waits for its
	// answer, so that flexiManage sees those tunnels as existing.
	owner := make(map[live.TunnelKey]int, len(targets))
	for _, pc := range calls {
		raw := pc.raw
		if raw == nil {
			raw, _ = diff.Expand(pc.call, eps, b.res.Types)
		}
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

// splitGroup plans a safe group call that would create more than
// MaxTunnelsPerCall tunnels as calls of at most that many each, so that it
// costs about ⌈N/1000⌉ calls (DESIGN.md §7) rather than one per pair or
// star. A hubAndSpoke group is cut into stars of consecutive spokes. A
// fullMesh group becomes meshes of growing prefixes of its devices: each
// creates the tunnels its last devices add, the earlier ones exist by then
// (its step waits for theirs); a device that alone would add more than the
// limit gets stars to the prefix instead. Every call pairs a subset of the
// group's pairs, so each is safe when the group's call is. Tunnels that do
// not fit (one pair over the limit) are left to the pair-by-pair planning.
func splitGroup(call diff.Call, group string, wouldOf func(diff.Call) ([]live.TunnelKey, bool)) []phaseCall {
	var out []phaseCall
	emit := func(c diff.Call, would []live.TunnelKey) {
		if len(would) == 0 {
			return
		}
		w := append([]live.TunnelKey(nil), would...)
		diff.SortKeys(w)
		out = append(out, phaseCall{call: c, group: group, would: w})
	}
	// stars pairs hub with each of spokes, in chunks within the limit; it
	// reports false when a pair alone is over the limit and was left out.
	stars := func(hub string, spokes []string) bool {
		complete := true
		var chunk []string
		var acc []live.TunnelKey
		flush := func() {
			if len(chunk) == 0 {
				return
			}
			devs := append([]string{hub}, chunk...)
			c := diff.Call{Topology: "hubAndSpoke", Hub: hub, Devices: devs, Labels: call.Labels}
			if len(chunk) == 1 {
				c = diff.Call{Topology: "fullMesh", Devices: devs, Labels: call.Labels}
			}
			emit(c, acc)
			chunk, acc = nil, nil
		}
		for _, sp := range spokes {
			if sp == hub {
				continue
			}
			w, _ := wouldOf(diff.Call{Topology: "fullMesh", Devices: []string{hub, sp}, Labels: call.Labels})
			if len(w) > MaxTunnelsPerCall {
				complete = false
				continue
			}
			if len(w) == 0 {
				continue
			}
			if len(acc)+len(w) > MaxTunnelsPerCall {
				flush()
			}
			chunk = append(chunk, sp)
			acc = append(acc, w...)
		}
		flush()
		return complete
	}
	if call.Topology == "hubAndSpoke" {
		stars(call.Hub, call.Devices)
		return out
	}
	var prefix []string
	var acc []live.TunnelKey
	for _, d := range call.Devices {
		var inc []live.TunnelKey
		if len(prefix) > 0 {
			inc, _ = wouldOf(diff.Call{Topology: "hubAndSpoke", Hub: d, Devices: append([]string{d}, prefix...), Labels: call.Labels})
		}
		if len(acc)+len(inc) > MaxTunnelsPerCall {
			emit(diff.Call{Topology: "fullMesh", Devices: append([]string(nil), prefix...), Labels: call.Labels}, acc)
			acc = nil
			if len(inc) > MaxTunnelsPerCall {
				if !stars(d, prefix) {
					// A larger mesh would create the pair left out.
					return out
				}
				inc = nil
			}
		}
		prefix = append(prefix, d)
		acc = append(acc, inc...)
	}
	emit(diff.Call{Topology: "fullMesh", Devices: prefix, Labels: call.Labels}, acc)
	return out
}

// degItem is a device and its edges left, in degHeap.
type degItem struct {
	dev, key string // key orders ties: name, then id
	deg      int
}

// degHeap pops the device with the most edges left, the smallest key
// first among equals.
type degHeap struct{ items []degItem }

func (h *degHeap) Len() int { return len(h.items) }
func (h *degHeap) Less(i, j int) bool {
	if h.items[i].deg != h.items[j].deg {
		return h.items[i].deg > h.items[j].deg
	}
	return h.items[i].key < h.items[j].key
}
func (h *degHeap) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *degHeap) Push(x any)    { h.items = append(h.items, x.(degItem)) }
func (h *degHeap) Pop() any {
	n := len(h.items) - 1
	x := h.items[n]
	h.items = h.items[:n]
	return x
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
