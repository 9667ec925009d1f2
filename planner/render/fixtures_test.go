package render

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/flexiwan-gitops/reconciler/planner"
)

// Hand-built plans, shaped like what planner.Build makes.

const orgID = "5f3c0a1b2c3d4e5f6a7b8c9d"

var (
	orgQ    = "?org=" + orgID
	planned = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
)

func base() *planner.Plan {
	return &planner.Plan{
		FormatVersion:   planner.FormatVersion,
		Revision:        "3f2a9c1d7be04c6e8a1f2d3c4b5a69788796a5b4",
		Source:          "https://git.example.com/acme/sdwan.git (path topology)",
		Org:             planner.Org{ID: orgID, Name: "acme"},
		LiveFingerprint: "sha256:9c1e2d3a4b5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9",
		CreatedAt:       planned,
		MaxDeletions:    10,
	}
}

func dev(name string) planner.DeviceRef { return planner.DeviceRef{ID: "id-" + name, Name: name} }

func devs(names ...string) []planner.DeviceRef {
	out := make([]planner.DeviceRef, len(names))
	for i, n := range names {
		out[i] = dev(n)
	}
	return out
}

func end(device, iface string) planner.EndRef {
	return planner.EndRef{Device: device, DeviceID: "id-" + device, Interface: iface, DevID: "pci:" + device + ":" + iface}
}

func tun(a, ai, b, bi, label string) planner.TunnelRef {
	return planner.TunnelRef{A: end(a, ai), B: end(b, bi), Label: label}
}

func withID(t planner.TunnelRef, id string) planner.TunnelRef { t.ID = id; return t }

func pending(t planner.TunnelRef) planner.TunnelRef { t.Pending = true; return t }

func raw(s string) json.RawMessage { return json.RawMessage(s) }

// apply is the POST /devices/apply request of a method on devices.
func apply(method string, ds []planner.DeviceRef, extra string) planner.Request {
	body := `{"devices":{`
	for i, d := range ds {
		if i > 0 {
			body += ","
		}
		body += fmt.Sprintf("%q:true", d.ID)
	}
	body += fmt.Sprintf(`},%s"method":%q}`, extra, method)
	return planner.Request{Method: "POST", Path: "/api/devices/apply" + orgQ, Body: raw(body)}
}

// finish numbers nothing (the fixtures are numbered by hand) but fills the
// summary figures that follow from the steps, like the planner does.
func finish(p *planner.Plan, s planner.Summary) *planner.Plan {
	for _, st := range p.Steps {
		s.Calls++
		s.ExpectedJobs += st.ExpectedJobs
		switch st.Action {
		case planner.CreateLabel:
			s.LabelsCreated++
		case planner.UpdateLabel:
			s.LabelsUpdated++
		case planner.DeleteLabel:
			s.LabelsDeleted++
		case planner.CreateTunnels:
			s.TunnelsCreated += len(st.Creates)
		case planner.DeleteTunnels:
			s.TunnelsDeleted += len(st.Deletes)
		case planner.SyncDevice:
			s.TunnelsRepaired += len(st.Repairs)
		case planner.StartDevices:
			s.Started += len(st.Devices)
		case planner.StopDevices:
			s.Stopped += len(st.Devices)
		case planner.UpgradeDevices:
			s.Upgraded += len(st.Devices)
		}
	}
	s.Deletions = s.TunnelsDeleted + s.LabelsDeleted + s.RoutesRemoved + s.DHCPRemoved
	s.Unmanaged = len(p.Unmanaged)
	p.Summary = s
	return p
}

// emptyPlan: the network matches the source.
func emptyPlan() *planner.Plan { return finish(base(), planner.Summary{}) }

// greenfieldPlan: labels created, interfaces labelled (PUTs), a star and a
// mesh of tunnels created (one pending), upgrades in two waves.
func greenfieldPlan() *planner.Plan {
	p := base()
	star := devs("hq", "branch-1", "branch-2", "branch-3")
	mesh := devs("dc.east", "end", "hq")
	p.Steps = []planner.Step{
		{ID: 1, Phase: planner.PhaseLabels, Action: planner.CreateLabel, Target: "path label mpls", Reason: "declared, not in flexiManage",
			Request: planner.Request{Method: "POST", Path: "/api/pathlabels" + orgQ, Body: raw(`{"color":"#2e86de","description":"MPLS underlay","name":"mpls","type":"Tunnel"}`)},
			Label:   &planner.LabelParams{Name: "mpls", Type: "Tunnel", Color: "#2e86de", Description: "MPLS underlay"}},
		{ID: 2, Phase: planner.PhaseLabels, Action: planner.CreateLabel, Target: "path label inet", Reason: "declared, not in flexiManage",
			Request: planner.Request{Method: "POST", Path: "/api/pathlabels" + orgQ, Body: raw(`{"color":"#10ac84","description":"","name":"inet","type":"Tunnel"}`)},
			Label:   &planner.LabelParams{Name: "inet", Type: "Tunnel", Color: "#10ac84"}},
		{ID: 3, Phase: planner.PhaseModifyAdd, Action: planner.ModifyDevice, Target: "device hq", Reason: "add what the source declares",
			Request: planner.Request{Method: "PUT", Path: "/api/devices/id-hq" + orgQ, Body: raw(`{"interfaces":[{"devId":"pci:hq:eth0","name":"eth0","pathlabels":[{"_id":"$label:mpls"}]},{"devId":"pci:hq:eth1","name":"eth1","pathlabels":[{"_id":"$label:inet"}]}]}`)},
			Modify: &planner.DeviceEdit{Device: dev("hq"),
				Interfaces: []planner.IfaceEdit{{DevID: "pci:hq:eth0", Name: "eth0", From: []string{}, Labels: []string{"mpls"}}, {DevID: "pci:hq:eth1", Name: "eth1", From: []string{}, Labels: []string{"inet"}}},
				Changes:    []string{"eth0 labels: [] → [mpls]", "eth1 labels: [] → [inet]"}}},
		{ID: 4, Phase: planner.PhaseModifyAdd, Action: planner.ModifyDevice, Target: "device branch-1", Reason: "add what the source declares",
			Request: planner.Request{Method: "PUT", Path: "/api/devices/id-branch-1" + orgQ, Body: raw(`{"dhcp":[{"dns":["8.8.8.8"],"interface":"pci:branch-1:eth1","macAssign":[],"rangeEnd":"192.168.1.200","rangeStart":"192.168.1.100"}],"interfaces":[{"devId":"pci:branch-1:eth0","name":"eth0","pathlabels":[{"_id":"$label:mpls"}]}],"staticroutes":[{"destination":"10.20.0.0/16","gateway":"192.168.1.1","ifname":"pci:branch-1:eth1","metric":"10"}]}`)},
			Modify: &planner.DeviceEdit{Device: dev("branch-1"),
				Interfaces: []planner.IfaceEdit{{DevID: "pci:branch-1:eth0", Name: "eth0", From: []string{}, Labels: []string{"mpls"}}},
				Routes:     &[]planner.Route{{Destination: "10.20.0.0/16", Gateway: "192.168.1.1", IfName: "pci:branch-1:eth1", Metric: "10"}},
				DHCP:       &[]planner.DHCP{{Interface: "pci:branch-1:eth1", RangeStart: "192.168.1.100", RangeEnd: "192.168.1.200", DNS: []string{"8.8.8.8"}}},
				Changes:    []string{"eth0 labels: [] → [mpls]", "+ 10.20.0.0/16 via 192.168.1.1 dev eth1 metric 10", "+ dhcp eth1 192.168.1.100-192.168.1.200 dns 8.8.8.8"}},
			ExpectedJobs: 1},
		{ID: 5, Phase: planner.PhaseCreateTunnels, Action: planner.CreateTunnels, Target: "group mpls-star (star from hq to 3 spokes)", Reason: "3 declared tunnels missing on label mpls",
			Request: apply("tunnels", star, `"meta":{"hub":"id-hq","pathLabels":["$label:mpls"],"topology":"hubAndSpoke"},`),
			Devices: star, Tunnels: &planner.TunnelsParams{Topology: "hubAndSpoke", Hub: dev("hq"), Labels: []string{"mpls"}, Group: "mpls-star"},
			Creates: []planner.TunnelRef{
				tun("hq", "eth0", "branch-1", "eth0", "mpls"),
				tun("hq", "eth0", "branch-2", "eth0", "mpls"),
				pending(tun("hq", "eth0", "branch-3", "eth0", "mpls")),
			},
			ExpectedJobs: 4},
		{ID: 6, Phase: planner.PhaseCreateTunnels, Action: planner.CreateTunnels, Target: "group inet-mesh (fullMesh of devices dc.east, end, hq)", Reason: "3 declared tunnels missing on label inet",
			Request: apply("tunnels", mesh, `"meta":{"pathLabels":["$label:inet"],"topology":"fullMesh"},`),
			Devices: mesh, Tunnels: &planner.TunnelsParams{Topology: "fullMesh", Labels: []string{"inet"}, Group: "inet-mesh"},
			Creates: []planner.TunnelRef{
				tun("dc.east", "eth1", "end", "eth1", "inet"),
				tun("dc.east", "eth1", "hq", "eth1", "inet"),
				tun("end", "eth1", "hq", "eth1", "inet"),
			},
			ExpectedJobs: 6},
		{ID: 7, Phase: planner.PhaseUpgrade, Wave: 1, Action: planner.UpgradeDevices, Target: "devices branch-1, branch-2", Reason: "version below the declared one (wave 1, at most 2 devices at once)",
			Request: apply("upgrade", devs("branch-1", "branch-2"), ""), Devices: devs("branch-1", "branch-2"),
			Upgrade:      &planner.UpgradeParams{From: map[string]string{"branch-1": "6.3.30", "branch-2": "6.2.11"}, To: map[string]string{"branch-1": "6.3.37", "branch-2": "6.3.37"}},
			ExpectedJobs: 2},
		{ID: 8, Phase: planner.PhaseUpgrade, Wave: 2, Action: planner.UpgradeDevices, Target: "device branch-3", Reason: "version below the declared one (wave 2, at most 2 devices at once)",
			Request: apply("upgrade", devs("branch-3"), ""), Devices: devs("branch-3"),
			Upgrade:      &planner.UpgradeParams{From: map[string]string{"branch-3": "6.3.30"}, To: map[string]string{"branch-3": "6.3.37"}},
			ExpectedJobs: 1},
	}
	return finish(p, planner.Summary{DevicesChanged: 2, RoutesAdded: 1, DHCPAdded: 1})
}

// driftPlan: the network drifted. A label colour changed in the UI, a
// tunnel's add job failed on one end (repair), a spoke moved from inet to
// lte (create, then delete the managed tunnels no longer desired, then take
// the label off), a route was added by hand; prune is off, so tunnels and a
// label nobody declares are kept.
func driftPlan() *planner.Plan {
	p := base()
	p.Revision = "8d41be0c5f7a2e9d13b6c0a4f8e2d7c1b9a3f5e6"
	lte := devs("hq", "branch-1", "branch-2")
	p.Steps = []planner.Step{
		{ID: 1, Phase: planner.PhaseLabels, Action: planner.UpdateLabel, Target: "path label inet", Reason: "color: #10ac84 → #ff9f43",
			Request: planner.Request{Method: "PUT", Path: "/api/pathlabels/lbl-inet" + orgQ, Body: raw(`{"color":"#ff9f43","description":"","name":"inet","type":"Tunnel"}`)},
			Label:   &planner.LabelParams{ID: "lbl-inet", Name: "inet", Type: "Tunnel", Color: "#ff9f43", Changes: []string{"color: #10ac84 → #ff9f43"}}},
		{ID: 2, Phase: planner.PhaseModifyAdd, Action: planner.ModifyDevice, Target: "device branch-1", Reason: "add what the source declares",
			Request: planner.Request{Method: "PUT", Path: "/api/devices/id-branch-1" + orgQ, Body: raw(`{"interfaces":[{"devId":"pci:branch-1:eth2","name":"eth2","pathlabels":[{"_id":"lbl-lte"}]}]}`)},
			Modify: &planner.DeviceEdit{Device: dev("branch-1"),
				Interfaces: []planner.IfaceEdit{{DevID: "pci:branch-1:eth2", Name: "eth2", From: []string{}, Labels: []string{"lte"}}},
				Changes:    []string{"eth2 labels: [] → [lte]"}}},
		{ID: 3, Phase: planner.PhaseCreateTunnels, Action: planner.CreateTunnels, Target: "group lte-star (star from hq to 2 spokes)", Reason: "2 declared tunnels missing on label lte",
			Request: apply("tunnels", lte, `"meta":{"hub":"id-hq","pathLabels":["lbl-lte"],"topology":"hubAndSpoke"},`),
			Devices: lte, Tunnels: &planner.TunnelsParams{Topology: "hubAndSpoke", Hub: dev("hq"), Labels: []string{"lte"}, Group: "lte-star"},
			Creates:      []planner.TunnelRef{tun("hq", "eth2", "branch-1", "eth2", "lte"), tun("hq", "eth2", "branch-2", "eth2", "lte")},
			ExpectedJobs: 4},
		{ID: 4, Phase: planner.PhaseCreateTunnels, Action: planner.CreateTunnels, Target: "star from hq to branch-1", Reason: "1 declared tunnels missing on unlabeled interfaces",
			After:   []int{3},
			Request: apply("tunnels", devs("hq", "branch-1"), `"meta":{"hub":"id-hq","pathLabels":[],"topology":"hubAndSpoke"},`),
			Devices: devs("hq", "branch-1"), Tunnels: &planner.TunnelsParams{Topology: "hubAndSpoke", Hub: dev("hq"), Labels: []string{}},
			Creates:      []planner.TunnelRef{tun("hq", "eth3", "branch-1", "eth3", "")},
			ExpectedJobs: 2},
		{ID: 5, Phase: planner.PhaseCreateTunnels, Action: planner.SyncDevice, Target: "device branch-2", Reason: "1 tunnels are not configured on this device (an add-tunnel job failed); a sync sends them again",
			Request: planner.Request{Method: "POST", Path: "/api/devices/id-branch-2/apply" + orgQ, Body: raw(`{"method":"sync"}`)},
			Devices: devs("branch-2"), Repairs: []planner.TunnelRef{withID(tun("branch-2", "eth0", "hq", "eth0", "mpls"), "t-12")},
			ExpectedJobs: 1},
		{ID: 6, Phase: planner.PhaseRemoveRoutes, Action: planner.ModifyDevice, Target: "device branch-2", Reason: "remove routes and DHCP the source no longer declares",
			Request: planner.Request{Method: "PUT", Path: "/api/devices/id-branch-2" + orgQ, Body: raw(`{"staticroutes":[]}`)},
			Modify: &planner.DeviceEdit{Device: dev("branch-2"), Routes: &[]planner.Route{},
				Changes: []string{"- 10.30.0.0/16 via 192.168.2.1 dev eth1"}},
			ExpectedJobs: 1},
		{ID: 7, Phase: planner.PhaseDeleteTunnels, Action: planner.DeleteTunnels, Target: "2 tunnels", Reason: "2 no longer desired by their group; the ids are re-read just before sending",
			Request:      apply("deltunnels", devs("branch-1", "branch-2", "hq"), `"tunnels":{"t-3":true,"t-4":true},`),
			Devices:      devs("branch-1", "branch-2", "hq"),
			Deletes:      []planner.TunnelRef{withID(tun("branch-1", "eth1", "hq", "eth1", "inet"), "t-3"), withID(tun("branch-2", "eth1", "hq", "eth1", "inet"), "t-4")},
			ExpectedJobs: 4},
		{ID: 8, Phase: planner.PhaseModifyRemove, Action: planner.ModifyDevice, Target: "device branch-1", Reason: "remove what the source no longer declares, after the new tunnels are up",
			Request: planner.Request{Method: "PUT", Path: "/api/devices/id-branch-1" + orgQ, Body: raw(`{"interfaces":[{"devId":"pci:branch-1:eth1","name":"eth1","pathlabels":[]}]}`)},
			Modify: &planner.DeviceEdit{Device: dev("branch-1"),
				Interfaces: []planner.IfaceEdit{{DevID: "pci:branch-1:eth1", Name: "eth1", From: []string{"inet"}, Labels: []string{}}},
				Changes:    []string{"eth1 labels: [inet] → []"}}},
		{ID: 9, Phase: planner.PhaseModifyRemove, Action: planner.ModifyDevice, Target: "device branch-2", Reason: "remove what the source no longer declares, after the new tunnels are up",
			Request: planner.Request{Method: "PUT", Path: "/api/devices/id-branch-2" + orgQ, Body: raw(`{"interfaces":[{"devId":"pci:branch-2:eth1","name":"eth1","pathlabels":[]}]}`)},
			Modify: &planner.DeviceEdit{Device: dev("branch-2"),
				Interfaces: []planner.IfaceEdit{{DevID: "pci:branch-2:eth1", Name: "eth1", From: []string{"inet"}, Labels: []string{}}},
				Changes:    []string{"eth1 labels: [inet] → []"}}},
	}
	p.Unmanaged = []planner.Unmanaged{
		{Kind: "tunnel", Name: "dc.east/eth1 <-> hq/eth4 [unlabeled]", ID: "t-20"},
		{Kind: "tunnel", Name: "branch-1/eth0 <-> branch-2/eth0 [mpls]", ID: "t-21"},
		{Kind: "pathLabel", Name: "legacy_wan", ID: "lbl-legacy"},
	}
	p.Notes = []string{
		"tunnel hq/eth0 <-> branch-9/eth0 [mpls] cannot be created safely in this run: no tunnels call creates it without creating undesired tunnels too",
		"device lab-2 is not connected; its jobs wait until it reconnects",
	}
	return finish(p, planner.Summary{DevicesChanged: 2, RoutesRemoved: 1})
}

// prunePlan: prune is on; tunnels and a label nobody declares are deleted,
// a device is stopped and another started.
func prunePlan() *planner.Plan {
	p := base()
	p.Prune = true
	p.Steps = []planner.Step{
		{ID: 1, Phase: planner.PhaseStart, Action: planner.StartDevices, Target: "device branch-5", Reason: "declared running; branch-5 is stopped",
			Request: apply("start", devs("branch-5"), ""), Devices: devs("branch-5"), ExpectedJobs: 1},
		{ID: 2, Phase: planner.PhaseDeleteTunnels, Action: planner.DeleteTunnels, Target: "2 tunnels", Reason: "2 not declared by any group (prune); the ids are re-read just before sending",
			Request:      apply("deltunnels", devs("branch-1", "dc.east", "hq"), `"tunnels":{"t-20":true,"t-22":true},`),
			Devices:      devs("branch-1", "dc.east", "hq"),
			Deletes:      []planner.TunnelRef{withID(tun("dc.east", "eth1", "hq", "eth4", ""), "t-20"), pendingID(tun("branch-1", "eth4", "hq", "eth4", "old_wan"), "t-22")},
			ExpectedJobs: 2},
		{ID: 3, Phase: planner.PhaseDeleteLabels, Action: planner.DeleteLabel, Target: "path label old_wan", Reason: "not declared and unused (prune)",
			Request: planner.Request{Method: "DELETE", Path: "/api/pathlabels/lbl-old" + orgQ},
			Label:   &planner.LabelParams{ID: "lbl-old", Name: "old_wan", Type: "Tunnel"}},
		{ID: 4, Phase: planner.PhaseStop, Action: planner.StopDevices, Target: "device lab-1", Reason: "declared stopped; lab-1 is running",
			Request: apply("stop", devs("lab-1"), ""), Devices: devs("lab-1"), ExpectedJobs: 1},
	}
	return finish(p, planner.Summary{})
}

func pendingID(t planner.TunnelRef, id string) planner.TunnelRef {
	return withID(pending(t), id)
}

// fixtures are the golden cases, by file name.
func fixtures() []struct {
	name string
	plan *planner.Plan
} {
	return []struct {
		name string
		plan *planner.Plan
	}{
		{"empty", emptyPlan()},
		{"greenfield", greenfieldPlan()},
		{"drift", driftPlan()},
		{"prune", prunePlan()},
	}
}

// starPlan creates n tunnels from hub to n spokes in calls of at most 1000
// (like the planner), and deletes del tunnels of an old mesh.
func starPlan(n, del int) *planner.Plan {
	p := base()
	id := 0
	for start := 0; start < n; start += planner.MaxTunnelsPerCall {
		stop := min(n, start+planner.MaxTunnelsPerCall)
		ds := devs("hq")
		var creates []planner.TunnelRef
		for i := start; i < stop; i++ {
			spoke := fmt.Sprintf("spoke-%05d", i)
			ds = append(ds, dev(spoke))
			creates = append(creates, tun("hq", "eth0", spoke, "eth0", "mpls"))
		}
		id++
		p.Steps = append(p.Steps, planner.Step{ID: id, Phase: planner.PhaseCreateTunnels, Action: planner.CreateTunnels,
			Target: fmt.Sprintf("group spokes (star from hq to %d spokes)", len(ds)-1), Reason: fmt.Sprintf("%d declared tunnels missing on label mpls", len(creates)),
			Request: apply("tunnels", ds, `"meta":{"hub":"id-hq","pathLabels":["lbl-mpls"],"topology":"hubAndSpoke"},`),
			Devices: ds, Tunnels: &planner.TunnelsParams{Topology: "hubAndSpoke", Hub: dev("hq"), Labels: []string{"mpls"}, Group: "spokes"},
			Creates: creates, ExpectedJobs: 2 * len(creates)})
	}
	for start := 0; start < del; start += planner.MaxTunnelsPerCall {
		stop := min(del, start+planner.MaxTunnelsPerCall)
		var deletes []planner.TunnelRef
		for i := start; i < stop; i++ {
			a, b := fmt.Sprintf("spoke-%05d", i), fmt.Sprintf("spoke-%05d", (i+1)%max(n, 2))
			deletes = append(deletes, withID(tun(a, "eth1", b, "eth1", "inet"), fmt.Sprintf("t-%d", i)))
		}
		id++
		p.Steps = append(p.Steps, planner.Step{ID: id, Phase: planner.PhaseDeleteTunnels, Action: planner.DeleteTunnels,
			Target: fmt.Sprintf("%d tunnels", len(deletes)), Reason: fmt.Sprintf("%d no longer desired by their group; the ids are re-read just before sending", len(deletes)),
			Request: apply("deltunnels", devs("hq"), ""), Devices: devs("hq"), Deletes: deletes, ExpectedJobs: 2 * len(deletes)})
	}
	p.MaxDeletions = del
	return finish(p, planner.Summary{})
}

// manyDevicesPlan has one modify step per device, each with a few changes,
// so that even counts do not fit and steps must be cut.
func manyDevicesPlan(n int) *planner.Plan {
	p := base()
	for i := range n {
		name := fmt.Sprintf("branch-%04d", i)
		var changes []string
		for j := range 15 {
			changes = append(changes, fmt.Sprintf("+ 10.%d.%d.0/24 via 192.168.1.1 dev eth1", i%250, j))
		}
		p.Steps = append(p.Steps, planner.Step{ID: i + 1, Phase: planner.PhaseModifyAdd, Action: planner.ModifyDevice,
			Target: "device " + name, Reason: "add what the source declares",
			Request: planner.Request{Method: "PUT", Path: "/api/devices/id-" + name + orgQ, Body: raw(`{}`)},
			Modify:  &planner.DeviceEdit{Device: dev(name), Changes: changes}, ExpectedJobs: 1})
		p.Notes = append(p.Notes, fmt.Sprintf("device %s: something a reviewer should know", name))
	}
	return finish(p, planner.Summary{DevicesChanged: n, RoutesAdded: 15 * n})
}
