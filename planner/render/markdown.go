package render

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/flexiwan-gitops/reconciler/planner"
)

// MarkdownMarker opens every Markdown plan, so that CI can find the comment
// it posted before and update it instead of adding another.
const MarkdownMarker = "<!-- flexiwan-reconciler-plan -->"

// Defaults of MarkdownOptions.
const (
	// DefaultMaxBytes leaves room under GitHub's 65,535-character comment
	// limit for whatever CI adds around the plan.
	DefaultMaxBytes = 60000
	// DefaultMaxGraphEdges keeps the Mermaid graph readable and well under
	// the 500 links GitHub's Mermaid draws.
	DefaultMaxGraphEdges = 100
)

// MarkdownOptions are the caller's choices for Markdown.
type MarkdownOptions struct {
	// MaxBytes bounds the output (0: DefaultMaxBytes). A plan too big at
	// full detail is summarised, and as a last resort sections are left out
	// with a note; the title, verdict and summary table are always there.
	MaxBytes int
	// MaxGraphEdges bounds the links of the topology graph
	// (0: DefaultMaxGraphEdges).
	MaxGraphEdges int
	// ArtifactURL, when set, is linked as the full JSON plan wherever the
	// comment is summarised.
	ArtifactURL string
}

func (o MarkdownOptions) withDefaults() MarkdownOptions {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxGraphEdges <= 0 {
		o.MaxGraphEdges = DefaultMaxGraphEdges
	}
	return o
}

// level is how much of each step the Markdown shows.
type level int

const (
	levelFull    level = iota // every tunnel, change and value
	levelCounts               // tunnel lists as counts; long lists and phases cut
	levelOutline              // one line per step; long phases cut more
)

// Limits of the summarised levels.
const (
	countsMaxLines  = 10  // lines of changes per step
	countsMaxSteps  = 100 // steps per phase
	outlineMaxSteps = 20
	maxListItems    = 20 // notes and unmanaged objects, once summarised
)

// Markdown writes the plan as a pull-request comment: the marker, a title,
// a one-line verdict, a summary table, each phase as a collapsed <details>
// with its steps, a Mermaid graph of the tunnels created, deleted and
// repaired, the notes and the unmanaged objects kept.
//
// The output stays within o.MaxBytes: when the full rendering is bigger,
// tunnel lists become counts per step and long lists are cut; if that is
// still too big, each step becomes one line; if even that is too big,
// whole sections (a phase, the graph, the notes) are left out, named in a
// closing note, so that every <details> and code fence stays balanced. Only
// a limit smaller than the title, verdict and table can be exceeded.
func Markdown(w io.Writer, p *planner.Plan, o MarkdownOptions) error {
	if p == nil {
		return errNilPlan
	}
	o = o.withDefaults()
	m := &mdPlan{p: p, o: o, graph: buildGraph(p.Steps, o.MaxGraphEdges)}
	var out string
	fullSize := 0
	for lvl := levelFull; lvl <= levelOutline; lvl++ {
		out = m.render(lvl, fullSize, -1)
		if len(out) <= o.MaxBytes {
			break
		}
		if lvl == levelFull {
			fullSize = len(out)
		}
	}
	if len(out) > o.MaxBytes {
		out = m.render(levelOutline, fullSize, o.MaxBytes)
	}
	_, err := io.WriteString(w, out)
	return err
}

type mdPlan struct {
	p     *planner.Plan
	o     MarkdownOptions
	graph graph
}

// block is a self-contained part of the comment (balanced tags and fences)
// that can be left out whole.
type block struct {
	title, text string
}

// render assembles the comment at a level. With budget >= 0 it leaves out
// the blocks that do not fit, in order, and says which.
func (m *mdPlan) render(lvl level, fullSize, budget int) string {
	head := m.head(lvl, fullSize, budget >= 0)
	blocks := m.blocks(lvl)
	var b strings.Builder
	b.WriteString(head)
	if budget < 0 {
		for _, bl := range blocks {
			b.WriteString(bl.text)
		}
		return b.String()
	}
	// Room for the closing note: its text, five section names and the
	// pointer to the full plan.
	reserve := 400 + len(m.pointer())
	left := budget - len(head) - reserve
	var omitted []string
	for _, bl := range blocks {
		if len(bl.text) <= left {
			b.WriteString(bl.text)
			left -= len(bl.text)
			continue
		}
		omitted = append(omitted, bl.title)
	}
	if len(omitted) > 0 {
		names := omitted
		if len(names) > 5 {
			names = append(names[:5:5], fmt.Sprintf("%d more", len(omitted)-5))
		}
		fmt.Fprintf(&b, "> **Left out** to stay under the comment size limit: %s. %s\n", mdText(strings.Join(names, "; ")), m.pointer())
	}
	return b.String()
}

// pointer says where the full plan is.
func (m *mdPlan) pointer() string {
	if m.o.ArtifactURL != "" {
		return "The full plan is in the [JSON plan](" + m.o.ArtifactURL + ")."
	}
	return "The full plan is in the JSON plan of this run (`reconciler plan --format json --out plan.json`)."
}

func (m *mdPlan) head(lvl level, fullSize int, cut bool) string {
	p := m.p
	var b strings.Builder
	b.WriteString(MarkdownMarker + "\n")
	b.WriteString("### flexiWAN plan for " + mdText(orgName(p.Org)) + "\n\n")
	icon := "🟡"
	switch {
	case p.Empty():
		icon = "✅"
	case p.Summary.Deletions > 0:
		icon = "🔴"
	}
	b.WriteString(icon + " **" + mdText(verdict(p)) + "**\n\n")
	meta := []string{"Revision " + code(short(p.Revision))}
	if p.Source != "" {
		meta[0] += " from " + mdText(p.Source)
	}
	meta = append(meta, "live "+code(short(p.LiveFingerprint)), fmt.Sprintf("prune %s, max deletions %d", onOff(p.Prune), p.MaxDeletions))
	if !p.CreatedAt.IsZero() {
		meta = append(meta, "planned "+p.CreatedAt.UTC().Format(time.RFC3339))
	}
	b.WriteString(strings.Join(meta, " · ") + "\n\n")
	if !p.Empty() {
		b.WriteString("| What | Count |\n|:--|--:|\n")
		for _, r := range summaryRows(p) {
			b.WriteString("| " + r.what + " | " + r.count + " |\n")
		}
		b.WriteString("\n")
	}
	if lvl > levelFull {
		how := "tunnel lists are shown as counts and long lists are cut"
		if lvl == levelOutline {
			how = "each step is shown on one line and long phases are cut"
		}
		if cut {
			how += ", and some sections are left out (see the end)"
		}
		fmt.Fprintf(&b, "> **Summarised:** the full plan renders to %d bytes, over this comment's limit of %d, so %s. %s\n\n",
			fullSize, m.o.MaxBytes, how, m.pointer())
	}
	return b.String()
}

func (m *mdPlan) blocks(lvl level) []block {
	var out []block
	groups := byPhase(m.p.Steps)
	for i, g := range groups {
		var b strings.Builder
		if i == 0 {
			b.WriteString("#### Steps, phase by phase\n\n")
		}
		fmt.Fprintf(&b, "<details><summary><b>%s</b> (%s)</summary>\n\n", htmlText(phaseTitle(g.phase)), plural(len(g.steps), "call", "calls"))
		maxSteps := len(g.steps)
		switch lvl {
		case levelCounts:
			maxSteps = countsMaxSteps
		case levelOutline:
			maxSteps = outlineMaxSteps
		}
		for j, s := range g.steps {
			if j == maxSteps {
				n := len(g.steps) - j
				noun := "steps"
				if n == 1 {
					noun = "step"
				}
				fmt.Fprintf(&b, "- … and %d more %s in this phase\n\n", n, noun)
				break
			}
			m.step(&b, s, lvl)
		}
		if lvl == levelOutline {
			b.WriteString("\n") // end the list before </details>
		}
		b.WriteString("</details>\n\n")
		out = append(out, block{title: "phase " + phaseTitle(g.phase), text: b.String()})
	}
	if len(m.graph.edges) > 0 {
		var b strings.Builder
		b.WriteString("#### Tunnel topology\n\n```mermaid\n")
		m.graph.mermaid(&b)
		b.WriteString("```\n\n" + mdText(m.graph.legend()) + "\n\n")
		out = append(out, block{title: "the topology graph", text: b.String()})
	}
	if ns := m.p.Notes; len(ns) > 0 {
		var b strings.Builder
		b.WriteString("#### Notes\n\n")
		for i, n := range ns {
			if lvl > levelFull && i == maxListItems {
				fmt.Fprintf(&b, "- … and %d more\n", len(ns)-i)
				break
			}
			b.WriteString("- " + mdText(n) + "\n")
		}
		b.WriteString("\n")
		out = append(out, block{title: "the notes", text: b.String()})
	}
	if us := m.p.Unmanaged; len(us) > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "<details><summary>Unmanaged (kept): %s the source does not declare</summary>\n\n", plural(len(us), "object", "objects"))
		for i, u := range us {
			if lvl > levelFull && i == maxListItems {
				fmt.Fprintf(&b, "- … and %d more\n", len(us)-i)
				break
			}
			s := "- " + mdText(u.Kind) + " " + code(u.Name)
			if u.ID != "" {
				s += " (id " + code(u.ID) + ")"
			}
			b.WriteString(s + "\n")
		}
		b.WriteString("\n</details>\n\n")
		out = append(out, block{title: "the unmanaged objects", text: b.String()})
	}
	return out
}

// diffMark is a detail's first column in a ```diff block: GitHub colours
// "+" green, "-" red and "!" orange.
func diffMark(m mark) string {
	switch m {
	case markAdd:
		return "+ "
	case markRemove:
		return "- "
	case markChange:
		return "! "
	}
	return "  "
}

func (m *mdPlan) step(b *strings.Builder, s planner.Step, lvl level) {
	line := "- " + code(s.Action.Symbol()) + " **" + mdText(s.Target) + "**"
	if s.Reason != "" {
		line += ": " + mdText(s.Reason)
	}
	if lvl == levelOutline {
		fmt.Fprintf(b, "%s (step %d)\n", line, s.ID)
		return
	}
	b.WriteString(line + "\n")
	meta := []string{fmt.Sprintf("step %d", s.ID), code(requestText(s.Request)), jobsText(s.ExpectedJobs)}
	if a := afterText(s); a != "" {
		meta = append(meta, a)
	}
	ls := stepLists(s)
	var lines []detail
	if pl := paramsLine(s); pl != "" {
		lines = append(lines, detail{markNeutral, pl})
	}
	if lvl == levelFull {
		lines = append(lines, ls.all()...)
	} else {
		meta = append(meta, ls.tunnelCounts()...)
		ch := ls.changes
		if len(ch) > countsMaxLines {
			ch = append(ch[:countsMaxLines:countsMaxLines], detail{markNeutral, fmt.Sprintf("… and %d more", len(ls.changes)-countsMaxLines)})
		}
		lines = append(lines, ch...)
	}
	b.WriteString("  " + strings.Join(meta, " · ") + "\n")
	if len(lines) > 0 {
		var body strings.Builder
		for _, d := range lines {
			body.WriteString(diffMark(d.mark) + d.text + "\n")
		}
		f := fence(body.String())
		b.WriteString("\n  " + f + "diff\n")
		for _, l := range strings.SplitAfter(body.String(), "\n") {
			if l != "" {
				b.WriteString("  " + l)
			}
		}
		b.WriteString("  " + f + "\n")
	}
	b.WriteString("\n")
}

// backticks is the longest run of backticks in s.
func backticks(s string) int {
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return longest
}

// fence is a code fence longer than any run of backticks in s.
func fence(s string) string { return strings.Repeat("`", max(3, backticks(s)+1)) }

// code is s as inline code.
func code(s string) string {
	n := backticks(s)
	if n == 0 {
		return "`" + s + "`"
	}
	f := strings.Repeat("`", n+1)
	return f + " " + s + " " + f
}

var mdReplacer = strings.NewReplacer(
	`\`, `\\`, "`", "\\`", `*`, `\*`, `_`, `\_`, `[`, `\[`, `]`, `\]`, `|`, `\|`, `~`, `\~`,
	`&`, "&amp;", `<`, "&lt;", `>`, "&gt;", "\n", " ", "\r", " ",
)

// mdText escapes s for running Markdown text (not at the start of a line).
func mdText(s string) string { return mdReplacer.Replace(s) }

var htmlReplacer = strings.NewReplacer(`&`, "&amp;", `<`, "&lt;", `>`, "&gt;", `"`, "&quot;", "\n", " ")

// htmlText escapes s for an HTML element such as <summary>.
func htmlText(s string) string { return htmlReplacer.Replace(s) }
