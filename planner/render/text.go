package render

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/flexiwan-gitops/reconciler/planner"
)

// TextOptions are the caller's choices for Text.
type TextOptions struct {
	// Color adds ANSI colours: green for what is added, red for what is
	// removed, yellow for what changes, bold headings. The caller decides
	// (a terminal, and NO_COLOR unset); this package never looks.
	Color bool
}

const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
)

// Text writes the plan for a terminal, the way terraform plan does: a
// header saying what the plan was made from, the steps phase by phase in
// the order they run (each "<symbol> <target>" under a "# step N: reason"
// comment, with its request and what it creates, deletes or changes), the
// unmanaged objects kept, the notes, and a one-line summary.
func Text(w io.Writer, p *planner.Plan, o TextOptions) error {
	if p == nil {
		return errNilPlan
	}
	t := &textWriter{color: o.Color}
	t.header(p)
	if p.Empty() {
		t.line(t.paint(ansiBold+ansiGreen, noChanges))
	} else {
		for _, g := range byPhase(p.Steps) {
			t.phase(g)
		}
	}
	t.unmanaged(p.Unmanaged)
	t.notes(p.Notes)
	if !p.Empty() {
		line := summaryLine(p.Summary)
		t.line(t.paint(ansiBold, "Plan:") + strings.TrimPrefix(line, "Plan:"))
	}
	_, err := w.Write(t.buf.Bytes())
	return err
}

type textWriter struct {
	buf   bytes.Buffer
	color bool
}

func (t *textWriter) paint(code, s string) string {
	if !t.color || s == "" {
		return s
	}
	return code + s + ansiReset
}

func (t *textWriter) markColor(m mark) string {
	switch m {
	case markAdd:
		return ansiGreen
	case markRemove:
		return ansiRed
	case markChange:
		return ansiYellow
	}
	return ""
}

func (t *textWriter) line(s string) {
	t.buf.WriteString(s)
	t.buf.WriteByte('\n')
}

func (t *textWriter) header(p *planner.Plan) {
	t.line(t.paint(ansiBold, "flexiWAN plan for "+orgName(p.Org)))
	kv := func(k, v string) { t.line(fmt.Sprintf("  %-17s %s", k, v)) }
	kv("revision", short(p.Revision))
	if p.Source != "" {
		kv("source", p.Source)
	}
	kv("live fingerprint", short(p.LiveFingerprint))
	kv("prune", fmt.Sprintf("%s, max deletions %d", onOff(p.Prune), p.MaxDeletions))
	if !p.CreatedAt.IsZero() {
		kv("created", p.CreatedAt.UTC().Format(time.RFC3339))
	}
	t.line("")
}

func (t *textWriter) phase(g phaseGroup) {
	t.line(t.paint(ansiBold, phaseTitle(g.phase)+": "+plural(len(g.steps), "call", "calls")))
	for _, s := range g.steps {
		t.step(s)
	}
}

func (t *textWriter) step(s planner.Step) {
	comment := fmt.Sprintf("# step %d", s.ID)
	if s.Reason != "" {
		comment += ": " + s.Reason
	}
	t.line("  " + comment)
	sym := s.Action.Symbol()
	t.line("  " + t.paint(t.markColor(mark(sym[0])), sym) + " " + s.Target)
	const ind = "      "
	t.line(ind + requestText(s.Request) + " (" + jobsText(s.ExpectedJobs) + ")")
	if a := afterText(s); a != "" {
		t.line(ind + a)
	}
	if pl := paramsLine(s); pl != "" {
		t.line(ind + pl)
	}
	for _, d := range stepLists(s).all() {
		t.line(ind + t.paint(t.markColor(d.mark), string(d.mark)) + " " + d.text)
	}
	t.line("")
}

func (t *textWriter) unmanaged(us []planner.Unmanaged) {
	if len(us) == 0 {
		return
	}
	t.line(t.paint(ansiBold, "Unmanaged (kept): "+plural(len(us), "object", "objects")+" the source does not declare"))
	for _, u := range us {
		s := "  " + u.Kind + " " + u.Name
		if u.ID != "" {
			s += " (id " + u.ID + ")"
		}
		t.line(s)
	}
	t.line("")
}

func (t *textWriter) notes(ns []string) {
	if len(ns) == 0 {
		return
	}
	t.line(t.paint(ansiBold, "Notes:"))
	for _, n := range ns {
		t.line("  - " + n)
	}
	t.line("")
}
