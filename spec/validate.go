package spec

import (
	"net/netip"
	"path"
	"regexp"
	"strings"

	"github.com/flexiwan-gitops/reconciler/internal/yamlcheck"
	"go.yaml.in/yaml/v3"
)

// flexiManage's own rules for names (fleximanage/API.md §4.1, §7). They are
// JavaScript's /^[a-z...]$/i there; here the letters are spelled out, as
// Go's (?i) would also let the Kelvin sign and the long s through.
var (
	labelNameRE = regexp.MustCompile(`^[A-Za-z0-9_ .:-]{3,30}$`)
	labelDescRE = regexp.MustCompile(`^[A-Za-z0-9_ .!#%():@\[\]-]{0,50}$`)
	colorRE     = regexp.MustCompile(`^#[0-9A-Fa-f]{6}$`)
	deviceRE    = regexp.MustCompile(`^[A-Za-z0-9_ .!#%():@\[\]-]{1,50}$`)
	versionRE   = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`)
	machineRE   = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)
)

// builder accumulates the merged spec and every problem found.
type builder struct {
	spec Spec
	errs yamlcheck.Errors

	labelAt    map[string]Pos
	deviceAt   map[string]Pos
	machineAt  map[string]Pos
	groupAt    map[string]Pos
	settingsAt *Pos

	// Computed once, so that a source with many names and many mistakes
	// stays linear rather than quadratic.
	labelNames  []string             // sorted, after the labels pass
	labelType   map[string]LabelType // first declaration of each name
	deviceNames []string             // sorted, after the devices pass
	patterns    map[string]matched   // device pattern → expansion
	suggestWork int                  // names compared for "did you mean"

	// bad holds the positions of values the decoder could not use (wrong
	// type): they are left zero, and checking them again would report
	// problems that are not there.
	bad map[Pos]bool
}

// matched is the expansion of one device pattern.
type matched struct {
	names []string
	err   string // why it expands to nothing, "" when it matched
}

// maxSuggestWork bounds the names compared for "did you mean" hints over a
// whole source; past it, messages go without hints.
const maxSuggestWork = 200_000

// suggest is closest within the builder's budget.
func (b *builder) suggest(s string, names []string) string {
	if b.suggestWork += len(names); b.suggestWork > maxSuggestWork {
		return ""
	}
	return closest(s, names)
}

func (b *builder) errAt(p Pos, format string, args ...any) {
	if b.bad[p] {
		return
	}
	b.errs = append(b.errs, yamlcheck.Error{File: p.File, Line: p.Line, Col: p.Col, Msg: sprintf(format, args...)})
}

func posOf(file string, root *yaml.Node, keyNode bool, p ...any) Pos {
	var n *yaml.Node
	if keyNode {
		n = yamlcheck.FindKey(root, p...)
	} else {
		n = yamlcheck.Find(root, p...)
	}
	if n == nil {
		return Pos{File: file}
	}
	return Pos{File: file, Line: n.Line, Col: n.Column}
}

func build(files []parsedFile, names []string, earlier yamlcheck.Errors) (*Spec, error) {
	b := &builder{
		errs:    earlier,
		labelAt: map[string]Pos{}, deviceAt: map[string]Pos{}, machineAt: map[string]Pos{}, groupAt: map[string]Pos{},
		labelType: map[string]LabelType{}, patterns: map[string]matched{}, bad: map[Pos]bool{},
	}
	for _, e := range earlier {
		if e.Line > 0 {
			b.bad[Pos{File: e.File, Line: e.Line, Col: e.Col}] = true
		}
	}
	b.spec.Files = names
	b.spec.Settings.MaxDeletions = DefaultMaxDeletions
	// Labels and devices first: groups and interfaces refer to them.
	for _, f := range files {
		b.labels(f)
	}
	b.labelNames = keys(b.labelAt)
	for _, l := range b.spec.PathLabels {
		if _, dup := b.labelType[l.Name]; !dup {
			b.labelType[l.Name] = l.Type
		}
	}
	for _, f := range files {
		b.devices(f)
	}
	b.deviceNames = keys(b.deviceAt)
	for _, f := range files {
		b.groups(f)
		b.settings(f)
	}
	if len(b.errs) > 0 {
		return nil, b.errs.Err()
	}
	return &b.spec, nil
}

func (b *builder) labels(f parsedFile) {
	for i, yl := range f.doc.PathLabels {
		at := func(k string) Pos { return posOf(f.name, f.root, false, "pathLabels", i, k) }
		l := PathLabel{Name: yl.Name, Type: LabelType(yl.Type), Color: yl.Color, Description: yl.Description, Pos: posOf(f.name, f.root, false, "pathLabels", i)}
		switch {
		case yl.Name == "" && !b.bad[at("name")]:
			b.errAt(l.Pos, "path label has no name")
		case !labelNameRE.MatchString(yl.Name):
			b.errAt(at("name"), "path label name %q: use 3 to 30 of a-z, 0-9, '-', '_', '.', ':' and space", yl.Name)
		}
		if prev, dup := b.labelAt[yl.Name]; dup && yl.Name != "" {
			b.errAt(at("name"), "path label %q is declared twice: here and at %s", yl.Name, prev)
		} else if yl.Name != "" {
			b.labelAt[yl.Name] = at("name")
		}
		switch l.Type {
		case "":
			l.Type = LabelTunnel
		case LabelTunnel, LabelDIA:
		default:
			b.errAt(at("type"), "path label type %q: want Tunnel or DIA", yl.Type)
		}
		if yl.Color != "" && !colorRE.MatchString(yl.Color) {
			b.errAt(at("color"), "colour %q: want #rrggbb", yl.Color)
		}
		l.Color = strings.ToLower(l.Color)
		if yl.Description != nil && !labelDescRE.MatchString(*yl.Description) {
			b.errAt(at("description"), "description %q: at most 50 of a-z, 0-9, space and - _ . ! # %% ( ) : @ [ ]", *yl.Description)
		}
		b.spec.PathLabels = append(b.spec.PathLabels, l)
	}
}

func (b *builder) devices(f parsedFile) {
	for i, yd := range f.doc.Devices {
		at := func(p ...any) Pos { return posOf(f.name, f.root, false, append([]any{"devices", i}, p...)...) }
		d := Device{Name: yd.Name, MachineID: yd.MachineID, Version: yd.Version, Pos: at()}
		switch {
		case yd.Name == "" && !b.bad[at("name")]:
			b.errAt(d.Pos, "device has no name")
		case !deviceRE.MatchString(yd.Name):
			b.errAt(at("name"), "device name %q has characters flexiManage does not allow", yd.Name)
		}
		if prev, dup := b.deviceAt[yd.Name]; dup && yd.Name != "" {
			b.errAt(at("name"), "device %q is declared twice: here and at %s", yd.Name, prev)
		} else if yd.Name != "" {
			b.deviceAt[yd.Name] = at("name")
		}
		if yd.MachineID != "" {
			if !machineRE.MatchString(yd.MachineID) {
				b.errAt(at("machineId"), "machineId %q is not a machine id", yd.MachineID)
			}
			if prev, dup := b.machineAt[strings.ToUpper(yd.MachineID)]; dup {
				b.errAt(at("machineId"), "machineId %q is declared twice: here and at %s", yd.MachineID, prev)
			} else {
				b.machineAt[strings.ToUpper(yd.MachineID)] = at("machineId")
			}
		}
		switch RunState(yd.State) {
		case StateUnmanaged, Running, Stopped:
			d.State = RunState(yd.State)
		default:
			b.errAt(at("state"), "state %q: want running or stopped", yd.State)
		}
		if yd.Version != "" && !versionRE.MatchString(yd.Version) {
			b.errAt(at("version"), "version %q: want major.minor.patch, e.g. 6.3.37", yd.Version)
		}
		ifNames := map[string]Pos{}
		labelOn := map[string]string{}
		for j, yi := range yd.Interfaces {
			ip := func(p ...any) Pos { return at(append([]any{"interfaces", j}, p...)...) }
			in := Interface{Ref: yi.Name, Pos: ip()}
			if yi.Name == "" {
				if !b.bad[ip("name")] {
					b.errAt(in.Pos, "interface has no name")
				}
			} else if prev, dup := ifNames[yi.Name]; dup {
				b.errAt(ip("name"), "interface %q is declared twice on device %q: here and at %s", yi.Name, yd.Name, prev)
			} else {
				ifNames[yi.Name] = ip("name")
			}
			seen := map[string]bool{}
			for k, ln := range yi.PathLabels {
				lp := ip("pathLabels", k)
				if _, ok := b.labelAt[ln]; !ok {
					b.errAt(lp, "path label %q is not declared%s", ln, b.suggest(ln, b.labelNames))
				}
				if seen[ln] {
					b.errAt(lp, "path label %q is listed twice on interface %q", ln, yi.Name)
				}
				seen[ln] = true
				if other, ok := labelOn[ln]; ok && other != yi.Name {
					b.errAt(lp, "path label %q is on interfaces %q and %q of device %q; flexiManage allows a label on one interface per device", ln, other, yi.Name, yd.Name)
				}
				labelOn[ln] = yi.Name
				in.PathLabels = append(in.PathLabels, ln)
			}
			d.Interfaces = append(d.Interfaces, in)
		}
		if yd.StaticRoutes != nil {
			d.ManageRoutes = true
			seen := map[string]Pos{}
			for j, yr := range *yd.StaticRoutes {
				rp := func(p ...any) Pos { return at(append([]any{"staticRoutes", j}, p...)...) }
				r := Route{Interface: yr.Interface, Pos: rp()}
				dst, err := netip.ParsePrefix(yr.Destination)
				if err != nil || !dst.Addr().Is4() {
					b.errAt(rp("destination"), "destination %q: want an IPv4 prefix such as 10.20.0.0/16", yr.Destination)
				}
				gw, err := netip.ParseAddr(yr.Gateway)
				if err != nil || !gw.Is4() {
					b.errAt(rp("gateway"), "gateway %q: want an IPv4 address", yr.Gateway)
				}
				r.Destination, r.Gateway = dst, gw
				if yr.Metric != nil {
					if *yr.Metric < 0 || *yr.Metric >= 2000000000 {
						b.errAt(rp("metric"), "metric %d: want 0 to 1999999999", *yr.Metric)
					}
					r.Metric = *yr.Metric
				}
				key := yr.Destination + " via " + yr.Gateway
				if prev, dup := seen[key]; dup {
					b.errAt(r.Pos, "static route %s is declared twice on device %q: here and at %s", key, yd.Name, prev)
				}
				seen[key] = r.Pos
				d.Routes = append(d.Routes, r)
			}
		}
		if yd.DHCP != nil {
			d.ManageDHCP = true
			seen := map[string]Pos{}
			for j, yh := range *yd.DHCP {
				hp := func(p ...any) Pos { return at(append([]any{"dhcp", j}, p...)...) }
				h := DHCP{Interface: yh.Interface, Pos: hp()}
				if yh.Interface == "" {
					if !b.bad[hp("interface")] {
						b.errAt(h.Pos, "dhcp entry has no interface")
					}
				} else if prev, dup := seen[yh.Interface]; dup {
					b.errAt(hp("interface"), "dhcp on interface %q is declared twice on device %q: here and at %s", yh.Interface, yd.Name, prev)
				} else {
					seen[yh.Interface] = hp("interface")
				}
				start, err1 := netip.ParseAddr(yh.RangeStart)
				if err1 != nil || !start.Is4() {
					b.errAt(hp("rangeStart"), "rangeStart %q: want an IPv4 address", yh.RangeStart)
				}
				end, err2 := netip.ParseAddr(yh.RangeEnd)
				if err2 != nil || !end.Is4() {
					b.errAt(hp("rangeEnd"), "rangeEnd %q: want an IPv4 address", yh.RangeEnd)
				}
				if err1 == nil && err2 == nil && end.Less(start) {
					b.errAt(hp("rangeEnd"), "rangeEnd %s is before rangeStart %s", end, start)
				}
				h.RangeStart, h.RangeEnd = start, end
				for k, s := range yh.DNS {
					a, err := netip.ParseAddr(s)
					if err != nil || !a.Is4() {
						b.errAt(hp("dns", k), "dns server %q: want an IPv4 address", s)
					}
					h.DNS = append(h.DNS, a)
				}
				d.DHCP = append(d.DHCP, h)
			}
		}
		b.spec.Devices = append(b.spec.Devices, d)
	}
}

func (b *builder) groups(f parsedFile) {
	declared := b.deviceNames
	for i, yt := range f.doc.Tunnels {
		at := func(p ...any) Pos { return posOf(f.name, f.root, false, append([]any{"tunnels", i}, p...)...) }
		g := TunnelGroup{Name: yt.Name, Topology: GroupTopology(yt.Topology), Pos: at()}
		if yt.Name != "" {
			if prev, dup := b.groupAt[yt.Name]; dup {
				b.errAt(at("name"), "tunnel group %q is declared twice: here and at %s", yt.Name, prev)
			} else {
				b.groupAt[yt.Name] = at("name")
			}
		}
		unresolved := false
		expand := func(field string, pats []string) []string {
			var out []string
			seen := map[string]bool{}
			for k, p := range pats {
				pp := at(field, k)
				matched := b.match(p, declared, pp)
				if len(matched) == 0 {
					unresolved = true
				}
				for _, m := range matched {
					if !seen[m] {
						seen[m] = true
						out = append(out, m)
					}
				}
			}
			return out
		}
		switch g.Topology {
		case FullMesh:
			if yt.Hub != "" || len(yt.Spokes) > 0 {
				b.errAt(at(), "a fullMesh group takes devices, not hub and spokes")
			}
			if len(yt.Devices) == 0 && !b.bad[at("devices")] {
				b.errAt(at(), "a fullMesh group needs devices")
			}
			g.Members = expand("devices", yt.Devices)
			if len(yt.Devices) > 0 && len(g.Members) == 1 && !unresolved {
				b.errAt(at("devices"), "a fullMesh group needs at least two devices; %q is alone", g.Members[0])
			}
		case HubAndSpoke:
			if len(yt.Devices) > 0 {
				b.errAt(at("devices"), "a hubAndSpoke group takes hub and spokes, not devices")
			}
			switch {
			case yt.Hub == "" && b.bad[at("hub")]:
			case yt.Hub == "":
				b.errAt(at(), "a hubAndSpoke group needs a hub")
			case strings.ContainsAny(yt.Hub, "*?["):
				b.errAt(at("hub"), "the hub must be one device name, not a pattern")
			case b.deviceAt[yt.Hub] == (Pos{}):
				b.errAt(at("hub"), "hub %q is not a declared device%s", yt.Hub, b.suggest(yt.Hub, declared))
			}
			g.Hub = yt.Hub
			if len(yt.Spokes) == 0 && !b.bad[at("spokes")] {
				b.errAt(at(), "a hubAndSpoke group needs spokes")
			}
			g.Members = expand("spokes", yt.Spokes)
			for k, m := range g.Members {
				if m == yt.Hub && yt.Hub != "" {
					b.errAt(at("spokes"), "hub %q is also listed among its own spokes", yt.Hub)
					g.Members = append(g.Members[:k:k], g.Members[k+1:]...)
					break
				}
			}
		case "":
			if !b.bad[at("topology")] {
				b.errAt(at(), "tunnel group has no topology: want fullMesh or hubAndSpoke")
			}
		default:
			b.errAt(at("topology"), "topology %q: want fullMesh or hubAndSpoke", yt.Topology)
		}
		seen := map[string]bool{}
		for k, ln := range yt.PathLabels {
			lp := at("pathLabels", k)
			if _, ok := b.labelAt[ln]; !ok {
				b.errAt(lp, "path label %q is not declared%s", ln, b.suggest(ln, b.labelNames))
			} else if b.labelType[ln] == LabelDIA {
				b.errAt(lp, "path label %q is a DIA label: flexiManage builds no tunnel on DIA labels", ln)
			}
			if seen[ln] {
				b.errAt(lp, "path label %q is listed twice", ln)
			}
			seen[ln] = true
			g.PathLabels = append(g.PathLabels, ln)
		}
		b.spec.Tunnels = append(b.spec.Tunnels, g)
	}
}

// match expands one device pattern: a declared name, or a glob that must
// match at least one declared name. Matches are in name order.
func (b *builder) match(p string, declared []string, at Pos) []string {
	if !strings.ContainsAny(p, "*?[") {
		if _, ok := b.deviceAt[p]; !ok {
			b.errAt(at, "device %q is not declared%s", p, b.suggest(p, declared))
			return nil
		}
		return []string{p}
	}
	m, ok := b.patterns[p]
	if !ok {
		m = expandGlob(p, declared)
		b.patterns[p] = m
	}
	if m.err != "" {
		b.errAt(at, "%s", m.err)
	}
	return m.names
}

func expandGlob(p string, declared []string) matched {
	if _, err := path.Match(p, ""); err != nil {
		return matched{err: sprintf("pattern %q is malformed: %v", p, err)}
	}
	var m matched
	for _, d := range declared {
		if ok, _ := path.Match(p, d); ok {
			m.names = append(m.names, d)
		}
	}
	if len(m.names) == 0 {
		m.err = sprintf("pattern %q matches no declared device", p)
	}
	return m
}

func (b *builder) settings(f parsedFile) {
	ys := f.doc.Settings
	if ys == nil {
		return
	}
	p := posOf(f.name, f.root, true, "settings")
	if b.settingsAt != nil {
		b.errAt(p, "settings are declared twice: here and at %s", *b.settingsAt)
		return
	}
	b.settingsAt = &p
	b.spec.Settings.Pos = p
	if ys.Prune != nil {
		b.spec.Settings.Prune = *ys.Prune
	}
	if ys.MaxDeletions != nil {
		if *ys.MaxDeletions < 0 {
			b.errAt(posOf(f.name, f.root, false, "settings", "maxDeletions"), "maxDeletions must be 0 or more")
		}
		b.spec.Settings.MaxDeletions = *ys.MaxDeletions
	}
}
