package spec_test

import (
	"errors"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"testing/iotest"

	"github.com/flexiwan-gitops/reconciler/spec"
	"github.com/google/go-cmp/cmp"
)

// labels declares the labels most cases use.
const labels = `pathLabels:
  - {name: mpls}
  - {name: inet}
  - {name: lte, type: DIA}
`

// TestLoadProblems checks that every kind of problem is reported at the
// right file:line:col with a clear message, and nothing else is.
func TestLoadProblems(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{
			name: "syntax error",
			files: map[string]string{"s.yaml": `devices:
  - name: hq
    state: [running
`},
			want: []string{"s.yaml:3: did not find expected ',' or ']'"},
		},
		{
			name:  "unknown key at top level",
			files: map[string]string{"s.yaml": "devcies: []\nsettings: {prune: true}\n"},
			want:  []string{`s.yaml:1:1: unknown key "devcies" (did you mean "devices"?)`},
		},
		{
			name: "unknown key in a device",
			files: map[string]string{"s.yaml": `devices:
  - name: hq
    stat: running
`},
			want: []string{`s.yaml:3:5: unknown key "stat" (did you mean "state"?)`},
		},
		{
			name: "unknown key in an interface",
			files: map[string]string{"s.yaml": labels + `devices:
  - name: hq
    interfaces:
      - {name: eth0, labels: [mpls]}
`},
			want: []string{`s.yaml:8:22: unknown key "labels" (known keys: name, pathLabels)`},
		},
		{
			name: "unknown key in a route",
			files: map[string]string{"s.yaml": `devices:
  - name: hq
    staticRoutes:
      - destination: 10.0.0.0/8
        gw: 10.1.1.1
`},
			want: []string{
				`s.yaml:4:9: gateway "": want an IPv4 address`,
				`s.yaml:5:9: unknown key "gw" (known keys: destination, gateway, interface, metric)`,
			},
		},
		{
			name: "unknown key in a tunnel group",
			files: map[string]string{"s.yaml": `devices: [{name: a}, {name: b}]
tunnels:
  - topology: fullMesh
    devices: [a, b]
    pathlabel: [mpls]
`},
			want: []string{`s.yaml:5:5: unknown key "pathlabel" (did you mean "pathLabels"?)`},
		},
		{
			name:  "unknown key in settings",
			files: map[string]string{"s.yaml": "settings:\n  prune: true\n  maxDeletion: 3\n"},
			want:  []string{`s.yaml:3:3: unknown key "maxDeletion" (did you mean "maxDeletions"?)`},
		},
		{
			name: "unknown keys everywhere, all reported",
			files: map[string]string{"s.yaml": labels + `devices:
  - name: hq
    colour: red
    interfaces: [{name: eth0, pathLabels: [mpls], x: 1}]
    dhcp: [{interface: eth1, rangeStart: 10.0.0.1, rangeEnd: 10.0.0.9, lease: 3600}]
extra: true
`},
			want: []string{
				`s.yaml:7:5: unknown key "colour" (known keys: dhcp, interfaces, machineId, name, state, staticRoutes, version)`,
				`s.yaml:8:51: unknown key "x" (known keys: name, pathLabels)`,
				`s.yaml:9:72: unknown key "lease" (known keys: dns, interface, rangeEnd, rangeStart)`,
				`s.yaml:10:1: unknown key "extra" (known keys: devices, pathLabels, settings, tunnels)`,
			},
		},
		{
			name: "wrong types",
			files: map[string]string{"s.yaml": `pathLabels:
  name: mpls
devices:
  - name: [hq]
    staticRoutes:
      - {destination: 10.0.0.0/8, gateway: 10.0.0.1, metric: high}
settings:
  prune: maybe
  maxDeletions: ten
`},
			want: []string{
				"s.yaml:2:3: cannot use !!map as a list",
				"s.yaml:4:11: cannot use !!seq as a string",
				"s.yaml:6:62: cannot use !!str `high` as an integer",
				"s.yaml:8:10: cannot use !!str `maybe` as a boolean (true or false)",
				"s.yaml:9:17: cannot use !!str `ten` as an integer",
			},
		},
		{
			name: "a value of the wrong type adds no follow-on problems",
			files: map[string]string{"s.yaml": `devices:
  - name: [hq]
    interfaces:
      - {name: {a: 1}}
    staticRoutes:
      - {destination: [10.0.0.0/8], gateway: 10.0.0.1}
    dhcp:
      - {interface: [eth1], rangeStart: 10.0.0.1, rangeEnd: 10.0.0.2}
tunnels:
  - {topology: [fullMesh]}
  - {topology: hubAndSpoke, hub: [hq], spokes: hq}
`},
			want: []string{
				"s.yaml:2:11: cannot use !!seq as a string",
				"s.yaml:4:16: cannot use !!map as a string",
				"s.yaml:6:23: cannot use !!seq as a string",
				"s.yaml:8:21: cannot use !!seq as a string",
				"s.yaml:10:16: cannot use !!seq as a string",
				"s.yaml:11:34: cannot use !!seq as a string",
				"s.yaml:11:48: cannot use !!str `hq` as a list",
			},
		},
		{
			name: "duplicate names in one file",
			files: map[string]string{"s.yaml": `pathLabels:
  - {name: mpls}
  - {name: mpls}
devices:
  - {name: hq, machineId: ABC-1}
  - {name: hq}
  - {name: br, machineId: abc-1}
tunnels:
  - {name: g, topology: fullMesh, devices: [hq, br]}
  - {name: g, topology: fullMesh, devices: [hq, br]}
`},
			want: []string{
				`s.yaml:3:12: path label "mpls" is declared twice: here and at s.yaml:2:12`,
				`s.yaml:6:12: device "hq" is declared twice: here and at s.yaml:5:12`,
				`s.yaml:7:27: machineId "abc-1" is declared twice: here and at s.yaml:5:27`,
				`s.yaml:10:12: tunnel group "g" is declared twice: here and at s.yaml:9:12`,
			},
		},
		{
			name: "duplicate names across two files",
			files: map[string]string{
				"a.yaml": `pathLabels: [{name: mpls}]
devices: [{name: hq, machineId: m1}]
tunnels: [{name: g, topology: fullMesh, devices: [hq, br]}]
`,
				"b.yaml": `pathLabels: [{name: mpls}]
devices: [{name: hq}, {name: br, machineId: m1}]
tunnels: [{name: g, topology: fullMesh, devices: [hq, br]}]
`,
			},
			want: []string{
				`b.yaml:1:21: path label "mpls" is declared twice: here and at a.yaml:1:21`,
				`b.yaml:2:18: device "hq" is declared twice: here and at a.yaml:2:18`,
				`b.yaml:2:45: machineId "m1" is declared twice: here and at a.yaml:2:33`,
				`b.yaml:3:18: tunnel group "g" is declared twice: here and at a.yaml:3:18`,
			},
		},
		{
			name: "tunnel group names an undeclared device or label",
			files: map[string]string{"s.yaml": labels + `devices: [{name: hq}, {name: branch-1}]
tunnels:
  - topology: hubAndSpoke
    hub: hqq
    spokes: [branch-1, branch-9]
    pathLabels: [mpsl, wifi]
`},
			want: []string{
				`s.yaml:8:10: hub "hqq" is not a declared device (did you mean "hq"?)`,
				`s.yaml:9:24: device "branch-9" is not declared (did you mean "branch-1"?)`,
				`s.yaml:10:18: path label "mpsl" is not declared (did you mean "mpls"?)`,
				`s.yaml:10:24: path label "wifi" is not declared`,
			},
		},
		{
			name: "glob matching nothing and malformed globs",
			files: map[string]string{"s.yaml": `devices: [{name: hq}, {name: b1}, {name: b2}]
tunnels:
  - {topology: hubAndSpoke, hub: hq, spokes: ["dc-*", "b[", b1]}
  - {topology: fullMesh, devices: ["x?", "b*["]}
`},
			want: []string{
				`s.yaml:3:47: pattern "dc-*" matches no declared device`,
				`s.yaml:3:55: pattern "b[" is malformed: syntax error in pattern`,
				`s.yaml:4:36: pattern "x?" matches no declared device`,
				`s.yaml:4:42: pattern "b*[" is malformed: syntax error in pattern`,
			},
		},
		{
			name: "hub among its own spokes, hub given as a pattern",
			files: map[string]string{"s.yaml": `devices: [{name: hq}, {name: b1}]
tunnels:
  - {topology: hubAndSpoke, hub: hq, spokes: ["*"]}
  - {topology: hubAndSpoke, hub: "h*", spokes: [b1]}
  - {topology: hubAndSpoke, hub: hq, spokes: [b1, hq]}
`},
			want: []string{
				`s.yaml:3:46: hub "hq" is also listed among its own spokes`,
				`s.yaml:4:34: the hub must be one device name, not a pattern`,
				`s.yaml:5:46: hub "hq" is also listed among its own spokes`,
			},
		},
		{
			name: "group shapes: fullMesh with one device, missing or mixed fields",
			files: map[string]string{"s.yaml": `devices: [{name: hq}, {name: b1}]
tunnels:
  - {topology: fullMesh, devices: [hq]}
  - {topology: fullMesh, devices: [hq, hq]}
  - {topology: fullMesh, devices: ["h*"]}
  - {topology: fullMesh}
  - {topology: fullMesh, hub: hq, devices: [hq, b1]}
  - {topology: hubAndSpoke, hub: hq, spokes: [b1], devices: [b1]}
  - {devices: [hq, b1]}
  - {topology: star, devices: [hq, b1]}
  - {topology: hubAndSpoke}
`},
			want: []string{
				`s.yaml:3:35: a fullMesh group needs at least two devices; "hq" is alone`,
				`s.yaml:4:35: a fullMesh group needs at least two devices; "hq" is alone`,
				`s.yaml:5:35: a fullMesh group needs at least two devices; "hq" is alone`,
				`s.yaml:6:5: a fullMesh group needs devices`,
				`s.yaml:7:5: a fullMesh group takes devices, not hub and spokes`,
				`s.yaml:8:61: a hubAndSpoke group takes hub and spokes, not devices`,
				`s.yaml:9:5: tunnel group has no topology: want fullMesh or hubAndSpoke`,
				`s.yaml:10:16: topology "star": want fullMesh or hubAndSpoke`,
				`s.yaml:11:5: a hubAndSpoke group needs a hub`,
				`s.yaml:11:5: a hubAndSpoke group needs spokes`,
			},
		},
		{
			name: "DIA label or a label twice in a group",
			files: map[string]string{"s.yaml": labels + `devices: [{name: hq}, {name: b1}]
tunnels:
  - {topology: fullMesh, devices: [hq, b1], pathLabels: [mpls, lte, mpls]}
`},
			want: []string{
				`s.yaml:7:64: path label "lte" is a DIA label: flexiManage builds no tunnel on DIA labels`,
				`s.yaml:7:69: path label "mpls" is listed twice`,
			},
		},
		{
			name: "interface labels: twice on one interface, one label on two interfaces",
			files: map[string]string{"s.yaml": labels + `devices:
  - name: hq
    interfaces:
      - {name: eth0, pathLabels: [mpls, inet, mpls]}
      - {name: eth1, pathLabels: [inet]}
      - {name: eth0}
`},
			want: []string{
				`s.yaml:8:47: path label "mpls" is listed twice on interface "eth0"`,
				`s.yaml:9:35: path label "inet" is on interfaces "eth0" and "eth1" of device "hq"; flexiManage allows a label on one interface per device`,
				`s.yaml:10:16: interface "eth0" is declared twice on device "hq": here and at s.yaml:8:16`,
			},
		},
		{
			name: "invalid label fields",
			files: map[string]string{"s.yaml": `pathLabels:
  - {name: ab}
  - {name: "a/b", color: blue}
  - {name: okay, color: "#12345", description: "cost: $5"}
  - {name: fine, type: Tunel}
  - {color: "#aabbcc"}
  - {name: "\u212Aelvin"}
`},
			want: []string{
				`s.yaml:2:12: path label name "ab": use 3 to 30 of a-z, 0-9, '-', '_', '.', ':' and space`,
				`s.yaml:3:12: path label name "a/b": use 3 to 30`,
				`s.yaml:3:26: colour "blue": want #rrggbb`,
				`s.yaml:4:25: colour "#12345": want #rrggbb`,
				`s.yaml:4:48: description "cost: $5": at most 50 of a-z, 0-9, space and - _ . ! # % ( ) : @ [ ]`,
				`s.yaml:5:24: path label type "Tunel": want Tunnel or DIA`,
				`s.yaml:6:5: path label has no name`,
				// flexiManage's /[a-z]/i does not take the Kelvin sign for a K.
				"s.yaml:7:12: path label name \"\u212aelvin\": use 3 to 30",
			},
		},
		{
			name: "invalid device fields",
			files: map[string]string{"s.yaml": `devices:
  - name: "hq\tx"
    state: paused
    version: "6.3"
    machineId: "not a machine!"
  - state: running
`},
			want: []string{
				`s.yaml:2:11: device name "hq\tx" has characters flexiManage does not allow`,
				`s.yaml:3:12: state "paused": want running or stopped`,
				`s.yaml:4:14: version "6.3": want major.minor.patch, e.g. 6.3.37`,
				`s.yaml:5:16: machineId "not a machine!" is not a machine id`,
				`s.yaml:6:5: device has no name`,
			},
		},
		{
			name: "invalid static routes",
			files: map[string]string{"s.yaml": `devices:
  - name: hq
    staticRoutes:
      - {destination: 10.0.0.0/33, gateway: 1.2.3}
      - {destination: banana, gateway: "::1", metric: -1}
      - {destination: "2001:db8::/32", gateway: 10.0.0.1}
      - {destination: 10.0.0.0/8, gateway: 10.0.0.1}
      - {destination: 10.0.0.0/8, gateway: 10.0.0.1, metric: 5}
      - {destination: 10.0.0.0/8, gateway: 10.0.0.2}
`},
			want: []string{
				`s.yaml:4:23: destination "10.0.0.0/33": want an IPv4 prefix such as 10.20.0.0/16`,
				`s.yaml:4:45: gateway "1.2.3": want an IPv4 address`,
				`s.yaml:5:23: destination "banana": want an IPv4 prefix`,
				`s.yaml:5:40: gateway "::1": want an IPv4 address`,
				`s.yaml:5:55: metric -1: want 0 to 1999999999`,
				`s.yaml:6:23: destination "2001:db8::/32": want an IPv4 prefix`,
				`s.yaml:8:9: static route 10.0.0.0/8 via 10.0.0.1 is declared twice on device "hq": here and at s.yaml:7:9`,
			},
		},
		{
			name: "invalid dhcp",
			files: map[string]string{"s.yaml": `devices:
  - name: hq
    dhcp:
      - {interface: eth1, rangeStart: 10.0.0.200, rangeEnd: 10.0.0.100, dns: [8.8.8.8, dns.google]}
      - {interface: eth2, rangeStart: x, rangeEnd: 10.0.0.1}
      - {interface: eth1, rangeStart: 10.0.1.1, rangeEnd: 10.0.1.9}
      - {rangeStart: 10.0.1.1, rangeEnd: 10.0.1.9}
`},
			want: []string{
				`s.yaml:4:61: rangeEnd 10.0.0.100 is before rangeStart 10.0.0.200`,
				`s.yaml:4:88: dns server "dns.google": want an IPv4 address`,
				`s.yaml:5:39: rangeStart "x": want an IPv4 address`,
				`s.yaml:6:21: dhcp on interface "eth1" is declared twice on device "hq": here and at s.yaml:4:21`,
				`s.yaml:7:9: dhcp entry has no interface`,
			},
		},
		{
			name: "settings declared in two files",
			files: map[string]string{
				"a.yaml": "settings: {prune: true}\n",
				"b.yaml": "settings:\n  maxDeletions: 3\n",
			},
			want: []string{"b.yaml:1:1: settings are declared twice: here and at a.yaml:1:1"},
		},
		{
			name:  "maxDeletions negative",
			files: map[string]string{"s.yaml": "settings:\n  maxDeletions: -1\n"},
			want:  []string{"s.yaml:2:17: maxDeletions must be 0 or more"},
		},
		{
			name:  "more than one YAML document",
			files: map[string]string{"s.yaml": "devices: []\n---\ndevices: [{name: hq}]\n"},
			want:  []string{"s.yaml:3:1: only one YAML document per file is allowed"},
		},
		{
			name:  "a broken second document",
			files: map[string]string{"s.yaml": "devices: []\n---\ndevices: [\n"},
			want:  []string{"s.yaml:4: did not find expected node content"},
		},
		{
			name: "files that are not a mapping",
			files: map[string]string{
				"list.yaml":   "- devices\n- tunnels\n",
				"scalar.yaml": "\n  hello\n",
			},
			want: []string{
				"list.yaml:1:1: the file must be a mapping with pathLabels, devices, tunnels or settings",
				"scalar.yaml:2:3: the file must be a mapping with pathLabels, devices, tunnels or settings",
			},
		},
		{
			name: "all problems of all files in one run",
			files: map[string]string{
				"a/broken.yaml": "devices: [\n",
				"a/labels.yml":  "pathLabels: [{name: mpls, typ: DIA}]\n",
				"b/sites.yaml":  "devices:\n  - {name: hq, interfaces: [{name: eth0, pathLabels: [mpls, inet]}]}\n  - {name: hq}\n",
				"c.yaml":        "tunnels: [{topology: fullMesh, devices: [hq, dc1]}]\nsettings: {maxDeletions: -5}\n",
			},
			want: []string{
				"a/broken.yaml:2: did not find expected node content",
				`a/labels.yml:1:27: unknown key "typ" (did you mean "type"?)`,
				`b/sites.yaml:2:61: path label "inet" is not declared`,
				`b/sites.yaml:3:12: device "hq" is declared twice: here and at b/sites.yaml:2:12`,
				`c.yaml:1:46: device "dc1" is not declared`,
				"c.yaml:2:26: maxDeletions must be 0 or more",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := loadFiles(t, tt.files)
			if s != nil {
				t.Errorf("Load() returned a Spec for an invalid source")
			}
			checkProblems(t, err, tt.want)
		})
	}
}

// TestLoadExamples loads examples/topology, the source the README shows.
func TestLoadExamples(t *testing.T) {
	s, err := spec.Load(os.DirFS("../examples/topology"), ".")
	if err != nil {
		t.Fatalf("Load(examples/topology) error:\n%v", err)
	}
	if diff := cmp.Diff([]string{"labels.yaml", "settings.yaml", "sites.yaml", "tunnels.yaml"}, s.Files); diff != "" {
		t.Errorf("Files (-want +got):\n%s", diff)
	}

	type label struct{ Name, Type, Color, Description string }
	var labels []label
	for _, l := range s.PathLabels {
		labels = append(labels, label{l.Name, string(l.Type), l.Color, deref(l.Description)})
	}
	wantLabels := []label{
		{"mpls", "Tunnel", "#2e86de", "MPLS underlay"},
		{"inet", "Tunnel", "#10ac84", "Internet underlay"},
		{"lte-backup", "DIA", "#ee5253", "LTE direct internet"},
	}
	if diff := cmp.Diff(wantLabels, labels); diff != "" {
		t.Errorf("PathLabels (-want +got):\n%s", diff)
	}

	type device struct {
		Name, State, Version string
		Interfaces           []string // "ref:label,label"
		Routes, DHCP         int      // -1 when not managed
	}
	var devices []device
	for _, d := range s.Devices {
		dv := device{Name: d.Name, State: string(d.State), Version: d.Version, Routes: -1, DHCP: -1}
		for _, in := range d.Interfaces {
			dv.Interfaces = append(dv.Interfaces, in.Ref+":"+strings.Join(in.PathLabels, ","))
		}
		if d.ManageRoutes {
			dv.Routes = len(d.Routes)
		}
		if d.ManageDHCP {
			dv.DHCP = len(d.DHCP)
		}
		devices = append(devices, dv)
	}
	wans := []string{"eth0:mpls", "eth1:inet"}
	wantDevices := []device{
		{"hq", "running", "", wans, 1, -1},
		{"dc1", "running", "", wans, -1, -1},
		{"branch-1", "running", "", wans, -1, 1},
		{"branch-2", "running", "", wans, -1, 1},
		{"branch-3", "running", "", wans, -1, -1},
		{"branch-4", "running", "", wans, -1, -1},
		{"branch-5", "running", "6.3.37", wans, -1, -1},
		{"branch-6", "running", "", wans, -1, -1},
	}
	if diff := cmp.Diff(wantDevices, devices); diff != "" {
		t.Errorf("Devices (-want +got):\n%s", diff)
	}

	hq := s.Device("hq")
	wantRoute := spec.Route{
		Destination: netip.MustParsePrefix("172.16.0.0/16"),
		Gateway:     netip.MustParseAddr("10.0.0.254"),
		Metric:      20,
		Pos:         spec.Pos{File: "sites.yaml", Line: 11, Col: 9},
	}
	if diff := cmp.Diff([]spec.Route{wantRoute}, hq.Routes, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("hq routes (-want +got):\n%s", diff)
	}
	dhcp := s.Device("branch-2").DHCP[0]
	if dhcp.Interface != "eth2" || dhcp.RangeStart.String() != "10.12.0.100" || dhcp.RangeEnd.String() != "10.12.0.200" ||
		len(dhcp.DNS) != 1 || dhcp.DNS[0].String() != "10.0.0.53" {
		t.Errorf("branch-2 dhcp = %+v", dhcp)
	}

	type group struct {
		Name, Topology, Hub string
		Members, Labels     []string
		Pos                 string
	}
	var groups []group
	for _, g := range s.Tunnels {
		groups = append(groups, group{g.Name, string(g.Topology), g.Hub, g.Members, g.PathLabels, g.Pos.String()})
	}
	branches := []string{"branch-1", "branch-2", "branch-3", "branch-4", "branch-5", "branch-6"}
	wantGroups := []group{
		{"branches-mpls", "hubAndSpoke", "hq", branches, []string{"mpls"}, "tunnels.yaml:5:5"},
		{"branches-inet", "hubAndSpoke", "hq", branches, []string{"inet"}, "tunnels.yaml:10:5"},
		{"core", "fullMesh", "", []string{"hq", "dc1"}, []string{"mpls", "inet"}, "tunnels.yaml:15:5"},
	}
	if diff := cmp.Diff(wantGroups, groups); diff != "" {
		t.Errorf("Tunnels (-want +got):\n%s", diff)
	}
	if got, want := s.Tunnels[0].Devices(), append([]string{"hq"}, branches...); !slices.Equal(got, want) {
		t.Errorf("Tunnels[0].Devices() = %v, want %v", got, want)
	}

	wantSettings := spec.Settings{Prune: false, MaxDeletions: 10, Pos: spec.Pos{File: "settings.yaml", Line: 1, Col: 1}}
	if s.Settings != wantSettings {
		t.Errorf("Settings = %+v, want %+v", s.Settings, wantSettings)
	}
	if s.IsEmpty() {
		t.Error("IsEmpty() = true")
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// TestLoadDefaults: what a source leaves out has a defined meaning.
func TestLoadDefaults(t *testing.T) {
	s := mustLoad(t, map[string]string{"s.yaml": `pathLabels:
  - {name: mpls}
  - {name: inet, type: DIA, color: "#AABBCC", description: ""}
devices:
  - name: a
    interfaces:
      - {name: eth0}
      - {name: eth1, pathLabels: []}
      - {name: eth2, pathLabels: [mpls]}
    staticRoutes: []
    dhcp: []
  - name: b
    staticRoutes:
      - {destination: 10.0.0.0/8, gateway: 10.0.0.1}
`})
	mpls, inet := s.Label("mpls"), s.Label("inet")
	if mpls.Type != spec.LabelTunnel || mpls.Color != "" || mpls.Description != nil {
		t.Errorf("mpls = %+v, want type Tunnel, no colour, no description", *mpls)
	}
	if inet.Type != spec.LabelDIA || inet.Color != "#aabbcc" || inet.Description == nil || *inet.Description != "" {
		t.Errorf("inet = %+v, want type DIA, colour #aabbcc, empty description", *inet)
	}
	if s.Label("lte") != nil {
		t.Error(`Label("lte") != nil`)
	}

	a, b := s.Device("a"), s.Device("b")
	if a.State != spec.StateUnmanaged || a.Version != "" || a.MachineID != "" {
		t.Errorf("a = %+v, want state and version unmanaged", *a)
	}
	for i, want := range [][]string{nil, nil, {"mpls"}} {
		if got := a.Interfaces[i].PathLabels; len(got) != len(want) || len(want) > 0 && got[0] != want[0] {
			t.Errorf("a.Interfaces[%d].PathLabels = %v, want %v", i, got, want)
		}
	}
	// staticRoutes: [] manages the routes: exactly none. Omitted leaves
	// them alone.
	if !a.ManageRoutes || len(a.Routes) != 0 || !a.ManageDHCP || len(a.DHCP) != 0 {
		t.Errorf("a: ManageRoutes=%v Routes=%v ManageDHCP=%v DHCP=%v, want managed and empty", a.ManageRoutes, a.Routes, a.ManageDHCP, a.DHCP)
	}
	if !b.ManageRoutes || len(b.Routes) != 1 || b.Routes[0].Metric != 0 || b.ManageDHCP || b.Interfaces != nil {
		t.Errorf("b = %+v, want one route with metric 0, DHCP and interfaces not managed", *b)
	}
	if s.Device("c") != nil {
		t.Error(`Device("c") != nil`)
	}

	want := spec.Settings{MaxDeletions: spec.DefaultMaxDeletions}
	if s.Settings != want || spec.DefaultMaxDeletions != 10 {
		t.Errorf("Settings = %+v, want %+v (DefaultMaxDeletions 10)", s.Settings, want)
	}

	for name, tt := range map[string]struct {
		src  string
		want spec.Settings
	}{
		"empty settings":  {"settings: {}\n", spec.Settings{MaxDeletions: 10, Pos: spec.Pos{File: "s.yaml", Line: 1, Col: 1}}},
		"zero is honored": {"settings: {maxDeletions: 0, prune: true}\n", spec.Settings{Prune: true, Pos: spec.Pos{File: "s.yaml", Line: 1, Col: 1}}},
	} {
		s := mustLoad(t, map[string]string{"s.yaml": tt.src})
		if s.Settings != tt.want {
			t.Errorf("%s: Settings = %+v, want %+v", name, s.Settings, tt.want)
		}
	}

	empty := mustLoad(t, map[string]string{"empty.yaml": "", "comments.yaml": "# nothing yet\n", "doc.yaml": "---\n"})
	if !empty.IsEmpty() || empty.Settings.MaxDeletions != 10 {
		t.Errorf("empty source: IsEmpty()=%v Settings=%+v", empty.IsEmpty(), empty.Settings)
	}
}

// TestGlobExpansion: members follow the patterns in order; a glob adds the
// declared devices it matches in name order; duplicates are dropped.
func TestGlobExpansion(t *testing.T) {
	s := mustLoad(t, map[string]string{"s.yaml": `devices:
  - {name: b-2}
  - {name: a-1}
  - {name: b-10}
  - {name: b-1}
  - {name: hq}
tunnels:
  - {topology: hubAndSpoke, hub: hq, spokes: [b-2, "b-*", "a-?", a-1]}
  - {topology: fullMesh, devices: ["*"]}
  - {topology: fullMesh, devices: ["b-[12]", "[ab]-1*"]}
`})
	want := [][]string{
		{"b-2", "b-1", "b-10", "a-1"},
		{"a-1", "b-1", "b-10", "b-2", "hq"},
		{"b-1", "b-2", "a-1", "b-10"},
	}
	for i, g := range s.Tunnels {
		if !slices.Equal(g.Members, want[i]) {
			t.Errorf("Tunnels[%d].Members = %v, want %v", i, g.Members, want[i])
		}
	}
	if got := s.Tunnels[0].Label(); got != "hubAndSpoke group at s.yaml:8:5" {
		t.Errorf("Label() of an unnamed group = %q", got)
	}
}

// TestLoadFiles: which files are read, and in which order they merge.
func TestLoadFiles(t *testing.T) {
	fsys := mapFS(map[string]string{
		".github/workflows/ci.yaml": "on: [push]\njobs: {}\n",
		".hidden.yaml":              "not: [valid\n",
		"sub/.git/config.yml":       "also: broken: here\n",
		"README.md":                 "# not YAML\n",
		"data.json":                 "{}",
		"b.yaml":                    "devices: [{name: b}]\n",
		"a.yaml":                    "devices: [{name: a}, {name: dup}]\n",
		"a/z.yaml":                  "devices: [{name: z}, {name: dup}]\n",
		"a-b.yml":                   "devices: [{name: ab}]\n",
		"sub/deep/x.yml":            "devices: [{name: x}]\n",
	})
	_, err := spec.Load(fsys, ".")
	// Lexical path order: a-b.yml, a.yaml, a/z.yaml, b.yaml, sub/deep/x.yml
	// (fs.WalkDir alone would read a/z.yaml before a.yaml).
	checkProblems(t, err, []string{`a/z.yaml:1:29: device "dup" is declared twice: here and at a.yaml:1:29`})

	fsys["a/z.yaml"].Data = []byte("devices: [{name: z}]\n")
	s, err := spec.Load(fsys, ".")
	if err != nil {
		t.Fatalf("Load() error:\n%v", err)
	}
	if diff := cmp.Diff([]string{"a-b.yml", "a.yaml", "a/z.yaml", "b.yaml", "sub/deep/x.yml"}, s.Files); diff != "" {
		t.Errorf("Files (-want +got):\n%s", diff)
	}
	var names []string
	for _, d := range s.Devices {
		names = append(names, d.Name)
	}
	if diff := cmp.Diff([]string{"ab", "a", "dup", "z", "b", "x"}, names); diff != "" {
		t.Errorf("device order (-want +got):\n%s", diff)
	}

	// A subdirectory as the source; a hidden one too, when named.
	fsys[".config/net.yaml"] = &fstest.MapFile{Data: []byte("devices: [{name: c}]\n")}
	for dir, want := range map[string][]string{"sub": {"sub/deep/x.yml"}, "sub/deep": {"sub/deep/x.yml"}, ".config": {".config/net.yaml"}, "": {"a-b.yml", "a.yaml", "a/z.yaml", "b.yaml", "sub/deep/x.yml"}} {
		s, err := spec.Load(fsys, dir)
		if err != nil {
			t.Errorf("Load(%q) error:\n%v", dir, err)
			continue
		}
		if diff := cmp.Diff(want, s.Files); diff != "" {
			t.Errorf("Load(%q) Files (-want +got):\n%s", dir, diff)
		}
	}
	if _, err := spec.Load(fsys, "missing"); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf(`Load("missing") error = %v, want one naming the directory`, err)
	}
}

// TestLoadAnchors: anchors, aliases and merge keys work, and a problem
// inside an anchor is reported once, where the anchor is.
func TestLoadAnchors(t *testing.T) {
	s := mustLoad(t, map[string]string{"s.yaml": `pathLabels:
  - &label {name: mpls, description: shared}
  - {<<: *label, name: inet}
devices:
  - &dev
    name: a
    state: running
    interfaces: &wans
      - {name: eth0, pathLabels: [mpls]}
      - {name: eth1, pathLabels: [inet]}
  - <<: *dev
    name: b
  - {name: c, interfaces: *wans}
  - {<<: [*dev], name: d, state: stopped}
`})
	if d := deref(s.Label("inet").Description); d != "shared" {
		t.Errorf("inet description = %q, want the merged %q", d, "shared")
	}
	for name, state := range map[string]spec.RunState{"a": spec.Running, "b": spec.Running, "c": spec.StateUnmanaged, "d": spec.Stopped} {
		d := s.Device(name)
		if d.State != state || len(d.Interfaces) != 2 || d.Interfaces[1].Ref != "eth1" || d.Interfaces[1].PathLabels[0] != "inet" {
			t.Errorf("device %s = %+v, want state %q and the shared interfaces", name, *d, state)
		}
	}
	if got := s.Device("b").Pos; got != (spec.Pos{File: "s.yaml", Line: 11, Col: 5}) {
		t.Errorf("b.Pos = %v, want s.yaml:11:5", got)
	}

	_, err := loadFiles(t, map[string]string{"s.yaml": `devices:
  - &dev {name: a, stat: running}
  - {<<: *dev, name: b}
  - {<<: [*dev], name: c}
  - {name: d, interfaces: &ifs [{name: eth0, labels: [x]}]}
  - {name: e, interfaces: *ifs}
  - {name: f, interfaces: *nowhere}
`})
	checkProblems(t, err, []string{"s.yaml:7:27: alias *nowhere refers to no anchor &nowhere declared before it"})
	_, err = loadFiles(t, map[string]string{"s.yaml": `devices:
  - &dev {name: a, stat: running}
  - {<<: *dev, name: b}
  - {<<: [*dev], name: c}
  - {name: d, interfaces: &ifs [{name: eth0, labels: [x]}]}
  - {name: e, interfaces: *ifs}
`})
	checkProblems(t, err, []string{
		`s.yaml:2:20: unknown key "stat" (did you mean "state"?)`,
		`s.yaml:5:46: unknown key "labels"`,
	})
}

// TestParse reads one document as a whole source.
func TestParse(t *testing.T) {
	s, err := spec.Parse("one.yaml", strings.NewReader(labels+"devices: [{name: hq, interfaces: [{name: eth0, pathLabels: [mpls]}]}]\n"))
	if err != nil {
		t.Fatalf("Parse() error:\n%v", err)
	}
	if len(s.PathLabels) != 3 || len(s.Devices) != 1 || !slices.Equal(s.Files, []string{"one.yaml"}) {
		t.Errorf("Parse() = %d labels, %d devices, files %v", len(s.PathLabels), len(s.Devices), s.Files)
	}
	_, err = spec.Parse("one.yaml", strings.NewReader("devices: [{name: hq}, {name: hq}]\n"))
	checkProblems(t, err, []string{`one.yaml:1:30: device "hq" is declared twice: here and at one.yaml:1:18`})

	_, err = spec.Parse("one.yaml", iotest.ErrReader(errors.New("disk on fire")))
	if err == nil || !strings.Contains(err.Error(), "one.yaml") || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("Parse(failing reader) error = %v, want one naming the file and the cause", err)
	}
}
