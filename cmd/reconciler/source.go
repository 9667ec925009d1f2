package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/flexiwan-gitops/reconciler/gitsource"
	"github.com/flexiwan-gitops/reconciler/spec"
)

// sourceFlags are SOURCE: --dir DIR, or --repo URL [--ref REF] [--path SUBDIR].
type sourceFlags struct {
	dir            string
	repo           string
	ref            string
	path           string
	gitTokenFile   string
	sshKeyFile     string
	knownHostsFile string
	insecureSSH    bool
	cacheDir       string
}

func (s *sourceFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.dir, "dir", "", "read the desired state from this directory (e.g. a CI checkout)")
	fs.StringVar(&s.repo, "repo", "", "read the desired state from this git repository (https, ssh, or a local path / file://)")
	fs.StringVar(&s.ref, "ref", "", "branch, tag or commit of --repo (default: the remote's default branch)")
	fs.StringVar(&s.path, "path", "", "subdirectory of --repo holding the YAML")
	fs.StringVar(&s.gitTokenFile, "git-token-file", "", "file holding an HTTPS token for --repo (or env GIT_TOKEN)")
	fs.StringVar(&s.sshKeyFile, "ssh-key", "", "private key for an ssh --repo")
	fs.StringVar(&s.knownHostsFile, "known-hosts", "", "known_hosts file for an ssh --repo (default ~/.ssh/known_hosts)")
	fs.BoolVar(&s.insecureSSH, "insecure-skip-host-key-check", false, "do not check the ssh host key (not recommended)")
	fs.StringVar(&s.cacheDir, "cache-dir", "", "where git clones are cached (default: the user cache directory)")
}

func (s *sourceFlags) check() error {
	switch {
	case s.dir == "" && s.repo == "":
		return errors.New("give the desired state with --dir DIR or --repo URL")
	case s.dir != "" && s.repo != "":
		return errors.New("--dir and --repo cannot be used together")
	case s.dir != "" && (s.ref != "" || s.path != ""):
		return errors.New("--ref and --path go with --repo; with --dir, point --dir at the subdirectory")
	}
	return nil
}

// loaded is a source read and validated.
type loaded struct {
	spec     *spec.Spec
	revision string
	where    string // for plans and messages
}

// load reads and validates the source. Validation errors come back as
// spec/yamlcheck errors listing every problem.
func (s *sourceFlags) load(ctx context.Context) (*loaded, error) {
	if s.dir != "" {
		info, err := os.Stat(s.dir)
		if err != nil {
			return nil, fmt.Errorf("source directory: %w", err)
		}
		if !info.IsDir() {
			return nil, fmt.Errorf("source %s is not a directory", s.dir)
		}
		fsys := os.DirFS(s.dir)
		sp, err := spec.Load(fsys, ".")
		if err != nil {
			return nil, err
		}
		rev, err := dirRevision(fsys, sp.Files)
		if err != nil {
			return nil, err
		}
		return &loaded{spec: sp, revision: rev, where: s.dir}, nil
	}
	opts := gitsource.Options{URL: s.repo, Ref: s.ref, Path: s.path, SSHKeyFile: s.sshKeyFile, KnownHostsFile: s.knownHostsFile,
		InsecureSkipHostKeyCheck: s.insecureSSH, CacheDir: s.cacheDir}
	if opts.CacheDir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		opts.CacheDir = filepath.Join(base, "flexiwan-reconciler", "git")
	}
	switch {
	case s.gitTokenFile != "":
		tok, err := gitsource.TokenFromFile(s.gitTokenFile)
		if err != nil {
			return nil, err
		}
		opts.Token = tok
	case os.Getenv("GIT_TOKEN") != "":
		opts.Token = os.Getenv("GIT_TOKEN")
	}
	if opts.SSHKeyFile != "" && opts.KnownHostsFile == "" && !opts.InsecureSkipHostKeyCheck {
		if home, err := os.UserHomeDir(); err == nil {
			opts.KnownHostsFile = filepath.Join(home, ".ssh", "known_hosts")
		}
	}
	snap, err := gitsource.Fetch(ctx, opts)
	if err != nil {
		return nil, err
	}
	sp, err := spec.Load(snap.FS, ".")
	if err != nil {
		return nil, err
	}
	where := gitsource.Redact(s.repo)
	if s.path != "" {
		where += "//" + s.path
	}
	return &loaded{spec: sp, revision: snap.Revision, where: where}, nil
}

// dirRevision is a digest of the source files (names and contents), so that
// a plan made from a directory can be refused when the files change.
func dirRevision(fsys fs.FS, files []string) (string, error) {
	names := append([]string(nil), files...)
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(b))
		h.Write(b)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:40], nil
}
