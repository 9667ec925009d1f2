package planner

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/flexiwan-gitops/reconciler/diff"
	"github.com/flexiwan-gitops/reconciler/live"
	"github.com/flexiwan-gitops/reconciler/spec"
)

// MaxTunnelsPerCall bounds the tunnels one tunnels call creates: above 1000
// flexiManage answers ids: [] and the jobs cannot be followed.
const MaxTunnelsPerCall = 1000

// Options are the caller's choices for one plan.
type Options struct {
	Revision string
	Source   string
	Now      time.Time
	// Prune overrides the source's settings.prune when set.
	Prune *bool
	// MaxDeletions overrides the source's settings.maxDeletions when >= 0.
	MaxDeletions int
	// AllowEmptySource lets a source that declares nothing delete things.
	AllowEmptySource bool
	// UpgradePercent bounds an upgrade wave as a share of the
	// organization's devices (default 10).
	UpgradePercent int
}

// DefaultOptions are Options with nothing overridden.
func DefaultOptions() Options { return Options{MaxDeletions: -1} }

// Refused is returned when no plan can be made, with every reason.
type Refused struct {
	Reasons []string
}

func (r *Refused) Error() string {
	if len(r.Reasons) == 1 {
		return "plan refused: " + r.Reasons[0]
	}
	return "plan refused:\n  - " + strings.Join(r.Reasons, "\n  - ")
}

type builder struct {
	sp    *spec.Spec
	st    *live.State
	res   *diff.Result
	opts  Options
	plan  *Plan
	devs  map[string]*live.Device // by id
	group map[int]string          // group index → label

	pendingLater []live.TunnelKey        // missing tunnels that need moved labels
	createdEarly map[live.TunnelKey]bool // tunnels PhaseCreateTunnels creates
	desired      map[live.TunnelKey]bool // every desired tunnel
	existing     map[live.TunnelKey]bool // live tunnels (PhaseCreateTunnels' view)

	// groupCalls[gi] is the tunnels call of declared group gi; ok false
	// when a member is not in flexiManage.
	groupCalls []groupCall
}

type groupCall struct {
	call diff.Call
	ok   bool
}

// resolveGroups resolves every group's devices to ids once per plan (per
// group and per phase it would cost a map of every device each time, which
// dominates the planning of large organizations).
func (b *builder) resolveGroups() {
	byName := make(map[string]string, len(b.res.Devices))
	for _, p := range b.res.Devices {
		if p.Live != nil {
			byName[p.Spec.Name] = p.Live.ID
		}
	}
	b.groupCalls = make([]groupCall, len(b.sp.Tunnels))
	for gi := range b.sp.Tunnels {
		g := &b.sp.Tunnels[gi]
		gc := groupCall{call: diff.Call{Topology: string(g.Topology), Labels: g.PathLabels}, ok: true}
		for _, n := range g.Devices() {
			id, found := byName[n]
			if !found {
				gc.ok = false
				break
			}
			gc.call.Devices = append(gc.call.Devices, id)
		}
		if gc.ok && g.Topology == spec.HubAndSpoke {
			gc.call.Hub = byName[g.Hub]
		}
		b.groupCalls[gi] = gc
	}
}

// Build plans the changes that take st to sp.
func Build(sp *spec.Spec, st *live.State, opts Options) (*Plan, error) {
	prune := sp.Settings.Prune
	if opts.Prune != nil {
		prune = *opts.Prune
	}
	maxDel := sp.Settings.MaxDeletions
	if opts.MaxDeletions >= 0 {
		maxDel = opts.MaxDeletions
	}
	if opts.UpgradePercent <= 0 {
		opts.UpgradePercent = 10
	}
	res := diff.Compute(sp, st, diff.Options{Prune: prune})
	if len(res.Problems) > 0 {
		r := &Refused{}
		for _, p := range res.Problems {
			r.Reasons = append(r.Reasons, p.String())
		}
		return nil, r
	}
	b := &builder{sp: sp, st: st, res: res, opts: opts, devs: map[string]*live.Device{}, group: map[int]string{},
		plan: &Plan{FormatVersion: FormatVersion, Revision: opts.Revision, Source: opts.Source, Org: Org{ID: st.Org.ID, Name: st.Org.Name},
			LiveFingerprint: st.Fingerprint(), CreatedAt: opts.Now.UTC(), Prune: prune, MaxDeletions: maxDel, Notes: res.Notes}}
	for i := range st.Devices {
		b.devs[st.Devices[i].ID] = &st.Devices[i]
	}
	for gi := range sp.Tunnels {
		b.group[gi] = sp.Tunnels[gi].Label()
	}
	b.resolveGroups()
	b.labels()
	b.runState(PhaseStart)
	b.modify()
	b.tunnels()
	b.deleteTunnels()
	b.runState(PhaseStop)
	b.upgrades()
	b.finish()
	if err := b.guard(maxDel); err != nil {
		return nil, err
	}
	return b.plan, nil
}

func (b *builder) add(s Step) *Step {
	s.ID = len(b.plan.Steps) + 1
	b.plan.Steps = append(b.plan.Steps, s)
	return &b.plan.Steps[len(b.plan.Steps)-1]
}

func (b *builder) orgQuery() string { return "?org=" + b.st.Org.ID }

func mustJSON(v any) json.RawMessage {
	out, err := json.Marshal(v)
	if err != nil {
		panic(err) // values built here always encode
	}
	return out
}

// labelRef is a label's id, or a placeholder when it is created by this plan.
func (b *builder) labelRef(name string) string {
	if l := b.st.Label(name); l != nil {
		return l.ID
	}
	return "$label:" + name
}

func (b *builder) dev(id string) DeviceRef {
	if d := b.devs[id]; d != nil {
		return DeviceRef{ID: id, Name: d.Name}
	}
	return DeviceRef{ID: id}
}

func (b *builder) labels() {
	for _, ch := range b.res.Labels {
		lp := &LabelParams{ID: ch.ID, Name: ch.Name, Type: ch.Type, Color: ch.Color, Description: ch.Description, Changes: ch.Fields}
		body := map[string]string{"name": ch.Name, "description": ch.Description, "color": ch.Color, "type": ch.Type}
		switch ch.Kind {
		case diff.Create:
			b.add(Step{Phase: PhaseLabels, Action: CreateLabel, Target: "path label " + ch.Name, Reason: "declared, not in flexiManage",
				Request: Request{Method: "POST", Path: "/api/pathlabels" + b.orgQuery(), Body: mustJSON(body)}, Label: lp})
		case diff.Update:
			b.add(Step{Phase: PhaseLabels, Action: UpdateLabel, Target: "path label " + ch.Name, Reason: strings.Join(ch.Fields, "; "),
				Request: Request{Method: "PUT", Path: "/api/pathlabels/" + ch.ID + b.orgQuery(), Body: mustJSON(body)}, Label: lp})
		}
	}
	for _, ch := range b.res.Labels {
		if ch.Kind == diff.Delete {
			b.add(Step{Phase: PhaseDeleteLabels, Action: DeleteLabel, Target: "path label " + ch.Name, Reason: "not declared and unused (prune)",
				Request: Request{Method: "DELETE", Path: "/api/pathlabels/" + ch.ID + b.orgQuery()},
				Label:   &LabelParams{ID: ch.ID, Name: ch.Name, Type: ch.Type, Color: ch.Color, Description: ch.Description}})
		}
	}
}

func devicesBody(method string, devs []DeviceRef, extra map[string]any) json.RawMessage {
	m := map[string]any{"method": method}
	ds := map[string]bool{}
	for _, d := range devs {
		ds[d.ID] = true
	}
	m["devices"] = ds
	for k, v := range extra {
		m[k] = v
	}
	return mustJSON(m)
}

func (b *builder) runState(phase Phase) {
	want := "running"
	action, method := StartDevices, "start"
	if phase == PhaseStop {
		want, action, method = "stopped", StopDevices, "stop"
	}
	var devs []DeviceRef
	var from []string
	for _, rc := range b.res.Run {
		if rc.To == want {
			devs = append(devs, DeviceRef{ID: rc.DeviceID, Name: rc.DeviceName})
			from = append(from, rc.DeviceName+" is "+orUnknown(rc.From))
		}
	}
	if len(devs) == 0 {
		return
	}
	b.add(Step{Phase: phase, Action: action, Target: deviceList(devs), Reason: "declared " + want + "; " + strings.Join(from, ", "),
		Request: Request{Method: "POST", Path: "/api/devices/apply" + b.orgQuery(), Body: devicesBody(method, devs, nil)},
		Devices: devs, ExpectedJobs: len(devs)})
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func deviceList(devs []DeviceRef) string {
	names := make([]string, len(devs))
	for i, d := range devs {
		names[i] = d.Name
	}
	if len(names) == 1 {
		return "device " + names[0]
	}
	if len(names) > 6 {
		return fmt.Sprintf("%d devices: %s, …", len(names), strings.Join(names[:5], ", "))
	}
	return "devices " + strings.Join(names, ", ")
}

func (b *builder) upgrades() {
	if len(b.res.Upgrades) == 0 {
		return
	}
	// At most UpgradePercent of the fleet at once (rounded down), but at
	// least one device per wave.
	per := max(1, len(b.st.Devices)*b.opts.UpgradePercent/100)
	ups := b.res.Upgrades
	for wave := 1; len(ups) > 0; wave++ {
		n := min(per, len(ups))
		batch := ups[:n]
		ups = ups[n:]
		var devs []DeviceRef
		up := &UpgradeParams{From: map[string]string{}, To: map[string]string{}}
		for _, u := range batch {
			devs = append(devs, DeviceRef{ID: u.DeviceID, Name: u.DeviceName})
			up.From[u.DeviceName], up.To[u.DeviceName] = u.From, u.To
		}
		b.add(Step{Phase: PhaseUpgrade, Wave: wave, Action: UpgradeDevices, Target: deviceList(devs),
			Reason:  fmt.Sprintf("version below the declared one (wave %d, at most %d devices at once)", wave, per),
			Request: Request{Method: "POST", Path: "/api/devices/apply" + b.orgQuery(), Body: devicesBody("upgrade", devs, nil)},
			Devices: devs, Upgrade: up, ExpectedJobs: len(devs)})
	}
}

// finish orders the steps by phase (and wave), numbers them, and fills the
// summary and the unmanaged list.
func (b *builder) finish() {
	sort.SliceStable(b.plan.Steps, func(i, j int) bool {
		x, y := b.plan.Steps[i], b.plan.Steps[j]
		if x.Phase != y.Phase {
			return x.Phase < y.Phase
		}
		return x.Wave < y.Wave
	})
	renum := map[int]int{}
	for i := range b.plan.Steps {
		renum[b.plan.Steps[i].ID] = i + 1
		b.plan.Steps[i].ID = i + 1
	}
	for i := range b.plan.Steps {
		for j, a := range b.plan.Steps[i].After {
			b.plan.Steps[i].After[j] = renum[a]
		}
	}
	s := &b.plan.Summary
	for _, st := range b.plan.Steps {
		s.Calls++
		s.ExpectedJobs += st.ExpectedJobs
		switch st.Action {
		case CreateLabel:
			s.LabelsCreated++
		case UpdateLabel:
			s.LabelsUpdated++
		case DeleteLabel:
			s.LabelsDeleted++
		case CreateTunnels:
			s.TunnelsCreated += len(st.Creates)
		case DeleteTunnels:
			s.TunnelsDeleted += len(st.Deletes)
		case SyncDevice:
			s.TunnelsRepaired += len(st.Repairs)
		case StartDevices:
			s.Started += len(st.Devices)
		case StopDevices:
			s.Stopped += len(st.Devices)
		case UpgradeDevices:
			s.Upgraded += len(st.Devices)
		}
	}
	changed := map[string]bool{}
	for _, ch := range b.res.Interfaces {
		changed[ch.DeviceID] = true
	}
	for _, r := range b.res.Routes {
		changed[r.DeviceID] = true
		switch r.Kind {
		case diff.Create:
			s.RoutesAdded++
		case diff.Update:
			s.RoutesChanged++
		case diff.Delete:
			s.RoutesRemoved++
		}
	}
	for _, h := range b.res.DHCP {
		changed[h.DeviceID] = true
		switch h.Kind {
		case diff.Create:
			s.DHCPAdded++
		case diff.Update:
			s.DHCPChanged++
		case diff.Delete:
			s.DHCPRemoved++
		}
	}
	s.DevicesChanged = len(changed)
	s.Deletions = s.TunnelsDeleted + s.LabelsDeleted + s.RoutesRemoved + s.DHCPRemoved
	for _, t := range b.res.Unmanaged {
		b.plan.Unmanaged = append(b.plan.Unmanaged, Unmanaged{Kind: "tunnel", Name: b.st.DescribeKey(t.Key()), ID: t.ID})
	}
	for _, n := range b.res.UnmanagedLabels {
		id := ""
		if l := b.st.Label(n); l != nil {
			id = l.ID
		}
		b.plan.Unmanaged = append(b.plan.Unmanaged, Unmanaged{Kind: "pathLabel", Name: n, ID: id})
	}
	s.Unmanaged = len(b.plan.Unmanaged)
}

// guard refuses plans that delete too much.
func (b *builder) guard(maxDel int) error {
	var reasons []string
	del := b.plan.Summary.Deletions
	if del > maxDel {
		reasons = append(reasons, fmt.Sprintf("the plan deletes %d objects, more than maxDeletions (%d); raise it with --max-deletions if this is intended", del, maxDel))
	}
	if b.sp.IsEmpty() && del > 0 && !b.opts.AllowEmptySource {
		reasons = append(reasons, fmt.Sprintf("the source declares nothing but the plan deletes %d objects; refusing in case the source came back empty by mistake", del))
	}
	for _, st := range b.plan.Steps {
		switch st.Action {
		case StartDevices, StopDevices, UpgradeDevices, CreateTunnels, DeleteTunnels:
			if len(st.Devices) == 0 {
				reasons = append(reasons, fmt.Sprintf("internal error: step %d (%s) has no devices; flexiManage would apply it to every device", st.ID, st.Action))
			}
		}
	}
	if len(reasons) > 0 {
		return &Refused{Reasons: reasons}
	}
	return nil
}

func sortedDeviceRefs(ids map[string]bool, b *builder) []DeviceRef {
	out := make([]DeviceRef, 0, len(ids))
	for id := range ids {
		out = append(out, b.dev(id))
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].ID < out[j].ID
	})
	return out
}
