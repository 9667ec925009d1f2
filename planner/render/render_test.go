package render

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flexiwan-gitops/reconciler/planner"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./planner/render -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got); if intended, run go test ./planner/render -update:\n%s", path, diff)
	}
}

// renderers are the three renderings with their golden file suffixes.
var renderers = []struct {
	suffix string
	render func(*bytes.Buffer, *planner.Plan) error
}{
	{"txt", func(b *bytes.Buffer, p *planner.Plan) error { return Text(b, p, TextOptions{}) }},
	{"json", func(b *bytes.Buffer, p *planner.Plan) error { return JSON(b, p) }},
	{"md", func(b *bytes.Buffer, p *planner.Plan) error { return Markdown(b, p, MarkdownOptions{}) }},
}

func TestGolden(t *testing.T) {
	for _, f := range fixtures() {
		for _, r := range renderers {
			name := f.name + "." + r.suffix + ".golden"
			t.Run(name, func(t *testing.T) {
				var b bytes.Buffer
				if err := r.render(&b, f.plan); err != nil {
					t.Fatalf("render: %v", err)
				}
				golden(t, name, b.Bytes())
			})
		}
	}
}

func TestDeterministic(t *testing.T) {
	plans := fixtures()
	plans = append(plans, struct {
		name string
		plan *planner.Plan
	}{"star", starPlan(1200, 300)})
	for _, f := range plans {
		for _, r := range renderers {
			t.Run(f.name+"."+r.suffix, func(t *testing.T) {
				var first []byte
				for i := range 3 {
					var b bytes.Buffer
					if err := r.render(&b, f.plan); err != nil {
						t.Fatal(err)
					}
					if i == 0 {
						first = b.Bytes()
						continue
					}
					if !bytes.Equal(first, b.Bytes()) {
						t.Fatalf("render %d differs from render 1:\n%s", i+1, cmp.Diff(string(first), b.String()))
					}
				}
			})
		}
	}
}

func TestNilPlan(t *testing.T) {
	var b bytes.Buffer
	for _, r := range renderers {
		if err := r.render(&b, nil); err == nil {
			t.Errorf("%s: render(nil) = nil error, want one", r.suffix)
		}
	}
	if b.Len() != 0 {
		t.Errorf("render(nil) wrote %q, want nothing", b.String())
	}
}

func TestJSONRoundTrip(t *testing.T) {
	plans := fixtures()
	plans = append(plans, struct {
		name string
		plan *planner.Plan
	}{"star", starPlan(300, 30)})
	for _, f := range plans {
		t.Run(f.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := JSON(&b, f.plan); err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(b.String(), "}\n") || !strings.HasPrefix(b.String(), "{\n  \"formatVersion\": 1,") {
				t.Errorf("JSON is not indented by two spaces with a trailing newline:\n%.200s", b.String())
			}
			got, err := ReadJSON(&b)
			if err != nil {
				t.Fatalf("ReadJSON: %v", err)
			}
			if diff := cmp.Diff(f.plan, got); diff != "" {
				t.Errorf("ReadJSON(JSON(plan)) differs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadJSONRejects(t *testing.T) {
	var b bytes.Buffer
	if err := JSON(&b, driftPlan()); err != nil {
		t.Fatal(err)
	}
	good := b.String()
	replace := func(old, new string) string {
		t.Helper()
		if !strings.Contains(good, old) {
			t.Fatalf("the drift plan's JSON has no %q", old)
		}
		return strings.Replace(good, old, new, 1)
	}
	tests := map[string]struct {
		in      string
		want    string // in the error
		version bool   // errors.Is(err, ErrFormatVersion)
	}{
		"unknown top-level field": {in: replace(`"prune": false,`, `"prune": false, "applyable": true,`), want: `unknown field "applyable"`},
		"unknown step field":      {in: replace(`"expectedJobs": 0,`, `"expectedJob": 0,`), want: `unknown field "expectedJob"`},
		"newer version":           {in: replace(`"formatVersion": 1`, `"formatVersion": 2`), want: "unsupported plan format version 2; this reconciler reads version 1", version: true},
		"newer version with new fields": {in: replace(`"formatVersion": 1,`, `"formatVersion": 3, "approvals": [],`),
			want: "unsupported plan format version 3", version: true},
		"no version":     {in: replace(`"formatVersion": 1,`, ``), want: "no formatVersion"},
		"not a plan":     {in: `[1, 2]`, want: "read plan"},
		"trailing data":  {in: good + `{"formatVersion": 1}`, want: "unexpected data after the plan"},
		"unknown action": {in: replace(`"action": "sync"`, `"action": "reboot"`), want: `unknown action "reboot"`},
		"after unknown step": {in: replace(`"after": [
        3
      ]`, `"after": [42]`), want: "step 4 waits for step 42, which the plan does not have"},
		"after other phase": {in: replace(`"after": [
        3
      ]`, `"after": [1]`), want: "step 4 waits for step 1 of another phase (labels)"},
		"duplicate id": {in: replace(`"id": 2,`, `"id": 1,`), want: "step id 1 appears twice"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := ReadJSON(strings.NewReader(tc.in))
			if err == nil {
				t.Fatalf("ReadJSON() = %v, nil; want an error containing %q", p, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ReadJSON() error = %q, want it to contain %q", err, tc.want)
			}
			if got := errors.Is(err, ErrFormatVersion); got != tc.version {
				t.Errorf("errors.Is(%v, ErrFormatVersion) = %v, want %v", err, got, tc.version)
			}
		})
	}
}

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

func TestTextColor(t *testing.T) {
	for _, f := range fixtures() {
		t.Run(f.name, func(t *testing.T) {
			var plain, color bytes.Buffer
			if err := Text(&plain, f.plan, TextOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := Text(&color, f.plan, TextOptions{Color: true}); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(plain.String(), "\x1b") {
				t.Errorf("Text(Color: false) has escape codes:\n%q", plain.String())
			}
			if !ansi.MatchString(color.String()) {
				t.Errorf("Text(Color: true) has no escape codes:\n%s", color.String())
			}
			// Colour adds escape codes and nothing else.
			if diff := cmp.Diff(plain.String(), ansi.ReplaceAllString(color.String(), "")); diff != "" {
				t.Errorf("Text(Color: true) without its escapes differs from Text(Color: false) (-plain +color):\n%s", diff)
			}
		})
	}
	var b bytes.Buffer
	if err := Text(&b, greenfieldPlan(), TextOptions{Color: true}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{ansiGreen + "+" + ansiReset + " path label mpls", ansiYellow + "~" + ansiReset + " device hq", ansiBold + "Path labels: 2 calls" + ansiReset} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("Text(Color: true) has no %q", want)
		}
	}
	b.Reset()
	if err := Text(&b, prunePlan(), TextOptions{Color: true}); err != nil {
		t.Fatal(err)
	}
	if want := ansiRed + "-" + ansiReset + " 2 tunnels"; !strings.Contains(b.String(), want) {
		t.Errorf("Text(Color: true) has no %q", want)
	}
}

func TestTextEmpty(t *testing.T) {
	var b bytes.Buffer
	if err := Text(&b, emptyPlan(), TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "No changes. The network matches the source.") {
		t.Errorf("Text(empty plan) = %q, want it to say there are no changes", b.String())
	}
	if strings.Contains(b.String(), "Plan:") {
		t.Errorf("Text(empty plan) has a Plan: summary line:\n%s", b.String())
	}
}

// checkMarkdown checks what every Markdown plan must be: the marker first,
// balanced <details>, balanced code fences, within the size limit.
func checkMarkdown(t *testing.T, md string, maxBytes int) {
	t.Helper()
	if !strings.HasPrefix(md, MarkdownMarker+"\n") {
		t.Errorf("Markdown does not start with the marker %q", MarkdownMarker)
	}
	if open, closed := strings.Count(md, "<details>"), strings.Count(md, "</details>"); open != closed {
		t.Errorf("Markdown has %d <details> and %d </details>", open, closed)
	}
	if open, closed := strings.Count(md, "<summary>"), strings.Count(md, "</summary>"); open != closed {
		t.Errorf("Markdown has %d <summary> and %d </summary>", open, closed)
	}
	fences := 0
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(strings.TrimLeft(l, " "), "```") {
			fences++
		}
	}
	if fences%2 != 0 {
		t.Errorf("Markdown has %d code fence lines, an odd number", fences)
	}
	if len(md) > maxBytes {
		t.Errorf("Markdown is %d bytes, over the limit of %d", len(md), maxBytes)
	}
}

func TestMarkdownStructure(t *testing.T) {
	for _, f := range fixtures() {
		t.Run(f.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := Markdown(&b, f.plan, MarkdownOptions{}); err != nil {
				t.Fatal(err)
			}
			md := b.String()
			checkMarkdown(t, md, DefaultMaxBytes)
			if f.plan.Empty() {
				if !strings.Contains(md, "No changes. The network matches the source.") {
					t.Errorf("Markdown(empty plan) does not say there are no changes:\n%s", md)
				}
				if strings.Contains(md, "```mermaid") {
					t.Errorf("Markdown(empty plan) has a graph:\n%s", md)
				}
				return
			}
			if !strings.Contains(md, "```mermaid\ngraph LR\n") {
				t.Errorf("Markdown has no mermaid block:\n%s", md)
			}
			if got, want := strings.Count(md, "<details>"), len(byPhase(f.plan.Steps)); got < want {
				t.Errorf("Markdown has %d <details>, want at least one per phase (%d)", got, want)
			}
			if !strings.Contains(md, "| What | Count |") {
				t.Errorf("Markdown has no summary table:\n%s", md)
			}
		})
	}
}

func TestMarkdownLargePlan(t *testing.T) {
	p := starPlan(5000, 1000)
	var b bytes.Buffer
	if err := Markdown(&b, p, MarkdownOptions{}); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	checkMarkdown(t, md, DefaultMaxBytes)
	if len(md) >= 65535 {
		t.Errorf("Markdown is %d bytes, over GitHub's comment limit", len(md))
	}
	for _, want := range []string{
		"**This plan changes the network: 6 API calls, 12000 jobs expected; it deletes 1000 objects (max 1000).**",
		"| What | Count |",
		"| Tunnels to create | 5000 |",
		"| Tunnels to delete | 1000 |",
		"> **Summarised:**",
		"1000 tunnels to create",
		"```mermaid",
		"5000 devices",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown of 5,000 tunnels has no %q", want)
		}
	}
	if strings.Contains(md, "spoke-04999/eth0") {
		t.Errorf("Markdown of 5,000 tunnels still lists every tunnel")
	}
}

func TestMarkdownTruncates(t *testing.T) {
	tests := map[string]struct {
		plan     *planner.Plan
		opts     MarkdownOptions
		want     []string
		dontWant []string
	}{
		"many devices: one line per step": {
			plan: manyDevicesPlan(3000),
			want: []string{"| Devices to modify | 3000 |", "each step is shown on one line", "… and 2980 more steps in this phase", "… and 2980 more"},
		},
		"tiny limit: sections left out": {
			plan: driftPlan(),
			opts: MarkdownOptions{MaxBytes: 2500, ArtifactURL: "https://ci.example.com/run/7/plan.json"},
			want: []string{
				"| Tunnels to create | 3 |",
				"some sections are left out (see the end)",
				"> **Left out** to stay under the comment size limit:",
				"[JSON plan](https://ci.example.com/run/7/plan.json)",
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := Markdown(&b, tc.plan, tc.opts); err != nil {
				t.Fatal(err)
			}
			md := b.String()
			checkMarkdown(t, md, tc.opts.withDefaults().MaxBytes)
			if !strings.Contains(md, verdict(tc.plan)) {
				t.Errorf("Markdown has no verdict %q", verdict(tc.plan))
			}
			for _, w := range tc.want {
				if !strings.Contains(md, w) {
					t.Errorf("Markdown has no %q:\n%s", w, md)
				}
			}
		})
	}
}

func TestGraphFolding(t *testing.T) {
	tests := map[string]struct {
		plan    *planner.Plan
		max     int
		edges   int
		folded  bool
		dropped int
	}{
		"small graph as is": {plan: greenfieldPlan(), max: 100, edges: 6},
		"star folded":       {plan: starPlan(500, 0), max: 100, edges: 1, folded: true},
		// The ring's devices have three peers each (two on the ring, the
		// hub), so only the star folds.
		"star and ring folded": {plan: starPlan(500, 200), max: 300, edges: 201, folded: true},
		"capped":               {plan: starPlan(500, 200), max: 100, edges: 100, folded: true, dropped: 101},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := buildGraph(tc.plan.Steps, tc.max)
			if len(g.edges) != tc.edges || g.folded != tc.folded || g.dropped != tc.dropped {
				t.Errorf("buildGraph() = %d edges, folded %v, dropped %d; want %d, %v, %d", len(g.edges), g.folded, g.dropped, tc.edges, tc.folded, tc.dropped)
			}
		})
	}
	g := buildGraph(starPlan(500, 0).Steps, 100)
	var b strings.Builder
	g.mermaid(&b)
	want := "graph LR\n  d_hq[\"hq\"]\n  peers[\"500 devices\"]\n  d_hq ---|\"mpls ×500\"| peers\n  linkStyle 0 stroke:#1a7f37,stroke-width:2px\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("mermaid() differs (-want +got):\n%s", diff)
	}
}

func TestMermaidNames(t *testing.T) {
	ref := func(a, b string) planner.TunnelRef {
		return planner.TunnelRef{A: planner.EndRef{Device: a, DeviceID: "id " + a}, B: planner.EndRef{Device: b, DeviceID: "id " + b}, Label: `we"ird<label>`}
	}
	steps := []planner.Step{{Creates: []planner.TunnelRef{ref("end", "branch-1"), ref("branch_1", `o"brien #1`)}}}
	var b strings.Builder
	buildGraph(steps, 100).mermaid(&b)
	want := `graph LR
  d_branch_1["branch-1"]
  d_branch_1_2["branch_1"]
  d_end["end"]
  d_o_brien__1["o#quot;brien #35;1"]
  d_branch_1 ---|"we#quot;ird#lt;label#gt;"| d_end
  d_branch_1_2 ---|"we#quot;ird#lt;label#gt;"| d_o_brien__1
  linkStyle 0,1 stroke:#1a7f37,stroke-width:2px
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("mermaid() differs (-want +got):\n%s", diff)
	}
}

func TestSummaryLine(t *testing.T) {
	tests := map[string]struct {
		in   planner.Summary
		want string
	}{
		"nothing": {want: "Plan: 0 tunnels to create, 0 to delete, 0 devices to modify (0 calls, 0 jobs expected)."},
		"singular": {in: planner.Summary{TunnelsCreated: 1, DevicesChanged: 1, Calls: 1, ExpectedJobs: 1},
			want: "Plan: 1 tunnel to create, 0 to delete, 1 device to modify (1 call, 1 job expected)."},
		"everything": {in: planner.Summary{Calls: 13, ExpectedJobs: 33, TunnelsCreated: 14, TunnelsRepaired: 2, DevicesChanged: 8, Upgraded: 3,
			LabelsCreated: 2, LabelsDeleted: 1, RoutesRemoved: 1, DHCPAdded: 4},
			want: "Plan: 14 tunnels to create, 0 to delete, 2 to repair, 8 devices to modify, 3 to upgrade, 2 path labels to create, 1 to delete, 1 static route to remove, 4 DHCP servers to add (13 calls, 33 jobs expected)."},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := summaryLine(tc.in); got != tc.want {
				t.Errorf("summaryLine() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestShort(t *testing.T) {
	tests := map[string]string{
		"3f2a9c1d7be04c6e8a1f2d3c4b5a69788796a5b4": "3f2a9c1",
		"sha256:9c1e2d3a4b5f60718293a4b5c6d7e8f9":  "sha256:9c1e2d3a4b5f",
		"dir:sha256:abcdef0123456789abcdef":        "dir:sha256:abcdef012345",
		"v1.2.3":                                   "v1.2.3",
		"main":                                     "main",
		"abc":                                      "abc",
		"":                                         "(unknown)",
	}
	for in, want := range tests {
		if got := short(in); got != want {
			t.Errorf("short(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMarkdownEscapes(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"emphasis":  {"branch_1 *core*", `branch\_1 \*core\*`},
		"html":      {"a <-> b & c", "a &lt;-&gt; b &amp; c"},
		"links":     {"[x](y) | z", `\[x\](y) \| z`},
		"backticks": {"a`b", "a\\`b"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := mdText(tc.in); got != tc.want {
				t.Errorf("mdText(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	if got, want := code("a`b"), "`` a`b ``"; got != want {
		t.Errorf("code(%q) = %q, want %q", "a`b", got, want)
	}
	if got, want := fence("x ``` y"), "````"; got != want {
		t.Errorf("fence() = %q, want %q", got, want)
	}
}
