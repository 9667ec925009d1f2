package gitsource

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"time"
)

// Options says which repository, ref and directory to fetch, where to cache
// the clone and how to authenticate. Only URL and CacheDir are required.
type Options struct {
	// URL is the repository: https://host/path.git, ssh://user@host/path,
	// user@host:path (scp-like), a local path, or file:///path. Userinfo in
	// the URL is used as credentials but never shown in errors or logs.
	URL string
	// Ref is a branch, a tag, or a full or short (at least 7 hex digits)
	// commit SHA; "refs/heads/NAME" and "refs/tags/NAME" pick one
	// explicitly. Empty means the remote's default branch (its HEAD).
	Ref string
	// Path is the subdirectory holding the YAML, relative to the
	// repository root, with forward slashes; empty means the root.
	Path string
	// CacheDir holds one cached clone per URL. Required.
	CacheDir string

	// Token authenticates https URLs; it is sent as the basic-auth password
	// with the user Username, or "x-access-token" when Username is empty.
	// Never logged.
	Token string
	// Username is the https basic-auth user (and the SSH user when the URL
	// names none; the SSH default is "git").
	Username string

	// SSHKeyFile is the private key for ssh URLs (required for them).
	SSHKeyFile string
	// SSHKeyPassphrase decrypts SSHKeyFile when it is encrypted.
	SSHKeyPassphrase string
	// KnownHostsFile lists the SSH host keys to trust, in OpenSSH
	// known_hosts format. Required for ssh URLs unless
	// InsecureSkipHostKeyCheck is set.
	KnownHostsFile string
	// InsecureSkipHostKeyCheck accepts any SSH host key. Off by default;
	// it makes the connection open to a man in the middle.
	InsecureSkipHostKeyCheck bool

	// Logger receives progress at debug and info level and warnings
	// (cache rebuilt, host key check disabled). Nil discards.
	Logger *slog.Logger
}

// Snapshot is the desired-state tree at one commit.
type Snapshot struct {
	// Revision is the full SHA of the commit read.
	Revision string
	// Ref is what Options.Ref resolved to: "refs/heads/NAME" for a branch
	// (and for the default branch), "refs/tags/NAME" for a tag, or the full
	// SHA when a commit was asked for.
	Ref string
	// FS is the commit's tree rooted at Options.Path, read from the git
	// object store. It implements fs.ReadDirFS, fs.ReadFileFS and
	// fs.StatFS, is read-only and is safe for concurrent use.
	FS fs.FS
}

// Log attribute keys.
const (
	logKeyComponent = "component"
	logKeyURL       = "url"
	logKeyRef       = "ref"
	logKeyRevision  = "revision"
	logKeyPath      = "path"
	logKeyDir       = "dir"
	logKeyReason    = "reason"
	logKeyDuration  = "duration"
	logKeyTransport = "transport"
)

// Fetch brings the cached clone of opts.URL up to date (cloning it on
// first use), resolves opts.Ref and returns the tree at that commit, rooted
// at opts.Path. See the package documentation for the caching, security
// and error behaviour.
func Fetch(ctx context.Context, opts Options) (*Snapshot, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With(logKeyComponent, "gitsource")
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.CacheDir == "" {
		return nil, fmt.Errorf("%w: cache directory is empty", ErrInvalidOptions)
	}
	useInProcessFileTransport()
	rem, err := parseRemote(opts.URL)
	if err != nil {
		return nil, err
	}
	subdir, err := cleanSubdir(opts.Path)
	if err != nil {
		return nil, err
	}
	cred, err := newCredentials(ctx, rem, &opts, log)
	if err != nil {
		return nil, err
	}

	start := time.Now()
	c := &cache{
		root: opts.CacheDir,
		name: rem.cacheName(),
		rem:  rem,
		cred: cred,
		log:  log,
	}
	repo, err := c.sync(ctx)
	if err != nil {
		return nil, err
	}
	if empty, err := hasNoRefs(repo); err == nil && empty {
		// go-git's in-process server (local paths) does not report an
		// empty repository the way git does; a clone without a single
		// branch or tag is one.
		return nil, newKindError(ErrEmptyRepository, nil, "fetch %s: repository is empty (no commits)", rem.safeURL)
	}
	refName, commitHash, err := resolveRef(ctx, repo, rem, cred, opts.Ref)
	if err != nil {
		return nil, err
	}
	tfs, err := newTreeFS(repo.Storer, rem, commitHash, subdir)
	if err != nil {
		return nil, err
	}
	log.InfoContext(ctx, "fetched desired state",
		logKeyURL, rem.safeURL, logKeyRef, refName, logKeyRevision, commitHash.String(),
		logKeyPath, subdir, logKeyDuration, time.Since(start))
	return &Snapshot{Revision: commitHash.String(), Ref: refName, FS: tfs}, nil
}

// maxTokenFileSize bounds TokenFromFile: a token is a line, not a file.
const maxTokenFileSize = 64 << 10

// TokenFromFile reads a token (for Options.Token) from a file such as a
// mounted secret, trimming surrounding whitespace. Its errors name the file
// but never contain any of its content.
func TokenFromFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("read token file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFileSize+1))
	if err != nil {
		return "", fmt.Errorf("read token file %s: %w", path, err)
	}
	b = bytes.TrimSpace(b)
	switch {
	case len(b) > maxTokenFileSize:
		return "", fmt.Errorf("read token file %s: larger than %d bytes, not a token", path, maxTokenFileSize)
	case len(b) == 0:
		return "", fmt.Errorf("read token file %s: file is empty", path)
	case bytes.ContainsAny(b, "\r\n"):
		return "", fmt.Errorf("read token file %s: more than one line", path)
	}
	return string(b), nil
}
