package live

import "testing"

func sample() *State {
	return &State{
		Org:    Org{ID: "o1", Name: "lab", TunnelRange: "10.100.0.0"},
		Labels: []Label{{ID: "l2", Name: "inet", Type: "Tunnel"}, {ID: "l1", Name: "mpls", Type: "Tunnel", Color: "#2e86de"}},
		Devices: []Device{
			{ID: "d2", Name: "b", Connected: true, State: "running", Interfaces: []Interface{
				{ID: "i3", DevID: "pci:3", Name: "eth0", Type: "WAN", Assigned: true, Labels: []string{"mpls", "inet"}},
				{ID: "i4", DevID: "pci:4", Name: "eth1", Type: "LAN", Assigned: true},
			}},
			{ID: "d1", Name: "a", Connected: false, Routes: []Route{{ID: "r1", Destination: "10.0.0.0/8", Gateway: "1.1.1.1"}}},
		},
		Tunnels: []Tunnel{
			{ID: "t2", Num: 2, A: End{DeviceID: "d1", DevID: "pci:1"}, B: End{DeviceID: "d2", DevID: "pci:3"}, Label: "mpls", AConf: true, BConf: true},
			{ID: "t1", Num: 1, A: End{DeviceID: "d2", DevID: "pci:3"}, B: End{DeviceID: "d1", DevID: "pci:1"}, Label: "inet"},
		},
	}
}

func TestFingerprintIgnoresOrderAndConnectivity(t *testing.T) {
	a := sample()
	b := sample()
	// Same content, other order, other connectivity.
	b.Labels[0], b.Labels[1] = b.Labels[1], b.Labels[0]
	b.Devices[0], b.Devices[1] = b.Devices[1], b.Devices[0]
	b.Devices[1].Interfaces[0], b.Devices[1].Interfaces[1] = b.Devices[1].Interfaces[1], b.Devices[1].Interfaces[0]
	b.Devices[1].Interfaces[1].Labels = []string{"inet", "mpls"}
	b.Tunnels[0], b.Tunnels[1] = b.Tunnels[1], b.Tunnels[0]
	b.Devices[0].Connected = true
	if a.Fingerprint() != b.Fingerprint() {
		t.Fatalf("Fingerprint() depends on order or connectivity")
	}
}

func TestFingerprintSeesChanges(t *testing.T) {
	base := sample().Fingerprint()
	changes := map[string]func(s *State){
		"device renamed":       func(s *State) { s.Devices[0].Name = "bb" },
		"label moved":          func(s *State) { s.Devices[0].Interfaces[0].Labels = []string{"mpls"} },
		"tunnel configured":    func(s *State) { s.Tunnels[1].AConf = true },
		"tunnel gone":          func(s *State) { s.Tunnels = s.Tunnels[:1] },
		"route changed":        func(s *State) { s.Devices[1].Routes[0].Gateway = "1.1.1.2" },
		"label colour changed": func(s *State) { s.Labels[1].Color = "#000000" },
		"run state changed":    func(s *State) { s.Devices[0].State = "stopped" },
		"strings regrouped":    func(s *State) { s.Devices[0].Name, s.Devices[0].MachineID = "", "b" },
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			s := sample()
			change(s)
			if s.Fingerprint() == base {
				t.Errorf("Fingerprint() did not change")
			}
		})
	}
}

func TestTunnelKeyIsUnordered(t *testing.T) {
	s := sample()
	k1 := s.Tunnels[0].Key()
	t2 := s.Tunnels[0]
	t2.A, t2.B = t2.B, t2.A
	if k1 != t2.Key() {
		t.Fatalf("Key() depends on which end is A: %v vs %v", k1, t2.Key())
	}
	other := s.Tunnels[0]
	other.Label = "inet"
	if other.Key() == k1 {
		t.Fatalf("Key() ignores the label")
	}
}

func TestDescribeKeyAndLookups(t *testing.T) {
	s := sample()
	s.Devices[1].Interfaces = []Interface{{DevID: "pci:1", Name: "eth0"}}
	if got, want := s.DescribeKey(s.Tunnels[0].Key()), "a/eth0 <-> b/eth0 [mpls]"; got != want {
		t.Errorf("DescribeKey() = %q, want %q", got, want)
	}
	d := s.Device("d2")
	if d == nil || d.Interface("eth1").DevID != "pci:4" || d.Interface("pci:3").Name != "eth0" || d.Interface("nope") != nil {
		t.Errorf("Interface lookups by name and devId are wrong")
	}
	if s.Label("mpls").ID != "l1" || s.Label("x") != nil {
		t.Errorf("Label lookup is wrong")
	}
}
