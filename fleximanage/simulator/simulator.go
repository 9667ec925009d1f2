package simulator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Role is an access key's role. Viewers may only read.
type Role string

const (
	RoleOwner   Role = "owner"
	RoleManager Role = "manager"
	RoleViewer  Role = "viewer"
)

// Key is an access key the simulator accepts.
type Key struct {
	Token string
	Role  Role     // default owner
	Orgs  []string // org ids or names the key reaches; empty = every org
}

// Options configure a Simulator. The zero value plus a Fleet is a working
// simulator with one generated owner key, instant jobs and no rate limit.
type Options struct {
	// Keys the simulator accepts. When empty, one owner key is generated
	// (see Simulator.Token).
	Keys []Key
	// JobLatency is how long a device takes per job. It overrides the
	// fleet's jobLatency when non-zero; Instant makes it 0 even if the fleet
	// sets one.
	JobLatency time.Duration
	Instant    bool
	// RateLimit and RateWindow: flexiManage's per-address limit (300 per 5
	// minutes by default in flexiManage). 0 turns it off; the fleet's
	// rateLimit is used when this is 0 and NoRateLimit is false.
	RateLimit   int
	RateWindow  time.Duration
	NoRateLimit bool
	// RetryAfter is the Retry-After (seconds) of a 429; flexiManage sends
	// 60. Negative means 0.
	RetryAfter int
	// Faults to inject from the start (also settable with SetFaults).
	Faults *Faults
	// Seed makes ids, machine ids and fault decisions repeatable.
	Seed int64
	// Logger receives one debug line per request. Default: discard.
	Logger *slog.Logger
}

// Simulator is an in-memory flexiManage North Bound API. Create it with New;
// it is an http.Handler. Close stops its job timers.
type Simulator struct {
	mu   sync.Mutex
	log  *slog.Logger
	seed int64

	version       string
	latestVersion string
	jobLatency    time.Duration

	keys map[string]*keyScope

	ids          ids
	orgs         []*org
	orgByID      map[string]*org
	labels       []*label
	labelByID    map[string]*label
	devices      []*device
	devByID      map[string]*device
	devByMachine map[string]*device
	tunnels      []*tunnel
	tunByID      map[string]*tunnel
	devSeq       int

	jobs     map[int64]*job
	jobOrder []int64
	nextJob  int64
	queues   map[string]*queue // by machineId
	changed  chan struct{}     // closed and replaced whenever a job changes state

	rl         *rateLimiter
	retryAfter int // Retry-After (seconds) of every 429, limiter's or injected
	faults     *faultState

	closed bool

	routeCache []*endpoint

	pages sync.Pool // *[]byte buffers of large list pages (see pageBuffer)
}

type keyScope struct {
	role    Role
	orgs    map[string]bool // nil = all
	revoked bool
}

// New builds a simulator seeded from fleet (nil means an empty one with a
// single organization named "default").
func New(fleet *Fleet, opts Options) (*Simulator, error) {
	if fleet == nil {
		fleet = &Fleet{Organizations: []FleetOrg{{Name: "default"}}}
	}
	s := &Simulator{
		log:          opts.Logger,
		seed:         opts.Seed,
		version:      fleet.FlexiManageVersion,
		keys:         map[string]*keyScope{},
		orgByID:      map[string]*org{},
		labelByID:    map[string]*label{},
		devByID:      map[string]*device{},
		devByMachine: map[string]*device{},
		tunByID:      map[string]*tunnel{},
		jobs:         map[int64]*job{},
		queues:       map[string]*queue{},
		changed:      make(chan struct{}),
		ids:          ids{prefix: 0x65a00000 | uint32(opts.Seed&0xfffff)},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.version == "" {
		s.version = "6.3.37"
	}
	s.latestVersion = fleet.LatestDeviceVersion
	if s.latestVersion == "" {
		s.latestVersion = s.version
	}
	s.jobLatency = time.Duration(fleet.JobLatency)
	if opts.JobLatency > 0 {
		s.jobLatency = opts.JobLatency
	}
	if opts.Instant {
		s.jobLatency = 0
	}
	limit, window := opts.RateLimit, opts.RateWindow
	retry := opts.RetryAfter
	if limit == 0 && !opts.NoRateLimit && fleet.RateLimit != nil {
		limit, window = fleet.RateLimit.Max, time.Duration(fleet.RateLimit.Window)
		if fleet.RateLimit.RetryAfter != nil && retry == 0 {
			retry = *fleet.RateLimit.RetryAfter
		}
	}
	if opts.NoRateLimit {
		limit = 0
	}
	if retry == 0 {
		retry = 60
	}
	s.retryAfter = max(retry, 0)
	if limit > 0 {
		if window <= 0 {
			window = 5 * time.Minute
		}
		s.rl = newRateLimiter(limit, window, s.retryAfter)
	}
	f := opts.Faults
	if f == nil && fleet.Faults != nil {
		f = fleet.Faults.faults()
	}
	s.faults = newFaultState(f)

	if err := s.seedFleet(fleet); err != nil {
		return nil, err
	}
	if len(opts.Keys) == 0 {
		var b [24]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		opts.Keys = []Key{{Token: "fmsim_" + hex.EncodeToString(b[:])}}
	}
	for _, k := range opts.Keys {
		if err := s.AddKey(k); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// AddKey makes the simulator accept one more access key.
func (s *Simulator) AddKey(k Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k.Token == "" {
		return errors.New("simulator: empty access key")
	}
	sc := &keyScope{role: k.Role}
	switch sc.role {
	case "":
		sc.role = RoleOwner
	case RoleOwner, RoleManager, RoleViewer:
	default:
		return fmt.Errorf("simulator: unknown role %q", k.Role)
	}
	if len(k.Orgs) > 0 {
		sc.orgs = map[string]bool{}
		for _, o := range k.Orgs {
			id := s.orgIDByRef(o)
			if id == "" {
				return fmt.Errorf("simulator: key scope names unknown organization %q", o)
			}
			sc.orgs[id] = true
		}
	}
	s.keys[k.Token] = sc
	return nil
}

// RevokeKey makes a key answer 401 "Invalid token used", as a deleted access
// key does.
func (s *Simulator) RevokeKey(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k := s.keys[token]; k != nil {
		k.revoked = true
	}
}

// Token returns an accepted owner key (the generated one when no keys were
// given).
func (s *Simulator) Token() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var toks []string
	for t, k := range s.keys {
		if k.role == RoleOwner && k.orgs == nil && !k.revoked {
			toks = append(toks, t)
		}
	}
	sort.Strings(toks)
	if len(toks) == 0 {
		return ""
	}
	return toks[0]
}

// OrgInfo names one organization of the simulator.
type OrgInfo struct{ ID, Name string }

// Orgs lists the organizations in creation order.
func (s *Simulator) Orgs() []OrgInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]OrgInfo, len(s.orgs))
	for i, o := range s.orgs {
		out[i] = OrgInfo{ID: o.id, Name: o.name}
	}
	return out
}

// OrgID returns the id of the organization with the given name, or "".
func (s *Simulator) OrgID(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.orgIDByRef(name)
}

func (s *Simulator) orgIDByRef(ref string) string {
	for _, o := range s.orgs {
		if o.id == ref || o.name == ref {
			return o.id
		}
	}
	return ""
}

// Close stops the job engine. Jobs not yet finished stay as they are.
func (s *Simulator) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, q := range s.queues {
		if q.timer != nil {
			q.timer.Stop()
			q.timer = nil
		}
	}
	s.notifyLocked()
	return nil
}

// seedFleet loads the fleet into the database.
func (s *Simulator) seedFleet(fl *Fleet) error {
	now := time.Now()
	for _, fo := range fl.Organizations {
		o := &org{
			id: fo.ID, name: fo.Name, description: fo.Description, account: fo.Account, group: fo.Group,
			encryption: fo.EncryptionMethod, vxlanPort: fo.VxlanPort, tunnelRange: fo.TunnelRange,
		}
		if o.id == "" {
			o.id = s.ids.next()
		}
		if o.account == "" {
			o.account = s.ids.next()
		}
		if o.group == "" {
			o.group = "Default"
		}
		if o.encryption == "" {
			o.encryption = "psk"
		}
		if o.vxlanPort == "" {
			o.vxlanPort = "4789"
		}
		if o.tunnelRange == "" {
			o.tunnelRange = "10.100.0.0"
		}
		if s.orgByID[o.id] != nil {
			return fmt.Errorf("simulator: organization id %s used twice", o.id)
		}
		s.orgs = append(s.orgs, o)
		s.orgByID[o.id] = o

		labelIDs := map[string]string{}
		for _, fl := range fo.PathLabels {
			l := &label{id: fl.ID, org: o.id, name: fl.Name, description: fl.Description, color: fl.Color, typ: fl.Type}
			if l.id == "" {
				l.id = s.ids.next()
			}
			if l.typ == "" {
				l.typ = "DIA"
			}
			if l.color == "" {
				l.color = colorFor(l.name)
			}
			s.labels = append(s.labels, l)
			s.labelByID[l.id] = l
			labelIDs[l.name] = l.id
		}
		devByName := map[string]*device{}
		for _, fd := range fo.Devices {
			d := s.seedDevice(o, fd, labelIDs)
			devByName[d.name] = d
		}
		for _, ft := range fo.Tunnels {
			an, ai, _ := strings.Cut(ft.A, "/")
			bn, bi, _ := strings.Cut(ft.B, "/")
			da, db := devByName[an], devByName[bn]
			if da == nil || db == nil {
				return fmt.Errorf("simulator: tunnel %s - %s: unknown device", ft.A, ft.B)
			}
			fa, fb := da.ifaceByNameOrDevID(ai), db.ifaceByNameOrDevID(bi)
			if fa == nil || fb == nil {
				return fmt.Errorf("simulator: tunnel %s - %s: unknown interface", ft.A, ft.B)
			}
			lid := ""
			if ft.PathLabel != "" {
				lid = labelIDs[ft.PathLabel]
			}
			t := s.newTunnelLocked(o, da, db, fa, fb, lid, defaultAdv(), now)
			t.aConf = ft.AConf == nil || *ft.AConf
			t.bConf = ft.BConf == nil || *ft.BConf
		}
	}
	return nil
}

func defaultAdv() advOptions {
	return advOptions{MTU: raw(""), MSSClamp: "yes", OSPFCost: raw(100), OSPFArea: raw(""), Routing: "ospf"}
}

func (s *Simulator) seedDevice(o *org, fd FleetDevice, labelIDs map[string]string) *device {
	s.devSeq++
	d := &device{
		seq: s.devSeq, id: fd.ID, org: o.id, account: o.account, name: fd.Name, description: fd.Description, site: fd.Site,
		machineID: fd.MachineID, hostname: fd.Hostname,
		approved: fd.Approved == nil || *fd.Approved, connected: fd.Connected == nil || *fd.Connected,
		state: fd.State, ikev2: fd.IKEv2, bgp: fd.BGP,
		other: defaultDeviceOther(fd.BGP),
	}
	if d.id == "" {
		d.id = s.ids.next()
	}
	if d.machineID == "" {
		d.machineID = machineIDFor(s.seed, o.id, fd.Name)
	}
	if d.hostname == "" {
		d.hostname = fd.Name
	}
	if d.state == "" {
		d.state = "running"
	}
	d.serial = "0"
	ver := fd.Version
	if ver == "" {
		ver = s.latestVersion
	}
	d.versions = versions{agent: ver, router: ver, device: ver, vpp: "21.01.0-6", frr: "8.4.4"}
	if v := fd.Versions; v != nil {
		set := func(dst *string, src string) {
			if src != "" {
				*dst = src
			}
		}
		set(&d.versions.agent, v.Agent)
		set(&d.versions.router, v.Router)
		set(&d.versions.device, v.Device)
		set(&d.versions.vpp, v.VPP)
		set(&d.versions.frr, v.FRR)
	}
	d.sync = syncState{state: "synced", autoSync: "on"}
	wanIdx := 0
	for i, fi := range fd.Interfaces {
		typ := strings.ToUpper(fi.Type)
		f := &iface{
			id: fi.ID, devID: fi.DevID, name: fi.Name, typ: typ,
			assigned: fi.Assigned == nil || *fi.Assigned,
			dhcp:     "no", gateway: fi.Gateway, publicIP: fi.PublicIP, publicPort: fi.PublicPort,
			routing: "NONE",
			other:   defaultIfaceOther(len(s.devices)*16+i, typ),
		}
		if typ == "NONE" && fi.Assigned == nil {
			f.assigned = false
		}
		if f.id == "" {
			f.id = s.ids.next()
		}
		if f.devID == "" {
			f.devID = fmt.Sprintf("pci:0000:00:%02x.00", 3+i)
		}
		if fi.DHCP || (typ == "WAN" && fi.IPv4 == "") {
			f.dhcp = "yes" // a WAN without an address is waiting for a lease
		}
		if fi.IPv4 != "" {
			p := netip.MustParsePrefix(fi.IPv4)
			f.ipv4, f.ipv4Mask = p.Addr().String(), strconv.Itoa(p.Bits())
		}
		if typ == "LAN" {
			f.routing = "OSPF"
		}
		switch {
		case fi.Metric != nil:
			f.metric = strconv.Itoa(*fi.Metric)
		case typ == "WAN":
			f.metric = strconv.Itoa(wanIdx * 100)
		default:
			f.metric = "0"
		}
		if typ == "WAN" {
			wanIdx++
			if f.publicIP == "" {
				f.publicIP = f.ipv4
			}
			if f.publicPort == "" {
				f.publicPort = "4789"
			}
		}
		for _, ln := range fi.PathLabels {
			f.labels = append(f.labels, labelIDs[ln])
		}
		d.ifaces = append(d.ifaces, f)
	}
	for _, fr := range fd.Routes {
		r := &route{id: s.ids.next(), destination: fr.Destination, gateway: fr.Gateway, metric: ""}
		if fr.Metric != nil {
			r.metric = strconv.Itoa(*fr.Metric)
		}
		if fr.Interface != "" {
			r.ifname = d.ifaceByNameOrDevID(fr.Interface).devID
		}
		r.other = map[string]json.RawMessage{"redistributeViaOSPF": raw(false), "redistributeViaBGP": raw(false), "onLink": raw(false), "isPending": raw(false), "pendingReason": raw(""), "conditions": raw([]any{})}
		d.routes = append(d.routes, r)
	}
	for _, fh := range fd.DHCP {
		dns := fh.DNS
		if dns == nil {
			dns = []string{}
		}
		e := &dhcpEntry{id: s.ids.next(), iface: d.ifaceByNameOrDevID(fh.Interface).devID, rangeStart: fh.RangeStart, rangeEnd: fh.RangeEnd,
			dns: dns, macAssign: raw([]any{}), status: "complete", other: map[string]json.RawMessage{}}
		d.dhcp = append(d.dhcp, e)
	}
	s.devices = append(s.devices, d)
	s.devByID[d.id] = d
	s.devByMachine[d.machineID] = d
	return d
}

// colorFor derives a stable colour from a name.
func colorFor(name string) string {
	var h uint32 = 2166136261
	for i := 0; i < len(name); i++ {
		h = (h ^ uint32(name[i])) * 16777619
	}
	return fmt.Sprintf("#%06x", h&0xffffff)
}

// newTunnelLocked takes a tunnel number (reusing the first inactive record of
// the org, _id and all, as flexiManage does) and stores an active tunnel.
func (s *Simulator) newTunnelLocked(o *org, da, db *device, fa, fb *iface, labelID string, adv advOptions, now time.Time) *tunnel {
	var t *tunnel
	if o.inactiveTunnels > 0 { // skip the scan in the common case
		for _, old := range s.tunnels {
			if old.org == o.id && !old.active {
				t = old
				o.inactiveTunnels--
				break
			}
		}
	}
	if t == nil {
		o.nextTunnelNum++
		t = &tunnel{id: s.ids.next(), num: o.nextTunnelNum, org: o.id, createdAt: now}
		s.tunnels = append(s.tunnels, t)
		s.tunByID[t.id] = t
	}
	t.active = true
	t.devA, t.devB, t.ifcA, t.ifcB = da.id, db.id, fa.id, fb.id
	t.label = labelID
	t.encryption = o.encryption
	t.keys = nil
	if o.encryption == "psk" {
		t.keys = keysFor(s.seed, t.num, now)
	}
	t.adv = adv
	t.aConf, t.bConf = false, false
	t.pending, t.pendingType, t.pendingReason, t.pendingTime = false, "", "", time.Time{}
	t.status = ""
	t.updatedAt = now
	if fa.ipv4 == "" {
		t.pending, t.pendingType, t.pendingReason = true, "interfaceHasNoIp", fmt.Sprintf("Interface %s in device %s has no IP address", fa.name, da.name)
	}
	if fb.ipv4 == "" {
		t.pending, t.pendingType, t.pendingReason = true, "interfaceHasNoIp", fmt.Sprintf("Interface %s in device %s has no IP address", fb.name, db.name)
	}
	if t.pending {
		t.pendingTime = now
	}
	return t
}

// WaitIdle blocks until no connected device has a queued or running job, or
// ctx ends. Jobs of disconnected or unapproved devices do not count: they
// would wait forever.
func (s *Simulator) WaitIdle(ctx context.Context) error {
	for {
		s.mu.Lock()
		busy := false
		for _, q := range s.queues {
			if q.active != nil || (len(q.pending) > 0 && s.runnableLocked(q.machineID)) {
				busy = true
				break
			}
		}
		ch := s.changed
		s.mu.Unlock()
		if !busy {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

func (s *Simulator) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}
