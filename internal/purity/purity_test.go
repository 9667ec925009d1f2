package purity

import (
	"bytes"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/flexiwan-gitops/reconciler"

// pure are the packages that must stay pure, relative to the module root.
var pure = []string{"spec", "diff", "planner", "live", "planner/render"}

// forbiddenDeps says why a dependency is not allowed; a key ending in "/"
// forbids every package below it too.
var forbiddenDeps = map[string]string{
	"net":                             "network",
	"net/http":                        "network",
	"os/exec":                         "runs programs",
	"github.com/go-git/":              "git",
	module + "/fleximanage":           "the flexiManage client",
	module + "/fleximanage/":          "the flexiManage client or simulator",
	module + "/liveread":              "reads live state over the network",
	module + "/liveread/":             "reads live state over the network",
	module + "/executor":              "runs plans against flexiManage",
	module + "/executor/":             "runs plans against flexiManage",
	module + "/gitsource":             "fetches git",
	module + "/gitsource/":            "fetches git",
	module + "/daemon":                "serves and schedules",
	module + "/daemon/":               "serves and schedules",
	module + "/cmd/":                  "a command",
	module + "/internal/scenario":     "drives the simulator",
	module + "/fleximanage/simulator": "the simulator",
}

// forbiddenCalls lists, per imported package path, the names that may not
// be used; nil forbids every use of the package.
var forbiddenCalls = map[string]map[string]string{
	"time": {"Now": "reads the clock", "Since": "reads the clock", "Until": "reads the clock"},
	"os": {
		"Open": "file I/O", "OpenFile": "file I/O", "ReadFile": "file I/O", "Create": "file I/O",
		"CreateTemp": "file I/O", "WriteFile": "file I/O", "ReadDir": "file I/O", "DirFS": "file I/O",
		"Stat": "file I/O", "Lstat": "file I/O", "Remove": "file I/O", "RemoveAll": "file I/O",
		"Mkdir": "file I/O", "MkdirAll": "file I/O", "Rename": "file I/O",
	},
	"log":      nil,
	"log/slog": nil,
}

func TestPureDependencies(t *testing.T) {
	root := moduleRoot(t)
	for _, pkg := range pure {
		t.Run(pkg, func(t *testing.T) {
			requirePackage(t, root, pkg)
			cmd := exec.Command(goTool(), "list", "-e", "-deps", "-f", "{{.ImportPath}}{{with .Error}} ERROR {{.Err}}{{end}}", "./"+pkg)
			cmd.Dir = root
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("go list -deps ./%s: %v\n%s", pkg, err, stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) < 2 {
				t.Fatalf("go list -deps ./%s listed only %q", pkg, lines)
			}
			for _, line := range lines {
				dep, problem, bad := strings.Cut(line, " ERROR ")
				if bad {
					t.Errorf("go list: %s: %s", dep, problem)
					continue
				}
				if why, ok := forbidden(dep); ok {
					t.Errorf("%s depends on %s (%s); pure packages must not (DESIGN.md §2, STYLE.md rule 1)", pkg, dep, why)
				}
			}
		})
	}
}

func forbidden(dep string) (string, bool) {
	if why, ok := forbiddenDeps[dep]; ok && !strings.HasSuffix(dep, "/") {
		return why, true
	}
	for prefix, why := range forbiddenDeps {
		if strings.HasSuffix(prefix, "/") && strings.HasPrefix(dep, prefix) {
			return why, true
		}
	}
	return "", false
}

func TestPureSource(t *testing.T) {
	root := moduleRoot(t)
	for _, pkg := range pure {
		t.Run(pkg, func(t *testing.T) {
			files := requirePackage(t, root, pkg)
			for _, file := range files {
				for _, v := range violations(t, file) {
					rel, _ := filepath.Rel(root, file)
					t.Errorf("%s:%s", rel, v)
				}
			}
		})
	}
}

// violations parses one Go file and lists its uses of forbidden names, as
// "line:col: what".
func violations(t *testing.T, file string) []string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatalf("parse %s: %v", file, err)
	}
	// The local name of each import we watch.
	watched := map[string]string{}
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		if _, ok := forbiddenCalls[path]; !ok {
			continue
		}
		name := path[strings.LastIndex(path, "/")+1:]
		if imp.Name != nil {
			name = imp.Name.Name
		}
		if name == "_" || name == "." {
			if name == "." {
				t.Errorf("%s: dot import of %s hides what it uses", file, path)
			}
			continue
		}
		watched[name] = path
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		id, ok := sel.X.(*ast.Ident)
		if !ok {
			return true
		}
		path, ok := watched[id.Name]
		if !ok {
			return true
		}
		names := forbiddenCalls[path]
		why, bad := names[sel.Sel.Name]
		if names == nil {
			why, bad = "logs: pure packages return values and errors instead", true
		}
		if bad {
			p := fset.Position(sel.Pos())
			out = append(out, strconv.Itoa(p.Line)+":"+strconv.Itoa(p.Column)+": "+id.Name+"."+sel.Sel.Name+" ("+why+")")
		}
		return true
	})
	return out
}

// TestViolationsFound keeps the source scan honest: it does find what it
// looks for, also under another import name, and not in comments.
func TestViolationsFound(t *testing.T) {
	file := filepath.Join(t.TempDir(), "x.go")
	src := `package x

import (
	"log/slog"
	stdlog "log"
	"os"
	clock "time"
)

// time.Now() and os.ReadFile in a comment are fine.
func f(l *slog.Logger) {
	_ = clock.Now()
	_, _ = os.ReadFile("x")
	stdlog.Println("x")
	_ = clock.Second
	_ = os.Getenv("X")
	s := "time.Now()"
	_ = s
}
`
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	got := violations(t, file)
	want := []string{
		"11:11: slog.Logger (logs: pure packages return values and errors instead)",
		"12:6: clock.Now (reads the clock)",
		"13:9: os.ReadFile (file I/O)",
		"14:2: stdlog.Println (logs: pure packages return values and errors instead)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("violations() =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for dep, want := range map[string]bool{
		"net": true, "net/netip": false, "net/http": true, "github.com/go-git/go-git/v5": true,
		module + "/fleximanage": true, module + "/fleximanage/simulator": true, module + "/live": false,
		module + "/liveread": true, module + "/executor": true, "os": false,
	} {
		if _, got := forbidden(dep); got != want {
			t.Errorf("forbidden(%q) = %v, want %v", dep, got, want)
		}
	}
}

// moduleRoot walks up from the working directory to go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		} else if !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// requirePackage returns the non-test Go files of pkg, and skips the test
// when the package does not exist (yet).
func requirePackage(t *testing.T, root, pkg string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(pkg), "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		if !strings.HasSuffix(f, "_test.go") {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		t.Skipf("package %s does not exist yet: nothing to check", pkg)
	}
	return out
}

// goTool finds the go command: the one running the tests when it can.
func goTool() string {
	if p := filepath.Join(os.Getenv("GOROOT"), "bin", "go"); os.Getenv("GOROOT") != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join("/usr/local/go", "bin", "go")
}
