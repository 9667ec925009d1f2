package daemon

import (
	"sync"
	"time"

	"github.com/flexiwan-gitops/reconciler/planner"
)

// Result is a reconcile's outcome class.
type Result string

const (
	ResultSuccess   Result = "success"
	ResultTransient Result = "transient"
	ResultTerminal  Result = "terminal"
)

// Outcome is how the last reconcile ended.
type Outcome struct {
	Result Result    `json:"result"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// Status is what GET /status answers.
type Status struct {
	Mode                  Mode             `json:"mode"`
	Ready                 bool             `json:"ready"`
	Reconciling           bool             `json:"reconciling"`
	LastAttemptedRevision string           `json:"lastAttemptedRevision"`
	LastAppliedRevision   string           `json:"lastAppliedRevision"`
	LastOutcome           *Outcome         `json:"lastOutcome,omitempty"`
	Drift                 map[string]int   `json:"drift"`
	Plan                  *planner.Summary `json:"plan,omitempty"`
	Notes                 []string         `json:"notes,omitempty"`
	JobsInFlight          int              `json:"jobsInFlight"`
	NextRun               time.Time        `json:"nextRun"`
	Organization          string           `json:"organization"`
	Source                string           `json:"source"`

	planMarkdown string
}

type statusStore struct {
	mu sync.Mutex
	s  Status
}

func (st *statusStore) get() Status {
	st.mu.Lock()
	defer st.mu.Unlock()
	c := st.s
	c.Drift = make(map[string]int, len(st.s.Drift))
	for k, v := range st.s.Drift {
		c.Drift[k] = v
	}
	c.Notes = append([]string(nil), st.s.Notes...)
	return c
}

func (st *statusStore) update(f func(s *Status)) {
	st.mu.Lock()
	defer st.mu.Unlock()
	f(&st.s)
}

// driftOf counts a plan's changes by kind.
func driftOf(p *planner.Plan) map[string]int {
	s := p.Summary
	d := map[string]int{
		"tunnelsToCreate":  s.TunnelsCreated,
		"tunnelsToDelete":  s.TunnelsDeleted,
		"tunnelsToRepair":  s.TunnelsRepaired,
		"devicesToModify":  s.DevicesChanged,
		"labelsToCreate":   s.LabelsCreated,
		"labelsToUpdate":   s.LabelsUpdated,
		"labelsToDelete":   s.LabelsDeleted,
		"routesToChange":   s.RoutesAdded + s.RoutesChanged + s.RoutesRemoved,
		"dhcpToChange":     s.DHCPAdded + s.DHCPChanged + s.DHCPRemoved,
		"devicesToStart":   s.Started,
		"devicesToStop":    s.Stopped,
		"devicesToUpgrade": s.Upgraded,
		"unmanaged":        s.Unmanaged,
	}
	return d
}
