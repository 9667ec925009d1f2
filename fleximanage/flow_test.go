package fleximanage_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/flexiwan-gitops/reconciler/examples"
	"github.com/flexiwan-gitops/reconciler/fleximanage"
	"github.com/flexiwan-gitops/reconciler/fleximanage/simulator"
)

// newLab starts the simulator on the lab fleet with instant jobs and
// returns a client for its organization.
func newLab(t *testing.T, opts simulator.Options) (*simulator.Simulator, *fleximanage.Client) {
	t.Helper()
	fleet, err := simulator.LoadFleet("lab/fleet.yaml", strings.NewReader(string(examples.LabFleet)))
	if err != nil {
		t.Fatal(err)
	}
	if opts.JobLatency == 0 {
		opts.Instant = true
	}
	opts.NoRateLimit = opts.RateLimit == 0
	sim, err := simulator.New(fleet, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	c, err := fleximanage.New(fleximanage.Options{BaseURL: srv.URL, Key: fleximanage.AccessKey(sim.Token()), Org: sim.OrgID("lab"), NoBudget: true, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return sim, c
}

// TestLabelTunnelFlow walks the reconciler's main path: label two WANs per
// device with PUT, create a labelled mesh, wait for its jobs, delete it.
func TestLabelTunnelFlow(t *testing.T) {
	ctx := t.Context()
	sim, c := newLab(t, simulator.Options{})
	labels, err := c.PathLabels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]fleximanage.PathLabel{}
	for _, l := range labels {
		byName[l.Name] = l
	}
	devs, err := c.Devices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 8 {
		t.Fatalf("Devices() = %d devices, want 8", len(devs))
	}
	ids := map[string]bool{}
	for _, d := range devs[:3] {
		full, err := c.Device(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		full.Interface("pci:0000:00:03.00").PathLabels = []fleximanage.PathLabel{{ID: byName["mpls"].ID}}
		upd, q, err := c.UpdateDevice(ctx, full)
		if err != nil {
			t.Fatalf("UpdateDevice(%s): %v", d.Name, err)
		}
		if len(q.IDs) != 0 {
			t.Errorf("UpdateDevice(%s) queued %v; a Tunnel label change alone queues no job", d.Name, q.IDs)
		}
		if got := upd.Interface("pci:0000:00:03.00").PathLabels; len(got) != 1 || got[0].Name != "mpls" {
			t.Errorf("after PUT, eth0 labels = %+v", got)
		}
		ids[d.ID] = true
	}
	res, err := c.Apply(ctx, fleximanage.ApplyRequest{Method: fleximanage.MethodTunnels, Devices: ids,
		Meta: fleximanage.TunnelsMeta{PathLabels: []string{byName["mpls"].ID}, Topology: fleximanage.FullMesh, AdvancedOptions: fleximanage.DefaultAdvancedOptions(), TunnelType: "site-to-site"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.IDs) != 6 || res.Status != fleximanage.ApplyCompleted || res.Message != "6 tunnel creation jobs added." {
		t.Fatalf("tunnels apply = %+v", res)
	}
	if err := sim.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	jobs, err := c.JobsAt(ctx, res.Location)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if j.State != fleximanage.JobComplete {
			t.Errorf("job %d state %s, want complete", j.ID, j.State)
		}
	}
	tuns, err := c.Tunnels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(tuns) != 3 {
		t.Fatalf("Tunnels() = %d, want 3", len(tuns))
	}
	del := map[string]bool{}
	for _, tn := range tuns {
		if tn.LabelName() != "mpls" || !tn.DeviceAconf || !tn.DeviceBconf || tn.TunnelStatus != "Connected" {
			t.Errorf("tunnel %d: %+v", tn.Num, tn)
		}
		del[tn.ID] = true
	}
	again, err := c.Apply(ctx, fleximanage.ApplyRequest{Method: fleximanage.MethodTunnels, Devices: ids,
		Meta: fleximanage.TunnelsMeta{PathLabels: []string{byName["mpls"].ID}, Topology: fleximanage.FullMesh, AdvancedOptions: fleximanage.DefaultAdvancedOptions(), TunnelType: "site-to-site"}})
	if err != nil || len(again.IDs) != 0 || again.Message != "No tunnel creation jobs added. Some tunnels exist already." {
		t.Fatalf("second tunnels apply = %+v, %v", again, err)
	}
	dres, err := c.Apply(ctx, fleximanage.ApplyRequest{Method: fleximanage.MethodDelTunnels, Devices: ids, Tunnels: del})
	if err != nil || len(dres.IDs) != 6 {
		t.Fatalf("deltunnels = %+v, %v", dres, err)
	}
	_, err = c.Apply(ctx, fleximanage.ApplyRequest{Method: fleximanage.MethodDelTunnels, Devices: ids, Tunnels: del})
	if !fleximanage.IsKind(err, fleximanage.KindConflict) {
		t.Fatalf("second deltunnels error = %v, want a conflict", err)
	}
}
