package spec_test

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/flexiwan-gitops/reconciler/internal/yamlcheck"
	"github.com/flexiwan-gitops/reconciler/spec"
)

// mapFS builds a source from file name → content.
func mapFS(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, data := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(data)}
	}
	return fsys
}

// loadFiles loads a source given as file name → content.
func loadFiles(t *testing.T, files map[string]string) (*spec.Spec, error) {
	t.Helper()
	return spec.Load(mapFS(files), ".")
}

// mustLoad loads a source that must be valid.
func mustLoad(t *testing.T, files map[string]string) *spec.Spec {
	t.Helper()
	s, err := loadFiles(t, files)
	if err != nil {
		t.Fatalf("Load() error:\n%v", err)
	}
	if s == nil {
		t.Fatal("Load() = nil, nil")
	}
	return s
}

// problems returns the problems of err, which must be a yamlcheck.Errors
// whose every entry names its file, in the order they are reported.
func problems(t *testing.T, err error) yamlcheck.Errors {
	t.Helper()
	if err == nil {
		t.Fatal("error = nil, want problems")
	}
	var errs yamlcheck.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error is %T (%v), want yamlcheck.Errors", err, err)
	}
	if len(errs) == 0 {
		t.Fatal("error is an empty yamlcheck.Errors")
	}
	for _, e := range errs {
		if e.File == "" {
			t.Errorf("problem without a file: %q", e.Msg)
		}
		if e.Msg == "" {
			t.Errorf("problem without a message at %s:%d:%d", e.File, e.Line, e.Col)
		}
	}
	return errs
}

// checkProblems asserts that err lists exactly the wanted problems, in
// order. Each want is "file:line:col: text" or "file:line: text" or
// "file: text"; the position must match exactly and the message must
// contain text.
func checkProblems(t *testing.T, err error, want []string) {
	t.Helper()
	got := problems(t, err)
	n := max(len(got), len(want))
	for i := range n {
		switch {
		case i >= len(got):
			t.Errorf("problem %d missing: want %q", i, want[i])
		case i >= len(want):
			t.Errorf("problem %d unexpected: %q", i, got[i].Error())
		default:
			pos, text, _ := strings.Cut(want[i], ": ")
			g := got[i].Error()
			if !strings.HasPrefix(g, pos+": ") || !strings.Contains(got[i].Msg, text) {
				t.Errorf("problem %d = %q, want %q", i, g, want[i])
			}
		}
	}
	if t.Failed() {
		t.Logf("all problems:\n%v", err)
	}
}

// within runs f and fails the test if it does not return within d, or if
// it allocates more than maxAlloc bytes in total.
func within(t *testing.T, d time.Duration, maxAlloc uint64, f func()) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("did not finish within %v", d)
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > maxAlloc {
		t.Errorf("allocated %d MiB, want at most %d MiB", got>>20, maxAlloc>>20)
	}
}
