package executor

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/flexiwan-gitops/reconciler/fleximanage"
	"github.com/flexiwan-gitops/reconciler/planner"
)

// Labels resolves path label names to ids: the labels of the live state,
// plus those created while the plan runs.
type Labels struct {
	mu   sync.Mutex
	byID map[string]string // name → id
}

// NewLabels starts from the given name → id pairs.
func NewLabels(known map[string]string) *Labels {
	l := &Labels{byID: map[string]string{}}
	for k, v := range known {
		l.byID[k] = v
	}
	return l
}

// Set records a label's id.
func (l *Labels) Set(name, id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.byID[name] = id
}

// Delete forgets a label.
func (l *Labels) Delete(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.byID, name)
}

// ID returns the id of a label, reading the organization's labels once if
// it is not known yet.
func (l *Labels) ID(ctx context.Context, c *fleximanage.Client, name string) (string, error) {
	l.mu.Lock()
	id, ok := l.byID[name]
	l.mu.Unlock()
	if ok {
		return id, nil
	}
	ls, err := c.PathLabels(ctx)
	if err != nil {
		return "", err
	}
	for _, x := range ls {
		l.Set(x.Name, x.ID)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if id, ok := l.byID[name]; ok {
		return id, nil
	}
	return "", fmt.Errorf("path label %q does not exist in flexiManage", name)
}

// Sent is the answer to one step's request.
type Sent struct {
	JobIDs  []fleximanage.JobID
	Status  fleximanage.ApplyStatus // apply calls only
	Message string
	// Untracked: flexiManage accepted the call but answered without job
	// ids (more than 1000 tasks).
	Untracked bool
	// Skipped explains why nothing was sent (e.g. every tunnel to delete
	// was already gone).
	Skipped string
}

// ErrNothingActive is returned when a deltunnels step finds none of its
// tunnels still active.
var errNothingActive = errors.New("none of the tunnels is still active")

// Send performs one step against flexiManage.
func Send(ctx context.Context, c *fleximanage.Client, st *planner.Step, labels *Labels) (Sent, error) {
	switch st.Action {
	case planner.CreateLabel, planner.UpdateLabel:
		lp := st.Label
		req := fleximanage.PathLabelRequest{Name: lp.Name, Description: lp.Description, Color: lp.Color, Type: fleximanage.PathLabelType(lp.Type)}
		var l *fleximanage.PathLabel
		var err error
		if st.Action == planner.CreateLabel {
			l, err = c.CreatePathLabel(ctx, req)
		} else {
			l, err = c.UpdatePathLabel(ctx, lp.ID, req)
		}
		if err != nil {
			return Sent{}, err
		}
		labels.Set(l.Name, l.ID)
		return Sent{}, nil
	case planner.DeleteLabel:
		if err := c.DeletePathLabel(ctx, st.Label.ID); err != nil {
			if fleximanage.IsKind(err, fleximanage.KindNotFound) {
				labels.Delete(st.Label.Name)
				return Sent{Skipped: "the label is already gone"}, nil
			}
			return Sent{}, err
		}
		labels.Delete(st.Label.Name)
		return Sent{}, nil
	case planner.ModifyDevice:
		return sendModify(ctx, c, st, labels)
	case planner.CreateTunnels:
		ids := []string{}
		for _, name := range st.Tunnels.Labels {
			id, err := labels.ID(ctx, c, name)
			if err != nil {
				return Sent{}, err
			}
			ids = append(ids, id)
		}
		meta := fleximanage.TunnelsMeta{PathLabels: ids, Topology: fleximanage.Topology(st.Tunnels.Topology),
			AdvancedOptions: fleximanage.DefaultAdvancedOptions(), TunnelType: "site-to-site"}
		if st.Tunnels.Topology == string(fleximanage.HubAndSpoke) {
			meta.Hub = st.Tunnels.Hub.ID
		}
		return sendApply(ctx, c, fleximanage.ApplyRequest{Method: fleximanage.MethodTunnels, Devices: deviceMap(st.Devices), Meta: meta})
	case planner.DeleteTunnels:
		return sendDelTunnels(ctx, c, st)
	case planner.StartDevices:
		return sendApply(ctx, c, fleximanage.ApplyRequest{Method: fleximanage.MethodStart, Devices: deviceMap(st.Devices)})
	case planner.StopDevices:
		return sendApply(ctx, c, fleximanage.ApplyRequest{Method: fleximanage.MethodStop, Devices: deviceMap(st.Devices)})
	case planner.UpgradeDevices:
		return sendApply(ctx, c, fleximanage.ApplyRequest{Method: fleximanage.MethodUpgrade, Devices: deviceMap(st.Devices)})
	case planner.SyncDevice:
		res, err := c.ApplyDevice(ctx, st.Devices[0].ID, fleximanage.ApplyRequest{Method: fleximanage.MethodSync})
		if err != nil {
			return Sent{}, err
		}
		return Sent{JobIDs: res.IDs, Status: res.Status, Message: res.Message}, nil
	}
	return Sent{}, fmt.Errorf("step %d: unknown action %s", st.ID, st.Action)
}

func deviceMap(devs []planner.DeviceRef) map[string]bool {
	m := make(map[string]bool, len(devs))
	for _, d := range devs {
		m[d.ID] = true
	}
	return m
}

func sendApply(ctx context.Context, c *fleximanage.Client, req fleximanage.ApplyRequest) (Sent, error) {
	res, err := c.Apply(ctx, req)
	if err != nil {
		return Sent{}, err
	}
	return Sent{JobIDs: res.IDs, Status: res.Status, Message: res.Message, Untracked: res.Untracked()}, nil
}

// sendDelTunnels re-reads the active tunnels and deletes those of the step
// still active: deltunnels fails whole on a missing or inactive id. If it
// fails that way anyway (someone deleted one meanwhile), it re-reads once
// and retries.
func sendDelTunnels(ctx context.Context, c *fleximanage.Client, st *planner.Step) (Sent, error) {
	for attempt := 1; ; attempt++ {
		active, err := c.Tunnels(ctx)
		if err != nil {
			return Sent{}, err
		}
		still := map[string]bool{}
		for _, t := range active {
			still[t.ID] = true
		}
		ids := map[string]bool{}
		for _, d := range st.Deletes {
			if still[d.ID] {
				ids[d.ID] = true
			}
		}
		if len(ids) == 0 {
			return Sent{Skipped: errNothingActive.Error()}, nil
		}
		s, err := sendApply(ctx, c, fleximanage.ApplyRequest{Method: fleximanage.MethodDelTunnels, Devices: deviceMap(st.Devices), Tunnels: ids})
		if err != nil && attempt == 1 && fleximanage.IsKind(err, fleximanage.KindConflict) {
			continue
		}
		return s, err
	}
}

// sendModify reads the device whole, applies the step's edit and PUTs it
// back: everything the edit does not name is sent back as read.
func sendModify(ctx context.Context, c *fleximanage.Client, st *planner.Step, labels *Labels) (Sent, error) {
	e := st.Modify
	d, err := c.Device(ctx, e.Device.ID)
	if err != nil {
		return Sent{}, err
	}
	for _, fe := range e.Interfaces {
		f := d.Interface(fe.DevID)
		if f == nil {
			return Sent{}, fmt.Errorf("device %s has no interface %s (%s) any more", e.Device.Name, fe.Name, fe.DevID)
		}
		pls := []fleximanage.PathLabel{}
		for _, name := range fe.Labels {
			id, err := labels.ID(ctx, c, name)
			if err != nil {
				return Sent{}, err
			}
			pls = append(pls, fleximanage.PathLabel{ID: id, Name: name})
		}
		f.PathLabels = pls
	}
	if e.Routes != nil {
		var out []fleximanage.StaticRoute
		for _, r := range *e.Routes {
			var sr fleximanage.StaticRoute
			for _, old := range d.StaticRoutes {
				if r.ID != "" && old.ID == r.ID {
					sr = old
				}
			}
			sr.Destination, sr.Gateway, sr.IfName, sr.Metric = r.Destination, r.Gateway, r.IfName, fleximanage.FlexString(r.Metric)
			out = append(out, sr)
		}
		d.StaticRoutes = out
		if d.StaticRoutes == nil {
			d.StaticRoutes = []fleximanage.StaticRoute{}
		}
	}
	if e.DHCP != nil {
		var out []fleximanage.DHCP
		for _, h := range *e.DHCP {
			var dh fleximanage.DHCP
			for _, old := range d.DHCP {
				if (h.ID != "" && old.ID == h.ID) || old.Interface == h.Interface {
					dh = old
				}
			}
			dh.Interface, dh.RangeStart, dh.RangeEnd, dh.DNS = h.Interface, h.RangeStart, h.RangeEnd, append([]string{}, h.DNS...)
			out = append(out, dh)
		}
		d.DHCP = out
		if d.DHCP == nil {
			d.DHCP = []fleximanage.DHCP{}
		}
	}
	_, q, err := c.UpdateDevice(ctx, d)
	if err != nil {
		return Sent{}, err
	}
	return Sent{JobIDs: q.IDs}, nil
}
