package gitsource

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// treeFS is a read-only fs.FS over a git tree object. It reads trees and
// blobs from the object store on demand; nothing is checked out.
//
// Regular and executable files and directories are visible. Symbolic
// links and submodules are skipped: ReadDir does not list them and Open
// reports fs.ErrNotExist, so a link can never lead outside the tree.
//
// Git stores no modification times: every entry reports the commit's
// committer time.
type treeFS struct {
	// mu serialises access to the object store, which go-git does not
	// document as safe for concurrent use.
	mu      *sync.Mutex
	objects storer.EncodedObjectStorer
	root    plumbing.Hash // the tree at Options.Path
	modTime time.Time
}

var (
	_ fs.FS         = (*treeFS)(nil)
	_ fs.ReadDirFS  = (*treeFS)(nil)
	_ fs.ReadFileFS = (*treeFS)(nil)
	_ fs.StatFS     = (*treeFS)(nil)
)

// newTreeFS returns the tree of commit at subdir (in fs.FS form).
func newTreeFS(objects storer.EncodedObjectStorer, rem *remote, commit plumbing.Hash, subdir string) (*treeFS, error) {
	c, err := object.GetCommit(objects, commit)
	if err != nil {
		return nil, fmt.Errorf("read commit %s of %s: %w", commit, rem.safeURL, err)
	}
	f := &treeFS{mu: &sync.Mutex{}, objects: objects, root: c.TreeHash, modTime: c.Committer.When}
	if subdir == "." {
		return f, nil
	}
	// Walk by hand (not with lookup) to tell "missing" from "not a directory".
	cur := c.TreeHash
	for i, elem := range strings.Split(subdir, "/") {
		t, err := object.GetTree(objects, cur)
		if err != nil {
			return nil, fmt.Errorf("read tree of %s at revision %s of %s: %w", subdir, commit, rem.safeURL, err)
		}
		e := findEntry(t, elem)
		here := strings.Join(strings.Split(subdir, "/")[:i+1], "/")
		switch {
		case e == nil:
			return nil, newKindError(ErrPathNotFound, nil, "path %q not found in revision %s of %s", subdir, commit, rem.safeURL)
		case e.Mode == filemode.Dir:
			cur = e.Hash
		case e.Mode == filemode.Symlink:
			return nil, newKindError(ErrPathNotFound, nil,
				"path %q not found in revision %s of %s: %q is a symbolic link (links are not followed; use the directory it points to)",
				subdir, commit, rem.safeURL, here)
		case e.Mode == filemode.Submodule:
			return nil, newKindError(ErrPathNotFound, nil,
				"path %q not found in revision %s of %s: %q is a submodule (submodules are not supported)",
				subdir, commit, rem.safeURL, here)
		default:
			return nil, newKindError(ErrPathNotFound, nil,
				"path %q not found in revision %s of %s: %q is a file, not a directory", subdir, commit, rem.safeURL, here)
		}
	}
	f.root = cur
	return f, nil
}

func findEntry(t *object.Tree, name string) *object.TreeEntry {
	for i := range t.Entries {
		if t.Entries[i].Name == name {
			return &t.Entries[i]
		}
	}
	return nil
}

// node is one visible entry of the tree.
type node struct {
	name string // base name; "." for the root
	mode fs.FileMode
	hash plumbing.Hash
}

func (n node) isDir() bool { return n.mode.IsDir() }

// fsMode maps a git file mode to an fs.FileMode; ok is false for the
// entries the FS skips (symbolic links, submodules).
func fsMode(m filemode.FileMode) (mode fs.FileMode, ok bool) {
	switch m {
	case filemode.Dir:
		return fs.ModeDir | 0o555, true
	case filemode.Regular, filemode.Deprecated:
		return 0o444, true
	case filemode.Executable:
		return 0o555, true
	default:
		return 0, false
	}
}

// lookup finds name (already checked with fs.ValidPath). The caller holds mu.
func (f *treeFS) lookup(name string) (node, error) {
	cur := node{name: ".", mode: fs.ModeDir | 0o555, hash: f.root}
	if name == "." {
		return cur, nil
	}
	for _, elem := range strings.Split(name, "/") {
		if !cur.isDir() {
			return node{}, fs.ErrNotExist
		}
		t, err := object.GetTree(f.objects, cur.hash)
		if err != nil {
			return node{}, err
		}
		e := findEntry(t, elem)
		if e == nil {
			return node{}, fs.ErrNotExist
		}
		mode, ok := fsMode(e.Mode)
		if !ok {
			return node{}, fs.ErrNotExist
		}
		cur = node{name: elem, mode: mode, hash: e.Hash}
	}
	return cur, nil
}

// children lists a directory's visible entries sorted by name. The caller
// holds mu.
func (f *treeFS) children(dir node) ([]node, error) {
	t, err := object.GetTree(f.objects, dir.hash)
	if err != nil {
		return nil, err
	}
	out := make([]node, 0, len(t.Entries))
	for _, e := range t.Entries {
		if mode, ok := fsMode(e.Mode); ok {
			out = append(out, node{name: e.Name, mode: mode, hash: e.Hash})
		}
	}
	// Git orders a directory as if its name ended in "/"; fs wants plain
	// name order.
	slices.SortFunc(out, func(a, b node) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

// info returns the FileInfo of n, reading a blob's size. The caller holds mu.
func (f *treeFS) info(n node) (*fileInfo, error) {
	fi := &fileInfo{name: n.name, mode: n.mode, modTime: f.modTime}
	if !n.isDir() {
		obj, err := f.objects.EncodedObject(plumbing.BlobObject, n.hash)
		if err != nil {
			return nil, err
		}
		fi.size = obj.Size()
	}
	return fi, nil
}

// content reads a blob. The caller holds mu.
func (f *treeFS) content(n node) ([]byte, error) {
	obj, err := f.objects.EncodedObject(plumbing.BlobObject, n.hash)
	if err != nil {
		return nil, err
	}
	r, err := obj.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b := make([]byte, 0, obj.Size())
	buf := bytes.NewBuffer(b)
	if _, err := io.Copy(buf, r); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func pathError(op, name string, err error) error {
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// Open implements fs.FS.
func (f *treeFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, pathError("open", name, fs.ErrInvalid)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.lookup(name)
	if err != nil {
		return nil, pathError("open", name, err)
	}
	fi, err := f.info(n)
	if err != nil {
		return nil, pathError("open", name, err)
	}
	if n.isDir() {
		kids, err := f.children(n)
		if err != nil {
			return nil, pathError("open", name, err)
		}
		entries := make([]fs.DirEntry, len(kids))
		for i, k := range kids {
			entries[i] = &dirEntry{fsys: f, n: k}
		}
		return &dirFile{path: name, info: fi, entries: entries}, nil
	}
	return &blobFile{fsys: f, path: name, n: n, info: fi}, nil
}

// ReadFile implements fs.ReadFileFS.
func (f *treeFS) ReadFile(name string) ([]byte, error) {
	if !fs.ValidPath(name) {
		return nil, pathError("readfile", name, fs.ErrInvalid)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.lookup(name)
	if err != nil {
		return nil, pathError("readfile", name, err)
	}
	if n.isDir() {
		return nil, pathError("readfile", name, errIsDir)
	}
	b, err := f.content(n)
	if err != nil {
		return nil, pathError("readfile", name, err)
	}
	return b, nil
}

// ReadDir implements fs.ReadDirFS.
func (f *treeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if !fs.ValidPath(name) {
		return nil, pathError("readdir", name, fs.ErrInvalid)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.lookup(name)
	if err != nil {
		return nil, pathError("readdir", name, err)
	}
	if !n.isDir() {
		return nil, pathError("readdir", name, errNotDir)
	}
	kids, err := f.children(n)
	if err != nil {
		return nil, pathError("readdir", name, err)
	}
	entries := make([]fs.DirEntry, len(kids))
	for i, k := range kids {
		entries[i] = &dirEntry{fsys: f, n: k}
	}
	return entries, nil
}

// Stat implements fs.StatFS.
func (f *treeFS) Stat(name string) (fs.FileInfo, error) {
	if !fs.ValidPath(name) {
		return nil, pathError("stat", name, fs.ErrInvalid)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.lookup(name)
	if err != nil {
		return nil, pathError("stat", name, err)
	}
	fi, err := f.info(n)
	if err != nil {
		return nil, pathError("stat", name, err)
	}
	return fi, nil
}

var (
	errIsDir  = errors.New("is a directory")
	errNotDir = errors.New("not a directory")
)

// fileInfo implements fs.FileInfo.
type fileInfo struct {
	name    string
	size    int64
	mode    fs.FileMode
	modTime time.Time
}

func (i *fileInfo) Name() string       { return i.name }
func (i *fileInfo) Size() int64        { return i.size }
func (i *fileInfo) Mode() fs.FileMode  { return i.mode }
func (i *fileInfo) ModTime() time.Time { return i.modTime }
func (i *fileInfo) IsDir() bool        { return i.mode.IsDir() }
func (i *fileInfo) Sys() any           { return nil }

// dirEntry implements fs.DirEntry; Info reads the blob size lazily.
type dirEntry struct {
	fsys *treeFS
	n    node
}

func (d *dirEntry) Name() string               { return d.n.name }
func (d *dirEntry) IsDir() bool                { return d.n.isDir() }
func (d *dirEntry) Type() fs.FileMode          { return d.n.mode.Type() }
func (d *dirEntry) String() string             { return fs.FormatDirEntry(d) }
func (d *dirEntry) Info() (fs.FileInfo, error) { return d.fsys.lockedInfo(d.n) }

func (f *treeFS) lockedInfo(n node) (fs.FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fi, err := f.info(n)
	if err != nil {
		return nil, pathError("stat", n.name, err)
	}
	return fi, nil
}

// dirFile is an open directory.
type dirFile struct {
	path    string
	info    *fileInfo
	entries []fs.DirEntry
	offset  int
	closed  bool
}

func (d *dirFile) Stat() (fs.FileInfo, error) {
	if d.closed {
		return nil, pathError("stat", d.path, fs.ErrClosed)
	}
	return d.info, nil
}

func (d *dirFile) Read([]byte) (int, error) {
	if d.closed {
		return 0, pathError("read", d.path, fs.ErrClosed)
	}
	return 0, pathError("read", d.path, errIsDir)
}

func (d *dirFile) Close() error {
	if d.closed {
		return pathError("close", d.path, fs.ErrClosed)
	}
	d.closed = true
	return nil
}

// ReadDir implements fs.ReadDirFile.
func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	if d.closed {
		return nil, pathError("readdir", d.path, fs.ErrClosed)
	}
	rest := d.entries[d.offset:]
	if n <= 0 {
		d.offset = len(d.entries)
		return slices.Clone(rest), nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(rest))
	d.offset += n
	return slices.Clone(rest[:n]), nil
}

// blobFile is an open file. Its content is read into memory on first use
// (desired-state files are small).
type blobFile struct {
	fsys   *treeFS
	path   string
	n      node
	info   *fileInfo
	r      *bytes.Reader
	closed bool
}

func (b *blobFile) Stat() (fs.FileInfo, error) {
	if b.closed {
		return nil, pathError("stat", b.path, fs.ErrClosed)
	}
	return b.info, nil
}

func (b *blobFile) load(op string) error {
	if b.closed {
		return pathError(op, b.path, fs.ErrClosed)
	}
	if b.r != nil {
		return nil
	}
	b.fsys.mu.Lock()
	data, err := b.fsys.content(b.n)
	b.fsys.mu.Unlock()
	if err != nil {
		return pathError(op, b.path, err)
	}
	b.r = bytes.NewReader(data)
	return nil
}

func (b *blobFile) Read(p []byte) (int, error) {
	if err := b.load("read"); err != nil {
		return 0, err
	}
	return b.r.Read(p)
}

// Seek implements io.Seeker.
func (b *blobFile) Seek(offset int64, whence int) (int64, error) {
	if err := b.load("seek"); err != nil {
		return 0, err
	}
	return b.r.Seek(offset, whence)
}

// ReadAt implements io.ReaderAt.
func (b *blobFile) ReadAt(p []byte, off int64) (int, error) {
	if err := b.load("read"); err != nil {
		return 0, err
	}
	return b.r.ReadAt(p, off)
}

func (b *blobFile) Close() error {
	if b.closed {
		return pathError("close", b.path, fs.ErrClosed)
	}
	b.closed = true
	b.r = nil
	return nil
}

var (
	_ fs.ReadDirFile = (*dirFile)(nil)
	_ io.Seeker      = (*blobFile)(nil)
	_ io.ReaderAt    = (*blobFile)(nil)
)

// String describes the FS for debugging.
func (f *treeFS) String() string { return "git tree " + f.root.String() }
