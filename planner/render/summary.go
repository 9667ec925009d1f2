package render

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/flexiwan-gitops/reconciler/planner"
)

var errNilPlan = errors.New("render: nil plan")

// noChanges is what every renderer says about an empty plan.
const noChanges = "No changes. The network matches the source."

// count is one figure of a plan's summary: n <noun> to <verb>.
type count struct {
	one, many string // the noun, singular and plural
	verb      string
	n         int
	always    bool // shown even when zero, like Terraform's "0 to destroy"
}

// counts lists the summary's figures in the order people read them: tunnels
// first (what the plan is mostly about), then devices, labels, routes, DHCP.
func counts(s planner.Summary) []count {
	return []count{
		{"tunnel", "tunnels", "create", s.TunnelsCreated, true},
		{"tunnel", "tunnels", "delete", s.TunnelsDeleted, true},
		{"tunnel", "tunnels", "repair", s.TunnelsRepaired, false},
		{"device", "devices", "modify", s.DevicesChanged, true},
		{"device", "devices", "start", s.Started, false},
		{"device", "devices", "stop", s.Stopped, false},
		{"device", "devices", "upgrade", s.Upgraded, false},
		{"path label", "path labels", "create", s.LabelsCreated, false},
		{"path label", "path labels", "update", s.LabelsUpdated, false},
		{"path label", "path labels", "delete", s.LabelsDeleted, false},
		{"static route", "static routes", "add", s.RoutesAdded, false},
		{"static route", "static routes", "change", s.RoutesChanged, false},
		{"static route", "static routes", "remove", s.RoutesRemoved, false},
		{"DHCP server", "DHCP servers", "add", s.DHCPAdded, false},
		{"DHCP server", "DHCP servers", "change", s.DHCPChanged, false},
		{"DHCP server", "DHCP servers", "remove", s.DHCPRemoved, false},
	}
}

// plural returns "1 call" or "3 calls".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// summaryLine is Terraform's "Plan: 1 to add, 0 to change, 0 to destroy."
// in the plan's terms: "Plan: 14 tunnels to create, 0 to delete, 8 devices
// to modify, 2 path labels to create (13 calls, 33 jobs expected)." The noun
// is said once per group.
func summaryLine(s planner.Summary) string {
	var parts []string
	last := ""
	for _, c := range counts(s) {
		if c.n == 0 && !c.always {
			continue
		}
		if c.many == last {
			parts = append(parts, fmt.Sprintf("%d to %s", c.n, c.verb))
			continue
		}
		last = c.many
		parts = append(parts, plural(c.n, c.one, c.many)+" to "+c.verb)
	}
	return fmt.Sprintf("Plan: %s (%s, %s expected).", strings.Join(parts, ", "),
		plural(s.Calls, "call", "calls"), plural(s.ExpectedJobs, "job", "jobs"))
}

// row is one line of the Markdown summary table.
type row struct {
	what, count string
}

func summaryRows(p *planner.Plan) []row {
	s := p.Summary
	var rows []row
	for _, c := range counts(s) {
		if c.n == 0 && !c.always {
			continue
		}
		what := strings.ToUpper(c.many[:1]) + c.many[1:] + " to " + c.verb
		rows = append(rows, row{what, fmt.Sprint(c.n)})
	}
	if s.Deletions > 0 {
		rows = append(rows, row{"Deletions (all kinds)", fmt.Sprintf("%d (max %d)", s.Deletions, p.MaxDeletions)})
	}
	if n := len(p.Unmanaged); n > 0 {
		rows = append(rows, row{"Unmanaged objects kept", fmt.Sprint(n)})
	}
	rows = append(rows, row{"API calls", fmt.Sprint(s.Calls)}, row{"Jobs expected", fmt.Sprint(s.ExpectedJobs)})
	return rows
}

// verdict is the one-line answer to "what does this PR do to the network".
func verdict(p *planner.Plan) string {
	if p.Empty() {
		s := "No changes. The network matches the source."
		if n := len(p.Unmanaged); n > 0 {
			s += fmt.Sprintf(" %s kept (not declared).", plural(n, "unmanaged object", "unmanaged objects"))
		}
		return s
	}
	s := p.Summary
	out := fmt.Sprintf("This plan changes the network: %s, %s expected", plural(s.Calls, "API call", "API calls"), plural(s.ExpectedJobs, "job", "jobs"))
	if s.Deletions > 0 {
		out += fmt.Sprintf("; it deletes %s (max %d)", plural(s.Deletions, "object", "objects"), p.MaxDeletions)
	} else {
		out += "; nothing is deleted"
	}
	if n := len(p.Unmanaged); n > 0 {
		out += fmt.Sprintf("; %s kept", plural(n, "unmanaged object", "unmanaged objects"))
	}
	return out + "."
}

// short abbreviates a git SHA to 7 characters and a digest such as
// "sha256:<64 hex>" to its algorithm and 12 characters. Anything else is
// returned unchanged.
func short(s string) string {
	if s == "" {
		return "(unknown)"
	}
	prefix, tail, n := "", s, 7
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		prefix, tail, n = s[:i+1], s[i+1:], 12
	}
	if len(tail) <= n || !isHex(tail) {
		return s
	}
	return prefix + tail[:n]
}

func isHex(s string) bool {
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F') {
			return false
		}
	}
	return s != ""
}

func orgName(o planner.Org) string {
	switch {
	case o.Name != "" && o.ID != "" && o.Name != o.ID:
		return o.Name + " (" + o.ID + ")"
	case o.Name != "":
		return o.Name
	case o.ID != "":
		return o.ID
	}
	return "(unknown organization)"
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// phaseGroup is the steps of one phase, in plan order.
type phaseGroup struct {
	phase planner.Phase
	steps []planner.Step
}

// byPhase groups the steps by phase, phases in execution order and steps in
// plan order within a phase (the planner already orders them this way; a
// hand-edited plan is shown the way it will run).
func byPhase(steps []planner.Step) []phaseGroup {
	idx := map[planner.Phase]int{}
	var out []phaseGroup
	for _, s := range steps {
		i, ok := idx[s.Phase]
		if !ok {
			i = len(out)
			idx[s.Phase] = i
			out = append(out, phaseGroup{phase: s.Phase})
		}
		out[i].steps = append(out[i].steps, s)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].phase < out[j].phase })
	return out
}

func phaseTitle(ph planner.Phase) string {
	if t := ph.Title(); t != "" {
		return t
	}
	return ph.String()
}

// mark is a detail line's kind: added, removed, changed or neutral.
type mark byte

const (
	markAdd     mark = '+'
	markRemove  mark = '-'
	markChange  mark = '~'
	markNeutral mark = ' '
)

// detail is one indented line under a step.
type detail struct {
	mark mark
	text string
}

// jobsText says how many jobs a step queues.
func jobsText(n int) string {
	if n == 0 {
		return "no job"
	}
	return plural(n, "job", "jobs")
}

// afterText is "after step 3" or "after steps 3, 4", with the wave first
// for upgrades; "" when the step waits for nothing within its phase.
func afterText(s planner.Step) string {
	var parts []string
	if s.Wave > 0 {
		parts = append(parts, fmt.Sprintf("wave %d", s.Wave))
	}
	if len(s.After) > 0 {
		ids := make([]string, len(s.After))
		for i, a := range s.After {
			ids[i] = fmt.Sprint(a)
		}
		w := "step "
		if len(ids) > 1 {
			w = "steps "
		}
		parts = append(parts, "after "+w+strings.Join(ids, ", "))
	}
	return strings.Join(parts, ", ")
}

func requestText(r planner.Request) string {
	return strings.TrimSpace(r.Method + " " + r.Path)
}

// tunnelsParams describes a tunnels call's pairing.
func tunnelsParams(t *planner.TunnelsParams) string {
	s := "topology " + t.Topology
	if t.Hub.Name != "" || t.Hub.ID != "" {
		h := t.Hub.Name
		if h == "" {
			h = t.Hub.ID
		}
		s += " (hub " + h + ")"
	}
	switch len(t.Labels) {
	case 0:
		s += " on unlabeled interfaces"
	case 1:
		s += " on label " + t.Labels[0]
	default:
		s += " on labels " + strings.Join(t.Labels, ", ")
	}
	return s
}

func tunnelLine(t planner.TunnelRef, withID bool) string {
	var notes []string
	if t.Pending {
		notes = append(notes, "pending: no IPv4 address, no job")
	}
	if withID && t.ID != "" {
		notes = append(notes, "id "+t.ID)
	}
	if len(notes) == 0 {
		return t.String()
	}
	return t.String() + " (" + strings.Join(notes, "; ") + ")"
}

// labelValues describes a path label being created.
func labelValues(l *planner.LabelParams) string {
	var parts []string
	if l.Type != "" {
		parts = append(parts, "type "+l.Type)
	}
	if l.Color != "" {
		parts = append(parts, "color "+l.Color)
	}
	if l.Description != "" {
		parts = append(parts, fmt.Sprintf("description %q", l.Description))
	}
	return strings.Join(parts, ", ")
}

// changeLine splits a line of Modify.Changes that starts with its own mark
// ("+ 10.0.0.0/8 via …"); other lines (interface label changes) are changes.
func changeLine(c string) detail {
	if len(c) >= 2 && c[1] == ' ' {
		switch m := mark(c[0]); m {
		case markAdd, markRemove, markChange:
			return detail{m, c[2:]}
		}
	}
	return detail{markChange, c}
}

func upgradeLines(u *planner.UpgradeParams) []detail {
	names := map[string]bool{}
	for n := range u.To {
		names[n] = true
	}
	for n := range u.From {
		names[n] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	out := make([]detail, 0, len(sorted))
	for _, n := range sorted {
		from, to := u.From[n], u.To[n]
		if from == "" {
			from = "unknown"
		}
		if to == "" {
			to = "unknown"
		}
		out = append(out, detail{markChange, n + ": " + from + " → " + to})
	}
	return out
}

// header describes the step's parameters in one neutral line ("" if none).
func paramsLine(s planner.Step) string {
	switch {
	case s.Tunnels != nil:
		return tunnelsParams(s.Tunnels)
	case s.Label != nil && s.Action == planner.CreateLabel:
		return labelValues(s.Label)
	case (s.Action == planner.StartDevices || s.Action == planner.StopDevices) && len(s.Devices) > 6:
		// The target names only the first few.
		names := make([]string, len(s.Devices))
		for i, d := range s.Devices {
			names[i] = d.Name
		}
		return "devices: " + strings.Join(names, ", ")
	}
	return ""
}

// lists are the step's item lists, each line with its mark: tunnels created,
// deleted or repaired, device changes, label changes, version changes.
type lists struct {
	creates, deletes, repairs []detail
	changes                   []detail // Modify.Changes, Label.Changes or upgrades
	pending                   int
}

func stepLists(s planner.Step) lists {
	var l lists
	for _, t := range s.Creates {
		l.creates = append(l.creates, detail{markAdd, tunnelLine(t, false)})
		if t.Pending {
			l.pending++
		}
	}
	for _, t := range s.Deletes {
		l.deletes = append(l.deletes, detail{markRemove, tunnelLine(t, true)})
	}
	for _, t := range s.Repairs {
		l.repairs = append(l.repairs, detail{markChange, tunnelLine(t, true)})
	}
	if s.Label != nil && s.Action != planner.CreateLabel {
		for _, c := range s.Label.Changes {
			l.changes = append(l.changes, detail{markChange, c})
		}
	}
	if s.Modify != nil {
		for _, c := range s.Modify.Changes {
			l.changes = append(l.changes, changeLine(c))
		}
	}
	if s.Upgrade != nil {
		l.changes = append(l.changes, upgradeLines(s.Upgrade)...)
	}
	return l
}

// all is every line, in the order shown.
func (l lists) all() []detail {
	var out []detail
	out = append(out, l.creates...)
	out = append(out, l.deletes...)
	out = append(out, l.repairs...)
	return append(out, l.changes...)
}

// tunnelCounts is the compact form of the tunnel lists: "1000 tunnels to
// create (3 pending)".
func (l lists) tunnelCounts() []string {
	var out []string
	if n := len(l.creates); n > 0 {
		s := plural(n, "tunnel", "tunnels") + " to create"
		if l.pending > 0 {
			s += fmt.Sprintf(" (%d pending)", l.pending)
		}
		out = append(out, s)
	}
	if n := len(l.deletes); n > 0 {
		out = append(out, plural(n, "tunnel", "tunnels")+" to delete")
	}
	if n := len(l.repairs); n > 0 {
		out = append(out, plural(n, "tunnel", "tunnels")+" to repair")
	}
	return out
}
