package diff_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flexiwan-gitops/reconciler/diff"
	"github.com/flexiwan-gitops/reconciler/live"
	"github.com/flexiwan-gitops/reconciler/spec"
)

// The fixture: devices hub, b1, b2 and b3 are declared; x is not. Every
// device has wan0 [mpls], wan1 [inet], an unlabeled wan2 and a LAN lan0.
// Device ids are "id-<name>"; interface devIds are the interface names.

func wanIf(name string, labels ...string) live.Interface {
	return live.Interface{ID: "ifc-" + name, DevID: name, Name: name, Type: "WAN", Assigned: true, IPv4: "192.0.2.1", IPv4Mask: "24", Labels: labels}
}

func lanIf(name string) live.Interface {
	return live.Interface{ID: "ifc-" + name, DevID: name, Name: name, Type: "LAN", Assigned: true, IPv4: "10.0.0.1", IPv4Mask: "24"}
}

func fixtureDevice(name string) live.Device {
	return live.Device{ID: "id-" + name, Name: name, MachineID: "M-" + name, Approved: true, Connected: true, State: "running",
		Version: "6.3.10", RouterVersion: "6.3.10",
		Interfaces: []live.Interface{wanIf("wan0", "mpls"), wanIf("wan1", "inet"), wanIf("wan2"), lanIf("lan0")}}
}

func fixtureState(tunnels ...live.Tunnel) *live.State {
	st := &live.State{
		Org:    live.Org{ID: "org1", Name: "acme", TunnelRange: "10.100.0.0"},
		Labels: []live.Label{{ID: "l-mpls", Name: "mpls", Type: "Tunnel", Color: "#111111"}, {ID: "l-inet", Name: "inet", Type: "Tunnel", Color: "#222222"}},
	}
	for _, n := range []string{"hub", "b1", "b2", "b3", "x"} {
		st.Devices = append(st.Devices, fixtureDevice(n))
	}
	st.Tunnels = tunnels
	return st
}

// tun is a configured tunnel; ends are "device/ifc".
func tun(id, a, b, label string) live.Tunnel {
	end := func(s string) live.End {
		dev, ifc, _ := strings.Cut(s, "/")
		return live.End{DeviceID: "id-" + dev, DeviceName: dev, IfaceID: "ifc-" + ifc, DevID: ifc, IfaceName: ifc}
	}
	return live.Tunnel{ID: id, A: end(a), B: end(b), Label: label, AConf: true, BConf: true}
}

// fixtureSpec declares labels mpls and inet, devices hub, b1, b2, b3 with
// their live interface labels (overridable per device as YAML lines) and
// the given tunnels section.
func fixtureSpec(t *testing.T, ifaces map[string]string, tunnels string) *spec.Spec {
	t.Helper()
	var sb strings.Builder
	sb.WriteString("pathLabels:\n  - {name: mpls}\n  - {name: inet}\n  - {name: lte}\ndevices:\n")
	for _, n := range []string{"hub", "b1", "b2", "b3"} {
		sb.WriteString("  - name: " + n + "\n")
		if s, ok := ifaces[n]; ok {
			if s != "" {
				sb.WriteString("    interfaces:\n" + s)
			}
			continue
		}
		sb.WriteString("    interfaces:\n      - {name: wan0, pathLabels: [mpls]}\n      - {name: wan1, pathLabels: [inet]}\n")
	}
	for _, n := range strings.Fields(ifaces["extra"]) {
		sb.WriteString("  - name: " + n + "\n")
	}
	sb.WriteString(tunnels)
	sp, err := spec.Parse("test.yaml", strings.NewReader(sb.String()))
	if err != nil {
		t.Fatalf("spec.Parse() error = %v\nsource:\n%s", err, sb.String())
	}
	return sp
}

const starMPLS = `tunnels:
  - name: star
    topology: hubAndSpoke
    hub: hub
    spokes: [b1, b2]
    pathLabels: [mpls]
`

// outcome is what the ownership tests look at, in readable form.
type outcome struct {
	Missing   []string
	Delete    []string // "key (reason)"
	Unmanaged []string
	Repair    []string // "key: device ids"
}

func summarize(st *live.State, r *diff.Result) outcome {
	var o outcome
	for _, m := range r.Missing {
		o.Missing = append(o.Missing, st.DescribeKey(m.Key))
	}
	for _, d := range r.Delete {
		o.Delete = append(o.Delete, st.DescribeKey(d.Tunnel.Key())+" ("+string(d.Reason)+")")
	}
	for _, u := range r.Unmanaged {
		o.Unmanaged = append(o.Unmanaged, st.DescribeKey(u.Key()))
	}
	for _, rp := range r.Repair {
		o.Repair = append(o.Repair, st.DescribeKey(rp.Tunnel.Key())+": "+strings.Join(rp.Devices, ","))
	}
	return o
}

func TestComputeOwnership(t *testing.T) {
	halfB := tun("t1", "hub/wan0", "b1/wan0", "mpls")
	halfB.BConf = false
	halfBoth := tun("t1", "hub/wan0", "b1/wan0", "mpls")
	halfBoth.AConf, halfBoth.BConf = false, false
	pending := tun("t1", "hub/wan0", "b1/wan0", "mpls")
	pending.AConf, pending.BConf, pending.Pending, pending.PendingReason = false, false, true, "Interface wan0 in device b1 has no IP address"
	halfUnmanaged := tun("t9", "b1/wan0", "b2/wan0", "mpls")
	halfUnmanaged.AConf = false

	tests := map[string]struct {
		ifaces       map[string]string
		groups       string
		tunnels      []live.Tunnel
		mutate       func(*live.State)
		prune        bool
		want         outcome
		wantProblems []string // each must appear in exactly one problem, and no other problem
		wantNotes    []string // each must appear in some note
	}{
		"desired tunnels all live: nothing to do": {
			groups:  starMPLS,
			tunnels: []live.Tunnel{tun("t1", "hub/wan0", "b1/wan0", "mpls"), tun("t2", "b2/wan0", "hub/wan0", "mpls")},
		},
		"missing desired tunnels": {
			groups:  starMPLS,
			tunnels: []live.Tunnel{tun("t1", "hub/wan0", "b1/wan0", "mpls")},
			want:    outcome{Missing: []string{"b2/wan0 <-> hub/wan0 [mpls]"}},
		},
		"a label moved: the managed tunnel on the old interface is deleted without prune": {
			ifaces: map[string]string{"hub": "      - {name: wan0, pathLabels: []}\n      - {name: wan1, pathLabels: [inet, mpls]}\n"},
			groups: starMPLS,
			tunnels: []live.Tunnel{
				tun("t1", "hub/wan0", "b1/wan0", "mpls"),
				tun("t2", "hub/wan0", "b2/wan0", "mpls"),
			},
			want: outcome{
				Missing: []string{"b1/wan0 <-> hub/wan1 [mpls]", "b2/wan0 <-> hub/wan1 [mpls]"},
				Delete:  []string{"b1/wan0 <-> hub/wan0 [mpls] (no longer desired)", "b2/wan0 <-> hub/wan0 [mpls] (no longer desired)"},
			},
		},
		"a spoke lost the group's label: its managed tunnel is deleted without prune": {
			ifaces:  map[string]string{"b2": "      - {name: wan0, pathLabels: []}\n      - {name: wan1, pathLabels: [inet]}\n"},
			groups:  starMPLS,
			tunnels: []live.Tunnel{tun("t1", "hub/wan0", "b1/wan0", "mpls"), tun("t2", "hub/wan0", "b2/wan0", "mpls")},
			want:    outcome{Delete: []string{"b2/wan0 <-> hub/wan0 [mpls] (no longer desired)"}},
		},
		"a spoke left the group: its tunnel to the hub is deleted without prune": {
			groups: strings.Replace(starMPLS, "[b1, b2]", "[b1]", 1),
			tunnels: []live.Tunnel{
				tun("t1", "hub/wan0", "b1/wan0", "mpls"),
				tun("t2", "hub/wan0", "b2/wan0", "mpls"),
			},
			want: outcome{Delete: []string{"b2/wan0 <-> hub/wan0 [mpls] (no longer desired)"}},
		},
		"a spoke left the group and dropped the label: the hub's tunnel to it is unmanaged": {
			ifaces: map[string]string{"b2": "      - {name: wan0, pathLabels: []}\n      - {name: wan1, pathLabels: [inet]}\n"},
			groups: strings.Replace(starMPLS, "[b1, b2]", "[b1]", 1),
			tunnels: []live.Tunnel{
				tun("t1", "hub/wan0", "b1/wan0", "mpls"),
				tun("t2", "hub/wan0", "b2/wan0", "mpls"),
			},
			want:         outcome{Unmanaged: []string{"b2/wan0 <-> hub/wan0 [mpls]"}},
			wantProblems: []string{`label "mpls" cannot leave interface wan0 of device "b2": unmanaged tunnel b2/wan0 <-> hub/wan0 [mpls] uses it`},
		},
		"a spoke left the group and dropped the label, prune: deleted as unmanaged": {
			ifaces: map[string]string{"b2": "      - {name: wan0, pathLabels: []}\n      - {name: wan1, pathLabels: [inet]}\n"},
			groups: strings.Replace(starMPLS, "[b1, b2]", "[b1]", 1),
			tunnels: []live.Tunnel{
				tun("t1", "hub/wan0", "b1/wan0", "mpls"),
				tun("t2", "hub/wan0", "b2/wan0", "mpls"),
			},
			prune: true,
			want:  outcome{Delete: []string{"b2/wan0 <-> hub/wan0 [mpls] (unmanaged, pruned)"}},
		},
		"spoke to spoke is not covered by a star": {
			groups:  starMPLS,
			tunnels: []live.Tunnel{tun("t1", "hub/wan0", "b1/wan0", "mpls"), tun("t2", "hub/wan0", "b2/wan0", "mpls"), tun("t3", "b1/wan0", "b2/wan0", "mpls")},
			want:    outcome{Unmanaged: []string{"b1/wan0 <-> b2/wan0 [mpls]"}},
		},
		"spoke to spoke with prune is deleted": {
			groups:  starMPLS,
			tunnels: []live.Tunnel{tun("t1", "hub/wan0", "b1/wan0", "mpls"), tun("t2", "hub/wan0", "b2/wan0", "mpls"), tun("t3", "b1/wan0", "b2/wan0", "mpls")},
			prune:   true,
			want:    outcome{Delete: []string{"b1/wan0 <-> b2/wan0 [mpls] (unmanaged, pruned)"}},
		},
		"a label the group does not list is not covered": {
			groups:  starMPLS,
			tunnels: []live.Tunnel{tun("t1", "hub/wan0", "b1/wan0", "mpls"), tun("t2", "hub/wan0", "b2/wan0", "mpls"), tun("t3", "hub/wan1", "b1/wan1", "inet")},
			want:    outcome{Unmanaged: []string{"b1/wan1 <-> hub/wan1 [inet]"}},
		},
		"a device in no group: its tunnels to non-hubs are unmanaged": {
			groups:  starMPLS,
			tunnels: []live.Tunnel{tun("t1", "hub/wan0", "b1/wan0", "mpls"), tun("t2", "hub/wan0", "b2/wan0", "mpls"), tun("t3", "b1/wan0", "b3/wan0", "mpls")},
			want:    outcome{Unmanaged: []string{"b1/wan0 <-> b3/wan0 [mpls]"}},
		},
		"the hub's tunnel on another label to a device in no group is unmanaged": {
			groups:  starMPLS,
			tunnels: []live.Tunnel{tun("t1", "hub/wan0", "b1/wan0", "mpls"), tun("t2", "hub/wan0", "b2/wan0", "mpls"), tun("t3", "hub/wan1", "b3/wan1", "inet")},
			want:    outcome{Unmanaged: []string{"b3/wan1 <-> hub/wan1 [inet]"}},
		},
		"a fullMesh covers only its members": {
			groups:  "tunnels:\n  - {topology: fullMesh, devices: [hub, b1], pathLabels: [mpls]}\n",
			tunnels: []live.Tunnel{tun("t1", "hub/wan0", "b1/wan0", "mpls"), tun("t2", "hub/wan0", "b2/wan0", "mpls")},
			want:    outcome{Unmanaged: []string{"b2/wan0 <-> hub/wan0 [mpls]"}},
		},
		"no group at all: every tunnel between declared devices is unmanaged": {
			tunnels: []live.Tunnel{tun("t1", "hub/wan0", "b1/wan0", "mpls")},
			want:    outcome{Unmanaged: []string{"b1/wan0 <-> hub/wan0 [mpls]"}},
		},
		"an unlabeled group covers unlabeled tunnels only": {
			groups: "tunnels:\n  - {topology: fullMesh, devices: [hub, b1]}\n",
			tunnels: []live.Tunnel{
				tun("t1", "hub/wan2", "b1/wan2", ""), // desired
				tun("t2", "hub/wan0", "b1/wan0", "mpls"),
				tun("t3", "hub/wan0", "b1/wan2", ""), // covered, but hub/wan0 is labelled
			},
			want: outcome{
				Delete:    []string{"b1/wan2 <-> hub/wan0 [unlabeled] (no longer desired)"},
				Unmanaged: []string{"b1/wan0 <-> hub/wan0 [mpls]"},
			},
		},
		"a labelled group does not cover unlabeled tunnels": {
			groups:  "tunnels:\n  - {topology: fullMesh, devices: [hub, b1], pathLabels: [mpls]}\n",
			tunnels: []live.Tunnel{tun("t1", "hub/wan0", "b1/wan0", "mpls"), tun("t2", "hub/wan2", "b1/wan2", "")},
			want:    outcome{Unmanaged: []string{"b1/wan2 <-> hub/wan2 [unlabeled]"}},
		},
		"a fullMesh covers every pair of its devices": {
			groups: "tunnels:\n  - {topology: fullMesh, devices: [hub, b1, b2], pathLabels: [mpls, inet]}\n",
			ifaces: map[string]string{"b2": "      - {name: wan0, pathLabels: []}\n      - {name: wan1, pathLabels: [inet]}\n"},
			tunnels: []live.Tunnel{
				tun("t1", "hub/wan0", "b1/wan0", "mpls"), tun("t2", "hub/wan1", "b1/wan1", "inet"),
				tun("t3", "hub/wan1", "b2/wan1", "inet"), tun("t4", "b1/wan1", "b2/wan1", "inet"),
				tun("t5", "b1/wan0", "b2/wan0", "mpls"), // b2 loses mpls
			},
			want: outcome{Delete: []string{"b1/wan0 <-> b2/wan0 [mpls] (no longer desired)"}},
		},
		"a tunnel to an undeclared device is never touched": {
			groups:  starMPLS,
			tunnels: []live.Tunnel{tun("t1", "hub/wan0", "b1/wan0", "mpls"), tun("t2", "hub/wan0", "b2/wan0", "mpls"), tun("t3", "hub/wan0", "x/wan0", "mpls"), tun("t4", "x/wan1", "b1/wan1", "inet")},
		},
		"a tunnel to an undeclared device is never touched, even with prune": {
			groups:  starMPLS,
			tunnels: []live.Tunnel{tun("t1", "hub/wan0", "b1/wan0", "mpls"), tun("t2", "hub/wan0", "b2/wan0", "mpls"), tun("t3", "hub/wan0", "x/wan0", "mpls"), tun("t4", "x/wan1", "b1/wan1", "inet")},
			prune:   true,
		},
		"a label removal blocked by an unmanaged tunnel without prune": {
			ifaces:       map[string]string{"b1": "      - {name: wan0, pathLabels: [mpls]}\n      - {name: wan1, pathLabels: []}\n"},
			tunnels:      []live.Tunnel{tun("t1", "b1/wan1", "b2/wan1", "inet")},
			want:         outcome{Unmanaged: []string{"b1/wan1 <-> b2/wan1 [inet]"}},
			wantProblems: []string{`label "inet" cannot leave interface wan1 of device "b1": unmanaged tunnel b1/wan1 <-> b2/wan1 [inet] uses it`},
		},
		"a label removal with prune deletes the unmanaged tunnel": {
			ifaces:  map[string]string{"b1": "      - {name: wan0, pathLabels: [mpls]}\n      - {name: wan1, pathLabels: []}\n"},
			tunnels: []live.Tunnel{tun("t1", "b1/wan1", "b2/wan1", "inet")},
			prune:   true,
			want:    outcome{Delete: []string{"b1/wan1 <-> b2/wan1 [inet] (unmanaged, pruned)"}},
		},
		"a label removal blocked by a tunnel to an undeclared device, even with prune": {
			ifaces:       map[string]string{"b1": "      - {name: wan0, pathLabels: []}\n      - {name: wan1, pathLabels: [inet]}\n"},
			tunnels:      []live.Tunnel{tun("t1", "b1/wan0", "x/wan0", "mpls")},
			prune:        true,
			wantProblems: []string{`label "mpls" cannot leave interface wan0 of device "b1": tunnel b1/wan0 <-> x/wan0 [mpls] connects it to a device this source does not declare`},
		},
		"a label removal of a managed tunnel is no problem": {
			ifaces:  map[string]string{"b1": "      - {name: wan0, pathLabels: []}\n      - {name: wan1, pathLabels: [inet]}\n"},
			groups:  starMPLS,
			tunnels: []live.Tunnel{tun("t1", "hub/wan0", "b1/wan0", "mpls"), tun("t2", "hub/wan0", "b2/wan0", "mpls")},
			want:    outcome{Delete: []string{"b1/wan0 <-> hub/wan0 [mpls] (no longer desired)"}},
		},
		"a half-configured desired tunnel is repaired on the unconfigured side": {
			groups:  starMPLS,
			tunnels: []live.Tunnel{halfB, tun("t2", "hub/wan0", "b2/wan0", "mpls")},
			want:    outcome{Repair: []string{"b1/wan0 <-> hub/wan0 [mpls]: id-b1"}},
		},
		"a tunnel configured on neither side is repaired on both": {
			groups:  starMPLS,
			tunnels: []live.Tunnel{halfBoth, tun("t2", "hub/wan0", "b2/wan0", "mpls")},
			want:    outcome{Repair: []string{"b1/wan0 <-> hub/wan0 [mpls]: id-hub,id-b1"}},
		},
		"a half-configured tunnel on a disconnected device waits, with a note": {
			groups:    starMPLS,
			tunnels:   []live.Tunnel{halfB, tun("t2", "hub/wan0", "b2/wan0", "mpls")},
			mutate:    func(st *live.State) { st.Device("id-b1").Connected = false },
			wantNotes: []string{"tunnel b1/wan0 <-> hub/wan0 [mpls] is not configured on b1, which is disconnected"},
		},
		"only the connected side of a tunnel configured on neither is repaired": {
			groups:    starMPLS,
			tunnels:   []live.Tunnel{halfBoth, tun("t2", "hub/wan0", "b2/wan0", "mpls")},
			mutate:    func(st *live.State) { st.Device("id-hub").Connected = false },
			want:      outcome{Repair: []string{"b1/wan0 <-> hub/wan0 [mpls]: id-b1"}},
			wantNotes: []string{"which is disconnected"},
		},
		"a pending tunnel is not repaired": {
			groups:    starMPLS,
			tunnels:   []live.Tunnel{pending, tun("t2", "hub/wan0", "b2/wan0", "mpls")},
			wantNotes: []string{"tunnel b1/wan0 <-> hub/wan0 [mpls] is pending in flexiManage: Interface wan0 in device b1 has no IP address"},
		},
		"a half-configured unmanaged tunnel is not repaired": {
			groups:  starMPLS,
			tunnels: []live.Tunnel{tun("t1", "hub/wan0", "b1/wan0", "mpls"), tun("t2", "hub/wan0", "b2/wan0", "mpls"), halfUnmanaged},
			want:    outcome{Unmanaged: []string{"b1/wan0 <-> b2/wan0 [mpls]"}},
		},
		"a declared device missing from flexiManage": {
			ifaces:       map[string]string{"extra": "b5"},
			wantProblems: []string{`device "b5" is not in flexiManage organization "acme" (closest: b1, b2, b3)`},
		},
		"a declared interface missing from the device": {
			ifaces:       map[string]string{"hub": "      - {name: wan0, pathLabels: [mpls]}\n      - {name: wan1, pathLabels: [inet]}\n      - {name: wan9, pathLabels: []}\n"},
			wantProblems: []string{`device "hub" has no interface "wan9" (it has: wan0, wan1, wan2, lan0)`},
		},
		"labels on a LAN interface": {
			ifaces:       map[string]string{"hub": "      - {name: wan0, pathLabels: [mpls]}\n      - {name: wan1, pathLabels: []}\n      - {name: lan0, pathLabels: [inet]}\n"},
			wantProblems: []string{`interface "lan0" of device "hub" is lan: flexiManage allows path labels on WAN interfaces only`},
		},
		"a label declared on one interface while it sits on an undeclared one": {
			ifaces:       map[string]string{"hub": "      - {name: wan0, pathLabels: [mpls]}\n      - {name: wan2, pathLabels: [inet]}\n"},
			wantProblems: []string{`path label "inet" is on interface "wan1" of device "hub", which the source does not manage`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			sp := fixtureSpec(t, tc.ifaces, tc.groups)
			st := fixtureState(tc.tunnels...)
			if tc.mutate != nil {
				tc.mutate(st)
			}
			res := diff.Compute(sp, st, diff.Options{Prune: tc.prune})
			if d := cmp.Diff(tc.want, summarize(st, res)); d != "" {
				t.Errorf("Compute() mismatch (-want +got):\n%s", d)
			}
			var got []string
			for _, p := range res.Problems {
				got = append(got, p.Msg)
			}
			checkContains(t, "problem", got, tc.wantProblems, true)
			checkContains(t, "note", res.Notes, tc.wantNotes, false)
		})
	}
}

// checkContains checks that every wanted fragment occurs in one of got;
// with exact, got must have exactly one entry per fragment.
func checkContains(t *testing.T, what string, got, want []string, exact bool) {
	t.Helper()
	used := make([]bool, len(got))
	for _, w := range want {
		found := false
		for i, g := range got {
			if !used[i] && strings.Contains(g, w) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("no %s contains %q; got:\n  %s", what, w, strings.Join(got, "\n  "))
		}
	}
	if exact {
		for i, g := range got {
			if !used[i] {
				t.Errorf("unexpected %s: %s", what, g)
			}
		}
	}
}

// TestComputeProblemPositions checks that problems point at the source.
func TestComputeProblemPositions(t *testing.T) {
	sp := fixtureSpec(t, map[string]string{"extra": "b5"}, "")
	res := diff.Compute(sp, fixtureState(), diff.Options{})
	if len(res.Problems) != 1 {
		t.Fatalf("Compute() problems = %v, want 1", res.Problems)
	}
	p := res.Problems[0]
	if want := sp.Device("b5").Pos; p.Pos != want {
		t.Errorf("problem position = %v, want %v", p.Pos, want)
	}
	if !strings.HasPrefix(p.String(), "test.yaml:") {
		t.Errorf("Problem.String() = %q, want it to start with the file", p.String())
	}
}

// TestComputeDesiredUsesFinalLabels checks that the expansion uses the
// labels the plan leaves on the interfaces, not the live ones.
func TestComputeDesiredUsesFinalLabels(t *testing.T) {
	sp := fixtureSpec(t, map[string]string{
		"hub": "      - {name: wan0, pathLabels: [mpls]}\n      - {name: wan1, pathLabels: [inet]}\n      - {name: wan2, pathLabels: [lte]}\n",
		"b1":  "      - {name: wan0, pathLabels: [mpls]}\n      - {name: wan1, pathLabels: []}\n      - {name: wan2, pathLabels: [lte, inet]}\n",
	}, "tunnels:\n  - {topology: fullMesh, devices: [hub, b1], pathLabels: [inet, lte]}\n")
	res := diff.Compute(sp, fixtureState(), diff.Options{})
	if len(res.Problems) > 0 {
		t.Fatalf("Compute() problems = %v", res.Problems)
	}
	var got []live.TunnelKey
	for _, d := range res.Desired {
		got = append(got, d.Key)
	}
	want := wantKeys(t, "id-hub/wan1<->id-b1/wan2:inet", "id-hub/wan2<->id-b1/wan2:lte")
	if d := cmp.Diff(want, keyStrings(got)); d != "" {
		t.Errorf("Desired mismatch (-want +got):\n%s", d)
	}
	var moved []string
	for _, ch := range res.Interfaces {
		if ch.DeviceName == "b1" {
			moved = append(moved, ch.IfaceName+":"+strings.Join(ch.Moved, ","))
		}
	}
	if d := cmp.Diff([]string{"wan1:", "wan2:inet"}, moved); d != "" {
		t.Errorf("b1 interface changes (iface:moved) mismatch (-want +got):\n%s", d)
	}
}

// TestComputeRouteGateways: a route whose gateway is in an interface's
// subnet or on the loopback of one of the device's live tunnels can be
// added at once; any other gateway must wait for the plan's new tunnels.
func TestComputeRouteGateways(t *testing.T) {
	sp := fixtureSpec(t, map[string]string{
		"hub": "      - {name: wan0, pathLabels: [mpls]}\n      - {name: wan1, pathLabels: [inet]}\n    staticRoutes:\n" +
			"      - {destination: 10.1.0.0/16, gateway: 10.0.0.9}\n" + // lan0 is 10.0.0.1/24
			"      - {destination: 10.2.0.0/16, gateway: 10.100.0.9}\n" + // loopback B of tunnel num 3
			"      - {destination: 10.3.0.0/16, gateway: 10.100.0.11}\n" + // loopback of tunnel num 4, not hub's
			"      - {destination: 10.4.0.0/16, gateway: 172.16.0.1}\n",
	}, starMPLS)
	t3 := tun("t3", "hub/wan0", "b1/wan0", "mpls")
	t3.Num = 3
	t4 := tun("t4", "b2/wan0", "b3/wan0", "mpls")
	t4.Num = 4
	res := diff.Compute(sp, fixtureState(t3, tun("t5", "hub/wan0", "b2/wan0", "mpls"), t4), diff.Options{})
	if len(res.Problems) > 0 {
		t.Fatalf("Compute() problems = %v", res.Problems)
	}
	got := map[string]bool{}
	for _, r := range res.Routes {
		got[r.Route.Destination] = r.ViaNewTunnel
	}
	want := map[string]bool{"10.1.0.0/16": false, "10.2.0.0/16": false, "10.3.0.0/16": true, "10.4.0.0/16": true}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("ViaNewTunnel by route mismatch (-want +got):\n%s", d)
	}
}
