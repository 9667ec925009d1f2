package planner_test

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flexiwan-gitops/reconciler/live"
	"github.com/flexiwan-gitops/reconciler/planner"
)

// richFleet is an organization in which the rich source below changes
// something in every phase.
func richFleet() *fleet {
	f := newFleet()
	f.label("mpls", "Tunnel").label("inet", "Tunnel").label("old", "Tunnel")
	f.device("hq", wan("wan0", "mpls"), wan("wan1"), wan("wan2", "inet"), lan("lan0"))
	f.device("b1", wan("wan0", "mpls"), wan("wan1"), lan("lan0"))
	f.device("b2", wan("wan0", "mpls"), wan("wan1"), lan("lan0")).State = "stopped"
	b3 := f.device("b3", wan("wan0", "mpls"), wan("wan1"), lan("lan0"))
	b3.Routes = []live.Route{{ID: "r1", Destination: "10.9.0.0/16", Gateway: "10.0.0.254"}}
	f.device("b4", wan("wan0"), wan("wan1"), lan("lan0"))
	f.device("x", wan("wan0", "inet"), lan("lan0"))
	f.tunnel("hq/wan0", "b1/wan0", "mpls") // moves to hq/wan1
	f.tunnel("b3/wan0", "hq/wan0", "mpls") // moves to hq/wan1
	f.tunnel("b3/wan1", "b4/wan1", "")     // unmanaged: pruned
	f.tunnel("hq/wan2", "x/wan0", "inet")  // undeclared device: never touched
	return f
}

const richSource = `
pathLabels:
  - {name: mpls, color: "#aaaaaa"}
  - {name: inet}
  - {name: lte}
devices:
  - name: hq
    interfaces:
      - {name: wan0, pathLabels: []}
      - {name: wan1, pathLabels: [mpls]}
      - {name: wan2, pathLabels: [inet]}
  - name: b1
    version: 6.3.37
    interfaces:
      - {name: wan0, pathLabels: [mpls]}
      - {name: wan1, pathLabels: [inet]}
    staticRoutes:
      - {destination: 10.20.0.0/16, gateway: 10.0.0.1}
  - name: b2
    state: running
    interfaces:
      - {name: wan0, pathLabels: [mpls]}
      - {name: wan1, pathLabels: [inet]}
  - name: b3
    interfaces:
      - {name: wan0, pathLabels: [mpls]}
    staticRoutes: []
  - name: b4
    state: stopped
tunnels:
  - name: star
    topology: hubAndSpoke
    hub: hq
    spokes: [b1, b2, b3]
    pathLabels: [mpls]
  - name: inet-mesh
    topology: fullMesh
    devices: [hq, b1, b2]
    pathLabels: [inet]
settings:
  prune: true
  maxDeletions: 10
`

func TestBuildPhaseOrder(t *testing.T) {
	p, _ := mustPlan(t, richSource, richFleet().state(), opts())
	want := []string{
		"labels update-label path label mpls",
		"labels create-label path label lte",
		"start start device b2",
		"modify-add modify-device device b1",
		"modify-add modify-device device b2",
		"create-tunnels create-tunnels group inet-mesh (fullMesh of devices hq, b1, b2)",
		"remove-routes modify-device device b3",
		"delete-tunnels delete-tunnels 3 tunnels",
		"modify-remove modify-device device hq",
		"create-moved-tunnels create-tunnels group star (star from hq to 3 spokes)",
		"delete-labels delete-label path label old",
		"stop stop device b4",
		"upgrade upgrade device b1",
	}
	if d := cmp.Diff(want, stepLines(p)); d != "" {
		t.Errorf("Build() steps mismatch (-want +got):\n%s", d)
	}
	wantSum := planner.Summary{Calls: 13, LabelsCreated: 1, LabelsUpdated: 1, LabelsDeleted: 1, DevicesChanged: 4,
		TunnelsCreated: 6, TunnelsDeleted: 3, RoutesAdded: 1, RoutesRemoved: 1, Started: 1, Stopped: 1, Upgraded: 1, Deletions: 5}
	got := p.Summary
	got.ExpectedJobs = 0
	if d := cmp.Diff(wantSum, got); d != "" {
		t.Errorf("Build() summary mismatch (-want +got):\n%s", d)
	}
	if p.FormatVersion != planner.FormatVersion || p.Revision != "rev1" || !p.CreatedAt.Equal(planTime) || p.Org.ID != "org1" {
		t.Errorf("plan header = %d %q %v %q, want %d rev1 %v org1", p.FormatVersion, p.Revision, p.CreatedAt, p.Org.ID, planner.FormatVersion, planTime)
	}
	if p.LiveFingerprint != richFleet().state().Fingerprint() {
		t.Errorf("LiveFingerprint = %q, want the live state's", p.LiveFingerprint)
	}
}

// TestBuildLabelMove: a label moving between two interfaces of one device
// loses its tunnels first, moves in one PUT, then gets its new tunnels.
func TestBuildLabelMove(t *testing.T) {
	f := newFleet()
	f.label("mpls", "Tunnel").label("inet", "Tunnel")
	f.device("hq", wan("wan0", "mpls"), wan("wan1", "inet"), lan("lan0"))
	for _, n := range []string{"b1", "b2", "b3"} {
		f.device(n, wan("wan0", "mpls"), wan("wan1", "inet"))
		f.tunnel("hq/wan0", n+"/wan0", "mpls")
		f.tunnel("hq/wan1", n+"/wan1", "inet")
	}
	src := `
pathLabels: [{name: mpls}, {name: inet}]
devices:
  - name: hq
    interfaces:
      - {name: wan0, pathLabels: []}
      - {name: wan1, pathLabels: [inet, mpls]}
  - {name: b1}
  - {name: b2}
  - {name: b3}
tunnels:
  - {name: star, topology: hubAndSpoke, hub: hq, spokes: ["b*"], pathLabels: [mpls, inet]}
`
	p, _ := mustPlan(t, src, f.state(), opts())
	want := []string{
		"delete-tunnels delete-tunnels 3 tunnels",
		"modify-remove modify-device device hq",
		"create-moved-tunnels create-tunnels group star (star from hq to 3 spokes)",
	}
	if d := cmp.Diff(want, stepLines(p)); d != "" {
		t.Fatalf("Build() steps mismatch (-want +got):\n%s", d)
	}
	del, mod, cr := p.Steps[0], p.Steps[1], p.Steps[2]
	wantDel := []string{"b1/wan0 <-> hq/wan0 [mpls]", "b2/wan0 <-> hq/wan0 [mpls]", "b3/wan0 <-> hq/wan0 [mpls]"}
	if d := cmp.Diff(wantDel, refStrings(del.Deletes)); d != "" {
		t.Errorf("deleted tunnels mismatch (-want +got):\n%s", d)
	}
	wantEdit := []planner.IfaceEdit{
		{DevID: "wan0", Name: "wan0", From: []string{"mpls"}, Labels: []string{}},
		{DevID: "wan1", Name: "wan1", From: []string{"inet"}, Labels: []string{"inet", "mpls"}},
	}
	if d := cmp.Diff(wantEdit, mod.Modify.Interfaces); d != "" {
		t.Errorf("the move's PUT mismatch (-want +got):\n%s", d)
	}
	wantCr := []string{"b1/wan0 <-> hq/wan1 [mpls]", "b2/wan0 <-> hq/wan1 [mpls]", "b3/wan0 <-> hq/wan1 [mpls]"}
	if d := cmp.Diff(wantCr, refStrings(cr.Creates)); d != "" {
		t.Errorf("created tunnels mismatch (-want +got):\n%s", d)
	}
}

// TestBuildLabelMoveMixed: a move on one device does not hold back the
// tunnels that need no move; those are created before anything is deleted.
func TestBuildLabelMoveMixed(t *testing.T) {
	f := newFleet()
	f.label("mpls", "Tunnel")
	f.device("hq", wan("wan0", "mpls"), wan("wan1"))
	f.device("dc", wan("wan0", "mpls"))
	f.device("b1", wan("wan0", "mpls"), wan("wan1"))
	f.device("b2", wan("wan0", "mpls"))
	f.tunnel("hq/wan0", "b1/wan0", "mpls")
	src := `
pathLabels: [{name: mpls}]
devices:
  - name: hq
  - name: dc
  - name: b1
    interfaces:
      - {name: wan0, pathLabels: []}
      - {name: wan1, pathLabels: [mpls]}
  - name: b2
tunnels:
  - {topology: fullMesh, devices: [hq, dc, b1, b2], pathLabels: [mpls]}
`
	p, _ := mustPlan(t, src, f.state(), opts())
	byPhase := map[planner.Phase][]string{}
	calls := map[planner.Phase]int{}
	for _, s := range p.Steps {
		byPhase[s.Phase] = append(byPhase[s.Phase], refStrings(append(s.Creates, s.Deletes...))...)
		calls[s.Phase]++
	}
	for _, v := range byPhase {
		sort.Strings(v)
	}
	want := map[planner.Phase][]string{
		// Before anything is deleted: every tunnel that needs no move.
		planner.PhaseCreateTunnels: {"b2/wan0 <-> dc/wan0 [mpls]", "b2/wan0 <-> hq/wan0 [mpls]", "dc/wan0 <-> hq/wan0 [mpls]"},
		planner.PhaseDeleteTunnels: {"b1/wan0 <-> hq/wan0 [mpls]"},
		planner.PhaseModifyRemove:  nil,
		// After the move: b1's tunnels, in one call.
		planner.PhaseCreateMovedTunnels: {"b1/wan1 <-> b2/wan0 [mpls]", "b1/wan1 <-> dc/wan0 [mpls]", "b1/wan1 <-> hq/wan0 [mpls]"},
	}
	if d := cmp.Diff(want, byPhase); d != "" {
		t.Errorf("tunnels by phase mismatch (-want +got):\n%s", d)
	}
	if calls[planner.PhaseModifyRemove] != 1 || calls[planner.PhaseCreateMovedTunnels] != 1 {
		t.Errorf("steps per phase = %v, want one PUT for the move and one call for the moved label's tunnels", calls)
	}
}

func TestBuildPrune(t *testing.T) {
	fl := func() *live.State {
		f := newFleet()
		f.label("mpls", "Tunnel").label("old", "Tunnel")
		for _, n := range []string{"hq", "b1", "b2", "x"} {
			f.device(n, wan("wan0", "mpls"))
		}
		f.tunnel("hq/wan0", "b1/wan0", "mpls")
		f.tunnel("hq/wan0", "b2/wan0", "mpls")
		f.tunnel("b1/wan0", "b2/wan0", "mpls") // unmanaged
		f.tunnel("hq/wan0", "x/wan0", "mpls")  // undeclared device
		return f.state()
	}
	src := func(prune bool) string {
		return fmt.Sprintf(`
pathLabels: [{name: mpls}]
devices: [{name: hq}, {name: b1}, {name: b2}]
tunnels:
  - {topology: hubAndSpoke, hub: hq, spokes: [b1, b2], pathLabels: [mpls]}
settings: {prune: %v}
`, prune)
	}
	yes, no := true, false
	tests := map[string]struct {
		source    bool
		override  *bool
		wantSteps []string
		wantUnman []string
	}{
		"off by default": {
			wantSteps: []string{},
			wantUnman: []string{"tunnel b1/wan0 <-> b2/wan0 [mpls]", "pathLabel old"},
		},
		"on in the source": {
			source:    true,
			wantSteps: []string{"delete-tunnels delete-tunnels 1 tunnels", "delete-labels delete-label path label old"},
		},
		"on by option": {
			override:  &yes,
			wantSteps: []string{"delete-tunnels delete-tunnels 1 tunnels", "delete-labels delete-label path label old"},
		},
		"off by option overrides the source": {
			source:    true,
			override:  &no,
			wantSteps: []string{},
			wantUnman: []string{"tunnel b1/wan0 <-> b2/wan0 [mpls]", "pathLabel old"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := opts()
			o.Prune = tc.override
			p, _ := mustPlan(t, src(tc.source), fl(), o)
			if d := cmp.Diff(tc.wantSteps, stepLines(p)); d != "" {
				t.Errorf("Build() steps mismatch (-want +got):\n%s", d)
			}
			var unman []string
			for _, u := range p.Unmanaged {
				unman = append(unman, u.Kind+" "+u.Name)
			}
			if d := cmp.Diff(tc.wantUnman, unman); d != "" {
				t.Errorf("Build() unmanaged mismatch (-want +got):\n%s", d)
			}
			for _, s := range stepsOf(p, planner.DeleteTunnels) {
				if d := cmp.Diff([]string{"b1/wan0 <-> b2/wan0 [mpls]"}, refStrings(s.Deletes)); d != "" {
					t.Errorf("deleted tunnels mismatch (-want +got):\n%s", d)
				}
			}
		})
	}
}

func TestBuildMaxDeletions(t *testing.T) {
	// Four managed tunnels are no longer desired (b1..b4 lose mpls): they are
	// deleted without prune, and they count against maxDeletions.
	f := newFleet()
	f.label("mpls", "Tunnel")
	f.device("hq", wan("wan0", "mpls"))
	var decl strings.Builder
	for i := 1; i <= 4; i++ {
		n := fmt.Sprintf("b%d", i)
		f.device(n, wan("wan0", "mpls"))
		f.tunnel("hq/wan0", n+"/wan0", "mpls")
		fmt.Fprintf(&decl, "  - {name: %s, interfaces: [{name: wan0, pathLabels: []}]}\n", n)
	}
	src := func(maxDel int) string {
		return "pathLabels: [{name: mpls}]\ndevices:\n  - {name: hq}\n" + decl.String() +
			"tunnels:\n  - {topology: hubAndSpoke, hub: hq, spokes: [\"b*\"], pathLabels: [mpls]}\n" +
			fmt.Sprintf("settings: {maxDeletions: %d}\n", maxDel)
	}
	tests := map[string]struct {
		source, override int
		wantRefused      bool
	}{
		"below the source's limit":            {source: 10, override: -1},
		"at the source's limit":               {source: 4, override: -1},
		"above the source's limit":            {source: 3, override: -1, wantRefused: true},
		"override raises the limit":           {source: 3, override: 4},
		"override lowers the limit":           {source: 10, override: 2, wantRefused: true},
		"override to zero refuses any delete": {source: 10, override: 0, wantRefused: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := opts()
			o.MaxDeletions = tc.override
			sp := parseSpec(t, src(tc.source))
			p, err := planner.Build(sp, f.state(), o)
			if !tc.wantRefused {
				if err != nil {
					t.Fatalf("Build() error = %v", err)
				}
				checkPlan(t, sp, f.state(), p, o)
				if got := p.Summary.Deletions; got != 4 {
					t.Errorf("Summary.Deletions = %d, want 4", got)
				}
				return
			}
			if p != nil {
				t.Errorf("Build() returned a plan with its refusal")
			}
			r := refusal(t, err)
			if len(r.Reasons) != 1 || !strings.Contains(r.Reasons[0], "the plan deletes 4 objects, more than maxDeletions") {
				t.Errorf("Refused.Reasons = %q, want one naming 4 deletions and maxDeletions", r.Reasons)
			}
		})
	}
}

func TestBuildEmptySource(t *testing.T) {
	f := newFleet()
	f.label("old", "Tunnel").label("mpls", "Tunnel")
	f.device("a", wan("wan0", "mpls"))
	f.device("b", wan("wan0", "mpls"))
	f.tunnel("a/wan0", "b/wan0", "mpls")
	const empty = "settings: {prune: true}\n"

	t.Run("an empty source that would delete is refused", func(t *testing.T) {
		_, err := planner.Build(parseSpec(t, empty), f.state(), opts())
		r := refusal(t, err)
		if len(r.Reasons) != 1 || !strings.Contains(r.Reasons[0], "the source declares nothing") {
			t.Errorf("Refused.Reasons = %q, want one about the empty source", r.Reasons)
		}
	})
	t.Run("unless explicitly allowed", func(t *testing.T) {
		o := opts()
		o.AllowEmptySource = true
		p, _ := mustPlan(t, empty, f.state(), o)
		// Only the unused label goes; the tunnel touches undeclared devices.
		if d := cmp.Diff([]string{"delete-labels delete-label path label old"}, stepLines(p)); d != "" {
			t.Errorf("Build() steps mismatch (-want +got):\n%s", d)
		}
	})
	t.Run("an empty source without prune plans nothing", func(t *testing.T) {
		for _, src := range []string{"", "settings: {prune: false}\n"} {
			p, _ := mustPlan(t, src, f.state(), opts())
			if !p.Empty() {
				t.Errorf("Build(%q) steps = %q, want none", src, stepLines(p))
			}
		}
	})
}

func TestBuildRefusesProblems(t *testing.T) {
	f := newFleet()
	f.label("mpls", "Tunnel")
	f.device("hq", wan("wan0", "mpls"))
	_, err := planner.Build(parseSpec(t, "pathLabels: [{name: mpls}]\ndevices: [{name: hq}, {name: hk}]\n"), f.state(), opts())
	r := refusal(t, err)
	if len(r.Reasons) != 1 || !strings.Contains(r.Reasons[0], `device "hk" is not in flexiManage`) || !strings.Contains(r.Reasons[0], "closest: hq") {
		t.Errorf("Refused.Reasons = %q, want the missing device with its closest name", r.Reasons)
	}
}

// shuffled returns a deep copy of st with devices, the labels of each
// interface, routes and DHCP, tunnels and labels in another order.
func shuffled(st *live.State, seed uint64) *live.State {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	c := &live.State{Org: st.Org}
	c.Labels = append([]live.Label(nil), st.Labels...)
	r.Shuffle(len(c.Labels), func(i, j int) { c.Labels[i], c.Labels[j] = c.Labels[j], c.Labels[i] })
	for _, d := range st.Devices {
		d.Interfaces = append([]live.Interface(nil), d.Interfaces...)
		for i := range d.Interfaces {
			d.Interfaces[i].Labels = append([]string(nil), d.Interfaces[i].Labels...)
			ls := d.Interfaces[i].Labels
			r.Shuffle(len(ls), func(i, j int) { ls[i], ls[j] = ls[j], ls[i] })
		}
		d.Routes = append([]live.Route(nil), d.Routes...)
		r.Shuffle(len(d.Routes), func(i, j int) { d.Routes[i], d.Routes[j] = d.Routes[j], d.Routes[i] })
		d.DHCP = append([]live.DHCP(nil), d.DHCP...)
		r.Shuffle(len(d.DHCP), func(i, j int) { d.DHCP[i], d.DHCP[j] = d.DHCP[j], d.DHCP[i] })
		c.Devices = append(c.Devices, d)
	}
	r.Shuffle(len(c.Devices), func(i, j int) { c.Devices[i], c.Devices[j] = c.Devices[j], c.Devices[i] })
	// Tunnel ends stay as they are: flexiManage stores deviceA and deviceB,
	// and a re-read returns them the same way.
	c.Tunnels = append([]live.Tunnel(nil), st.Tunnels...)
	r.Shuffle(len(c.Tunnels), func(i, j int) { c.Tunnels[i], c.Tunnels[j] = c.Tunnels[j], c.Tunnels[i] })
	return c
}

// TestBuildDeterministic builds each plan from the same live state read in
// other orders: the JSON must be byte for byte the same.
func TestBuildDeterministic(t *testing.T) {
	type scenario struct {
		src string
		st  *live.State
		o   planner.Options
	}
	scenarios := map[string]func() scenario{
		"rich": func() scenario {
			st := richFleet().state()
			// Unused undeclared labels and notes in numbers.
			for _, n := range []string{"zeta", "alpha", "mid"} {
				st.Labels = append(st.Labels, live.Label{ID: "lid-" + n, Name: n, Type: "Tunnel"})
			}
			st.Devices[1].Interfaces[1].Labels = []string{"zeta", "mid"} // b1/wan1: removed by the source
			return scenario{src: richSource, st: st, o: opts()}
		},
		"rich, prune off, half-configured and pending tunnels": func() scenario {
			f := richFleet()
			st := f.state()
			st.Tunnels[0].BConf = false
			st.Tunnels[1].Pending, st.Tunnels[1].AConf = true, false
			for _, n := range []string{"zeta", "alpha"} {
				st.Labels = append(st.Labels, live.Label{ID: "lid-" + n, Name: n, Type: "Tunnel"})
			}
			f.tunnel("b1/wan0", "b2/wan0", "mpls")
			f.tunnel("b2/wan0", "b3/wan0", "mpls")
			src := strings.Replace(richSource, "prune: true", "prune: false", 1)
			return scenario{src: src, st: st, o: opts()}
		},
		"50 pairs forming 5 stars": func() scenario {
			src, st := fiveStars(false)
			return scenario{src: src, st: st, o: opts()}
		},
		"a star too large for one call": func() scenario {
			src, st := bigStar(1200)
			return scenario{src: src, st: st, o: opts()}
		},
		"upgrades": func() scenario {
			src, st := upgradeFleet(25, 12)
			return scenario{src: src, st: st, o: opts()}
		},
	}
	for name, mk := range scenarios {
		t.Run(name, func(t *testing.T) {
			sc := mk()
			sp := parseSpec(t, sc.src)
			base, err := planner.Build(sp, sc.st, sc.o)
			if err != nil {
				t.Fatalf("Build() error = %v", err)
			}
			checkPlan(t, sp, sc.st, base, sc.o)
			want := planJSON(t, base)
			for seed := uint64(1); seed <= 5; seed++ {
				st := shuffled(sc.st, seed)
				p, err := planner.Build(parseSpec(t, sc.src), st, sc.o)
				if err != nil {
					t.Fatalf("seed %d: Build() error = %v", seed, err)
				}
				if d := cmp.Diff(want, planJSON(t, p)); d != "" {
					t.Fatalf("seed %d: the plan depends on the order of the live state (-want +got):\n%s", seed, d)
				}
			}
		})
	}
}

// upgradeFleet: n devices, the first up of them declared with a newer
// version.
func upgradeFleet(n, up int) (string, *live.State) {
	f := newFleet()
	var sb strings.Builder
	sb.WriteString("devices:\n")
	for i := range n {
		name := fmt.Sprintf("d%02d", i)
		f.device(name, wan("wan0"))
		if i < up {
			fmt.Fprintf(&sb, "  - {name: %s, version: 6.4.1}\n", name)
		} else if i%2 == 0 {
			fmt.Fprintf(&sb, "  - {name: %s, version: 6.3.10}\n", name)
		}
	}
	return sb.String(), f.state()
}

func TestBuildUpgradeWaves(t *testing.T) {
	tests := map[string]struct {
		devices, up, percent int
		wantWaves            []int
	}{
		"10% of 25 devices is 2 at a time":     {devices: 25, up: 12, wantWaves: []int{2, 2, 2, 2, 2, 2}},
		"10% of 40 devices is 4 at a time":     {devices: 40, up: 10, wantWaves: []int{4, 4, 2}},
		"a small fleet upgrades one at a time": {devices: 6, up: 3, wantWaves: []int{1, 1, 1}},
		"20% by option":                        {devices: 25, up: 12, percent: 20, wantWaves: []int{5, 5, 2}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			src, st := upgradeFleet(tc.devices, tc.up)
			o := opts()
			o.UpgradePercent = tc.percent
			p, _ := mustPlan(t, src, st, o)
			pct := tc.percent
			if pct == 0 {
				pct = 10
			}
			var waves []int
			seen := map[string]bool{}
			for i, s := range p.Steps {
				if s.Action != planner.UpgradeDevices {
					t.Errorf("step %d is %s, want only upgrades", s.ID, s.Action)
					continue
				}
				if s.Wave != i+1 {
					t.Errorf("step %d is wave %d, want %d", s.ID, s.Wave, i+1)
				}
				if n := len(s.Devices); n > 1 && n*100 > pct*tc.devices {
					t.Errorf("wave %d upgrades %d of %d devices, more than %d%%", s.Wave, n, tc.devices, pct)
				}
				waves = append(waves, len(s.Devices))
				for _, d := range s.Devices {
					if seen[d.Name] {
						t.Errorf("device %s is upgraded twice", d.Name)
					}
					seen[d.Name] = true
				}
			}
			if d := cmp.Diff(tc.wantWaves, waves); d != "" {
				t.Errorf("wave sizes mismatch (-want +got):\n%s", d)
			}
			if len(seen) != tc.up {
				t.Errorf("%d devices upgraded, want %d", len(seen), tc.up)
			}
		})
	}
}

// TestBuildRepairs: a desired tunnel left half-configured is repaired by a
// sync of the device whose end is not configured, in the create phase.
func TestBuildRepairs(t *testing.T) {
	f := newFleet()
	f.label("mpls", "Tunnel")
	for _, n := range []string{"hq", "b1", "b2", "b3"} {
		f.device(n, wan("wan0", "mpls"))
	}
	f.tunnel("hq/wan0", "b1/wan0", "mpls")
	f.tunnel("hq/wan0", "b2/wan0", "mpls")
	f.tunnel("hq/wan0", "b3/wan0", "mpls")
	st := f.state()
	st.Tunnels[0].BConf = false                              // b1 end
	st.Tunnels[1].AConf, st.Tunnels[1].BConf = false, false  // hq and b2 ends
	st.Tunnels[2].BConf, st.Tunnels[2].Pending = false, true // pending: no repair
	src := `
pathLabels: [{name: mpls}]
devices: [{name: hq}, {name: b1}, {name: b2}, {name: b3}]
tunnels:
  - {topology: hubAndSpoke, hub: hq, spokes: ["b*"], pathLabels: [mpls]}
`
	p, _ := mustPlan(t, src, st, opts())
	var got []string
	for _, s := range p.Steps {
		got = append(got, stepLine(s)+": "+strings.Join(refStrings(s.Repairs), "; "))
	}
	want := []string{
		"create-tunnels sync device b1: b1/wan0 <-> hq/wan0 [mpls]",
		"create-tunnels sync device b2: b2/wan0 <-> hq/wan0 [mpls]",
		"create-tunnels sync device hq: b2/wan0 <-> hq/wan0 [mpls]",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Build() steps mismatch (-want +got):\n%s", d)
	}
}
