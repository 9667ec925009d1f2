package simulator

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// The simulator's database. Everything here is guarded by Simulator.mu.
// These types are the simulator's own reading of flexiManage's documents
// (fleximanage/API.md); they share nothing with the client package.

type org struct {
	id, name, description, account, group string
	encryption                            string // none | psk | ikev2
	vxlanPort                             string
	tunnelRange                           string
	nextTunnelNum                         int // last number handed out (tunnelids.nextAvailID)
	inactiveTunnels                       int // deactivated tunnel records, reused before new numbers
}

type label struct {
	id, org, name, description, color, typ string
}

type versions struct {
	agent, router, device, vpp, frr string
}

type syncState struct {
	state, hash, autoSync string
	trials                int
}

type device struct {
	seq                         int // natural (creation) order
	id, org, account            string
	name, description, site     string
	machineID, hostname, serial string
	approved, connected         bool
	state                       string // running | stopped | failed | pending
	versions                    versions
	sync                        syncState
	ikev2, bgp                  bool
	ifaces                      []*iface
	routes                      []*route
	dhcp                        []*dhcpEntry
	upgradeQueued               bool
	other                       map[string]json.RawMessage // ospf, bgp, firewall, policies, ...
	otherKeys                   []string                   // sorted keys of other, a cache (see sortedKeysCached)
}

type iface struct {
	id, devID, parentDevID, vlanTag string
	name, typ                       string
	assigned                        bool
	dhcp                            string // "yes" | "no"
	ipv4, ipv4Mask, gateway         string
	metric                          string
	publicIP, publicPort            string
	routing                         string
	labels                          []string                   // path label ids
	otherKeys                       []string                   // sorted keys of other, a cache (see sortedKeysCached)
	other                           map[string]json.RawMessage // everything else, as sent
}

type route struct {
	id, destination, gateway, ifname, metric string
	status                                   string
	other                                    map[string]json.RawMessage
}

type dhcpEntry struct {
	id, iface, rangeStart, rangeEnd string
	dns                             []string
	macAssign                       json.RawMessage
	status                          string
	other                           map[string]json.RawMessage
}

type advOptions struct {
	MTU      json.RawMessage `json:"mtu"`
	MSSClamp string          `json:"mssClamp"`
	OSPFCost json.RawMessage `json:"ospfCost"`
	OSPFArea json.RawMessage `json:"ospfArea"`
	Routing  string          `json:"routing"`
}

type tunnel struct {
	id                   string
	num                  int
	org                  string
	active               bool
	devA, devB           string // device ids
	ifcA, ifcB           string // interface _ids
	label                string // path label id, "" = unlabeled
	encryption           string
	keys                 *[4]string
	adv                  advOptions
	aConf, bConf         bool
	pending              bool
	pendingType          string
	pendingReason        string
	pendingTime          time.Time
	status               string
	createdAt, updatedAt time.Time
}

// ids hands out ObjectId-shaped ids: deterministic for a seed, so that runs
// and golden files are repeatable.
type ids struct {
	prefix uint32
	n      uint64
}

func (g *ids) next() string {
	g.n++
	return fmt.Sprintf("%08x%016x", g.prefix, g.n)
}

func machineIDFor(seed int64, org, name string) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("%d/%s/%s", seed, org, name)))
	b := h[:16]
	return fmt.Sprintf("%X-%X-%X-%X-%X", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func keysFor(seed int64, num int, at time.Time) *[4]string {
	var k [4]string
	for i := range k {
		var buf [8]byte
		binary.BigEndian.PutUint64(buf[:], uint64(at.UnixNano())+uint64(i))
		h := sha256.Sum256(append(buf[:], []byte(strconv.Itoa(num)+"/"+strconv.FormatInt(seed, 10))...))
		k[i] = fmt.Sprintf("%x", h[:16])
	}
	return &k
}

// tunnelParams derives a tunnel's loopback addresses from its number and
// the org's tunnel range: h = (num%127+1)*2, l = num/127, A = a.b.l.h,
// B = a.b.l.h+1 (both /31).
func tunnelParams(num int, tunnelRange string) (ipA, ipB string) {
	a, err := netip.ParseAddr(tunnelRange)
	if err != nil || !a.Is4() {
		a = netip.MustParseAddr("10.100.0.0")
	}
	b := a.As4()
	h := (num%127 + 1) * 2
	l := num / 127
	ipA = fmt.Sprintf("%d.%d.%d.%d", b[0], b[1], l, h)
	ipB = fmt.Sprintf("%d.%d.%d.%d", b[0], b[1], l, h+1)
	return ipA, ipB
}

// subnetOf returns the interface's IPv4 subnet, if it has one.
func (f *iface) subnet() (netip.Prefix, bool) {
	if f.ipv4 == "" {
		return netip.Prefix{}, false
	}
	bits, err := strconv.Atoi(f.ipv4Mask)
	if err != nil {
		return netip.Prefix{}, false
	}
	p, err := netip.ParsePrefix(f.ipv4 + "/" + strconv.Itoa(bits))
	if err != nil {
		return netip.Prefix{}, false
	}
	return p.Masked(), true
}

func (f *iface) isWAN() bool { return f.assigned && f.typ == "WAN" }

func (f *iface) isVLAN() bool { return f.vlanTag != "" || f.parentDevID != "" }

func (d *device) ifaceByID(id string) *iface {
	for _, f := range d.ifaces {
		if f.id == id {
			return f
		}
	}
	return nil
}

func (d *device) ifaceByDevID(devID string) *iface {
	for _, f := range d.ifaces {
		if f.devID == devID {
			return f
		}
	}
	return nil
}

func (d *device) ifaceByNameOrDevID(s string) *iface {
	for _, f := range d.ifaces {
		if f.name == s || f.devID == s {
			return f
		}
	}
	return nil
}

func majorOf(v string) int {
	n, _ := strconv.Atoi(strings.SplitN(v, ".", 2)[0])
	return n
}

func raw(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only called on literals built here
	}
	return b
}

// defaultIfaceOther are the members a real device reports for an interface
// beyond those the simulator models.
func defaultIfaceOther(i int, typ string) map[string]json.RawMessage {
	devType := "dpdk"
	return map[string]json.RawMessage{
		"locked":                     raw(false),
		"driver":                     raw("virtio-pci"),
		"MAC":                        raw(fmt.Sprintf("52:54:00:00:%02x:%02x", i/256, i%256)),
		"deviceType":                 raw(devType),
		"configuration":              raw(map[string]any{}),
		"deviceParams":               raw(map[string]any{}),
		"IPv6":                       raw(""),
		"IPv6Mask":                   raw(""),
		"mtu":                        raw(1500),
		"NatType":                    raw(""),
		"useStun":                    raw(typ == "WAN"),
		"useFixedPublicPort":         raw(false),
		"monitorInternet":            raw(typ == "WAN"),
		"dnsServers":                 raw([]string{"8.8.8.8", "8.8.4.4"}),
		"dnsDomains":                 raw([]string{}),
		"useDhcpDnsServers":          raw(false),
		"bandwidthMbps":              raw(map[string]int{"tx": 100, "rx": 100}),
		"qosPolicy":                  json.RawMessage("null"),
		"ospf":                       raw(map[string]any{"area": "0", "keyId": "", "key": "", "cost": nil}),
		"isPublicAddressRateLimited": raw(false),
	}
}

func defaultDeviceOther(bgp bool) map[string]json.RawMessage {
	return map[string]json.RawMessage{
		"ospf": raw(map[string]any{"routerId": "", "helloInterval": 10, "deadInterval": 40, "redistributeBgp": true, "custom": ""}),
		"bgp": raw(map[string]any{"enable": bgp, "routerId": "", "localASN": "", "keepaliveInterval": "30", "holdInterval": "90",
			"redistributeOspf": true, "custom": "", "neighbors": []any{}}),
		"firewall":        raw(map[string]any{"rules": []any{}}),
		"policies":        raw(map[string]any{"multilink": map[string]any{"status": ""}, "firewall": map[string]any{"status": ""}, "qos": map[string]any{"status": ""}}),
		"routingFilters":  raw([]any{}),
		"advancedRouting": raw(map[string]any{"custom": ""}),
		"labels":          raw([]string{}),
		"applications":    raw([]any{}),
		"cpuInfo":         raw(map[string]any{"hwCores": 2, "grubCores": 2, "vppCores": 1, "configuredVppCores": 1, "powerSaving": false}),
		"distro":          raw(map[string]any{"version": "20.04", "codename": "focal"}),
		"coords":          raw([]float64{40.416, -3.703}),
	}
}
