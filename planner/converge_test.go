package planner_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/flexiwan-gitops/reconciler/live"
	"github.com/flexiwan-gitops/reconciler/planner"
)

// applyPlan returns the live state after every step of p succeeded, as
// flexiManage would record it.
func applyPlan(t *testing.T, st *live.State, p *planner.Plan) *live.State {
	t.Helper()
	c := shuffled(st, 0) // a deep copy
	n := 0
	newID := func(kind string) string { n++; return fmt.Sprintf("new-%s-%d", kind, n) }
	for _, s := range p.Steps {
		switch s.Action {
		case planner.CreateLabel:
			c.Labels = append(c.Labels, live.Label{ID: newID("label"), Name: s.Label.Name, Type: s.Label.Type, Color: s.Label.Color, Description: s.Label.Description})
		case planner.UpdateLabel:
			l := c.Label(s.Label.Name)
			l.Type, l.Color, l.Description = s.Label.Type, s.Label.Color, s.Label.Description
		case planner.DeleteLabel:
			var keep []live.Label
			for _, l := range c.Labels {
				if l.Name != s.Label.Name {
					keep = append(keep, l)
				}
			}
			c.Labels = keep
		case planner.StartDevices, planner.StopDevices:
			for _, d := range s.Devices {
				c.Device(d.ID).State = map[planner.Action]string{planner.StartDevices: "running", planner.StopDevices: "stopped"}[s.Action]
			}
		case planner.UpgradeDevices:
			for _, d := range s.Devices {
				c.Device(d.ID).Version = s.Upgrade.To[d.Name]
			}
		case planner.ModifyDevice:
			d := c.Device(s.Modify.Device.ID)
			for _, e := range s.Modify.Interfaces {
				d.InterfaceByDevID(e.DevID).Labels = append([]string(nil), e.Labels...)
			}
			if s.Modify.Routes != nil {
				d.Routes = nil
				for _, r := range *s.Modify.Routes {
					if r.ID == "" {
						r.ID = newID("route")
					}
					d.Routes = append(d.Routes, live.Route{ID: r.ID, Destination: r.Destination, Gateway: r.Gateway, IfName: r.IfName, Metric: r.Metric})
				}
			}
			if s.Modify.DHCP != nil {
				d.DHCP = nil
				for _, h := range *s.Modify.DHCP {
					if h.ID == "" {
						h.ID = newID("dhcp")
					}
					d.DHCP = append(d.DHCP, live.DHCP{ID: h.ID, Interface: h.Interface, RangeStart: h.RangeStart, RangeEnd: h.RangeEnd, DNS: h.DNS})
				}
			}
		case planner.CreateTunnels:
			for _, r := range s.Creates {
				end := func(e planner.EndRef) live.End {
					return live.End{DeviceID: e.DeviceID, DeviceName: e.Device, IfaceID: "ifc-" + e.DevID, DevID: e.DevID, IfaceName: e.Interface}
				}
				tn := live.Tunnel{ID: newID("tunnel"), Num: 1000 + n, A: end(r.A), B: end(r.B), Label: r.Label, AConf: !r.Pending, BConf: !r.Pending, Pending: r.Pending}
				c.Tunnels = append(c.Tunnels, tn)
			}
		case planner.DeleteTunnels:
			gone := map[string]bool{}
			for _, r := range s.Deletes {
				gone[r.ID] = true
			}
			var keep []live.Tunnel
			for _, tn := range c.Tunnels {
				if !gone[tn.ID] {
					keep = append(keep, tn)
				}
			}
			c.Tunnels = keep
		case planner.SyncDevice:
			id := s.Devices[0].ID
			for i := range c.Tunnels {
				tn := &c.Tunnels[i]
				if tn.Pending {
					continue
				}
				if tn.A.DeviceID == id {
					tn.AConf = true
				}
				if tn.B.DeviceID == id {
					tn.BConf = true
				}
			}
		default:
			t.Fatalf("applyPlan: step %d: unknown action %s", s.ID, s.Action)
		}
	}
	return c
}

// TestBuildConverges: once a plan has been applied, planning again from
// the resulting state finds nothing to do.
func TestBuildConverges(t *testing.T) {
	type scenario struct {
		src string
		st  *live.State
	}
	scenarios := map[string]func() scenario{
		"rich": func() scenario { return scenario{richSource, richFleet().state()} },
		"rich with repairs": func() scenario {
			st := richFleet().state()
			st.Tunnels[3].BConf = false // hq-x: undeclared device, never repaired or touched
			return scenario{richSource, st}
		},
		"five stars, greenfield": func() scenario { src, st := fiveStars(true); return scenario{src, st} },
		"a mesh of 50":           func() scenario { src, st := mesh(50); return scenario{src, st} },
		"a star of 1200":         func() scenario { src, st := bigStar(1200); return scenario{src, st} },
		"labels moving on hubs and spokes": func() scenario {
			f := newFleet()
			f.label("mpls", "Tunnel").label("inet", "Tunnel")
			f.device("hq", wan("wan0", "mpls"), wan("wan1", "inet"), wan("wan2"))
			f.device("dc", wan("wan0", "mpls"), wan("wan1", "inet"))
			for _, n := range []string{"b1", "b2", "b3"} {
				f.device(n, wan("wan0", "mpls"), wan("wan1", "inet"))
				f.tunnel("hq/wan0", n+"/wan0", "mpls")
				f.tunnel("dc/wan1", n+"/wan1", "inet")
			}
			f.tunnel("hq/wan1", "dc/wan1", "inet")
			return scenario{`
pathLabels: [{name: mpls}, {name: inet}]
devices:
  - name: hq
    interfaces:
      - {name: wan0, pathLabels: [inet]}
      - {name: wan1, pathLabels: []}
      - {name: wan2, pathLabels: [mpls]}
  - name: dc
  - name: b1
    interfaces:
      - {name: wan0, pathLabels: [inet]}
      - {name: wan1, pathLabels: [mpls]}
  - name: b2
  - name: b3
tunnels:
  - {name: mpls-star, topology: hubAndSpoke, hub: hq, spokes: ["b*"], pathLabels: [mpls]}
  - {name: inet-star, topology: hubAndSpoke, hub: dc, spokes: ["b*", hq], pathLabels: [inet]}
  - {name: dc-hq, topology: fullMesh, devices: [dc, hq], pathLabels: [mpls, inet]}
settings: {maxDeletions: 20}
`, f.state()}
		},
	}
	for name, mk := range scenarios {
		t.Run(name, func(t *testing.T) {
			sc := mk()
			p, _ := mustPlan(t, sc.src, sc.st, opts())
			if p.Empty() {
				t.Fatalf("the first plan is empty; the scenario tests nothing")
			}
			after := applyPlan(t, sc.st, p)
			p2, err := planner.Build(parseSpec(t, sc.src), after, opts())
			if err != nil {
				t.Fatalf("second Build() error = %v", err)
			}
			if !p2.Empty() {
				t.Errorf("second plan is not empty:\n  %s\nnotes of the first plan:\n  %s", strings.Join(stepLines(p2), "\n  "), strings.Join(p.Notes, "\n  "))
			}
		})
	}
}
