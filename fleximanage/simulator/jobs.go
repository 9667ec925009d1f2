package simulator

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// job is a kue job: one FIFO queue per device (keyed by machineId), one
// active job per device at a time.
type job struct {
	id        int64
	org       string
	machineID string
	deviceID  string
	title     string
	tasks     []jobTask
	method    string // data.response.method; "" for a response of {}
	respData  any
	username  string
	state     string
	createdAt time.Time
	updatedAt time.Time
	errText   string
	made      bool // an attempt was made

	// effect runs (with s.mu held) when the job ends: ok is true on
	// complete. remove runs when the job is deleted before it ended.
	effect func(ok bool)
	remove func()
}

type jobTask struct {
	Entity  string `json:"entity"`
	Message string `json:"message"`
	Params  any    `json:"params,omitempty"`
}

type queue struct {
	machineID string
	pending   []*job
	active    *job
	timer     *time.Timer
}

const jobUsername = "simulator"

// enqueueLocked queues a job on device d.
func (s *Simulator) enqueueLocked(d *device, title string, tasks []jobTask, method string, data any, effect func(ok bool)) *job {
	s.nextJob++
	now := time.Now()
	j := &job{
		id: s.nextJob, org: d.org, machineID: d.machineID, deviceID: d.id,
		title: title, tasks: tasks, method: method, respData: data, username: jobUsername,
		state: "inactive", createdAt: now, updatedAt: now, effect: effect,
	}
	s.jobs[j.id] = j
	s.jobOrder = append(s.jobOrder, j.id)
	q := s.queueLocked(d.machineID)
	q.pending = append(q.pending, j)
	if d.sync.state != "not-synced" {
		d.sync.state = "syncing"
	}
	s.kickLocked(q)
	s.notifyLocked()
	return j
}

func (s *Simulator) queueLocked(machineID string) *queue {
	q := s.queues[machineID]
	if q == nil {
		q = &queue{machineID: machineID}
		s.queues[machineID] = q
	}
	return q
}

func (s *Simulator) deviceByMachineLocked(machineID string) *device {
	return s.devByMachine[machineID]
}

// runnableLocked: only an approved, connected device takes jobs.
func (s *Simulator) runnableLocked(machineID string) bool {
	d := s.deviceByMachineLocked(machineID)
	return d != nil && d.approved && d.connected
}

// kickLocked starts the next job of q if the device can take it.
func (s *Simulator) kickLocked(q *queue) {
	if s.closed || q.active != nil || len(q.pending) == 0 || !s.runnableLocked(q.machineID) {
		return
	}
	j := q.pending[0]
	q.pending = q.pending[1:]
	j.state = "active"
	j.made = true
	j.updatedAt = time.Now()
	q.active = j
	q.timer = time.AfterFunc(s.jobLatency, func() { s.finishJob(q, j) })
}

func (s *Simulator) finishJob(q *queue, j *job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q.active != j {
		return // requeued (device disconnected) or deleted meanwhile
	}
	q.active, q.timer = nil, nil
	d := s.devByID[j.deviceID]
	name := ""
	if d != nil {
		name = d.name
	}
	method := j.method
	if method == "" {
		method = "pre-upgrade"
	}
	if msg, fail := s.faults.jobFailure(name, method); fail {
		j.state = "failed"
		j.errText = msg
	} else {
		j.state = "complete"
	}
	j.updatedAt = time.Now()
	if j.effect != nil {
		j.effect(j.state == "complete")
	}
	if d != nil && len(q.pending) == 0 && d.sync.state == "syncing" {
		d.sync.state = "synced"
	}
	s.kickLocked(q)
	s.notifyLocked()
}

// setConnectedLocked connects or disconnects a device. A disconnected
// device's active job goes back to the head of its queue, inactive.
func (s *Simulator) setConnectedLocked(d *device, up bool) {
	d.connected = up
	q := s.queueLocked(d.machineID)
	if !up && q.active != nil {
		if q.timer != nil {
			q.timer.Stop()
		}
		j := q.active
		j.state = "inactive"
		j.updatedAt = time.Now()
		q.pending = append([]*job{j}, q.pending...)
		q.active, q.timer = nil, nil
	}
	s.kickLocked(q)
	s.notifyLocked()
}

// SetConnected connects or disconnects the device with the given name (or
// id) in every organization. Jobs of a disconnected device stay inactive.
func (s *Simulator) SetConnected(device string, up bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	found := false
	for _, d := range s.devices {
		if d.name == device || d.id == device {
			s.setConnectedLocked(d, up)
			found = true
		}
	}
	return found
}

// wireJob is a job as selectJobsParams renders it.
type wireJob struct {
	ID        any             `json:"_id"`
	Type      string          `json:"type"`
	Device    *wireJobDevice  `json:"device,omitempty"`
	Data      wireJobData     `json:"data"`
	Result    *wireJobResp    `json:"result,omitempty"`
	CreatedAt string          `json:"created_at"`
	Attempts  wireAttempts    `json:"attempts"`
	State     string          `json:"state"`
	Priority  int             `json:"priority"`
	Progress  string          `json:"progress,omitempty"`
	Error     json.RawMessage `json:"error,omitempty"`
}

type wireJobDevice struct {
	ID        string `json:"_id"`
	MachineID string `json:"machineId"`
	Name      string `json:"name"`
	Hostname  string `json:"hostname"`
}

type wireJobData struct {
	Message struct {
		Title string    `json:"title"`
		Tasks []jobTask `json:"tasks"`
	} `json:"message"`
	Response any          `json:"response"`
	Metadata wireMetadata `json:"metadata"`
}

type wireJobResp struct {
	Method string `json:"method"`
	Data   any    `json:"data"`
}

type wireMetadata struct {
	Target     string `json:"target"`
	Username   string `json:"username"`
	Org        string `json:"org"`
	Init       bool   `json:"init"`
	JobUpdated bool   `json:"jobUpdated"`
}

type wireAttempts struct {
	Max       int `json:"max"`
	Made      int `json:"made"`
	Remaining int `json:"remaining"`
}

func (s *Simulator) renderJobLocked(j *job, withDevice bool, idAsString bool) wireJob {
	w := wireJob{
		Type: j.machineID, State: j.state, CreatedAt: strconv.FormatInt(j.createdAt.UnixMilli(), 10),
		Attempts: wireAttempts{Max: 1, Remaining: 1},
	}
	if idAsString {
		w.ID = strconv.FormatInt(j.id, 10)
	} else {
		w.ID = j.id
	}
	if j.made {
		w.Attempts.Made, w.Attempts.Remaining = 1, 0
	}
	if withDevice {
		if d := s.devByID[j.deviceID]; d != nil {
			w.Device = &wireJobDevice{ID: d.id, MachineID: d.machineID, Name: d.name, Hostname: d.hostname}
		}
	}
	w.Data.Message.Title = j.title
	w.Data.Message.Tasks = j.tasks
	var resp any = map[string]any{}
	if j.method != "" {
		resp = wireJobResp{Method: j.method, Data: j.respData}
	}
	w.Data.Response = resp
	w.Data.Metadata = wireMetadata{Target: j.machineID, Username: j.username, Org: j.org}
	switch j.state {
	case "complete":
		if j.method != "" {
			w.Result = &wireJobResp{Method: j.method, Data: j.respData}
		}
		w.Progress = "100"
	case "failed":
		w.Error = raw(map[string]any{"errors": []any{map[string]any{"command": map[string]string{"func": j.title}, "error": j.errText}}})
	}
	return w
}

var jobStates = map[string]bool{"all": true, "complete": true, "failed": true, "inactive": true, "delayed": true, "active": true}

// getJobs serves GET /jobs?status=&ids=&org=&offset=&limit=&filters=.
func (s *Simulator) getJobs(c *call) (reply, *apiError) {
	status := c.query.Get("status")
	if !jobStates[status] {
		return reply{}, svcErr(http.StatusBadRequest, "Unsupported query state")
	}
	_, hasIDs := c.query["ids"]
	if hasIDs && status != "all" {
		return reply{}, svcErr(http.StatusBadRequest, `When using Job IDs, status must be "all"`)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	orgs, aerr := s.orgListLocked(c, true)
	if aerr != nil {
		return reply{}, aerr
	}
	org := ""
	if len(orgs) > 0 {
		org = orgs[0]
	}
	if hasIDs {
		out := []wireJob{}
		for _, part := range strings.Split(c.query.Get("ids"), ",") {
			j, aerr := s.jobByRefLocked(part, org)
			if aerr != nil {
				return reply{}, aerr
			}
			out = append(out, s.renderJobLocked(j, true, false))
		}
		return reply{body: out}, nil
	}
	flt, aerr := parseFilters(c.query.Get("filters"))
	if aerr != nil {
		return reply{}, aerr
	}
	offset, _ := queryInt(c.query, "offset")
	limit, hasLimit := queryInt(c.query, "limit")
	out := []wireJob{}
	skipped := 0
	for i := len(s.jobOrder) - 1; i >= 0; i-- {
		j := s.jobs[s.jobOrder[i]]
		if j == nil || j.org != org || (status != "all" && j.state != status) {
			continue
		}
		w := s.renderJobLocked(j, true, false)
		if flt != nil {
			ok, aerr := flt.match(w)
			if aerr != nil {
				return reply{}, aerr
			}
			if !ok {
				continue
			}
		}
		if skipped < offset {
			skipped++
			continue
		}
		if hasLimit && limit > 0 && len(out) >= limit {
			break
		}
		out = append(out, w)
	}
	return reply{body: out}, nil
}

// jobByRefLocked finds a job by the text of its id, with kue's and
// flexiManage's errors.
func (s *Simulator) jobByRefLocked(ref, org string) (*job, *apiError) {
	ref = strings.TrimSpace(ref)
	n, err := strconv.ParseInt(ref, 10, 64)
	shown := ref
	switch {
	case ref == "":
		shown = "0"
	case err != nil:
		shown = "NaN"
	}
	j := s.jobs[n]
	if err != nil || j == nil {
		return nil, svcErr(http.StatusInternalServerError, "job %q doesnt exist", shown)
	}
	if j.org != org {
		return nil, svcErr(http.StatusInternalServerError, "Job not found in org")
	}
	return j, nil
}

// getJob serves GET /jobs/{id}. kue keeps the id as it was asked for, so
// _id comes back as a string here.
func (s *Simulator) getJob(c *call) (reply, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	orgs, aerr := s.orgListLocked(c, true)
	if aerr != nil {
		return reply{}, aerr
	}
	org := ""
	if len(orgs) > 0 {
		org = orgs[0]
	}
	j, aerr := s.jobByRefLocked(c.params["id"], org)
	if aerr != nil {
		return reply{}, aerr
	}
	return reply{body: s.renderJobLocked(j, false, true)}, nil
}

// deleteJob serves DELETE /jobs/{id}.
func (s *Simulator) deleteJob(c *call) (reply, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	orgs, aerr := s.orgListLocked(c, true)
	if aerr != nil {
		return reply{}, aerr
	}
	org := ""
	if len(orgs) > 0 {
		org = orgs[0]
	}
	j, aerr := s.jobByRefLocked(c.params["id"], org)
	if aerr != nil {
		return reply{}, aerr
	}
	s.removeJobLocked(j)
	return reply{status: http.StatusNoContent}, nil
}

// deleteJobs serves DELETE /jobs with {ids} or {filters} (or neither: every
// job of the org).
func (s *Simulator) deleteJobs(c *call) (reply, *apiError) {
	idsRaw, hasIDs := c.body["ids"]
	fltRaw, hasFlt := c.body["filters"]
	if hasIDs && hasFlt {
		return reply{}, svcErr(http.StatusBadRequest, "Only ids or filters can be specified as a parameter")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	orgs, aerr := s.orgListLocked(c, true)
	if aerr != nil {
		return reply{}, aerr
	}
	org := ""
	if len(orgs) > 0 {
		org = orgs[0]
	}
	var victims []*job
	switch {
	case hasIDs:
		var list []json.RawMessage
		if json.Unmarshal(idsRaw, &list) != nil {
			return reply{}, svcErr(http.StatusInternalServerError, "ids.map is not a function")
		}
		for _, r := range list {
			var ref string
			if json.Unmarshal(r, &ref) != nil {
				ref = strings.TrimSpace(string(r))
			}
			j, aerr := s.jobByRefLocked(ref, org)
			if aerr != nil {
				return reply{}, aerr
			}
			victims = append(victims, j)
		}
	default:
		var flt *filterSet
		if hasFlt {
			var arr []json.RawMessage
			if json.Unmarshal(fltRaw, &arr) != nil {
				return reply{}, svcErr(http.StatusInternalServerError, "filters?.some is not a function")
			}
			f, aerr := parseFilters(string(fltRaw))
			if aerr != nil {
				return reply{}, aerr
			}
			flt = f
		}
		for _, id := range s.jobOrder {
			j := s.jobs[id]
			if j == nil || j.org != org {
				continue
			}
			if flt != nil {
				ok, aerr := flt.match(s.renderJobLocked(j, true, false))
				if aerr != nil {
					return reply{}, aerr
				}
				if !ok {
					continue
				}
			}
			victims = append(victims, j)
		}
	}
	for _, j := range victims {
		s.removeJobLocked(j)
	}
	return reply{status: http.StatusNoContent}, nil
}

// removeJobLocked deletes a job in any state and runs its remove callback
// when it had not ended.
func (s *Simulator) removeJobLocked(j *job) {
	delete(s.jobs, j.id)
	q := s.queueLocked(j.machineID)
	if q.active == j {
		if q.timer != nil {
			q.timer.Stop()
		}
		q.active, q.timer = nil, nil
	}
	for i, p := range q.pending {
		if p == j {
			q.pending = append(q.pending[:i:i], q.pending[i+1:]...)
			break
		}
	}
	if j.state != "complete" && j.state != "failed" && j.remove != nil {
		j.remove()
	}
	s.kickLocked(q)
	s.notifyLocked()
}

// JobCounts reports how many jobs are in each state (for tests and logs).
func (s *Simulator) JobCounts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, j := range s.jobs {
		out[j.state]++
	}
	return out
}

// jobIDs returns the ids of jobs in order.
func jobIDs(js []*job) []int64 {
	out := make([]int64, len(js))
	for i, j := range js {
		out[i] = j.id
	}
	return out
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
