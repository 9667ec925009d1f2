package gitsource

import (
	"bytes"
	"context"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// commitTime is the author and committer date of every test commit.
var commitTime = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// gitPath returns the git program, skipping the test if it is missing.
func gitPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("git")
	if err != nil {
		t.Skipf("git program not found (%v): these tests build real repositories with it", err)
	}
	return p
}

// gitEnv isolates the git CLI from the user's and system's configuration
// and fixes the identity and dates so commits are reproducible.
func gitEnv(home string) []string {
	date := commitTime.Format(time.RFC3339)
	return []string{
		"HOME=" + home,
		"PATH=" + os.Getenv("PATH"),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=" + os.DevNull,
		"GIT_AUTHOR_NAME=Test Author",
		"GIT_AUTHOR_EMAIL=author@example.com",
		"GIT_AUTHOR_DATE=" + date,
		"GIT_COMMITTER_NAME=Test Committer",
		"GIT_COMMITTER_EMAIL=committer@example.com",
		"GIT_COMMITTER_DATE=" + date,
		"GIT_TERMINAL_PROMPT=0",
	}
}

// testRepo is a repository with a work tree made with the git CLI.
type testRepo struct {
	t   *testing.T
	git string
	dir string
	env []string
}

// newTestRepo makes an empty repository whose first branch is "main".
func newTestRepo(t *testing.T) *testRepo {
	t.Helper()
	r := &testRepo{t: t, git: gitPath(t), dir: filepath.Join(t.TempDir(), "repo"), env: gitEnv(t.TempDir())}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r.run("-c", "init.defaultBranch=main", "init", "-q")
	return r
}

// run runs git in the repository and returns its trimmed stdout.
func (r *testRepo) run(args ...string) string {
	r.t.Helper()
	cmd := exec.Command(r.git, args...)
	cmd.Dir = r.dir
	cmd.Env = r.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

// write creates or replaces a file in the work tree.
func (r *testRepo) write(name, content string) {
	r.t.Helper()
	p := filepath.Join(r.dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// commit commits the whole work tree and returns the new commit's SHA.
func (r *testRepo) commit(msg string) string {
	r.t.Helper()
	r.run("add", "-A")
	r.run("commit", "-q", "--allow-empty", "-m", msg)
	return r.run("rev-parse", "HEAD")
}

// logBuffer collects log output for assertions; safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newTestLogger returns a debug-level text logger writing to a buffer.
func newTestLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// fetchOK calls Fetch and fails the test on error.
func fetchOK(t *testing.T, ctx context.Context, opts Options) *Snapshot {
	t.Helper()
	snap, err := Fetch(ctx, opts)
	if err != nil {
		t.Fatalf("Fetch(%s, ref %q, path %q) error: %v", opts.URL, opts.Ref, opts.Path, err)
	}
	return snap
}

// readFile reads name from the snapshot, failing the test on error.
func readFile(t *testing.T, snap *Snapshot, name string) string {
	t.Helper()
	b, err := fs.ReadFile(snap.FS, name)
	if err != nil {
		t.Fatalf("read %s at %s: %v", name, snap.Revision, err)
	}
	return string(b)
}
