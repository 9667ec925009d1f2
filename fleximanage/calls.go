package fleximanage

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Version returns flexiManage's backend version (GET /version, no auth).
func (c *Client) Version(ctx context.Context) (string, error) {
	var v struct {
		Version string `json:"version"`
	}
	_, err := c.do(ctx, request{op: "get version", method: http.MethodGet, path: "/version", route: "/version", noOrg: true, out: &v})
	return v.Version, err
}

// Organizations lists the organizations the access key reaches. flexiManage
// ignores ?org= here, so none is sent.
func (c *Client) Organizations(ctx context.Context) ([]Organization, error) {
	var orgs []Organization
	_, err := c.do(ctx, request{op: "list organizations", method: http.MethodGet, path: "/organizations", route: "/organizations", noOrg: true, out: &orgs})
	return orgs, err
}

// ErrOrgNotFound is returned by ResolveOrg when no organization matches.
var ErrOrgNotFound = errors.New("organization not found")

// ResolveOrg finds an organization by id or by name among those the key
// reaches. A name shared by several organizations is an error.
func (c *Client) ResolveOrg(ctx context.Context, idOrName string) (Organization, error) {
	orgs, err := c.Organizations(ctx)
	if err != nil {
		return Organization{}, err
	}
	var byName []Organization
	for _, o := range orgs {
		if o.ID == idOrName {
			return o, nil
		}
		if o.Name == idOrName {
			byName = append(byName, o)
		}
	}
	switch len(byName) {
	case 1:
		return byName[0], nil
	case 0:
		names := make([]string, 0, len(orgs))
		for _, o := range orgs {
			names = append(names, o.Name)
		}
		return Organization{}, fmt.Errorf("%w: %q (the access key reaches: %s)", ErrOrgNotFound, idOrName, strings.Join(names, ", "))
	default:
		ids := make([]string, 0, len(byName))
		for _, o := range byName {
			ids = append(ids, o.ID)
		}
		return Organization{}, fmt.Errorf("organization name %q is ambiguous (ids %s): give the id", idOrName, strings.Join(ids, ", "))
	}
}

// listAll pages through a list endpoint with offset and limit until it is
// exhausted, dropping items seen on an earlier page (the list can shift
// while it is read).
func listAll[T any](ctx context.Context, c *Client, op, path string, extra url.Values, id func(*T) string) ([]T, error) {
	var all []T
	seen := map[string]bool{}
	for offset := 0; ; {
		q := url.Values{}
		for k, v := range extra {
			q[k] = v
		}
		q.Set("offset", strconv.Itoa(offset))
		q.Set("limit", strconv.Itoa(c.pageSize))
		var page []T
		resp, err := c.do(ctx, request{op: op, method: http.MethodGet, path: path, route: path, query: q, out: &page})
		if err != nil {
			return nil, err
		}
		for i := range page {
			k := id(&page[i])
			if seen[k] {
				continue
			}
			seen[k] = true
			all = append(all, page[i])
		}
		if len(page) < c.pageSize {
			return all, nil
		}
		if total, err := strconv.Atoi(resp.header.Get("records-total")); err == nil && offset+len(page) >= total {
			return all, nil
		}
		offset += len(page)
	}
}

// Devices lists every device of the organization (GET /devices, detailed,
// paged). The list lacks bgp, routingFilters and advancedRouting: use Device
// to get a body for UpdateDevice.
func (c *Client) Devices(ctx context.Context) ([]Device, error) {
	return listAll(ctx, c, "list devices", "/devices", url.Values{"response": {"detailed"}}, func(d *Device) string { return d.ID })
}

// Device returns one device, complete (GET /devices/{id}, which answers an
// array of one).
func (c *Client) Device(ctx context.Context, id string) (*Device, error) {
	var ds []Device
	_, err := c.do(ctx, request{op: "get device", method: http.MethodGet, path: "/devices/" + pathID(id), route: "/devices/{id}", out: &ds})
	if err != nil {
		return nil, err
	}
	if len(ds) != 1 {
		return nil, &APIError{Op: "get device", Method: http.MethodGet, Path: "/api/devices/" + id, Status: http.StatusOK, Kind: KindServer,
			Message: fmt.Sprintf("expected an array of one device, got %d", len(ds))}
	}
	return &ds[0], nil
}

// Queued is what a write that may queue device jobs answers besides its
// body: the job ids (from the Location header) and the header itself.
type Queued struct {
	IDs      []JobID
	Location string
}

func queuedFrom(resp *response) (Queued, error) {
	loc := resp.header.Get("Location")
	if loc == "" {
		return Queued{}, nil
	}
	ids, _, err := ParseJobsLocation(loc)
	return Queued{IDs: ids, Location: loc}, err
}

// UpdateDevice sends the whole device (PUT /devices/{id}). Start from
// Device(ctx, id) and edit it: interfaces are matched by devId and must keep
// their _id; members this package does not model are sent back unchanged.
// It returns the updated device and the jobs queued (none when flexiManage
// answered 200: nothing needed pushing).
func (c *Client) UpdateDevice(ctx context.Context, d *Device) (*Device, Queued, error) {
	if d.ID == "" {
		return nil, Queued{}, errors.New("update device: the device has no _id")
	}
	var out Device
	resp, err := c.do(ctx, request{op: "update device " + d.Name, method: http.MethodPut, path: "/devices/" + pathID(d.ID), route: "/devices/{id}", body: d, out: &out})
	if err != nil {
		return nil, Queued{}, err
	}
	q, err := queuedFrom(resp)
	return &out, q, err
}

// DeviceStatus returns a device's connection and sync status.
func (c *Client) DeviceStatus(ctx context.Context, id string) (*DeviceStatus, error) {
	var st DeviceStatus
	_, err := c.do(ctx, request{op: "get device status", method: http.MethodGet, path: "/devices/" + pathID(id) + "/status", route: "/devices/{id}/status", out: &st})
	if err != nil {
		return nil, err
	}
	return &st, nil
}

// Tunnels lists the organization's active tunnels (GET /tunnels, paged).
func (c *Client) Tunnels(ctx context.Context) ([]Tunnel, error) {
	return listAll(ctx, c, "list tunnels", "/tunnels", nil, func(t *Tunnel) string { return t.ID })
}

// DeviceTunnels lists the active tunnels of one device, with full path
// labels (GET /devices/{id}/tunnels).
func (c *Client) DeviceTunnels(ctx context.Context, id string) ([]Tunnel, error) {
	var ts []Tunnel
	_, err := c.do(ctx, request{op: "list device tunnels", method: http.MethodGet, path: "/devices/" + pathID(id) + "/tunnels", route: "/devices/{id}/tunnels", out: &ts})
	return ts, err
}

// PathLabels lists the organization's path labels.
func (c *Client) PathLabels(ctx context.Context) ([]PathLabel, error) {
	var ls []PathLabel
	_, err := c.do(ctx, request{op: "list path labels", method: http.MethodGet, path: "/pathlabels", route: "/pathlabels", out: &ls})
	return ls, err
}

// PathLabel returns one path label.
func (c *Client) PathLabel(ctx context.Context, id string) (*PathLabel, error) {
	var l PathLabel
	_, err := c.do(ctx, request{op: "get path label", method: http.MethodGet, path: "/pathlabels/" + pathID(id), route: "/pathlabels/{id}", out: &l})
	if err != nil {
		return nil, err
	}
	return &l, nil
}

// CreatePathLabel creates a path label (201).
func (c *Client) CreatePathLabel(ctx context.Context, req PathLabelRequest) (*PathLabel, error) {
	var l PathLabel
	_, err := c.do(ctx, request{op: "create path label " + req.Name, method: http.MethodPost, path: "/pathlabels", route: "/pathlabels", body: req, out: &l})
	if err != nil {
		return nil, err
	}
	return &l, nil
}

// UpdatePathLabel replaces a path label (all fields are sent).
func (c *Client) UpdatePathLabel(ctx context.Context, id string, req PathLabelRequest) (*PathLabel, error) {
	var l PathLabel
	_, err := c.do(ctx, request{op: "update path label " + req.Name, method: http.MethodPut, path: "/pathlabels/" + pathID(id), route: "/pathlabels/{id}", body: req, out: &l})
	if err != nil {
		return nil, err
	}
	return &l, nil
}

// DeletePathLabel deletes a path label (204). It fails with KindConflict
// while devices, tunnels or policies use the label.
func (c *Client) DeletePathLabel(ctx context.Context, id string) error {
	_, err := c.do(ctx, request{op: "delete path label", method: http.MethodDelete, path: "/pathlabels/" + pathID(id), route: "/pathlabels/{id}"})
	return err
}

// ErrNoDevices is returned, before anything is sent, for an apply on many
// devices with an empty devices map: flexiManage would run it on every
// device of the organization.
var ErrNoDevices = errors.New("apply with no devices: flexiManage would apply it to every device of the organization")

// Apply runs an Apply API method on the devices of req.Devices
// (POST /devices/apply). An empty devices map is refused with ErrNoDevices.
// A tunnels call whose tunnels all exist answers 202 with no ids: that is
// success.
func (c *Client) Apply(ctx context.Context, req ApplyRequest) (*ApplyResult, error) {
	if len(req.Devices) == 0 {
		return nil, fmt.Errorf("apply %s: %w", req.Method, ErrNoDevices)
	}
	return c.apply(ctx, "/devices/apply", "/devices/apply", req)
}

// ApplyDevice runs an Apply API method on one device
// (POST /devices/{id}/apply). It cannot create tunnels (they need two
// devices); it can delete any tunnel of the organization.
func (c *Client) ApplyDevice(ctx context.Context, deviceID string, req ApplyRequest) (*ApplyResult, error) {
	return c.apply(ctx, "/devices/"+pathID(deviceID)+"/apply", "/devices/{id}/apply", req)
}

func (c *Client) apply(ctx context.Context, path, route string, req ApplyRequest) (*ApplyResult, error) {
	if tm, ok := req.Meta.(TunnelsMeta); ok && tm.PathLabels == nil {
		tm.PathLabels = []string{} // [] and null mean different things to flexiManage
		req.Meta = tm
	}
	var res ApplyResult
	resp, err := c.do(ctx, request{op: "apply " + string(req.Method), method: http.MethodPost, path: path, route: route, body: req, out: &res})
	if err != nil {
		return nil, err
	}
	res.Location = resp.header.Get("Location")
	return &res, nil
}

// jobsChunk bounds the ids per GET /jobs so that URLs stay short.
const jobsChunk = 100

// Jobs returns the jobs with the given ids (GET /jobs?status=all&ids=...),
// in as few requests as the URL length allows. flexiManage fails the whole
// request (KindNotFound) if any id no longer exists.
func (c *Client) Jobs(ctx context.Context, ids []JobID) ([]Job, error) {
	out := make([]Job, 0, len(ids))
	for start := 0; start < len(ids); start += jobsChunk {
		chunk := ids[start:min(start+jobsChunk, len(ids))]
		var js []Job
		q := url.Values{"status": {"all"}, "ids": {joinIDs(chunk)}}
		if _, err := c.do(ctx, request{op: "get jobs", method: http.MethodGet, path: "/jobs", route: "/jobs", query: q, out: &js}); err != nil {
			return nil, err
		}
		out = append(out, js...)
	}
	return out, nil
}

// ParseJobsLocation reads the job ids and org out of a Location header as
// flexiManage sets it: .../api/jobs?status=all&ids=1%2C2&org=<org>.
func ParseJobsLocation(loc string) (ids []JobID, org string, err error) {
	u, err := url.Parse(loc)
	if err != nil {
		return nil, "", fmt.Errorf("job location %q: %w", loc, err)
	}
	if !strings.HasSuffix(u.Path, "/api/jobs") {
		return nil, "", fmt.Errorf("job location %q: not a jobs URL", loc)
	}
	q := u.Query()
	for _, s := range strings.Split(q.Get("ids"), ",") {
		if s == "" {
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, "", fmt.Errorf("job location %q: bad id %q", loc, s)
		}
		ids = append(ids, JobID(n))
	}
	return ids, q.Get("org"), nil
}

// JobsAt follows a Location header of an apply or write answer. Only the
// ids are taken from it; the request goes to this client's server.
func (c *Client) JobsAt(ctx context.Context, location string) ([]Job, error) {
	ids, org, err := ParseJobsLocation(location)
	if err != nil {
		return nil, err
	}
	if org != "" && c.org != "" && org != c.org {
		return nil, fmt.Errorf("job location is for organization %s, the client is for %s", org, c.org)
	}
	return c.Jobs(ctx, ids)
}

// Job returns one job (GET /jobs/{id}). A job that no longer exists is
// KindNotFound (flexiManage answers 500 "doesnt exist").
func (c *Client) Job(ctx context.Context, id JobID) (*Job, error) {
	var j Job
	_, err := c.do(ctx, request{op: "get job", method: http.MethodGet, path: "/jobs/" + id.String(), route: "/jobs/{id}", out: &j})
	if err != nil {
		return nil, err
	}
	return &j, nil
}

// DeleteJob removes a job (DELETE /jobs/{id}).
func (c *Client) DeleteJob(ctx context.Context, id JobID) error {
	_, err := c.do(ctx, request{op: "delete job", method: http.MethodDelete, path: "/jobs/" + id.String(), route: "/jobs/{id}"})
	return err
}

// StaticRouteRequest is a static route to add or re-apply through the
// /staticroutes endpoints. IfName is an interface devId.
type StaticRouteRequest struct {
	Destination string `json:"destination"`
	Gateway     string `json:"gateway"`
	IfName      string `json:"ifname,omitempty"`
	Metric      string `json:"metric,omitempty"`
	Status      string `json:"status,omitempty"`
}

// flexiManage reads these bodies from a staticRouteRequest member (the body
// is flattened into the parameters, so only a wrapped body works).
type wrappedRoute struct {
	StaticRouteRequest StaticRouteRequest `json:"staticRouteRequest"`
}

func devPath(deviceID, rest string) string { return "/devices/" + pathID(deviceID) + rest }

// StaticRoutes lists a device's static routes.
func (c *Client) StaticRoutes(ctx context.Context, deviceID string) ([]StaticRoute, error) {
	var rs []StaticRoute
	_, err := c.do(ctx, request{op: "list static routes", method: http.MethodGet, path: devPath(deviceID, "/staticroutes"), route: "/devices/{id}/staticroutes", out: &rs})
	return rs, err
}

// AddStaticRoute adds a route and queues one job on the device (201).
func (c *Client) AddStaticRoute(ctx context.Context, deviceID string, r StaticRouteRequest) (*StaticRoute, Queued, error) {
	var out StaticRoute
	resp, err := c.do(ctx, request{op: "add static route " + r.Destination, method: http.MethodPost, path: devPath(deviceID, "/staticroutes"), route: "/devices/{id}/staticroutes", body: wrappedRoute{r}, out: &out})
	if err != nil {
		return nil, Queued{}, err
	}
	q, err := queuedFrom(resp)
	return &out, q, err
}

// patchedRoute is the body of a PATCH: flexiManage takes the route's id from
// the body's _id (it never reads the path's), and removes the route by that
// id when the removal job completes.
type patchedRoute struct {
	StaticRouteRequest struct {
		ID string `json:"_id"`
		StaticRouteRequest
	} `json:"staticRouteRequest"`
}

// UpdateStaticRoute re-queues a route's add (Status "add-failed") or removal
// (PATCH).
func (c *Client) UpdateStaticRoute(ctx context.Context, deviceID, routeID string, r StaticRouteRequest) (Queued, error) {
	var body patchedRoute
	body.StaticRouteRequest.ID, body.StaticRouteRequest.StaticRouteRequest = routeID, r
	resp, err := c.do(ctx, request{op: "update static route", method: http.MethodPatch, path: devPath(deviceID, "/staticroutes/"+pathID(routeID)), route: "/devices/{id}/staticroutes/{route}", body: body})
	if err != nil {
		return Queued{}, err
	}
	return queuedFrom(resp)
}

// DeleteStaticRoute queues a route's removal (204); the route leaves the
// device's list when its job completes.
func (c *Client) DeleteStaticRoute(ctx context.Context, deviceID, routeID string) (Queued, error) {
	resp, err := c.do(ctx, request{op: "delete static route", method: http.MethodDelete, path: devPath(deviceID, "/staticroutes/"+pathID(routeID)), route: "/devices/{id}/staticroutes/{route}"})
	if err != nil {
		return Queued{}, err
	}
	return queuedFrom(resp)
}

// DHCPRequest is a DHCP server entry to create or replace. MacAssign is
// always sent as an array.
type DHCPRequest struct {
	Interface  string   `json:"interface"`
	RangeStart string   `json:"rangeStart"`
	RangeEnd   string   `json:"rangeEnd"`
	DNS        []string `json:"dns"`
	MacAssign  []any    `json:"macAssign"`
}

func (r DHCPRequest) normalized() DHCPRequest {
	if r.DNS == nil {
		r.DNS = []string{}
	}
	if r.MacAssign == nil {
		r.MacAssign = []any{}
	}
	return r
}

// DHCPs lists a device's DHCP server entries.
func (c *Client) DHCPs(ctx context.Context, deviceID string) ([]DHCP, error) {
	var ds []DHCP
	_, err := c.do(ctx, request{op: "list dhcp", method: http.MethodGet, path: devPath(deviceID, "/dhcp"), route: "/devices/{id}/dhcp", out: &ds})
	return ds, err
}

// DHCPEntry returns one DHCP entry.
func (c *Client) DHCPEntry(ctx context.Context, deviceID, dhcpID string) (*DHCP, error) {
	var d DHCP
	_, err := c.do(ctx, request{op: "get dhcp", method: http.MethodGet, path: devPath(deviceID, "/dhcp/"+pathID(dhcpID)), route: "/devices/{id}/dhcp/{dhcpId}", out: &d})
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// AddDHCP creates a DHCP entry and queues one job (202).
func (c *Client) AddDHCP(ctx context.Context, deviceID string, r DHCPRequest) (*DHCP, Queued, error) {
	return c.dhcpWrite(ctx, "add dhcp", http.MethodPost, devPath(deviceID, "/dhcp"), "/devices/{id}/dhcp", r.normalized())
}

// UpdateDHCP replaces a DHCP entry and queues a modify job (202).
func (c *Client) UpdateDHCP(ctx context.Context, deviceID, dhcpID string, r DHCPRequest) (*DHCP, Queued, error) {
	return c.dhcpWrite(ctx, "update dhcp", http.MethodPut, devPath(deviceID, "/dhcp/"+pathID(dhcpID)), "/devices/{id}/dhcp/{dhcpId}", r.normalized())
}

// ReapplyDHCP re-queues a failed DHCP entry (PATCH, 202).
func (c *Client) ReapplyDHCP(ctx context.Context, deviceID, dhcpID string) (*DHCP, Queued, error) {
	return c.dhcpWrite(ctx, "reapply dhcp", http.MethodPatch, devPath(deviceID, "/dhcp/"+pathID(dhcpID)), "/devices/{id}/dhcp/{dhcpId}", struct{}{})
}

func (c *Client) dhcpWrite(ctx context.Context, op, method, path, route string, body any) (*DHCP, Queued, error) {
	var d DHCP
	resp, err := c.do(ctx, request{op: op, method: method, path: path, route: route, body: body, out: &d})
	if err != nil {
		return nil, Queued{}, err
	}
	q, err := queuedFrom(resp)
	return &d, q, err
}

// DeleteDHCP queues a DHCP entry's removal (202). With force the entry is
// removed from flexiManage at once instead of when the job completes.
func (c *Client) DeleteDHCP(ctx context.Context, deviceID, dhcpID string, force bool) (Queued, error) {
	f := "no"
	if force {
		f = "yes"
	}
	resp, err := c.do(ctx, request{op: "delete dhcp", method: http.MethodDelete, path: devPath(deviceID, "/dhcp/"+pathID(dhcpID)), route: "/devices/{id}/dhcp/{dhcpId}", query: url.Values{"force": {f}}})
	if err != nil {
		return Queued{}, err
	}
	return queuedFrom(resp)
}

// JobsByState lists the organization's jobs in one state, newest first, at
// most limit of them (GET /jobs?status=<state>&limit=).
func (c *Client) JobsByState(ctx context.Context, state JobState, limit int) ([]Job, error) {
	var js []Job
	q := url.Values{"status": {string(state)}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	_, err := c.do(ctx, request{op: "list jobs", method: http.MethodGet, path: "/jobs", route: "/jobs", query: q, out: &js})
	return js, err
}
