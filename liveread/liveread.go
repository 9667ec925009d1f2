// Package liveread reads a flexiManage organization into a live.State with
// the fewest requests: the path labels (one request), the devices and the
// tunnels (paged). Resolving an organization name costs one more request
// (GET /organizations) and is done only when the caller passes a name.
package liveread

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/flexiwan-gitops/reconciler/fleximanage"
	"github.com/flexiwan-gitops/reconciler/live"
)

var objectID = regexp.MustCompile(`^[0-9a-fA-F]{24}$`)

// LooksLikeID reports whether ref is an organization id rather than a name.
func LooksLikeID(ref string) bool { return objectID.MatchString(ref) }

// ResolveOrg returns the organization for an id or a name. An id is taken
// as it is (no request); a name is looked up with GET /organizations.
func ResolveOrg(ctx context.Context, c *fleximanage.Client, ref string) (live.Org, error) {
	if ref == "" {
		return live.Org{}, fmt.Errorf("no organization given (--org or FLEXIMANAGE_ORG)")
	}
	if LooksLikeID(ref) {
		return live.Org{ID: ref}, nil
	}
	o, err := c.ResolveOrg(ctx, ref)
	if err != nil {
		return live.Org{}, err
	}
	return live.Org{ID: o.ID, Name: o.Name, EncryptionMethod: o.EncryptionMethod, TunnelRange: o.TunnelRange}, nil
}

// Read reads the organization c is bound to. org fills State.Org (from
// ResolveOrg).
func Read(ctx context.Context, c *fleximanage.Client, org live.Org) (*live.State, error) {
	labels, err := c.PathLabels(ctx)
	if err != nil {
		return nil, fmt.Errorf("read path labels: %w", err)
	}
	devices, err := c.Devices(ctx)
	if err != nil {
		return nil, fmt.Errorf("read devices: %w", err)
	}
	tunnels, err := c.Tunnels(ctx)
	if err != nil {
		return nil, fmt.Errorf("read tunnels: %w", err)
	}
	return Convert(org, labels, devices, tunnels), nil
}

// Convert builds a live.State from the client's answers.
func Convert(org live.Org, labels []fleximanage.PathLabel, devices []fleximanage.Device, tunnels []fleximanage.Tunnel) *live.State {
	st := &live.State{Org: org}
	for _, l := range labels {
		st.Labels = append(st.Labels, live.Label{ID: l.ID, Name: l.Name, Type: string(l.Type), Color: strings.ToLower(l.Color), Description: l.Description})
	}
	ifaceDevID := map[string]string{} // interface _id → devId, for tunnels
	for _, d := range devices {
		ld := live.Device{
			ID: d.ID, Name: d.Name, MachineID: d.MachineID, Hostname: d.Hostname,
			Approved: d.IsApproved, Connected: d.IsConnected,
			Version: d.Versions.Device, RouterVersion: d.Versions.Router, AgentVersion: d.Versions.Agent,
		}
		if d.IsConnected {
			ld.State = d.RunState()
		}
		for _, f := range d.Interfaces {
			lf := live.Interface{ID: f.ID, DevID: f.DevID, Name: f.Name, Type: strings.ToUpper(f.Type), Assigned: f.IsAssigned, IPv4: f.IPv4, IPv4Mask: string(f.IPv4Mask)}
			for _, pl := range f.PathLabels {
				lf.Labels = append(lf.Labels, pl.Name)
			}
			ld.Interfaces = append(ld.Interfaces, lf)
			ifaceDevID[f.ID] = f.DevID
		}
		for _, r := range d.StaticRoutes {
			ld.Routes = append(ld.Routes, live.Route{ID: r.ID, Destination: r.Destination, Gateway: r.Gateway, IfName: r.IfName, Metric: string(r.Metric)})
		}
		for _, h := range d.DHCP {
			ld.DHCP = append(ld.DHCP, live.DHCP{ID: h.ID, Interface: h.Interface, RangeStart: h.RangeStart, RangeEnd: h.RangeEnd, DNS: h.DNS, Status: h.Status})
		}
		st.Devices = append(st.Devices, ld)
	}
	for _, t := range tunnels {
		lt := live.Tunnel{
			ID: t.ID, Num: t.Num, Label: t.LabelName(), AConf: t.DeviceAconf, BConf: t.DeviceBconf,
			Pending: t.IsPending, PendingReason: t.PendingReason,
			A: live.End{DeviceID: t.DeviceA.ID, DeviceName: t.DeviceA.Name, IfaceID: t.InterfaceA, DevID: t.InterfaceADetails.DevID, IfaceName: t.InterfaceADetails.Name},
			B: live.End{DeviceID: t.DeviceB.ID, DeviceName: t.DeviceB.Name, IfaceID: t.InterfaceB, DevID: t.InterfaceBDetails.DevID, IfaceName: t.InterfaceBDetails.Name},
		}
		if lt.A.DevID == "" {
			lt.A.DevID = ifaceDevID[t.InterfaceA]
		}
		if lt.B.DevID == "" {
			lt.B.DevID = ifaceDevID[t.InterfaceB]
		}
		st.Tunnels = append(st.Tunnels, lt)
		if st.Org.TunnelRange == "" {
			st.Org.TunnelRange = t.Org.TunnelRange
		}
	}
	if st.Org.TunnelRange == "" {
		st.Org.TunnelRange = "10.100.0.0" // flexiManage's default
	}
	return st
}
