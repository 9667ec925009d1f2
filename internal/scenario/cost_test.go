package scenario

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/flexiwan-gitops/reconciler/fleximanage"
	"github.com/flexiwan-gitops/reconciler/fleximanage/simulator"
	"github.com/flexiwan-gitops/reconciler/liveread"
	"github.com/flexiwan-gitops/reconciler/planner"
	"github.com/flexiwan-gitops/reconciler/spec"
)

// TestNoChangePlanCost: planning a 1,000-device organization that already
// matches its source costs at most 5 requests (DESIGN.md §7), the
// organization given by name.
func TestNoChangePlanCost(t *testing.T) {
	const hubs, spokesPerHub = 10, 99
	org := simulator.FleetOrg{Name: "big", PathLabels: []simulator.FleetLabel{{Name: "mpls", Type: "Tunnel"}, {Name: "inet", Type: "Tunnel"}}}
	var src strings.Builder
	src.WriteString("pathLabels:\n  - {name: mpls}\n  - {name: inet}\ndevices:\n")
	dev := func(name string, n int) {
		org.Devices = append(org.Devices, simulator.FleetDevice{Name: name, Interfaces: []simulator.FleetInterface{
			{Name: "eth0", Type: "WAN", IPv4: fmt.Sprintf("10.%d.%d.2/30", n/250, n%250), Gateway: fmt.Sprintf("10.%d.%d.1", n/250, n%250), PathLabels: []string{"mpls"}},
			{Name: "eth1", Type: "WAN", IPv4: fmt.Sprintf("11.%d.%d.2/30", n/250, n%250), Gateway: fmt.Sprintf("11.%d.%d.1", n/250, n%250), PathLabels: []string{"inet"}, Metric: intp(200)},
			{Name: "eth2", Type: "LAN", IPv4: fmt.Sprintf("172.%d.%d.1/24", 16+n/250, n%250)},
		}})
		fmt.Fprintf(&src, "  - {name: %s, interfaces: [{name: eth0, pathLabels: [mpls]}, {name: eth1, pathLabels: [inet]}]}\n", name)
	}
	n := 0
	src2 := "tunnels:\n"
	for h := range hubs {
		hub := fmt.Sprintf("hub-%02d", h)
		dev(hub, n)
		n++
		for s := range spokesPerHub {
			sp := fmt.Sprintf("spoke-%02d-%02d", h, s)
			dev(sp, n)
			n++
			for _, lw := range []struct{ ifc, label string }{{"eth0", "mpls"}, {"eth1", "inet"}} {
				org.Tunnels = append(org.Tunnels, simulator.FleetTunnel{A: hub + "/" + lw.ifc, B: sp + "/" + lw.ifc, PathLabel: lw.label})
			}
		}
		src2 += fmt.Sprintf("  - {topology: hubAndSpoke, hub: %s, spokes: [\"spoke-%02d-*\"], pathLabels: [mpls, inet]}\n", hub, h)
	}
	if len(org.Devices) != 1000 || len(org.Tunnels) != 1980 {
		t.Fatalf("fleet has %d devices and %d tunnels", len(org.Devices), len(org.Tunnels))
	}
	sim, err := simulator.New(&simulator.Fleet{Organizations: []simulator.FleetOrg{org}}, simulator.Options{Instant: true, NoRateLimit: true, Keys: []simulator.Key{{Token: "k"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	var requests []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests = append(requests, r.Method+" "+r.URL.Path)
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	sp, err := spec.Parse("big.yaml", strings.NewReader(src.String()+src2))
	if err != nil {
		t.Fatal(err)
	}
	c, err := fleximanage.New(fleximanage.Options{BaseURL: srv.URL, Key: "k", NoBudget: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	o, err := liveread.ResolveOrg(ctx, c, "big")
	if err != nil {
		t.Fatal(err)
	}
	st, err := liveread.Read(ctx, c.WithOrg(o.ID), o)
	if err != nil {
		t.Fatal(err)
	}
	p, err := planner.Build(sp, st, planner.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if !p.Empty() {
		t.Fatalf("the plan has %d steps, want none (first: %s %s)", len(p.Steps), p.Steps[0].Action, p.Steps[0].Target)
	}
	if len(requests) > 5 {
		t.Errorf("a no-change plan of 1,000 devices and 1,980 tunnels cost %d requests, want at most 5: %v", len(requests), requests)
	}
	t.Logf("%d requests: %v", len(requests), requests)
}

func intp(n int) *int { return &n }
