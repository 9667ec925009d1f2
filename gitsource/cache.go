package gitsource

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	objcache "github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// remoteName is the name of the one remote of a cached clone.
const remoteName = "origin"

// Where fetched refs live in a cached clone.
const (
	remoteBranchPrefix = "refs/remotes/" + remoteName + "/"
	tagPrefix          = "refs/tags/"
	branchPrefix       = "refs/heads/"
)

// fetchRefSpecs fetches every branch and every tag. Updates are forced
// (FetchOptions.Force) so a force-pushed branch or a moved tag is followed,
// and with pruning, branches and tags deleted on the remote disappear from
// the clone too. The refspecs carry no "+": go-git v5's RefSpec.Reverse,
// which pruning uses, would move the "+" to the destination, match nothing,
// and delete and re-create every ref on every fetch.
func fetchRefSpecs() []config.RefSpec {
	return []config.RefSpec{
		config.RefSpec(branchPrefix + "*:" + remoteBranchPrefix + "*"),
		config.RefSpec(tagPrefix + "*:" + tagPrefix + "*"),
	}
}

// objectCacheSize bounds go-git's in-memory object cache per open clone.
const objectCacheSize = 16 * objcache.MiByte

// tempSuffix marks a clone being written; it is renamed into place only
// once complete, so a crash never leaves a half-written clone under the
// final name.
const tempSuffix = ".tmp-"

// cache is the cached clone of one remote inside a cache root directory.
type cache struct {
	root string // Options.CacheDir
	name string // directory name of this remote's clone
	rem  *remote
	cred *credentials
	log  *slog.Logger
}

func (c *cache) dir() string { return filepath.Join(c.root, c.name) }

// sync returns the cached clone, brought up to date with the remote. It
// clones on first use, fetches incrementally afterwards, and replaces a
// clone it finds unusable.
func (c *cache) sync(ctx context.Context) (*git.Repository, error) {
	if err := os.MkdirAll(c.root, 0o700); err != nil {
		return nil, fmt.Errorf("create cache directory: %w", err)
	}
	unlock, err := lockFile(ctx, c.dir()+".lock")
	if err != nil {
		return nil, fmt.Errorf("lock cache for %s: %w", c.rem.safeURL, err)
	}
	defer unlock()

	switch _, err := os.Stat(c.dir()); {
	case err == nil:
		repo, err := c.update(ctx)
		if err == nil {
			return repo, nil
		}
		if !errors.Is(err, errUnusableCache) {
			return nil, err
		}
		c.log.WarnContext(ctx, "removing unusable cached clone; cloning again",
			logKeyURL, c.rem.safeURL, logKeyDir, c.dir(), logKeyReason, c.cred.scrub.scrub(err.Error()))
		if err := os.RemoveAll(c.dir()); err != nil {
			return nil, fmt.Errorf("remove unusable cached clone: %w", err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("cached clone of %s: %w", c.rem.safeURL, err)
	}
	return c.clone(ctx)
}

// errUnusableCache marks an existing clone that must be replaced.
var errUnusableCache = errors.New("cached clone is unusable")

// update fetches into the existing clone. It returns an error wrapping
// errUnusableCache when the clone is corrupt.
func (c *cache) update(ctx context.Context) (*git.Repository, error) {
	repo, err := openClone(c.dir())
	if err == nil {
		err = verifyClone(repo)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUnusableCache, err)
	}
	c.log.DebugContext(ctx, "fetching into cached clone", logKeyURL, c.rem.safeURL, logKeyDir, c.dir())
	if err := c.fetch(ctx, repo); err != nil {
		if ctx.Err() == nil && isLocalCorruption(err, c.dir()) {
			return nil, fmt.Errorf("%w: %w", errUnusableCache, err)
		}
		return nil, fetchFailure(ctx, err, c.rem, c.cred)
	}
	return repo, nil
}

// clone makes a new clone in a temporary directory and renames it into
// place when complete.
func (c *cache) clone(ctx context.Context) (*git.Repository, error) {
	c.removeStaleTemps(ctx)
	tmp, err := os.MkdirTemp(c.root, c.name+tempSuffix)
	if err != nil {
		return nil, fmt.Errorf("create clone directory: %w", err)
	}
	keep := false
	defer func() {
		if !keep {
			_ = os.RemoveAll(tmp)
		}
	}()

	c.log.InfoContext(ctx, "cloning repository", logKeyURL, c.rem.safeURL, logKeyDir, c.dir())
	repo, err := git.Init(newStorage(tmp), nil)
	if err != nil {
		return nil, fmt.Errorf("initialise clone of %s: %w", c.rem.safeURL, err)
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{
		Name:  remoteName,
		URLs:  []string{c.rem.fetchURL},
		Fetch: fetchRefSpecs(),
	}); err != nil {
		return nil, fmt.Errorf("initialise clone of %s: %w", c.rem.safeURL, err)
	}
	if err := c.fetch(ctx, repo); err != nil {
		return nil, fetchFailure(ctx, err, c.rem, c.cred)
	}
	if err := os.Rename(tmp, c.dir()); err != nil {
		return nil, fmt.Errorf("move clone of %s into the cache: %w", c.rem.safeURL, err)
	}
	keep = true
	// The storage above points at the temporary path: open the final one.
	repo, err = openClone(c.dir())
	if err != nil {
		return nil, fmt.Errorf("open new clone of %s: %w", c.rem.safeURL, err)
	}
	return repo, nil
}

// removeStaleTemps deletes temporary clones left by a crash. The caller
// holds the lock, so none of them is in use.
func (c *cache) removeStaleTemps(ctx context.Context) {
	matches, err := filepath.Glob(filepath.Join(c.root, c.name+tempSuffix+"*"))
	if err != nil {
		return
	}
	for _, m := range matches {
		c.log.WarnContext(ctx, "removing unfinished clone left by an earlier run", logKeyDir, m)
		_ = os.RemoveAll(m)
	}
}

// fetch updates every branch and tag of repo from the remote.
func (c *cache) fetch(ctx context.Context, repo *git.Repository) error {
	err := repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName: remoteName,
		// The URL is passed on every fetch so that the clone follows
		// changes of the user name (SSH) without being rebuilt.
		RemoteURL: c.rem.fetchURL,
		RefSpecs:  fetchRefSpecs(),
		Auth:      c.cred.auth,
		Tags:      git.NoTags, // the refspecs above already take every tag
		Force:     true,       // see fetchRefSpecs
		Prune:     true,
	})
	if errors.Is(err, git.NoErrAlreadyUpToDate) {
		c.log.DebugContext(ctx, "cached clone already up to date", logKeyURL, c.rem.safeURL)
		return nil
	}
	return err
}

func newStorage(dir string) *filesystem.Storage {
	return filesystem.NewStorageWithOptions(osfs.New(dir), objcache.NewObjectLRU(objectCacheSize), filesystem.Options{})
}

// openClone opens a cached clone without touching the network.
func openClone(dir string) (*git.Repository, error) {
	repo, err := git.Open(newStorage(dir), nil)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	cfg, err := repo.Config()
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if _, ok := cfg.Remotes[remoteName]; !ok {
		return nil, fmt.Errorf("no remote %q in config", remoteName)
	}
	return repo, nil
}

// verifyClone checks that every ref of the clone leads to a readable
// commit and root tree, which catches truncated or deleted objects.
func verifyClone(repo *git.Repository) error {
	refs, err := repo.References()
	if err != nil {
		return fmt.Errorf("read refs: %w", err)
	}
	return refs.ForEach(func(ref *plumbing.Reference) error {
		if ref.Type() != plumbing.HashReference {
			return nil
		}
		h, err := peelToCommit(repo, ref.Hash())
		if errors.Is(err, errNotACommit) {
			return nil // a tag of a tree or blob: legal, and not ours to judge
		}
		if err == nil {
			var c *object.Commit
			if c, err = object.GetCommit(repo.Storer, h); err == nil {
				_, err = c.Tree()
			}
		}
		if err != nil {
			return fmt.Errorf("ref %s: %w", ref.Name(), err)
		}
		return nil
	})
}

// isLocalCorruption reports whether a fetch error comes from the clone's
// own files rather than from the network or the remote.
func isLocalCorruption(err error, dir string) bool {
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return true
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		rel, relErr := filepath.Rel(dir, pe.Path)
		return relErr == nil && !strings.HasPrefix(rel, "..")
	}
	return false
}
