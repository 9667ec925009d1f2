package spec

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/flexiwan-gitops/reconciler/internal/yamlcheck"
)

func TestDefaultLimits(t *testing.T) {
	want := limits{fileBytes: MaxFileBytes, totalBytes: MaxTotalBytes, files: MaxFiles, nodes: MaxNodes}
	if got := defaultLimits(); got != want {
		t.Errorf("defaultLimits() = %+v, want %+v", got, want)
	}
}

// TestNodeBudget: a source with more YAML nodes than the budget is refused
// at the file that crosses it, before that file is decoded; nothing after
// it is read.
func TestNodeBudget(t *testing.T) {
	lim := defaultLimits()
	lim.nodes = 40
	fsys := fstest.MapFS{
		// 1 mapping + 2 (key, list) + 5 × 5 (mapping, name key and value,
		// state key and value) = 28 nodes.
		"a.yaml": {Data: []byte("devices: [{name: a, state: running}, {name: b, state: running}, {name: c, state: running}, {name: d, state: running}, {name: e, state: running}]\n")},
		"b.yaml": {Data: []byte("devices: [{name: f, state: bad}, {name: g, state: bad}, {name: h, state: bad}]\n")},
		"c.yaml": {Data: []byte("devices: [{name: [never]}]\n")},
	}
	_, err := load(fsys, ".", lim)
	want := "b.yaml: the source has more than 40 YAML nodes (keys, values and list items); nothing after this file was read"
	if err == nil || err.Error() != want {
		t.Errorf("load() error = %v, want %q", err, want)
	}

	lim.nodes = 28
	if _, err := load(fsys, ".", lim); err == nil || !strings.HasPrefix(err.Error(), "b.yaml: the source has more than 28 YAML nodes") {
		t.Errorf("load() with a budget of exactly a.yaml: error = %v, want b.yaml refused", err)
	}
	if _, err := parse("a.yaml", strings.NewReader(string(fsys["a.yaml"].Data)), lim); err != nil {
		t.Errorf("parse() of exactly the budget: %v", err)
	}
	lim.nodes = 27
	if _, err := parse("a.yaml", strings.NewReader(string(fsys["a.yaml"].Data)), lim); err == nil || !strings.HasPrefix(err.Error(), "a.yaml: the source has more than 27 YAML nodes") {
		t.Errorf("parse() over the budget: error = %v", err)
	}
}

func TestFileCountLimit(t *testing.T) {
	lim := defaultLimits()
	lim.files = 2
	fsys := fstest.MapFS{"a.yaml": {}, "b.yml": {}, "c.yaml": {}, "d.txt": {}}
	if _, err := load(fsys, ".", lim); err == nil || err.Error() != "read source: more than 2 YAML files" {
		t.Errorf("load() error = %v, want too many files", err)
	}
	lim.files = 3
	if _, err := load(fsys, ".", lim); err != nil {
		t.Errorf("load() of exactly the limit: %v", err)
	}
}

// TestManyMistakesStayFast: a large source with a mistake in every group
// is checked in linear time; "did you mean" hints stop after a budget.
func TestManyMistakesStayFast(t *testing.T) {
	const n = 1500
	var b strings.Builder
	b.WriteString("pathLabels: [{name: mpls}]\ndevices:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - {name: dev-%d}\n", i)
	}
	b.WriteString("tunnels:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - {topology: hubAndSpoke, hub: dev-%d, spokes: [dev-%dx], pathLabels: [mpsl]}\n", i, i)
	}
	start := time.Now()
	_, err := Parse("big.yaml", strings.NewReader(b.String()))
	elapsed := time.Since(start)
	errs, ok := err.(yamlcheck.Errors)
	if !ok || len(errs) != 2*n {
		t.Fatalf("Parse() = %d problems (%T), want %d", len(errs), err, 2*n)
	}
	if first := errs[0].Msg; !strings.Contains(first, "did you mean") {
		t.Errorf("first problem %q has no hint", first)
	}
	if last := errs[len(errs)-1].Msg; strings.Contains(last, "did you mean") {
		t.Errorf("last problem %q has a hint: the hint budget is not applied", last)
	}
	t.Logf("%d problems in %v", len(errs), elapsed)
}
