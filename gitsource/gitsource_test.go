package gitsource

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

// refsFixture is a repository with two branches, a lightweight tag, an
// annotated tag and a tag of that tag.
type refsFixture struct {
	repo                      *testRepo
	commitA, commitB, commitD string
}

func newRefsFixture(t *testing.T) *refsFixture {
	t.Helper()
	r := newTestRepo(t)
	r.write("README.md", "# sdwan\n")
	r.write("topology/site.yaml", "rev: A\n")
	a := r.commit("A")
	r.run("tag", "v1")
	r.run("checkout", "-q", "-b", "dev")
	r.write("topology/site.yaml", "rev: D\n")
	d := r.commit("D")
	r.run("checkout", "-q", "main")
	r.write("topology/site.yaml", "rev: B\n")
	b := r.commit("B")
	r.run("tag", "-a", "v2", "-m", "release 2")
	r.run("tag", "-a", "v2-wrapped", "-m", "a tag of a tag", "v2")
	return &refsFixture{repo: r, commitA: a, commitB: b, commitD: d}
}

func TestFetchRefs(t *testing.T) {
	fx := newRefsFixture(t)
	tests := []struct {
		name     string
		ref      string
		wantRef  string
		wantRev  string
		wantSite string
	}{
		{"default branch", "", "refs/heads/main", fx.commitB, "rev: B\n"},
		{"branch", "main", "refs/heads/main", fx.commitB, "rev: B\n"},
		{"other branch", "dev", "refs/heads/dev", fx.commitD, "rev: D\n"},
		{"full branch ref", "refs/heads/dev", "refs/heads/dev", fx.commitD, "rev: D\n"},
		{"lightweight tag", "v1", "refs/tags/v1", fx.commitA, "rev: A\n"},
		{"annotated tag", "v2", "refs/tags/v2", fx.commitB, "rev: B\n"},
		{"full tag ref", "refs/tags/v2", "refs/tags/v2", fx.commitB, "rev: B\n"},
		{"tag of a tag", "v2-wrapped", "refs/tags/v2-wrapped", fx.commitB, "rev: B\n"},
		{"full SHA", fx.commitA, fx.commitA, fx.commitA, "rev: A\n"},
		{"short SHA", fx.commitD[:7], fx.commitD, fx.commitD, "rev: D\n"},
		{"short SHA, odd length, upper case", strings.ToUpper(fx.commitA[:9]), fx.commitA, fx.commitA, "rev: A\n"},
	}
	urls := map[string]string{
		"local path": fx.repo.dir,
		"file URL":   "file://" + fx.repo.dir,
	}
	for urlName, url := range urls {
		t.Run(urlName, func(t *testing.T) {
			cacheDir := t.TempDir() // shared by the cases: later ones fetch, not clone
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					snap := fetchOK(t, t.Context(), Options{URL: url, Ref: tc.ref, CacheDir: cacheDir})
					if snap.Revision != tc.wantRev {
						t.Errorf("Revision = %s, want %s", snap.Revision, tc.wantRev)
					}
					if snap.Ref != tc.wantRef {
						t.Errorf("Ref = %q, want %q", snap.Ref, tc.wantRef)
					}
					if got := readFile(t, snap, "topology/site.yaml"); got != tc.wantSite {
						t.Errorf("topology/site.yaml = %q, want %q", got, tc.wantSite)
					}
				})
			}
		})
	}
}

func TestFetchDefaultBranchFollowsRemoteHEAD(t *testing.T) {
	r := newTestRepo(t)
	r.write("a.yaml", "on: main\n")
	r.commit("main")
	r.run("checkout", "-q", "-b", "trunk")
	r.write("a.yaml", "on: trunk\n")
	trunk := r.commit("trunk")

	snap := fetchOK(t, t.Context(), Options{URL: r.dir, CacheDir: t.TempDir()})
	if snap.Ref != "refs/heads/trunk" || snap.Revision != trunk {
		t.Errorf("Fetch() = ref %q revision %s, want refs/heads/trunk %s", snap.Ref, snap.Revision, trunk)
	}
}

func TestFetchSubdirectory(t *testing.T) {
	r := newTestRepo(t)
	r.write("README.md", "not yaml\n")
	r.write("topology/devices.yaml", "devices: []\n")
	r.write("topology/tunnels/mesh.yaml", "tunnels: []\n")
	r.write("other/x.yaml", "x: 1\n")
	r.commit("layout")
	cacheDir := t.TempDir()

	for _, path := range []string{"topology", "topology/", "./topology", "topology/."} {
		t.Run(path, func(t *testing.T) {
			snap := fetchOK(t, t.Context(), Options{URL: r.dir, Path: path, CacheDir: cacheDir})
			if err := fstest.TestFS(snap.FS, "devices.yaml", "tunnels/mesh.yaml"); err != nil {
				t.Fatal(err)
			}
			if _, err := fs.Stat(snap.FS, "README.md"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Stat(README.md) error = %v, want fs.ErrNotExist (outside Path)", err)
			}
		})
	}
	t.Run("nested", func(t *testing.T) {
		snap := fetchOK(t, t.Context(), Options{URL: r.dir, Path: "topology/tunnels", CacheDir: cacheDir})
		if got := readFile(t, snap, "mesh.yaml"); got != "tunnels: []\n" {
			t.Errorf("mesh.yaml = %q", got)
		}
	})
}

func TestFetchIsIncremental(t *testing.T) {
	r := newTestRepo(t)
	r.write("site.yaml", "v: 1\n")
	first := r.commit("one")
	cacheDir := t.TempDir()
	log, logs := newTestLogger()
	opts := Options{URL: r.dir, Ref: "main", CacheDir: cacheDir, Logger: log}

	snap1 := fetchOK(t, t.Context(), opts)
	if snap1.Revision != first {
		t.Fatalf("first Revision = %s, want %s", snap1.Revision, first)
	}
	cloneDir := cloneDirOf(t, opts)
	marker := filepath.Join(cloneDir, "gitsource-test-marker")
	if err := os.WriteFile(marker, []byte("still here"), 0o600); err != nil {
		t.Fatal(err)
	}

	r.write("site.yaml", "v: 2\n")
	second := r.commit("two")
	snap2 := fetchOK(t, t.Context(), opts)
	if snap2.Revision != second {
		t.Errorf("second Revision = %s, want %s", snap2.Revision, second)
	}
	if got := readFile(t, snap2, "site.yaml"); got != "v: 2\n" {
		t.Errorf("second site.yaml = %q, want v: 2", got)
	}
	// Nothing new: "already up to date" is success.
	snap3 := fetchOK(t, t.Context(), opts)
	if snap3.Revision != second {
		t.Errorf("third Revision = %s, want %s", snap3.Revision, second)
	}

	if _, err := os.Stat(marker); err != nil {
		t.Errorf("marker in the clone is gone, so the clone was rebuilt: %v", err)
	}
	if n := strings.Count(logs.String(), "cloning repository"); n != 1 {
		t.Errorf("logged %d clones, want 1; log:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), "already up to date") {
		t.Errorf("third fetch did not log 'already up to date'; log:\n%s", logs)
	}
	// An earlier snapshot is immutable: it still reads its own commit.
	if got := readFile(t, snap1, "site.yaml"); got != "v: 1\n" {
		t.Errorf("first snapshot's site.yaml after later fetches = %q, want v: 1", got)
	}
}

func TestFetchFollowsDeletedAndMovedRefs(t *testing.T) {
	r := newTestRepo(t)
	r.write("a.yaml", "a: 1\n")
	r.commit("one")
	r.run("branch", "feature")
	r.run("tag", "moving")
	cacheDir := t.TempDir()
	fetchOK(t, t.Context(), Options{URL: r.dir, Ref: "feature", CacheDir: cacheDir})

	r.run("branch", "-D", "feature")
	r.write("a.yaml", "a: 2\n")
	two := r.commit("two")
	r.run("tag", "-f", "moving")

	_, err := Fetch(t.Context(), Options{URL: r.dir, Ref: "feature", CacheDir: cacheDir})
	if !errors.Is(err, ErrRefNotFound) {
		t.Errorf("Fetch(deleted branch) error = %v, want ErrRefNotFound", err)
	}
	snap := fetchOK(t, t.Context(), Options{URL: r.dir, Ref: "moving", CacheDir: cacheDir})
	if snap.Revision != two {
		t.Errorf("moved tag Revision = %s, want %s", snap.Revision, two)
	}
}

func TestFetchErrors(t *testing.T) {
	fx := newRefsFixture(t)
	fx.repo.run("branch", "v1") // a branch named like the tag, on another commit
	emptyRepo := newTestRepo(t)
	cacheDir := t.TempDir()
	missing := filepath.Join(t.TempDir(), "no-such-repo")

	tests := []struct {
		name    string
		opts    Options
		wantErr error
		want    []string // substrings of the message
	}{
		{
			name:    "missing repository",
			opts:    Options{URL: missing},
			wantErr: ErrRepositoryNotFound,
			want:    []string{"repository not found", missing},
		},
		{
			name:    "missing file URL repository",
			opts:    Options{URL: "file://" + missing},
			wantErr: ErrRepositoryNotFound,
			want:    []string{"repository not found", "file://" + missing},
		},
		{
			name:    "empty repository",
			opts:    Options{URL: emptyRepo.dir},
			wantErr: ErrEmptyRepository,
			want:    []string{"empty", emptyRepo.dir},
		},
		{
			name:    "missing branch",
			opts:    Options{URL: fx.repo.dir, Ref: "no-such-branch"},
			wantErr: ErrRefNotFound,
			want:    []string{`"no-such-branch" not found`, fx.repo.dir, "branches: dev, main, v1", "tags: v1, v2, v2-wrapped"},
		},
		{
			name:    "missing full branch ref",
			opts:    Options{URL: fx.repo.dir, Ref: "refs/heads/nope"},
			wantErr: ErrRefNotFound,
			want:    []string{`"refs/heads/nope" not found`},
		},
		{
			name:    "missing tag",
			opts:    Options{URL: fx.repo.dir, Ref: "refs/tags/v9"},
			wantErr: ErrRefNotFound,
			want:    []string{`"refs/tags/v9" not found`},
		},
		{
			name:    "missing commit",
			opts:    Options{URL: fx.repo.dir, Ref: "0123456789abcdef0123456789abcdef01234567"},
			wantErr: ErrRefNotFound,
			want:    []string{"0123456789abcdef0123456789abcdef01234567", "not found"},
		},
		{
			name:    "too short SHA",
			opts:    Options{URL: fx.repo.dir, Ref: fx.commitA[:6]},
			wantErr: ErrRefNotFound,
			want:    []string{fx.commitA[:6]},
		},
		{
			name:    "ambiguous branch and tag",
			opts:    Options{URL: fx.repo.dir, Ref: "v1"},
			wantErr: ErrInvalidOptions,
			want:    []string{"ambiguous", "refs/heads/v1", "refs/tags/v1"},
		},
		{
			name:    "missing path",
			opts:    Options{URL: fx.repo.dir, Ref: "main", Path: "nope/deeper"},
			wantErr: ErrPathNotFound,
			want:    []string{`path "nope/deeper" not found`, fx.commitB},
		},
		{
			name:    "path is a file",
			opts:    Options{URL: fx.repo.dir, Ref: "main", Path: "README.md"},
			wantErr: ErrPathNotFound,
			want:    []string{"README.md", "is a file", fx.commitB},
		},
		{
			name:    "path with ..",
			opts:    Options{URL: fx.repo.dir, Path: "topology/../../etc"},
			wantErr: ErrInvalidOptions,
			want:    []string{`".."`},
		},
		{
			name:    "absolute path",
			opts:    Options{URL: fx.repo.dir, Path: "/etc"},
			wantErr: ErrInvalidOptions,
			want:    []string{"relative"},
		},
		{
			name:    "no cache directory",
			opts:    Options{URL: fx.repo.dir, CacheDir: "-"},
			wantErr: ErrInvalidOptions,
			want:    []string{"cache directory"},
		},
		{
			name:    "no URL",
			opts:    Options{},
			wantErr: ErrInvalidOptions,
			want:    []string{"URL is empty"},
		},
		{
			name:    "unsupported scheme",
			opts:    Options{URL: "ftp://user:hunter2@example.com/r.git"},
			wantErr: ErrInvalidOptions,
			want:    []string{"ftp://example.com/r.git", "unsupported scheme"},
		},
		{
			name:    "ssh without a key",
			opts:    Options{URL: "git@example.com:acme/sdwan.git"},
			wantErr: ErrInvalidOptions,
			want:    []string{"example.com:acme/sdwan.git", "SSH key file"},
		},
		{
			name:    "credentials over plain http",
			opts:    Options{URL: "http://example.com/r.git", Token: "tok-1234567890"},
			wantErr: ErrInvalidOptions,
			want:    []string{"plain http"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			switch opts.CacheDir {
			case "":
				opts.CacheDir = cacheDir
			case "-":
				opts.CacheDir = ""
			}
			snap, err := Fetch(t.Context(), opts)
			if err == nil {
				t.Fatalf("Fetch() = revision %s, want an error", snap.Revision)
			}
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("Fetch() error = %q, want errors.Is %q", err, tc.wantErr)
			}
			msg := err.Error()
			t.Logf("error: %s", msg)
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("Fetch() error = %q, want it to contain %q", msg, w)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("Fetch() error has more than one line: %q", msg)
			}
			if strings.Contains(msg, "hunter2") || strings.Contains(msg, "tok-1234567890") {
				t.Errorf("Fetch() error leaks a credential: %q", msg)
			}
		})
	}
}

func TestFetchReplacesCorruptCache(t *testing.T) {
	r := newTestRepo(t)
	r.write("a.yaml", "a: 1\n")
	rev := r.commit("one")

	tests := []struct {
		name    string
		corrupt func(t *testing.T, cloneDir string)
	}{
		{"empty directory (half-written clone)", func(t *testing.T, dir string) {
			mustRemoveAll(t, dir)
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
		}},
		{"missing HEAD and config", func(t *testing.T, dir string) {
			mustRemoveAll(t, filepath.Join(dir, "HEAD"))
			mustRemoveAll(t, filepath.Join(dir, "config"))
		}},
		{"missing pack files", func(t *testing.T, dir string) {
			packs, _ := filepath.Glob(filepath.Join(dir, "objects", "pack", "*.pack"))
			if len(packs) == 0 {
				t.Fatal("no pack files to remove")
			}
			for _, p := range packs {
				mustRemoveAll(t, p)
			}
		}},
		{"truncated pack files", func(t *testing.T, dir string) {
			packs, _ := filepath.Glob(filepath.Join(dir, "objects", "pack", "*.pack"))
			for _, p := range packs {
				if err := os.Truncate(p, 40); err != nil {
					t.Fatal(err)
				}
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cacheDir := t.TempDir()
			log, logs := newTestLogger()
			opts := Options{URL: r.dir, CacheDir: cacheDir, Logger: log}
			fetchOK(t, t.Context(), opts)
			tc.corrupt(t, cloneDirOf(t, opts))

			snap := fetchOK(t, t.Context(), opts)
			if snap.Revision != rev {
				t.Errorf("Revision = %s, want %s", snap.Revision, rev)
			}
			if got := readFile(t, snap, "a.yaml"); got != "a: 1\n" {
				t.Errorf("a.yaml = %q", got)
			}
			if !strings.Contains(logs.String(), "removing unusable cached clone") {
				t.Errorf("no warning about the unusable clone; log:\n%s", logs)
			}
			if n := strings.Count(logs.String(), "cloning repository"); n != 2 {
				t.Errorf("logged %d clones, want 2; log:\n%s", n, logs)
			}
		})
	}

	t.Run("leftover temporary clone", func(t *testing.T) {
		cacheDir := t.TempDir()
		opts := Options{URL: r.dir, CacheDir: cacheDir}
		leftover := cloneDirOf(t, opts) + tempSuffix + "123"
		if err := os.MkdirAll(filepath.Join(leftover, "objects"), 0o700); err != nil {
			t.Fatal(err)
		}
		fetchOK(t, t.Context(), opts)
		if _, err := os.Stat(leftover); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("leftover temporary clone still there (Stat error %v)", err)
		}
	})
}

// cloneDirOf returns the cached clone directory Fetch uses for opts.
func cloneDirOf(t *testing.T, opts Options) string {
	t.Helper()
	rem, err := parseRemote(opts.URL)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(opts.CacheDir, rem.cacheName())
}

func mustRemoveAll(t *testing.T, p string) {
	t.Helper()
	if err := os.RemoveAll(p); err != nil {
		t.Fatal(err)
	}
}

func TestFetchConcurrent(t *testing.T) {
	r := newTestRepo(t)
	r.write("a.yaml", "a: 1\n")
	rev := r.commit("one")
	cacheDir := t.TempDir()

	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			snap, err := Fetch(t.Context(), Options{URL: r.dir, CacheDir: cacheDir})
			if err == nil && snap.Revision != rev {
				err = errors.New("wrong revision " + snap.Revision)
			}
			if err == nil {
				_, err = fs.ReadFile(snap.FS, "a.yaml")
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Fetch #%d: %v", i, err)
		}
	}
}

func TestFetchContextCancelled(t *testing.T) {
	r := newTestRepo(t)
	r.write("a.yaml", "a: 1\n")
	r.commit("one")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := Fetch(ctx, Options{URL: r.dir, CacheDir: t.TempDir()})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Fetch(cancelled) error = %v, want context.Canceled", err)
	}

	// A lock held by another Fetch: waiting for it honours the deadline.
	cacheDir := t.TempDir()
	rem, err := parseRemote(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := lockFile(t.Context(), filepath.Join(cacheDir, rem.cacheName())+".lock")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel = context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = Fetch(ctx, Options{URL: r.dir, CacheDir: cacheDir})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Fetch(lock held) error = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Fetch(lock held) took %v after a 100ms deadline", d)
	}
}

func TestTokenFromFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		path    string
		want    string
		wantErr string
	}{
		{"trimmed", write("ok", "  ghp_secretvalue123\n\n"), "ghp_secretvalue123", ""},
		{"empty", write("empty", " \n\t"), "", "empty"},
		{"two lines", write("two", "ghp_first\nghp_second\n"), "", "more than one line"},
		{"missing", filepath.Join(dir, "missing"), "", "no such file"},
		{"directory", dir, "", "read token file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := TokenFromFile(tc.path)
			if tc.wantErr == "" {
				if err != nil || got != tc.want {
					t.Errorf("TokenFromFile() = %q, %v; want %q, nil", got, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("TokenFromFile() = %q, want an error", got)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("TokenFromFile() error = %q, want it to contain %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "ghp_") {
				t.Errorf("TokenFromFile() error contains the file content: %q", err)
			}
		})
	}
}
