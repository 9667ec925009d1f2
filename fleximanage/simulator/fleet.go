package simulator

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/flexiwan-gitops/reconciler/internal/yamlcheck"
	"go.yaml.in/yaml/v3"
)

// Fleet is the seed of a simulator: organizations with their path labels,
// devices and existing tunnels, plus the simulator's own settings. It is
// read from YAML with LoadFleet; see examples/lab/fleet.yaml.
type Fleet struct {
	// FlexiManageVersion is what GET /version answers. Default 6.3.37.
	FlexiManageVersion string `yaml:"flexiManageVersion"`
	// LatestDeviceVersion is the flexiEdge version an upgrade installs.
	// Default: FlexiManageVersion.
	LatestDeviceVersion string `yaml:"latestDeviceVersion"`
	// JobLatency is how long a device takes to run one job.
	JobLatency Duration `yaml:"jobLatency"`
	// RateLimit is flexiManage's per-address request limit; 0 turns it off.
	RateLimit *RateLimitSpec `yaml:"rateLimit"`
	// Faults to inject (see Faults).
	Faults        *FaultSpec `yaml:"faults"`
	Organizations []FleetOrg `yaml:"organizations"`
}

// RateLimitSpec is flexiManage's fixed-window rate limit.
type RateLimitSpec struct {
	Max        int      `yaml:"max"`
	Window     Duration `yaml:"window"`
	RetryAfter *int     `yaml:"retryAfter"` // seconds in Retry-After; flexiManage sends 60
}

// FaultSpec is the YAML form of Faults.
type FaultSpec struct {
	Seed          int64      `yaml:"seed"`
	ErrorRate     float64    `yaml:"errorRate"`
	ErrorStatuses []int      `yaml:"errorStatuses"`
	Latency       Duration   `yaml:"latency"`
	FailJobs      []JobFault `yaml:"failJobs"`
	Burst429      *BurstSpec `yaml:"burst429"`
}

// BurstSpec answers Length requests with 429 after every Every requests.
type BurstSpec struct {
	Every  int `yaml:"every"`
	Length int `yaml:"length"`
}

// FleetOrg is an organization of the fleet.
type FleetOrg struct {
	ID               string        `yaml:"id"`
	Name             string        `yaml:"name"`
	Description      string        `yaml:"description"`
	Account          string        `yaml:"account"`
	Group            string        `yaml:"group"`
	EncryptionMethod string        `yaml:"encryptionMethod"`
	VxlanPort        string        `yaml:"vxlanPort"`
	TunnelRange      string        `yaml:"tunnelRange"`
	PathLabels       []FleetLabel  `yaml:"pathLabels"`
	Devices          []FleetDevice `yaml:"devices"`
	Tunnels          []FleetTunnel `yaml:"tunnels"`
}

// FleetLabel is a path label.
type FleetLabel struct {
	ID          string `yaml:"id"`
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	Color       string `yaml:"color"`
	Type        string `yaml:"type"` // Tunnel | DIA; default DIA, like flexiManage
}

// FleetDevice is a registered device.
type FleetDevice struct {
	ID          string           `yaml:"id"`
	Name        string           `yaml:"name"`
	MachineID   string           `yaml:"machineId"`
	Hostname    string           `yaml:"hostname"`
	Description string           `yaml:"description"`
	Site        string           `yaml:"site"`
	Approved    *bool            `yaml:"approved"`  // default true
	Connected   *bool            `yaml:"connected"` // default true
	State       string           `yaml:"state"`     // running (default) | stopped | failed
	Version     string           `yaml:"version"`   // shorthand for agent, router and device
	Versions    *FleetVersions   `yaml:"versions"`
	IKEv2       bool             `yaml:"ikev2"` // has a valid IKEv2 certificate
	BGP         bool             `yaml:"bgp"`   // bgp.enable
	Interfaces  []FleetInterface `yaml:"interfaces"`
	Routes      []FleetRoute     `yaml:"staticRoutes"`
	DHCP        []FleetDHCP      `yaml:"dhcp"`
}

// FleetVersions are a device's software versions.
type FleetVersions struct {
	Agent  string `yaml:"agent"`
	Router string `yaml:"router"`
	Device string `yaml:"device"`
	VPP    string `yaml:"vpp"`
	FRR    string `yaml:"frr"`
}

// FleetInterface is a device interface.
type FleetInterface struct {
	ID         string   `yaml:"id"`
	Name       string   `yaml:"name"`
	DevID      string   `yaml:"devId"`
	Type       string   `yaml:"type"`     // WAN | LAN | NONE
	Assigned   *bool    `yaml:"assigned"` // default true for WAN and LAN
	DHCP       bool     `yaml:"dhcp"`     // DHCP client
	IPv4       string   `yaml:"ipv4"`     // address/prefix; empty = no address
	Gateway    string   `yaml:"gateway"`
	PublicIP   string   `yaml:"publicIP"`
	PublicPort string   `yaml:"publicPort"`
	Metric     *int     `yaml:"metric"`
	PathLabels []string `yaml:"pathLabels"`
}

// FleetRoute is a static route; Interface is an interface name or devId.
type FleetRoute struct {
	Destination string `yaml:"destination"`
	Gateway     string `yaml:"gateway"`
	Interface   string `yaml:"interface"`
	Metric      *int   `yaml:"metric"`
}

// FleetDHCP is a DHCP server on a LAN interface (name or devId).
type FleetDHCP struct {
	Interface  string   `yaml:"interface"`
	RangeStart string   `yaml:"rangeStart"`
	RangeEnd   string   `yaml:"rangeEnd"`
	DNS        []string `yaml:"dns"`
}

// FleetTunnel is an existing tunnel between two "device/interface"
// endpoints. Both ends are configured unless said otherwise.
type FleetTunnel struct {
	A         string `yaml:"a"`
	B         string `yaml:"b"`
	PathLabel string `yaml:"pathLabel"`
	AConf     *bool  `yaml:"aConf"`
	BConf     *bool  `yaml:"bConf"`
}

// Duration is a YAML duration such as 300ms or 5m.
type Duration time.Duration

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration such as 300ms", n.Line)
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: %q is not a duration (such as 300ms or 5m)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// LoadFleetFile reads a fleet file.
func LoadFleetFile(path string) (*Fleet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return LoadFleet(path, f)
}

// LoadFleet reads a fleet from r (named name in messages) and checks it
// whole: every problem is reported as name:line:col: message.
func LoadFleet(name string, r io.Reader) (*Fleet, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var fl Fleet
	root, err := yamlcheck.Decode(name, data, &fl)
	var errs yamlcheck.Errors
	if err != nil && (root == nil || !errors.As(err, &errs)) {
		return nil, err // not YAML: nothing more to check
	}
	// An unknown key leaves every value decoded, so the checks below still
	// run and every problem of the file is reported at once. A value of the
	// wrong type is left zero, and checking the rest would report problems
	// that are not there.
	for _, e := range errs {
		if !strings.HasPrefix(e.Msg, "unknown key ") {
			return nil, err
		}
	}
	errs = append(errs, fl.check(name, root)...)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return &fl, nil
}

var (
	objectIDRE  = regexp.MustCompile(`^[0-9a-f]{24}$`)
	labelNameRE = regexp.MustCompile(`^[A-Za-z0-9-_ .:]{3,30}$`)
	colorRE     = regexp.MustCompile(`^#[0-9A-Fa-f]{6}$`)
	labelDescRE = regexp.MustCompile(`^[A-Za-z0-9-_ .!#%():@\[\]]{1,50}$`)
	deviceNmRE  = regexp.MustCompile(`^[A-Za-z0-9-_ .!#%():@\[\]]{0,50}$`)
)

func (fl *Fleet) check(file string, root *yaml.Node) yamlcheck.Errors {
	var errs yamlcheck.Errors
	at := func(path []any, format string, args ...any) {
		errs = append(errs, yamlcheck.At(file, yamlcheck.Find(root, path...), format, args...))
	}
	if fl.RateLimit != nil && fl.RateLimit.Max < 0 {
		at([]any{"rateLimit", "max"}, "max must be 0 (off) or more")
	}
	if fs := fl.Faults; fs != nil {
		if fs.ErrorRate < 0 || fs.ErrorRate > 1 {
			at([]any{"faults", "errorRate"}, "errorRate must be between 0 and 1")
		}
		for i, st := range fs.ErrorStatuses {
			if st != 429 && (st < 500 || st > 599) {
				at([]any{"faults", "errorStatuses", i}, "fault status %d: want 429 or a 5xx", st)
			}
		}
	}
	orgNames := map[string]bool{}
	for oi, o := range fl.Organizations {
		op := []any{"organizations", oi}
		if o.Name == "" {
			at(op, "organization has no name")
		} else if orgNames[o.Name] {
			at(append(op, "name"), "organization %q is defined twice", o.Name)
		}
		orgNames[o.Name] = true
		if o.ID != "" && !objectIDRE.MatchString(o.ID) {
			at(append(op, "id"), "id %q is not 24 lower-case hex digits", o.ID)
		}
		switch o.EncryptionMethod {
		case "", "none", "psk", "ikev2":
		default:
			at(append(op, "encryptionMethod"), "encryptionMethod %q: want none, psk or ikev2", o.EncryptionMethod)
		}
		if o.TunnelRange != "" {
			if a, err := netip.ParseAddr(o.TunnelRange); err != nil || !a.Is4() {
				at(append(op, "tunnelRange"), "tunnelRange %q is not an IPv4 address", o.TunnelRange)
			}
		}
		labels := map[string]bool{}
		for li, l := range o.PathLabels {
			lp := append(append([]any{}, op...), "pathLabels", li)
			if !labelNameRE.MatchString(l.Name) {
				at(append(lp, "name"), "path label name %q: 3 to 30 of a-z 0-9 - _ . : and space", l.Name)
			}
			if labels[l.Name] {
				at(append(lp, "name"), "path label %q is defined twice", l.Name)
			}
			labels[l.Name] = true
			if l.Color != "" && !colorRE.MatchString(l.Color) {
				at(append(lp, "color"), "color %q: want #rrggbb", l.Color)
			}
			if l.Type != "" && l.Type != "DIA" && l.Type != "Tunnel" {
				at(append(lp, "type"), "type %q: want Tunnel or DIA", l.Type)
			}
		}
		devs := map[string]map[string]FleetInterface{}
		for di, d := range o.Devices {
			dp := append(append([]any{}, op...), "devices", di)
			if d.Name == "" {
				at(dp, "device has no name")
			} else if !deviceNmRE.MatchString(d.Name) {
				at(append(dp, "name"), "device name %q has characters flexiManage refuses", d.Name)
			}
			if _, dup := devs[d.Name]; dup {
				at(append(dp, "name"), "device %q is defined twice in organization %q", d.Name, o.Name)
			}
			switch d.State {
			case "", "running", "stopped", "failed":
			default:
				at(append(dp, "state"), "state %q: want running, stopped or failed", d.State)
			}
			ifcs := map[string]FleetInterface{}
			for ii, f := range d.Interfaces {
				ip := append(append([]any{}, dp...), "interfaces", ii)
				if f.Name == "" {
					at(ip, "interface has no name")
				}
				if _, dup := ifcs[f.Name]; dup {
					at(append(ip, "name"), "interface %q is defined twice on device %q", f.Name, d.Name)
				}
				ifcs[f.Name] = f
				if f.DevID != "" {
					ifcs[f.DevID] = f
				}
				switch strings.ToUpper(f.Type) {
				case "WAN", "LAN", "NONE", "TRUNK":
				default:
					at(append(ip, "type"), "interface type %q: want WAN, LAN or NONE", f.Type)
				}
				if f.IPv4 != "" {
					if p, err := netip.ParsePrefix(f.IPv4); err != nil || !p.Addr().Is4() {
						at(append(ip, "ipv4"), "ipv4 %q: want address/prefix, e.g. 192.0.2.10/24", f.IPv4)
					}
				}
				if f.Gateway != "" {
					if a, err := netip.ParseAddr(f.Gateway); err != nil || !a.Is4() {
						at(append(ip, "gateway"), "gateway %q is not an IPv4 address", f.Gateway)
					}
				}
				for pi, ln := range f.PathLabels {
					if !labels[ln] {
						at(append(ip, "pathLabels", pi), "path label %q is not defined in organization %q", ln, o.Name)
					}
				}
				if len(f.PathLabels) > 0 && !strings.EqualFold(f.Type, "WAN") {
					at(append(ip, "pathLabels"), "path labels are allowed on WAN interfaces only")
				}
			}
			for ri, r := range d.Routes {
				rp := append(append([]any{}, dp...), "staticRoutes", ri)
				if _, err := netip.ParsePrefix(r.Destination); err != nil {
					at(append(rp, "destination"), "destination %q: want a.b.c.d/len", r.Destination)
				}
				if _, err := netip.ParseAddr(r.Gateway); err != nil {
					at(append(rp, "gateway"), "gateway %q is not an IPv4 address", r.Gateway)
				}
				if r.Interface != "" {
					if _, ok := ifcs[r.Interface]; !ok {
						at(append(rp, "interface"), "interface %q is not on device %q", r.Interface, d.Name)
					}
				}
			}
			for hi, h := range d.DHCP {
				hp := append(append([]any{}, dp...), "dhcp", hi)
				if _, ok := ifcs[h.Interface]; !ok {
					at(append(hp, "interface"), "interface %q is not on device %q", h.Interface, d.Name)
				}
				for _, a := range []string{h.RangeStart, h.RangeEnd} {
					if _, err := netip.ParseAddr(a); err != nil {
						at(hp, "DHCP range address %q is not an IPv4 address", a)
					}
				}
			}
			devs[d.Name] = ifcs
		}
		for ti, t := range o.Tunnels {
			tp := append(append([]any{}, op...), "tunnels", ti)
			for _, side := range []struct{ key, v string }{{"a", t.A}, {"b", t.B}} {
				dn, in, ok := strings.Cut(side.v, "/")
				if !ok {
					at(append(tp, side.key), "tunnel end %q: want device/interface", side.v)
					continue
				}
				ifcs, ok := devs[dn]
				if !ok {
					at(append(tp, side.key), "device %q is not defined in organization %q", dn, o.Name)
					continue
				}
				f, ok := ifcs[in]
				if !ok {
					at(append(tp, side.key), "interface %q is not on device %q", in, dn)
					continue
				}
				if !strings.EqualFold(f.Type, "WAN") {
					at(append(tp, side.key), "interface %q of device %q is not a WAN", in, dn)
				}
			}
			if t.PathLabel != "" && !labels[t.PathLabel] {
				at(append(tp, "pathLabel"), "path label %q is not defined in organization %q", t.PathLabel, o.Name)
			}
		}
	}
	return errs
}
