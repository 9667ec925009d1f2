package diff_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flexiwan-gitops/reconciler/diff"
	"github.com/flexiwan-gitops/reconciler/live"
)

// parseKey turns "a/wan0<->b/wan1:mpls" (or "a/wan0<->b/wan1:" for an
// unlabeled tunnel) into a tunnel key. The ends may be written in any order.
func parseKey(t *testing.T, s string) live.TunnelKey {
	t.Helper()
	ends, label, ok := strings.Cut(s, ":")
	if !ok {
		t.Fatalf("key %q: want a/ifc<->b/ifc:label", s)
	}
	a, b, ok := strings.Cut(ends, "<->")
	if !ok {
		t.Fatalf("key %q: want a/ifc<->b/ifc:label", s)
	}
	end := func(e string) live.EndKey {
		dev, ifc, ok := strings.Cut(e, "/")
		if !ok {
			t.Fatalf("key %q: end %q: want device/interface", s, e)
		}
		return live.EndKey{Device: dev, DevID: ifc}
	}
	return live.NewTunnelKey(end(a), end(b), label)
}

// keyString writes a key the way parseKey reads it, ends in key order.
func keyString(k live.TunnelKey) string {
	return fmt.Sprintf("%s/%s<->%s/%s:%s", k.A.Device, k.A.DevID, k.B.Device, k.B.DevID, k.Label)
}

// keyStrings canonicalises keys for comparison: each in key order, the list
// sorted. Duplicates are kept, so that a key produced twice shows up.
func keyStrings(ks []live.TunnelKey) []string {
	out := make([]string, 0, len(ks))
	for _, k := range ks {
		out = append(out, keyString(live.NewTunnelKey(k.A, k.B, k.Label)))
	}
	sort.Strings(out)
	return out
}

// wantKeys canonicalises hand-written keys.
func wantKeys(t *testing.T, ss ...string) []string {
	t.Helper()
	ks := make([]live.TunnelKey, 0, len(ss))
	for _, s := range ss {
		ks = append(ks, parseKey(t, s))
	}
	return keyStrings(ks)
}

// ep is an endpoint with router major 6 and the given WANs, each written
// "devId" or "devId=label1,label2".
func ep(id string, wans ...string) *diff.Endpoint {
	e := &diff.Endpoint{DeviceID: id, RouterMajor: 6}
	for _, w := range wans {
		name, labels, _ := strings.Cut(w, "=")
		var ls []string
		if labels != "" {
			ls = strings.Split(labels, ",")
		}
		e.WANs = append(e.WANs, diff.WAN{DevID: name, Labels: ls})
	}
	return e
}

func endpoints(eps ...*diff.Endpoint) map[string]*diff.Endpoint {
	m := map[string]*diff.Endpoint{}
	for _, e := range eps {
		m[e.DeviceID] = e
	}
	return m
}

var testTypes = diff.LabelTypes{"mpls": "Tunnel", "inet": "Tunnel", "lte": "Tunnel", "dia": "DIA", "dia2": "DIA"}

func TestExpand(t *testing.T) {
	tests := map[string]struct {
		call        diff.Call
		eps         map[string]*diff.Endpoint
		want        []string
		wantSkipped [][2]string
	}{
		"fullMesh pairs every two devices": {
			call: diff.Call{Topology: "fullMesh", Devices: []string{"a", "b", "c", "d"}, Labels: []string{"mpls"}},
			eps:  endpoints(ep("a", "w0=mpls"), ep("b", "w0=mpls"), ep("c", "w0=mpls"), ep("d", "w0=mpls")),
			want: []string{
				"a/w0<->b/w0:mpls", "a/w0<->c/w0:mpls", "a/w0<->d/w0:mpls",
				"b/w0<->c/w0:mpls", "b/w0<->d/w0:mpls",
				"c/w0<->d/w0:mpls",
			},
		},
		"fullMesh pairing does not depend on the device order": {
			call: diff.Call{Topology: "fullMesh", Devices: []string{"c", "a", "b"}, Labels: []string{"mpls"}},
			eps:  endpoints(ep("a", "w0=mpls"), ep("b", "w0=mpls"), ep("c", "w0=mpls")),
			want: []string{"a/w0<->b/w0:mpls", "a/w0<->c/w0:mpls", "b/w0<->c/w0:mpls"},
		},
		"hubAndSpoke pairs the hub with each spoke only": {
			call: diff.Call{Topology: "hubAndSpoke", Hub: "h", Devices: []string{"h", "s1", "s2", "s3"}, Labels: []string{"mpls"}},
			eps:  endpoints(ep("h", "w0=mpls"), ep("s1", "w0=mpls"), ep("s2", "w0=mpls"), ep("s3", "w0=mpls")),
			want: []string{"h/w0<->s1/w0:mpls", "h/w0<->s2/w0:mpls", "h/w0<->s3/w0:mpls"},
		},
		"hubAndSpoke with the hub listed last": {
			call: diff.Call{Topology: "hubAndSpoke", Hub: "h", Devices: []string{"s1", "s2", "h"}, Labels: []string{"mpls"}},
			eps:  endpoints(ep("h", "w0=mpls"), ep("s1", "w0=mpls"), ep("s2", "w0=mpls")),
			want: []string{"h/w0<->s1/w0:mpls", "h/w0<->s2/w0:mpls"},
		},
		"every WAN of one device with every WAN of the other": {
			call: diff.Call{Topology: "fullMesh", Devices: []string{"a", "b"}, Labels: []string{"mpls", "inet"}},
			eps:  endpoints(ep("a", "w0=mpls", "w1=inet"), ep("b", "w0=mpls,inet", "w1=lte")),
			want: []string{"a/w0<->b/w0:mpls", "a/w1<->b/w0:inet"},
		},
		"one tunnel per common requested label of an interface pair": {
			call: diff.Call{Topology: "fullMesh", Devices: []string{"a", "b"}, Labels: []string{"mpls", "inet"}},
			eps:  endpoints(ep("a", "w0=mpls,inet"), ep("b", "w0=inet,mpls")),
			want: []string{"a/w0<->b/w0:mpls", "a/w0<->b/w0:inet"},
		},
		"labels not requested are not used": {
			call: diff.Call{Topology: "fullMesh", Devices: []string{"a", "b"}, Labels: []string{"mpls"}},
			eps:  endpoints(ep("a", "w0=mpls,inet", "w1=lte"), ep("b", "w0=inet", "w1=mpls,lte")),
			want: []string{"a/w0<->b/w1:mpls"},
		},
		"labels only on one side match nothing": {
			call: diff.Call{Topology: "fullMesh", Devices: []string{"a", "b"}, Labels: []string{"mpls", "inet"}},
			eps:  endpoints(ep("a", "w0=mpls"), ep("b", "w0=inet")),
			want: nil,
		},
		"a requested DIA label never matches": {
			call: diff.Call{Topology: "fullMesh", Devices: []string{"a", "b"}, Labels: []string{"dia", "mpls"}},
			eps:  endpoints(ep("a", "w0=dia", "w1=mpls,dia2"), ep("b", "w0=dia,mpls", "w1=dia2")),
			want: []string{"a/w1<->b/w0:mpls"},
		},
		"unlabeled: 2 unlabeled WANs each give 4 tunnels": {
			call: diff.Call{Topology: "fullMesh", Devices: []string{"a", "b"}},
			eps:  endpoints(ep("a", "w0", "w1"), ep("b", "w0", "w1")),
			want: []string{"a/w0<->b/w0:", "a/w0<->b/w1:", "a/w1<->b/w0:", "a/w1<->b/w1:"},
		},
		"unlabeled: only between interfaces without any label": {
			call: diff.Call{Topology: "fullMesh", Devices: []string{"a", "b"}, Labels: []string{}},
			eps:  endpoints(ep("a", "w0", "w1=mpls"), ep("b", "w0=inet", "w1")),
			want: []string{"a/w0<->b/w1:"},
		},
		"unlabeled: a DIA label makes an interface labelled": {
			call: diff.Call{Topology: "fullMesh", Devices: []string{"a", "b", "c"}},
			eps:  endpoints(ep("a", "w0=dia", "w1"), ep("b", "w0"), ep("c", "w0=dia2")),
			want: []string{"a/w1<->b/w0:"},
		},
		"router major mismatch skips the pair": {
			call: diff.Call{Topology: "fullMesh", Devices: []string{"a", "b", "c"}, Labels: []string{"mpls"}},
			eps: endpoints(ep("a", "w0=mpls"), ep("b", "w0=mpls"),
				&diff.Endpoint{DeviceID: "c", RouterMajor: 5, WANs: []diff.WAN{{DevID: "w0", Labels: []string{"mpls"}}}}),
			want:        []string{"a/w0<->b/w0:mpls"},
			wantSkipped: [][2]string{{"a", "c"}, {"b", "c"}},
		},
		"router major mismatch in a star": {
			call: diff.Call{Topology: "hubAndSpoke", Hub: "h", Devices: []string{"h", "s1", "s2"}, Labels: []string{"mpls"}},
			eps: endpoints(&diff.Endpoint{DeviceID: "h", RouterMajor: 5, WANs: []diff.WAN{{DevID: "w0", Labels: []string{"mpls"}}}},
				ep("s1", "w0=mpls"),
				&diff.Endpoint{DeviceID: "s2", RouterMajor: 5, WANs: []diff.WAN{{DevID: "w0", Labels: []string{"mpls"}}}}),
			want:        []string{"h/w0<->s2/w0:mpls"},
			wantSkipped: [][2]string{{"h", "s1"}},
		},
		"a device without WANs gives nothing": {
			call: diff.Call{Topology: "fullMesh", Devices: []string{"a", "b", "c"}, Labels: []string{"mpls"}},
			eps:  endpoints(ep("a", "w0=mpls"), ep("b"), ep("c", "w0=mpls")),
			want: []string{"a/w0<->c/w0:mpls"},
		},
		"a device unknown to the endpoints gives nothing": {
			call: diff.Call{Topology: "fullMesh", Devices: []string{"a", "ghost", "c"}, Labels: []string{"mpls"}},
			eps:  endpoints(ep("a", "w0=mpls"), ep("c", "w0=mpls")),
			want: []string{"a/w0<->c/w0:mpls"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, skipped := diff.Expand(tc.call, tc.eps, testTypes)
			if d := cmp.Diff(wantKeys(t, tc.want...), keyStrings(got)); d != "" {
				t.Errorf("Expand() keys mismatch (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.wantSkipped, skipped); d != "" {
				t.Errorf("Expand() skipped mismatch (-want +got):\n%s", d)
			}
		})
	}
}

// TestEndpoints checks which live interfaces flexiManage considers: only
// assigned WANs; LAN, unassigned and other interfaces never carry tunnels.
func TestEndpoints(t *testing.T) {
	devs := []*live.Device{
		{ID: "a", RouterVersion: "6.3.12", Interfaces: []live.Interface{
			{DevID: "w0", Type: "WAN", Assigned: true, Labels: []string{"mpls"}},
			{DevID: "w1", Type: "WAN", Assigned: false, Labels: []string{"mpls"}},
			{DevID: "l0", Type: "LAN", Assigned: true, Labels: []string{"mpls"}},
			{DevID: "w2", Type: "WAN", Assigned: true},
			{DevID: "t0", Type: "TRUNK", Assigned: true},
		}},
		{ID: "b", RouterVersion: "6.1.0", Interfaces: []live.Interface{
			{DevID: "w0", Type: "WAN", Assigned: true, Labels: []string{"inet"}},
			{DevID: "w1", Type: "WAN", Assigned: true},
			{DevID: "l0", Type: "LAN", Assigned: true},
		}},
		{ID: "c", RouterVersion: "5.2.0", Interfaces: []live.Interface{
			{DevID: "l0", Type: "LAN", Assigned: true},
		}},
	}
	t.Run("live labels", func(t *testing.T) {
		got := diff.Endpoints(devs, nil)
		want := map[string]*diff.Endpoint{
			"a": {DeviceID: "a", RouterMajor: 6, WANs: []diff.WAN{{DevID: "w0", Labels: []string{"mpls"}}, {DevID: "w2"}}},
			"b": {DeviceID: "b", RouterMajor: 6, WANs: []diff.WAN{{DevID: "w0", Labels: []string{"inet"}}, {DevID: "w1"}}},
			"c": {DeviceID: "c", RouterMajor: 5},
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("Endpoints() mismatch (-want +got):\n%s", d)
		}
	})
	t.Run("desired labels replace live ones interface by interface", func(t *testing.T) {
		got := diff.Endpoints(devs, map[string]map[string][]string{
			"a": {"w0": {}, "w2": {"mpls"}, "l0": {"inet"}},
			"b": {"w1": {"mpls", "inet"}},
		})
		want := map[string]*diff.Endpoint{
			"a": {DeviceID: "a", RouterMajor: 6, WANs: []diff.WAN{{DevID: "w0", Labels: []string{}}, {DevID: "w2", Labels: []string{"mpls"}}}},
			"b": {DeviceID: "b", RouterMajor: 6, WANs: []diff.WAN{{DevID: "w0", Labels: []string{"inet"}}, {DevID: "w1", Labels: []string{"mpls", "inet"}}}},
			"c": {DeviceID: "c", RouterMajor: 5},
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("Endpoints() mismatch (-want +got):\n%s", d)
		}
	})
	t.Run("LAN and unassigned interfaces are ignored by Expand", func(t *testing.T) {
		// a/l0, a/w1 and b's nothing-but-LAN device c would all match mpls or
		// unlabeled if they were considered.
		eps := diff.Endpoints(devs, nil)
		got, skipped := diff.Expand(diff.Call{Topology: "fullMesh", Devices: []string{"a", "b", "c"}}, eps, testTypes)
		want := wantKeys(t, "a/w2<->b/w1:")
		if d := cmp.Diff(want, keyStrings(got)); d != "" {
			t.Errorf("Expand() keys mismatch (-want +got):\n%s", d)
		}
		if d := cmp.Diff([][2]string{{"a", "c"}, {"b", "c"}}, skipped); d != "" {
			t.Errorf("Expand() skipped mismatch (-want +got):\n%s", d)
		}
	})
}

func TestKeyOrderIsCanonical(t *testing.T) {
	a, b := live.EndKey{Device: "d2", DevID: "w0"}, live.EndKey{Device: "d1", DevID: "w9"}
	if live.NewTunnelKey(a, b, "x") != live.NewTunnelKey(b, a, "x") {
		t.Errorf("NewTunnelKey(a, b) != NewTunnelKey(b, a)")
	}
	ks := []live.TunnelKey{
		live.NewTunnelKey(a, b, "x"),
		live.NewTunnelKey(live.EndKey{Device: "d1", DevID: "w0"}, b, ""),
		live.NewTunnelKey(a, b, ""),
	}
	diff.SortKeys(ks)
	got := keyStrings(ks) // keyStrings sorts by string too: compare with the raw order
	raw := make([]string, len(ks))
	for i, k := range ks {
		raw[i] = keyString(k)
	}
	if d := cmp.Diff(got, raw); d != "" {
		t.Errorf("SortKeys() order differs from the string order (-want +got):\n%s", d)
	}
}
