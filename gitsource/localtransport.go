package gitsource

import (
	"os"
	"path/filepath"
	"sync"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	objcache "github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	"github.com/go-git/go-git/v5/plumbing/transport/server"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

var fileTransport sync.Once

// useInProcessFileTransport serves local paths and file:// URLs with
// go-git's own upload-pack instead of running the git program, so that a
// machine (or container image) without git can read a local repository.
// It replaces go-git's "file" transport once, before the first fetch.
func useInProcessFileTransport() {
	fileTransport.Do(func() { client.InstallProtocol("file", server.NewServer(localLoader{})) })
}

// localLoader opens a local repository, bare or with a work tree.
type localLoader struct{}

func (localLoader) Load(ep *transport.Endpoint) (storer.Storer, error) {
	dir := ep.Path
	if fi, err := os.Stat(filepath.Join(dir, ".git")); err == nil && fi.IsDir() {
		dir = filepath.Join(dir, ".git")
	}
	fs := osfs.New(dir)
	if _, err := fs.Stat("config"); err != nil {
		return nil, transport.ErrRepositoryNotFound
	}
	return filesystem.NewStorage(fs, objcache.NewObjectLRUDefault()), nil
}

// hasNoRefs reports whether a clone holds no branch and no tag.
func hasNoRefs(repo interface {
	References() (storer.ReferenceIter, error)
}) (bool, error) {
	it, err := repo.References()
	if err != nil {
		return false, err
	}
	defer it.Close()
	empty := true
	err = it.ForEach(func(r *plumbing.Reference) error {
		n := r.Name()
		if n.IsRemote() || n.IsTag() || n.IsBranch() {
			empty = false
			return storer.ErrStop
		}
		return nil
	})
	return empty, err
}
