package spec_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flexiwan-gitops/reconciler/spec"
)

// The bound on time for documents built to exhaust a parser. Generous:
// the race detector and a busy machine slow things down many times, and a
// hang or an exponential blow-up takes far longer anyway.
const bombTime = 20 * time.Second

// bombAlloc bounds the memory allocated while refusing such a document.
const bombAlloc = 256 << 20

// TestFileTooLarge: a file over MaxFileBytes is refused without being
// parsed, and the other files' problems are still reported.
func TestFileTooLarge(t *testing.T) {
	big := "#" + strings.Repeat("x", spec.MaxFileBytes) + "\n"
	_, err := loadFiles(t, map[string]string{
		"big.yaml":  big,
		"next.yaml": "devices: [{name: [hq]}]\n",
	})
	checkProblems(t, err, []string{
		"big.yaml: file is larger than 4 MiB",
		"next.yaml:1:18: cannot use !!seq as a string",
	})

	_, err = spec.Parse("big.yaml", strings.NewReader(big))
	checkProblems(t, err, []string{"big.yaml: file is larger than 4 MiB"})

	// Exactly the limit is read and parsed (and fails on its first byte,
	// so that the test need not wait for 4 MiB to be parsed).
	_, err = spec.Parse("max.yaml", strings.NewReader("@"+strings.Repeat("x", spec.MaxFileBytes-1)))
	checkProblems(t, err, []string{"max.yaml:1: found character that cannot start any token"})
}

// TestSourceTooLarge: a source over MaxTotalBytes is refused at the file
// that crosses the limit; nothing after it is read.
func TestSourceTooLarge(t *testing.T) {
	// Each file fails on its first byte, so this test does not wait for
	// 32 MiB of YAML to be parsed: the limit is on bytes read.
	chunk := "@" + strings.Repeat("x", spec.MaxFileBytes-1)
	files := map[string]string{}
	var want []string
	for i := range spec.MaxTotalBytes / spec.MaxFileBytes {
		name := fmt.Sprintf("f%d.yaml", i)
		files[name] = chunk
		want = append(want, name+":1: found character that cannot start any token")
	}
	files["g.yaml"] = "devices: []\n"
	files["h.yaml"] = "devices: [{name: [never, read]}]\n"
	want = append(want, "g.yaml: the source is larger than 32 MiB; nothing after this file was read")
	_, err := loadFiles(t, files)
	checkProblems(t, err, want)
}

// TestDeepNesting: documents nested far deeper than any spec are refused
// quickly, whatever the kind of nesting.
func TestDeepNesting(t *testing.T) {
	const depth = 100_000
	tests := map[string]struct {
		doc  string
		want string
	}{
		"flow lists":    {strings.Repeat("[", depth) + strings.Repeat("]", depth), "s.yaml:1: exceeded max depth of 10000"},
		"flow mappings": {strings.Repeat("{a: ", depth) + strings.Repeat("}", depth), "s.yaml:1: exceeded max depth of 10000"},
		"block lists":   {strings.Repeat("- ", depth) + "x\n", "s.yaml:1: exceeded max depth of 10000"},
		"under devices": {"devices: " + strings.Repeat("[", depth) + strings.Repeat("]", depth), "s.yaml:1: exceeded max depth of 10000"},
		// Deep, but within what the YAML library allows: still refused.
		"9,000 levels under devices": {"devices: " + strings.Repeat("[", 9000) + strings.Repeat("]", 9000), "s.yaml:1:11: cannot use !!seq as a mapping"},
		"9,000 levels under a key":   {"devices: [{name: a, interfaces: " + strings.Repeat("[", 9000) + strings.Repeat("]", 9000) + "}]", "s.yaml:1:34: cannot use !!seq as a mapping"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var err error
			within(t, bombTime, bombAlloc, func() {
				_, err = spec.Parse("s.yaml", strings.NewReader(tt.doc))
			})
			checkProblems(t, err, []string{tt.want})
		})
	}
}

// TestAliasBombs: aliases that expand exponentially, or into themselves,
// are refused quickly and without exhausting memory.
func TestAliasBombs(t *testing.T) {
	laughs := func(prefix, last string) string {
		var b strings.Builder
		b.WriteString(prefix + "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
		for i := 1; i < 10; i++ {
			fmt.Fprintf(&b, "%sa%d: &a%d [%s]\n", prefix, i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 9), ", "))
		}
		b.WriteString(last)
		return b.String()
	}
	merges := func(dup bool) string {
		// Labels whose merge keys each pull in the previous one nine
		// times over: 9^12 labels once expanded.
		var b strings.Builder
		b.WriteString("pathLabels:\n  - &l0 {name: lol}\n")
		for i := 1; i < 12; i++ {
			refs := strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 9), ", ")
			if dup {
				fmt.Fprintf(&b, "  - &l%d {%s}\n", i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("<<: *l%d, ", i-1), 9), ", "))
			} else {
				fmt.Fprintf(&b, "  - &l%d {<<: [%s]}\n", i, refs)
			}
		}
		return b.String()
	}
	tests := map[string]struct {
		doc  string
		want []string
	}{
		"billion laughs as devices": {
			doc: laughs("", "devices: *a9\n"),
			want: []string{
				`s.yaml:1:1: unknown key "a0"`, `s.yaml:2:1: unknown key "a1"`, `s.yaml:3:1: unknown key "a2"`,
				`s.yaml:4:1: unknown key "a3"`, `s.yaml:5:1: unknown key "a4"`, `s.yaml:6:1: unknown key "a5"`,
				`s.yaml:7:1: unknown key "a6"`, `s.yaml:8:1: unknown key "a7"`, `s.yaml:9:1: unknown key "a8"`,
				"s.yaml:9:5: cannot use !!seq as a mapping",
				`s.yaml:10:1: unknown key "a9"`,
			},
		},
		"billion laughs under an unknown key": {
			doc:  laughs("", "lol: *a9\n"),
			want: []string{`s.yaml:1:1: unknown key "a0"`},
		},
		"merge keys of lists of aliases": {
			doc:  merges(false),
			want: []string{"s.yaml: document contains excessive aliasing"},
		},
		"repeated merge keys": {
			doc:  merges(true),
			want: []string{`s.yaml:3:5: mapping key "<<" already defined at line 3`},
		},
		"a list that contains itself": {
			doc:  "devices: &d [{name: a}, *d]\n",
			want: []string{"s.yaml:1:25: alias *d refers to a value that contains it"},
		},
		"a mapping that merges itself": {
			doc:  "devices:\n  - &d {name: a, <<: *d}\n",
			want: []string{"s.yaml:2:22: alias *d refers to a value that contains it"},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var err error
			within(t, bombTime, bombAlloc, func() {
				_, err = spec.Parse("s.yaml", strings.NewReader(tt.doc))
			})
			got := problems(t, err)
			// Some bombs report every item: check the first problems.
			checkProblems(t, got[:min(len(got), len(tt.want))], tt.want)
		})
	}
}
