package spec_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flexiwan-gitops/reconciler/internal/yamlcheck"
	"github.com/flexiwan-gitops/reconciler/spec"
)

// FuzzParse: no input makes Parse panic or hang; it returns either a Spec
// or a yamlcheck.Errors whose every problem names the file, is one line,
// and points into the input. The seed corpus is in
// testdata/fuzz/FuzzParse; the example files are added here.
func FuzzParse(f *testing.F) {
	examples, err := filepath.Glob("../examples/topology/*.yaml")
	if err != nil || len(examples) == 0 {
		f.Fatalf("no examples: %v", err)
	}
	for _, name := range examples {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := spec.Parse("fuzz.yaml", bytes.NewReader(data))
		if err == nil {
			if s == nil {
				t.Fatal("Parse() = nil, nil")
			}
			checkValid(t, s)
			return
		}
		if s != nil {
			t.Fatalf("Parse() returned a Spec and an error: %v", err)
		}
		var errs yamlcheck.Errors
		if !errors.As(err, &errs) || len(errs) == 0 {
			t.Fatalf("Parse() error is %T %v, want a non-empty yamlcheck.Errors", err, err)
		}
		lines := yamlLines(data)
		for _, e := range errs {
			switch {
			case e.File != "fuzz.yaml":
				t.Errorf("problem %q names file %q, want fuzz.yaml", e.Msg, e.File)
			case e.Msg == "":
				t.Errorf("problem at %d:%d has no message", e.Line, e.Col)
			case strings.ContainsAny(e.Error(), "\n\r"):
				t.Errorf("problem %q spans lines", e.Error())
			case e.Line < 0 || e.Col < 0 || lines > 0 && e.Line > lines:
				t.Errorf("problem %q is outside the input (%d lines)", e.Error(), lines)
			}
		}
	})
}

// yamlLines counts the lines of data as YAML does: \n, \r\n, \r, NEL, LS
// and PS end a line, and the end of the input is on a line of its own. It
// returns 0 for UTF-16 input, whose lines it does not count.
func yamlLines(data []byte) int {
	if bytes.HasPrefix(data, []byte{0xff, 0xfe}) || bytes.HasPrefix(data, []byte{0xfe, 0xff}) {
		return 0
	}
	s := strings.ReplaceAll(string(data), "\r\n", "\n")
	return 1 + strings.Count(s, "\n") + strings.Count(s, "\r") + strings.Count(s, "\u0085") + strings.Count(s, "\u2028") + strings.Count(s, "\u2029")
}

// checkValid checks what a valid Spec promises.
func checkValid(t *testing.T, s *spec.Spec) {
	t.Helper()
	for _, l := range s.PathLabels {
		if l.Type != spec.LabelTunnel && l.Type != spec.LabelDIA {
			t.Errorf("label %q has type %q", l.Name, l.Type)
		}
		if s.Label(l.Name) != &s.PathLabels[indexOf(s, l.Name)] {
			t.Errorf("label %q is not unique", l.Name)
		}
	}
	for _, d := range s.Devices {
		if d.Name == "" || s.Device(d.Name) == nil {
			t.Errorf("device %q cannot be found by name", d.Name)
		}
		for _, in := range d.Interfaces {
			for _, ln := range in.PathLabels {
				if s.Label(ln) == nil {
					t.Errorf("device %q interface %q has undeclared label %q", d.Name, in.Ref, ln)
				}
			}
		}
		if !d.ManageRoutes && len(d.Routes) > 0 || !d.ManageDHCP && len(d.DHCP) > 0 {
			t.Errorf("device %q has routes or DHCP it does not manage", d.Name)
		}
	}
	for _, g := range s.Tunnels {
		devices := g.Devices()
		if g.Topology == spec.FullMesh && len(devices) < 2 {
			t.Errorf("fullMesh group %s has %d devices", g.Label(), len(devices))
		}
		seen := map[string]bool{}
		for _, d := range devices {
			if s.Device(d) == nil || seen[d] {
				t.Errorf("group %s: device %q undeclared or repeated", g.Label(), d)
			}
			seen[d] = true
		}
		for _, ln := range g.PathLabels {
			if l := s.Label(ln); l == nil || l.Type != spec.LabelTunnel {
				t.Errorf("group %s: label %q undeclared or not a Tunnel label", g.Label(), ln)
			}
		}
	}
	if s.Settings.MaxDeletions < 0 {
		t.Errorf("maxDeletions %d", s.Settings.MaxDeletions)
	}
}

func indexOf(s *spec.Spec, label string) int {
	for i, l := range s.PathLabels {
		if l.Name == label {
			return i
		}
	}
	return -1
}
