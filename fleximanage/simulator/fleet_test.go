package simulator

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flexiwan-gitops/reconciler/examples"
)

// errorLines splits a LoadFleet error into its lines (one problem each).
func errorLines(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

// checkFleetErrors asserts that err lists exactly the problems in want, in
// order: each got line must start with its want entry
// ("file:line:col: message prefix").
func checkFleetErrors(t *testing.T, err error, want []string) {
	t.Helper()
	got := errorLines(err)
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = strings.HasPrefix(got[i], want[i])
	}
	if !ok {
		t.Errorf("LoadFleet() problems:\n  %s\nwant lines starting with:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestLoadFleetRejects(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "syntax error",
			yaml: `organizations:
  - name: lab
    devices:
      - name: hq
      - name: @x
`,
			want: []string{"bad.yaml:5: found character that cannot start any token"},
		},
		{
			name: "unknown keys at the top and inside an interface",
			yaml: `flexiManageVersion: "6.3.37"
jobLatncy: 1s
organizations:
  - name: lab
    devices:
      - name: hq
        interfaces:
          - name: eth0
            type: WAN
            ipv4: 198.51.100.2/30
            gatway: 198.51.100.1
`,
			want: []string{
				`bad.yaml:2:1: unknown key "jobLatncy" (did you mean "jobLatency"?)`,
				`bad.yaml:11:13: unknown key "gatway" (did you mean "gateway"?)`,
			},
		},
		{
			name: "unknown key in a flow mapping of a tunnel",
			yaml: `organizations:
  - name: lab
    tunnels:
      - {a: hq/eth0, b: br/eth0, label: mpls}
`,
			want: []string{
				`bad.yaml:4:13: device "hq" is not defined in organization "lab"`,
				`bad.yaml:4:25: device "br" is not defined in organization "lab"`,
				`bad.yaml:4:34: unknown key "label"`,
			},
		},
		{
			name: "wrong types",
			yaml: `organizations:
  - name: lab
    devices:
      - name: hq
        approved: maybe
        interfaces:
          - {name: eth0, type: WAN, metric: high}
          - {name: eth1, type: LAN, pathLabels: mpls}
`,
			want: []string{
				"bad.yaml:5:19: cannot use !!str `maybe` as a boolean (true or false)",
				"bad.yaml:7:45: cannot use !!str `high` as an integer",
				"bad.yaml:8:49: cannot use !!str `mpls` as a list",
			},
		},
		{
			name: "a value of the wrong type adds no follow-on problems",
			yaml: `organizations:
  - name: lab
    devices:
      - name: hq
        interfaces:
          - {name: eth0, type: [WAN]}
      - name: br
        approved: [yes]
    tunnels:
      - {a: hq/eth0, b: nowhere/eth0}
`,
			want: []string{
				"bad.yaml:6:32: cannot use !!seq as a string",
				"bad.yaml:8:19: cannot use !!seq as a boolean (true or false)",
			},
		},
		{
			name: "bad duration",
			yaml: `jobLatency: 5 parsecs
`,
			want: []string{`bad.yaml:1:1: "5 parsecs" is not a duration`},
		},
		{
			name: "duplicate device",
			yaml: `organizations:
  - name: lab
    devices:
      - name: hq
      - name: br
      - name: hq
`,
			want: []string{`bad.yaml:6:15: device "hq" is defined twice in organization "lab"`},
		},
		{
			name: "label not defined",
			yaml: `organizations:
  - name: lab
    pathLabels:
      - {name: mpls, type: Tunnel}
    devices:
      - name: hq
        interfaces:
          - {name: eth0, type: WAN, ipv4: 192.0.2.2/24, pathLabels: [mpls, inet]}
          - {name: eth1, type: WAN, ipv4: 198.51.100.2/24}
    tunnels:
      - {a: hq/eth0, b: hq/eth1, pathLabel: lte}
`,
			want: []string{
				`bad.yaml:8:76: path label "inet" is not defined in organization "lab"`,
				`bad.yaml:11:45: path label "lte" is not defined in organization "lab"`,
			},
		},
		{
			name: "tunnel ends naming unknown devices and interfaces",
			yaml: `organizations:
  - name: lab
    devices:
      - name: hq
        interfaces:
          - {name: eth0, type: WAN, ipv4: 192.0.2.2/24}
          - {name: eth1, type: LAN, ipv4: 10.0.0.1/24}
    tunnels:
      - {a: hq/eth0, b: br1/eth0}
      - {a: hq/eth9, b: hq/eth1}
      - {a: hq, b: hq/eth0}
`,
			want: []string{
				`bad.yaml:9:25: device "br1" is not defined in organization "lab"`,
				`bad.yaml:10:13: interface "eth9" is not on device "hq"`,
				`bad.yaml:10:25: interface "eth1" of device "hq" is not a WAN`,
				`bad.yaml:11:13: tunnel end "hq": want device/interface`,
			},
		},
		{
			name: "bad CIDRs and addresses",
			yaml: `organizations:
  - name: lab
    devices:
      - name: hq
        interfaces:
          - {name: eth0, type: WAN, ipv4: 198.51.100.2/33, gateway: 198.51.100.300}
          - {name: eth1, type: LAN, ipv4: 10.0.0.1}
        staticRoutes:
          - {destination: 10.9.0.0, gateway: 10.0.0.254}
`,
			want: []string{
				`bad.yaml:6:43: ipv4 "198.51.100.2/33": want address/prefix`,
				`bad.yaml:6:69: gateway "198.51.100.300" is not an IPv4 address`,
				`bad.yaml:7:43: ipv4 "10.0.0.1": want address/prefix`,
				`bad.yaml:9:27: destination "10.9.0.0": want a.b.c.d/len`,
			},
		},
		{
			name: "bad colours",
			yaml: `organizations:
  - name: lab
    pathLabels:
      - {name: mpls, type: Tunnel, color: blue}
      - {name: inet, type: Tunnel, color: "#12345"}
      - {name: lte, color: "#00ff00"}
`,
			want: []string{
				`bad.yaml:4:43: color "blue": want #rrggbb`,
				`bad.yaml:5:43: color "#12345": want #rrggbb`,
			},
		},
		{
			name: "every problem of the file at once",
			yaml: `organizations:
  - name: lab
    colour: red
    pathLabels:
      - {name: mpls, type: Tunnel, color: blue}
    devices:
      - name: hq
        interfaces:
          - {name: eth0, type: WAN, ipv4: 198.51.100.2/33, pathLabels: [inet]}
          - {name: eth1, type: LAN, ipv4: 10.0.0.1/24}
      - name: hq
        interfaces:
          - {name: eth0, type: WAN, ipv4: 10.0.0.300/24}
    tunnels:
      - {a: hq/eth0, b: br1/eth0, pathLabel: mpls}
      - {a: hq/eth9, b: hq/eth0}
`,
			want: []string{
				`bad.yaml:3:5: unknown key "colour"`,
				`bad.yaml:5:43: color "blue": want #rrggbb`,
				`bad.yaml:9:43: ipv4 "198.51.100.2/33": want address/prefix`,
				`bad.yaml:9:73: path label "inet" is not defined in organization "lab"`,
				`bad.yaml:11:15: device "hq" is defined twice in organization "lab"`,
				`bad.yaml:13:43: ipv4 "10.0.0.300/24": want address/prefix`,
				`bad.yaml:15:25: device "br1" is not defined in organization "lab"`,
				`bad.yaml:16:13: interface "eth9" is not on device "hq"`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fl, err := LoadFleet("bad.yaml", strings.NewReader(tc.yaml))
			if err == nil {
				t.Fatalf("LoadFleet() = %+v, nil; want an error", fl)
			}
			if fl != nil {
				t.Errorf("LoadFleet() returned a fleet with its error; the simulator must not start from it")
			}
			checkFleetErrors(t, err, tc.want)
		})
	}
}

// TestLoadFleetParserErrorLine: a YAML parser error (as opposed to a
// scanner error) is reported at the line where the broken construct
// starts. (go-yaml itself reports the line before it.)
func TestLoadFleetParserErrorLine(t *testing.T) {
	_, err := LoadFleet("bad.yaml", strings.NewReader("organizations:\n  - name: lab\n    devices:\n      - {name: hq\n"))
	checkFleetErrors(t, err, []string{"bad.yaml:4: did not find expected ',' or '}'"})
}

func TestLoadFleetFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fleet.yaml")
	if err := os.WriteFile(path, []byte("organizations:\n  - name: lab\n    devcies: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fl, err := LoadFleetFile(path)
	if fl != nil || err == nil {
		t.Fatalf("LoadFleetFile() = %v, %v; want an error", fl, err)
	}
	checkFleetErrors(t, err, []string{path + `:3:5: unknown key "devcies" (did you mean "devices"?)`})

	if _, err := LoadFleetFile(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("LoadFleetFile(missing) error = %v, want one naming the file", err)
	}
}

// TestLoadFleetLab keeps the rejection tests honest: the example fleet
// loads and starts.
func TestLoadFleetLab(t *testing.T) {
	fl, err := LoadFleet("lab/fleet.yaml", strings.NewReader(string(examples.LabFleet)))
	if err != nil {
		t.Fatalf("LoadFleet(lab) = %v", err)
	}
	s, err := New(fl, Options{Keys: []Key{{Token: "t"}}, Instant: true})
	if err != nil {
		t.Fatalf("New(lab) = %v", err)
	}
	defer s.Close()
	if got := len(s.Orgs()); got != 1 {
		t.Errorf("lab fleet has %d organizations, want 1", got)
	}
}

// FuzzLoadFleet: no input makes the loader panic, and a fleet it accepts
// seeds a simulator without panicking.
func FuzzLoadFleet(f *testing.F) {
	f.Add(string(examples.LabFleet))
	f.Fuzz(func(t *testing.T, doc string) {
		fl, err := LoadFleet("fuzz.yaml", strings.NewReader(doc))
		if err != nil {
			if fl != nil {
				t.Fatalf("LoadFleet() returned a fleet with error %v", err)
			}
			for _, line := range errorLines(err) {
				if !strings.HasPrefix(line, "fuzz.yaml") {
					t.Fatalf("LoadFleet() problem %q does not start with the file name", line)
				}
			}
			return
		}
		s, err := New(fl, Options{Keys: []Key{{Token: "t"}}, Instant: true, NoRateLimit: true})
		if err != nil {
			return // e.g. an organization id used twice: refused, not a crash
		}
		s.Close()
	})
}
