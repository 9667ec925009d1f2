package gitsource

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// A local repository is read without the git program (the demo and the
// container image must not need it).
func TestFetchLocalWithoutGitBinary(t *testing.T) {
	src := t.TempDir()
	repo, err := git.PlainInit(src, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "a.yaml"), []byte("devices: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wt.Add("a.yaml"); err != nil {
		t.Fatal(err)
	}
	h, err := wt.Commit("one", &git.CommitOptions{Author: &object.Signature{Name: "t", Email: "t@example.invalid", When: time.Unix(1700000000, 0)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", t.TempDir()) // no git anywhere on PATH
	for _, url := range []string{src, "file://" + src} {
		snap, err := Fetch(t.Context(), Options{URL: url, CacheDir: t.TempDir()})
		if err != nil {
			t.Fatalf("Fetch(%s) without git on PATH: %v", url, err)
		}
		if snap.Revision != h.String() {
			t.Errorf("revision %s, want %s", snap.Revision, h)
		}
		b, err := fs.ReadFile(snap.FS, "a.yaml")
		if err != nil || string(b) != "devices: []\n" {
			t.Errorf("a.yaml = %q, %v", b, err)
		}
	}
}
