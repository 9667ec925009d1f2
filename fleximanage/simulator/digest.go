package simulator

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
)

// StateDigest returns a SHA-256 (hex) of a canonical dump of the database:
// organizations, path labels, devices with their interfaces, static routes,
// DHCP entries and the members kept as sent, every tunnel record (inactive
// ones too, since they are recycled), the number of jobs and the next job
// id. Two equal digests mean that no request changed stored state. Job
// states are left out: they move on by themselves as devices run jobs.
func (s *Simulator) StateDigest() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := sha256.New()
	s.dumpStateLocked(h)
	return hex.EncodeToString(h.Sum(nil))
}

// dumpStateLocked writes the canonical dump: one line per record, strings
// quoted, maps in key order.
func (s *Simulator) dumpStateLocked(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	for _, o := range s.orgs {
		p("org %q %q %q %q %q %q %q %q %d\n", o.id, o.name, o.description, o.account, o.group, o.encryption, o.vxlanPort, o.tunnelRange, o.nextTunnelNum)
	}
	p("labels %d\n", len(s.labelByID))
	for _, l := range s.labels {
		p("label %q %q %q %q %q %q\n", l.id, l.org, l.name, l.description, l.color, l.typ)
	}
	p("devices %d\n", len(s.devByID))
	for _, d := range s.devices {
		p("device %d %q %q %q %q %q %q %q %q %q %t %t %q %t %t %t\n", d.seq, d.id, d.org, d.account, d.name, d.description, d.site,
			d.machineID, d.hostname, d.serial, d.approved, d.connected, d.state, d.ikev2, d.bgp, d.upgradeQueued)
		v := d.versions
		p(" versions %q %q %q %q %q\n", v.agent, v.router, v.device, v.vpp, v.frr)
		p(" sync %q %q %q %d\n", d.sync.state, d.sync.hash, d.sync.autoSync, d.sync.trials)
		dumpMembers(w, " other", d.other)
		for _, f := range d.ifaces {
			p(" iface %q %q %q %q %q %q %t %q %q %q %q %q %q %q %q %q\n", f.id, f.devID, f.parentDevID, f.vlanTag, f.name, f.typ, f.assigned,
				f.dhcp, f.ipv4, f.ipv4Mask, f.gateway, f.metric, f.publicIP, f.publicPort, f.routing, f.labels)
			dumpMembers(w, "  other", f.other)
		}
		for _, r := range d.routes {
			p(" route %q %q %q %q %q %q\n", r.id, r.destination, r.gateway, r.ifname, r.metric, r.status)
			dumpMembers(w, "  other", r.other)
		}
		for _, e := range d.dhcp {
			p(" dhcp %q %q %q %q %q %q %q\n", e.id, e.iface, e.rangeStart, e.rangeEnd, e.dns, e.macAssign, e.status)
			dumpMembers(w, "  other", e.other)
		}
	}
	p("tunnels %d\n", len(s.tunByID))
	for _, t := range s.tunnels {
		keys := "-"
		if t.keys != nil {
			keys = fmt.Sprintf("%q", t.keys[:])
		}
		p("tunnel %q %d %q %t %q %q %q %q %q %q %s %t %t %t %q %q %d %q %d %d\n", t.id, t.num, t.org, t.active, t.devA, t.devB, t.ifcA, t.ifcB,
			t.label, t.encryption, keys, t.aConf, t.bConf, t.pending, t.pendingType, t.pendingReason, t.pendingTime.UnixNano(), t.status,
			t.createdAt.UnixNano(), t.updatedAt.UnixNano())
		a := t.adv
		p(" adv %q %q %q %q %q\n", a.MTU, a.MSSClamp, a.OSPFCost, a.OSPFArea, a.Routing)
	}
	p("jobs %d next %d\n", len(s.jobs), s.nextJob)
}

// dumpMembers writes JSON members kept as sent, byte for byte (they are
// rendered as they are), in key order, each prefixed with its length.
func dumpMembers(w io.Writer, prefix string, m map[string]json.RawMessage) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var line []byte
	for _, k := range keys {
		line = append(line[:0], prefix...)
		line = append(line, ' ')
		line = strconv.AppendQuote(line, k)
		line = append(line, ' ')
		line = strconv.AppendInt(line, int64(len(m[k])), 10)
		line = append(line, ':')
		line = append(line, m[k]...)
		line = append(line, '\n')
		w.Write(line)
	}
}
