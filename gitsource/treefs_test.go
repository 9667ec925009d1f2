package gitsource

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// treeFixture is a repository with the entry kinds the FS must handle.
func treeFixture(t *testing.T) *testRepo {
	t.Helper()
	r := newTestRepo(t)
	r.write("a.yaml", "a: 1\n")
	r.write("a-b.yaml", "ab: 1\n")
	r.write("a/inner.yaml", "inner: 1\n")
	r.write("bin/run.sh", "#!/bin/sh\n")
	if err := os.Chmod(filepath.Join(r.dir, "bin", "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	r.write("sub/deep/x.yaml", strings.Repeat("x", 10000))
	if err := os.Symlink("a.yaml", filepath.Join(r.dir, "link.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a", filepath.Join(r.dir, "dirlink")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc", filepath.Join(r.dir, "escape")); err != nil {
		t.Fatal(err)
	}
	r.run("add", "-A")
	// A submodule entry (gitlink) without .gitmodules: enough for the tree.
	r.run("update-index", "--add", "--cacheinfo", "160000,0123456789abcdef0123456789abcdef01234567,sm")
	r.run("commit", "-q", "-m", "tree kinds") // not r.commit: "add -A" would drop the gitlink
	return r
}

func TestTreeFS(t *testing.T) {
	r := treeFixture(t)
	snap := fetchOK(t, t.Context(), Options{URL: r.dir, CacheDir: t.TempDir()})
	fsys := snap.FS

	t.Run("fstest", func(t *testing.T) {
		if err := fstest.TestFS(fsys, "a.yaml", "a-b.yaml", "a/inner.yaml", "bin/run.sh", "sub/deep/x.yaml"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("walk lists exactly the files and directories", func(t *testing.T) {
		var got []string
		err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			got = append(got, p)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{".", "a", "a/inner.yaml", "a-b.yaml", "a.yaml", "bin", "bin/run.sh", "sub", "sub/deep", "sub/deep/x.yaml"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("WalkDir (-want +got):\n%s", diff)
		}
	})

	t.Run("modes, sizes and times", func(t *testing.T) {
		tests := []struct {
			name string
			mode fs.FileMode
			size int64
		}{
			{".", fs.ModeDir | 0o555, 0},
			{"a", fs.ModeDir | 0o555, 0},
			{"a.yaml", 0o444, 5},
			{"bin/run.sh", 0o555, 10},
			{"sub/deep/x.yaml", 0o444, 10000},
		}
		for _, tc := range tests {
			fi, err := fs.Stat(fsys, tc.name)
			if err != nil {
				t.Errorf("Stat(%s): %v", tc.name, err)
				continue
			}
			if fi.Mode() != tc.mode || fi.Size() != tc.size {
				t.Errorf("Stat(%s) = mode %v size %d, want mode %v size %d", tc.name, fi.Mode(), fi.Size(), tc.mode, tc.size)
			}
			if !fi.ModTime().Equal(commitTime) {
				t.Errorf("Stat(%s).ModTime() = %v, want the commit time %v", tc.name, fi.ModTime(), commitTime)
			}
		}
	})

	t.Run("skipped and invalid names", func(t *testing.T) {
		tests := []struct {
			name    string
			wantErr error
		}{
			{"link.yaml", fs.ErrNotExist},
			{"dirlink", fs.ErrNotExist},
			{"dirlink/inner.yaml", fs.ErrNotExist},
			{"escape/passwd", fs.ErrNotExist},
			{"sm", fs.ErrNotExist},
			{"a.yaml/x", fs.ErrNotExist},
			{"missing.yaml", fs.ErrNotExist},
			{"../a.yaml", fs.ErrInvalid},
			{"/a.yaml", fs.ErrInvalid},
			{"a/../a.yaml", fs.ErrInvalid},
			{"", fs.ErrInvalid},
		}
		for _, tc := range tests {
			if _, err := fsys.Open(tc.name); !errors.Is(err, tc.wantErr) {
				t.Errorf("Open(%q) error = %v, want %v", tc.name, err, tc.wantErr)
			}
			if _, err := fs.ReadFile(fsys, tc.name); !errors.Is(err, tc.wantErr) {
				t.Errorf("ReadFile(%q) error = %v, want %v", tc.name, err, tc.wantErr)
			}
		}
		if _, err := fs.ReadFile(fsys, "a"); err == nil {
			t.Error("ReadFile(a directory) succeeded, want an error")
		}
		if _, err := fs.ReadDir(fsys, "a.yaml"); err == nil {
			t.Error("ReadDir(a file) succeeded, want an error")
		}
	})

	t.Run("open file reads, seeks and closes", func(t *testing.T) {
		f, err := fsys.Open("a/inner.yaml")
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(f)
		if err != nil || string(b) != "inner: 1\n" {
			t.Errorf("ReadAll = %q, %v; want %q", b, err, "inner: 1\n")
		}
		if err := f.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if _, err := f.Read(make([]byte, 1)); !errors.Is(err, fs.ErrClosed) {
			t.Errorf("Read after Close error = %v, want fs.ErrClosed", err)
		}
	})

	t.Run("concurrent use", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for range 8 {
			wg.Go(func() {
				if b, err := fs.ReadFile(fsys, "sub/deep/x.yaml"); err != nil || len(b) != 10000 {
					errs <- errors.Join(err, errors.New("short read"))
				}
				if _, err := fs.Glob(fsys, "*/*.yaml"); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

func TestTreeFSPathKinds(t *testing.T) {
	r := treeFixture(t)
	cacheDir := t.TempDir()
	tests := []struct {
		path string
		want string
	}{
		{"dirlink", "symbolic link"},
		{"sm", "submodule"},
		{"a.yaml", "is a file"},
		{"a/missing", "not found"},
	}
	for _, tc := range tests {
		_, err := Fetch(t.Context(), Options{URL: r.dir, Path: tc.path, CacheDir: cacheDir})
		if !errors.Is(err, ErrPathNotFound) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Fetch(Path %q) error = %v, want ErrPathNotFound mentioning %q", tc.path, err, tc.want)
		}
	}
	snap := fetchOK(t, t.Context(), Options{URL: r.dir, Path: "a", CacheDir: cacheDir})
	entries, err := fs.ReadDir(snap.FS, ".")
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	if !slices.Equal(names, []string{"inner.yaml"}) {
		t.Errorf("ReadDir(.) at Path a = %v, want [inner.yaml]", names)
	}
}
