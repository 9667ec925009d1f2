package simulator

import (
	"encoding/json"
	"slices"
	"strconv"
)

// Hand-written JSON for the largest list, GET /tunnels: encoding/json's
// reflection made a page of 5000 tunnels cost ~50 ms. The output is byte
// for byte what json.Marshal writes for the same wire structs (field order,
// omitempty, HTML escaping, RawMessage compaction).

// pageBuffer is an empty buffer for a list page of about n bytes, reused
// from earlier pages: a page of 5000 tunnels is 8 MB.
func (s *Simulator) pageBuffer(n int) *[]byte {
	p, _ := s.pages.Get().(*[]byte)
	if p == nil {
		p = new([]byte)
	}
	*p = slices.Grow((*p)[:0], n)
	return p
}

// appendString appends s as json.Marshal writes a string. Strings that need
// any escaping (rare here: names, ids, addresses) go through json.Marshal.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			m, _ := json.Marshal(s)
			return append(b, m...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendRaw appends a RawMessage member value: nil is null.
func appendRaw(b []byte, v json.RawMessage) []byte {
	if len(v) == 0 {
		return append(b, "null"...)
	}
	return appendRawJSON(b, v)
}

// member appends ,"key": (or "key": after the opening brace).
func member(b []byte, key string) []byte {
	if b[len(b)-1] != '{' {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

func (w *wireTunnel) appendJSON(b []byte) []byte {
	b = append(b, '{')
	b = appendString(member(b, "_id"), w.ID)
	b = strconv.AppendInt(member(b, "num"), int64(w.Num), 10)
	b = strconv.AppendBool(member(b, "isActive"), w.IsActive)
	if w.DeviceA != nil {
		b = w.DeviceA.appendJSON(member(b, "deviceA"))
	}
	if w.DeviceB != nil {
		b = w.DeviceB.appendJSON(member(b, "deviceB"))
	}
	if w.InterfaceA != "" {
		b = appendString(member(b, "interfaceA"), w.InterfaceA)
	}
	if w.InterfaceB != "" {
		b = appendString(member(b, "interfaceB"), w.InterfaceB)
	}
	if w.InterfaceADetails != nil {
		b = w.InterfaceADetails.appendJSON(member(b, "interfaceADetails"))
	}
	if w.InterfaceBDetails != nil {
		b = w.InterfaceBDetails.appendJSON(member(b, "interfaceBDetails"))
	}
	if w.PathLabel != nil {
		b = appendString(member(append(member(b, "pathlabel"), '{'), "name"), w.PathLabel.Name)
		b = append(appendString(member(b, "color"), w.PathLabel.Color), '}')
	}
	if w.EncryptionMethod != "" {
		b = appendString(member(b, "encryptionMethod"), w.EncryptionMethod)
	}
	if a := w.AdvancedOptions; a != nil {
		b = appendRaw(member(append(member(b, "advancedOptions"), '{'), "mtu"), a.MTU)
		b = appendString(member(b, "mssClamp"), a.MSSClamp)
		b = appendRaw(member(b, "ospfCost"), a.OSPFCost)
		b = appendRaw(member(b, "ospfArea"), a.OSPFArea)
		b = append(appendString(member(b, "routing"), a.Routing), '}')
	}
	b = strconv.AppendBool(member(b, "deviceAconf"), w.DeviceAconf)
	b = strconv.AppendBool(member(b, "deviceBconf"), w.DeviceBconf)
	b = strconv.AppendBool(member(b, "isPending"), w.IsPending)
	b = appendString(member(b, "pendingReason"), w.PendingReason)
	b = member(b, "notificationsSettings")
	if len(w.NotificationsSettings) == 0 {
		if w.NotificationsSettings == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, '{', '}')
		}
	} else {
		m, _ := json.Marshal(w.NotificationsSettings)
		b = append(b, m...)
	}
	b = appendString(member(append(member(b, "org"), '{'), "_id"), w.Org.ID)
	b = appendString(member(b, "tunnelRange"), w.Org.TunnelRange)
	if w.Org.VxlanPort != "" {
		b = appendString(member(b, "vxlanPort"), w.Org.VxlanPort)
	}
	b = append(b, '}')
	b = appendString(member(b, "tunnelStatus"), w.TunnelStatus)
	b = w.TunnelStatusA.appendJSON(member(b, "tunnelStatusA"))
	b = w.TunnelStatusB.appendJSON(member(b, "tunnelStatusB"))
	return append(b, '}')
}

func (w *wireTunnelDevice) appendJSON(b []byte) []byte {
	b = append(b, '{')
	b = appendString(member(b, "_id"), w.ID)
	b = appendString(member(b, "machineId"), w.MachineID)
	b = appendString(member(b, "name"), w.Name)
	b = appendString(member(b, "hostname"), w.Hostname)
	b = strconv.AppendBool(member(b, "isConnected"), w.IsConnected)
	b = appendString(member(b, "status"), w.Status)
	v := w.Versions
	b = appendString(member(append(member(b, "versions"), '{'), "agent"), v.Agent)
	b = appendString(member(b, "router"), v.Router)
	b = appendString(member(b, "device"), v.Device)
	b = appendString(member(b, "vpp"), v.VPP)
	b = append(appendString(member(b, "frr"), v.FRR), '}')
	y := w.Sync
	b = appendString(member(append(member(b, "sync"), '{'), "state"), y.State)
	b = appendString(member(b, "hash"), y.Hash)
	b = strconv.AppendInt(member(b, "trials"), int64(y.Trials), 10)
	b = append(appendString(member(b, "autoSync"), y.AutoSync), '}')
	b = appendRaw(member(b, "staticroutes"), w.StaticRoutes)
	return append(b, '}')
}

func (w *wireTunnelIfc) appendJSON(b []byte) []byte {
	b = append(b, '{')
	b = appendString(member(b, "name"), w.Name)
	b = appendString(member(b, "devId"), w.DevID)
	b = appendString(member(b, "IPv4"), w.IPv4)
	b = appendString(member(b, "PublicIP"), w.PublicIP)
	b = appendString(member(b, "PublicPort"), w.PublicPort)
	b = strconv.AppendBool(member(b, "useFixedPublicPort"), w.UseFixedPublicPort)
	return append(b, '}')
}

func (w wireSideStatus) appendJSON(b []byte) []byte {
	b = append(b, '{')
	if w.Status != "" {
		b = appendString(member(b, "status"), w.Status)
	}
	return append(b, '}')
}
