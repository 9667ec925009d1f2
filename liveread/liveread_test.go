package liveread

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flexiwan-gitops/reconciler/fleximanage"
	"github.com/flexiwan-gitops/reconciler/live"
)

func TestConvert(t *testing.T) {
	var devices []fleximanage.Device
	mustJSON(t, `[{"_id":"d1","name":"hq","machineId":"M1","isApproved":true,"isConnected":true,
		"deviceStatus":{"state":"running"},"versions":{"device":"6.3.37","router":"6.3.37","agent":"6.3.37"},
		"interfaces":[{"_id":"i1","devId":"pci:1","name":"eth0","type":"wan","isAssigned":true,"IPv4":"192.0.2.2","IPv4Mask":30,
		               "pathlabels":[{"_id":"l1","name":"mpls"}]}],
		"staticroutes":[{"_id":"r1","destination":"10.0.0.0/8","gateway":"192.0.2.1","ifname":"pci:1","metric":10}],
		"dhcp":[]},
		{"_id":"d2","name":"br","isConnected":false,"deviceStatus":{},"state":"pending","interfaces":[{"_id":"i2","devId":"pci:9","name":"eth0","type":"WAN","isAssigned":true}]}]`, &devices)
	var tunnels []fleximanage.Tunnel
	mustJSON(t, `[{"_id":"t1","num":4,"deviceA":{"_id":"d1","name":"hq"},"deviceB":{"_id":"d2","name":"br"},
		"interfaceA":"i1","interfaceB":"i2","interfaceADetails":{"name":"eth0","devId":"pci:1"},
		"pathlabel":{"name":"mpls"},"deviceAconf":true,"deviceBconf":false,"org":{"_id":"o","tunnelRange":"10.200.0.0"}}]`, &tunnels)
	labels := []fleximanage.PathLabel{{ID: "l1", Name: "mpls", Type: "Tunnel", Color: "#2E86DE"}}

	got := Convert(live.Org{ID: "o"}, labels, devices, tunnels)
	want := &live.State{
		Org:    live.Org{ID: "o", TunnelRange: "10.200.0.0"},
		Labels: []live.Label{{ID: "l1", Name: "mpls", Type: "Tunnel", Color: "#2e86de"}},
		Devices: []live.Device{
			{ID: "d1", Name: "hq", MachineID: "M1", Approved: true, Connected: true, State: "running", Version: "6.3.37", RouterVersion: "6.3.37", AgentVersion: "6.3.37",
				Interfaces: []live.Interface{{ID: "i1", DevID: "pci:1", Name: "eth0", Type: "WAN", Assigned: true, IPv4: "192.0.2.2", IPv4Mask: "30", Labels: []string{"mpls"}}},
				Routes:     []live.Route{{ID: "r1", Destination: "10.0.0.0/8", Gateway: "192.0.2.1", IfName: "pci:1", Metric: "10"}}},
			// A disconnected device's state is unknown, whatever "state" says.
			{ID: "d2", Name: "br", Interfaces: []live.Interface{{ID: "i2", DevID: "pci:9", Name: "eth0", Type: "WAN", Assigned: true}}},
		},
		Tunnels: []live.Tunnel{{ID: "t1", Num: 4, Label: "mpls", AConf: true,
			A: live.End{DeviceID: "d1", DeviceName: "hq", IfaceID: "i1", DevID: "pci:1", IfaceName: "eth0"},
			// interfaceBDetails missing: the devId comes from the device's interfaces.
			B: live.End{DeviceID: "d2", DeviceName: "br", IfaceID: "i2", DevID: "pci:9"}}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Convert() mismatch (-want +got):\n%s", d)
	}
}

func TestConvertDefaultsTunnelRange(t *testing.T) {
	got := Convert(live.Org{ID: "o"}, nil, nil, nil)
	if got.Org.TunnelRange != "10.100.0.0" {
		t.Errorf("TunnelRange = %q, want flexiManage's default 10.100.0.0", got.Org.TunnelRange)
	}
}

func TestLooksLikeID(t *testing.T) {
	for s, want := range map[string]bool{"65a000000000000000000001": true, "65A000000000000000000001": true, "lab": false, "65a00000000000000000000": false} {
		if LooksLikeID(s) != want {
			t.Errorf("LooksLikeID(%q) = %v", s, !want)
		}
	}
}

func mustJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatal(err)
	}
}
