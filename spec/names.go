package spec

import (
	"fmt"
	"github.com/flexiwan-gitops/reconciler/internal/yamlcheck"
	"sort"
	"strings"
)

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// keys returns the keys of m in declaration-independent (sorted) order.
func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// closest suggests the nearest of names to s, as " (did you mean "x"?)".
func closest(s string, names []string) string {
	best, bestD := "", 1<<30
	for _, n := range names {
		if d := editDistance(strings.ToLower(s), strings.ToLower(n)); d < bestD {
			best, bestD = n, d
		}
	}
	if best != "" && bestD <= max(2, len(s)/3) {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

// Closest returns the names nearest to s (at most n), for messages such as
// "device X not found; closest: a, b".
func Closest(s string, names []string, n int) []string {
	type cand struct {
		name string
		d    int
	}
	cs := make([]cand, 0, len(names))
	for _, x := range names {
		cs = append(cs, cand{x, editDistance(strings.ToLower(s), strings.ToLower(x))})
	}
	sort.SliceStable(cs, func(i, j int) bool {
		if cs[i].d != cs[j].d {
			return cs[i].d < cs[j].d
		}
		return cs[i].name < cs[j].name
	})
	out := []string{}
	for i := 0; i < len(cs) && i < n; i++ {
		out = append(out, cs[i].name)
	}
	return out
}

func editDistance(a, b string) int { return yamlcheck.Distance(a, b) }
