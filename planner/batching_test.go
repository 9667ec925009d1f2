package planner_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flexiwan-gitops/reconciler/live"
	"github.com/flexiwan-gitops/reconciler/planner"
)

// fiveStars: 5 hubs with 10 spokes each, declared as 50 fullMesh groups of
// two devices on mpls. With greenfield, no label exists yet.
func fiveStars(greenfield bool) (string, *live.State) {
	f := newFleet()
	ifc := func() live.Interface {
		if greenfield {
			return wan("wan0")
		}
		return wan("wan0", "mpls")
	}
	if !greenfield {
		f.label("mpls", "Tunnel")
	}
	var devs, groups strings.Builder
	for h := 1; h <= 5; h++ {
		hub := fmt.Sprintf("h%d", h)
		f.device(hub, ifc(), lan("lan0"))
		fmt.Fprintf(&devs, "  - {name: %s, interfaces: [{name: wan0, pathLabels: [mpls]}]}\n", hub)
		for s := 1; s <= 10; s++ {
			spoke := fmt.Sprintf("s%d-%02d", h, s)
			f.device(spoke, ifc(), lan("lan0"))
			fmt.Fprintf(&devs, "  - {name: %s, interfaces: [{name: wan0, pathLabels: [mpls]}]}\n", spoke)
			fmt.Fprintf(&groups, "  - {topology: fullMesh, devices: [%s, %s], pathLabels: [mpls]}\n", spoke, hub)
		}
	}
	return "pathLabels: [{name: mpls}]\ndevices:\n" + devs.String() + "tunnels:\n" + groups.String(), f.state()
}

// bigStar: one hub and n spokes on mpls, labels in place, no tunnel yet.
func bigStar(n int) (string, *live.State) {
	f := newFleet()
	f.label("mpls", "Tunnel")
	f.device("hub", wan("wan0", "mpls"))
	var devs strings.Builder
	devs.WriteString("  - {name: hub}\n")
	for i := range n {
		name := fmt.Sprintf("s%04d", i)
		f.device(name, wan("wan0", "mpls"))
		fmt.Fprintf(&devs, "  - {name: %s}\n", name)
	}
	return "pathLabels: [{name: mpls}]\ndevices:\n" + devs.String() +
		"tunnels:\n  - {name: big, topology: hubAndSpoke, hub: hub, spokes: [\"s*\"], pathLabels: [mpls]}\n", f.state()
}

// mesh: n devices in one fullMesh on mpls, labels in place, no tunnel yet.
func mesh(n int) (string, *live.State) {
	f := newFleet()
	f.label("mpls", "Tunnel")
	var devs strings.Builder
	for i := range n {
		name := fmt.Sprintf("m%03d", i)
		f.device(name, wan("wan0", "mpls"), lan("lan0"))
		fmt.Fprintf(&devs, "  - {name: %s}\n", name)
	}
	return "pathLabels: [{name: mpls}]\ndevices:\n" + devs.String() +
		"tunnels:\n  - {name: mesh, topology: fullMesh, devices: [\"m*\"], pathLabels: [mpls]}\n", f.state()
}

func tunnelSteps(p *planner.Plan) (steps, tunnels int) {
	for _, s := range stepsOf(p, planner.CreateTunnels) {
		steps++
		tunnels += len(s.Creates)
	}
	return steps, tunnels
}

func TestBatching(t *testing.T) {
	tests := map[string]struct {
		build       func() (string, *live.State)
		wantTunnels int
		maxCalls    int
		exactCalls  bool
	}{
		"greenfield star of 1 hub and 300 spokes on 2 labels": {
			build: func() (string, *live.State) {
				f := newFleet() // no label exists, no interface is labelled
				var sb strings.Builder
				sb.WriteString("pathLabels: [{name: mpls}, {name: inet}]\ndevices:\n")
				for i := range 301 {
					name := "hub"
					if i > 0 {
						name = fmt.Sprintf("s%03d", i)
					}
					f.device(name, wan("wan0"), wan("wan1"), lan("lan0"))
					fmt.Fprintf(&sb, "  - {name: %s, interfaces: [{name: wan0, pathLabels: [mpls]}, {name: wan1, pathLabels: [inet]}]}\n", name)
				}
				sb.WriteString("tunnels:\n  - {name: star, topology: hubAndSpoke, hub: hub, spokes: [\"s*\"], pathLabels: [mpls, inet]}\n")
				return sb.String(), f.state()
			},
			wantTunnels: 600,
			maxCalls:    2,
		},
		"full mesh of 12 devices on 1 label": {
			build:       func() (string, *live.State) { return mesh(12) },
			wantTunnels: 66,
			maxCalls:    1,
			exactCalls:  true,
		},
		"50 pairs declared one by one forming 5 stars": {
			build:       func() (string, *live.State) { return fiveStars(false) },
			wantTunnels: 50,
			maxCalls:    5,
		},
		"50 pairs forming 5 stars, greenfield": {
			build:       func() (string, *live.State) { return fiveStars(true) },
			wantTunnels: 50,
			maxCalls:    5,
		},
		"a star of 1200 spokes is split at 1000 tunnels": {
			build:       func() (string, *live.State) { return bigStar(1200) },
			wantTunnels: 1200,
			maxCalls:    2,
			exactCalls:  true,
		},
		"a full mesh of 50 devices (1225 tunnels) takes ⌈1225/1000⌉ calls": {
			build:       func() (string, *live.State) { return mesh(50) },
			wantTunnels: 1225,
			maxCalls:    2,
			exactCalls:  true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			src, st := tc.build()
			p, _ := mustPlan(t, src, st, opts()) // checks: only desired tunnels, ≤1000 per call, all created
			calls, tunnels := tunnelSteps(p)
			if tunnels != tc.wantTunnels {
				t.Errorf("tunnels created = %d, want %d", tunnels, tc.wantTunnels)
			}
			if calls > tc.maxCalls || (tc.exactCalls && calls != tc.maxCalls) {
				t.Errorf("tunnels calls = %d, want %s %d; steps:\n  %s", calls, map[bool]string{true: "exactly", false: "at most"}[tc.exactCalls], tc.maxCalls, strings.Join(stepLines(p), "\n  "))
			}
		})
	}
}

// TestBatchingNeverCreatesUndesired covers groups whose whole call would
// make flexiManage create tunnels nobody wants.
func TestBatchingNeverCreatesUndesired(t *testing.T) {
	tests := map[string]struct {
		build       func() (string, *live.State)
		wantCreates []string
	}{
		"a member loses the label: the group call would still pair it now": {
			build: func() (string, *live.State) {
				f := newFleet()
				f.label("lte", "Tunnel")
				for _, n := range []string{"a", "b", "c"} {
					f.device(n, wan("wan0"), wan("wan1", "lte"))
				}
				return `
pathLabels: [{name: lte}]
devices:
  - {name: a, interfaces: [{name: wan1, pathLabels: []}]}
  - {name: b}
  - {name: c}
tunnels:
  - {topology: fullMesh, devices: [a, b, c], pathLabels: [lte]}
`, f.state()
			},
			wantCreates: []string{"b/wan1 <-> c/wan1 [lte]"},
		},
		"two stars sharing spokes on different labels": {
			build: func() (string, *live.State) {
				f := newFleet()
				f.label("mpls", "Tunnel").label("inet", "Tunnel")
				f.device("h1", wan("wan0", "mpls"), wan("wan1", "inet"))
				f.device("h2", wan("wan0", "mpls"), wan("wan1", "inet"))
				for _, n := range []string{"s1", "s2"} {
					f.device(n, wan("wan0", "mpls"), wan("wan1", "inet"))
				}
				return `
pathLabels: [{name: mpls}, {name: inet}]
devices: [{name: h1}, {name: h2}, {name: s1}, {name: s2}]
tunnels:
  - {topology: hubAndSpoke, hub: h1, spokes: [s1, s2], pathLabels: [mpls]}
  - {topology: hubAndSpoke, hub: h2, spokes: [s1, s2], pathLabels: [inet]}
  - {topology: fullMesh, devices: [h1, s1], pathLabels: [inet]}
`, f.state()
			},
			wantCreates: []string{
				"h1/wan0 <-> s1/wan0 [mpls]", "h1/wan0 <-> s2/wan0 [mpls]",
				"h1/wan1 <-> s1/wan1 [inet]",
				"h2/wan1 <-> s1/wan1 [inet]", "h2/wan1 <-> s2/wan1 [inet]",
			},
		},
		"pairs on two labels where only one is desired for some pairs": {
			build: func() (string, *live.State) {
				f := newFleet()
				f.label("mpls", "Tunnel").label("inet", "Tunnel")
				for _, n := range []string{"h", "a", "b"} {
					f.device(n, wan("wan0", "mpls", "inet"))
				}
				return `
pathLabels: [{name: mpls}, {name: inet}]
devices: [{name: h}, {name: a}, {name: b}]
tunnels:
  - {topology: fullMesh, devices: [h, a], pathLabels: [mpls, inet]}
  - {topology: fullMesh, devices: [h, b], pathLabels: [mpls]}
`, f.state()
			},
			wantCreates: []string{"a/wan0 <-> h/wan0 [inet]", "a/wan0 <-> h/wan0 [mpls]", "b/wan0 <-> h/wan0 [mpls]"},
		},
		"an unlabeled group next to a labelled one": {
			build: func() (string, *live.State) {
				f := newFleet()
				f.label("mpls", "Tunnel")
				f.device("a", wan("wan0", "mpls"), wan("wan1"), wan("wan2"))
				f.device("b", wan("wan0", "mpls"), wan("wan1"))
				f.device("c", wan("wan0"))
				return `
pathLabels: [{name: mpls}]
devices:
  - {name: a, interfaces: [{name: wan2, pathLabels: [mpls]}, {name: wan0, pathLabels: []}]}
  - {name: b}
  - {name: c}
tunnels:
  - {topology: fullMesh, devices: [a, b, c]}
  - {topology: fullMesh, devices: [a, b], pathLabels: [mpls]}
`, f.state()
			},
			// Final: a wan0 [] wan1 [] wan2 [mpls]; b wan0 [mpls] wan1 []; c wan0 [].
			wantCreates: []string{
				"a/wan0 <-> b/wan1 []", "a/wan0 <-> c/wan0 []", "a/wan1 <-> b/wan1 []", "a/wan1 <-> c/wan0 []",
				"a/wan2 <-> b/wan0 [mpls]", "b/wan1 <-> c/wan0 []",
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			src, st := tc.build()
			p, _ := mustPlan(t, src, st, opts())
			var got []planner.TunnelRef
			for _, s := range stepsOf(p, planner.CreateTunnels) {
				got = append(got, s.Creates...)
			}
			want := make([]string, len(tc.wantCreates))
			for i, w := range tc.wantCreates {
				want[i] = strings.Replace(w, "[]", "[unlabeled]", 1)
			}
			if d := cmp.Diff(want, refStrings(got)); d != "" {
				t.Errorf("created tunnels mismatch (-want +got):\n%s\nsteps:\n  %s", d, strings.Join(stepLines(p), "\n  "))
			}
		})
	}
}
