package gitsource

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"
)

// minShortSHA is the shortest commit prefix accepted as a Ref.
const minShortSHA = 7

// maxListedRefs is how many branch (and tag) names a "ref not found"
// error lists.
const maxListedRefs = 5

// errNotACommit: a tag that points at a tree or a blob.
var errNotACommit = errors.New("does not point to a commit")

// resolveRef turns Options.Ref into a ref name for Snapshot.Ref and the
// commit it names, looking only at the refs and objects of the clone
// (after the fetch), except for the default branch, whose name only the
// remote knows.
func resolveRef(ctx context.Context, repo *git.Repository, rem *remote, cred *credentials, ref string) (string, plumbing.Hash, error) {
	switch {
	case ref == "":
		branch, err := defaultBranch(ctx, rem, cred)
		if err != nil {
			return "", plumbing.ZeroHash, err
		}
		h, err := lookupRef(repo, remoteBranchPrefix+branch)
		if err != nil {
			return "", plumbing.ZeroHash, refNotFound(repo, rem, fmt.Sprintf("default branch %q", branch), err)
		}
		return branchPrefix + branch, h, nil

	case strings.HasPrefix(ref, branchPrefix):
		h, err := lookupRef(repo, remoteBranchPrefix+strings.TrimPrefix(ref, branchPrefix))
		if err != nil {
			return "", plumbing.ZeroHash, refNotFound(repo, rem, fmt.Sprintf("branch %q", ref), err)
		}
		return ref, h, nil

	case strings.HasPrefix(ref, tagPrefix):
		h, err := lookupRef(repo, ref)
		if err != nil {
			return "", plumbing.ZeroHash, refNotFound(repo, rem, fmt.Sprintf("tag %q", ref), err)
		}
		return ref, h, nil

	case strings.HasPrefix(ref, "refs/"):
		return "", plumbing.ZeroHash, refNotFoundNote(repo, rem,
			fmt.Sprintf("ref %q", ref), "only refs/heads/* and refs/tags/* are fetched", plumbing.ErrReferenceNotFound)
	}

	branchHash, branchErr := lookupRef(repo, remoteBranchPrefix+ref)
	tagHash, tagErr := lookupRef(repo, tagPrefix+ref)
	switch {
	case branchErr == nil && tagErr == nil:
		if branchHash != tagHash {
			return "", plumbing.ZeroHash, fmt.Errorf(
				"%w: ref %q is ambiguous in %s: branch %s and tag %s point to different commits (use refs/heads/%[2]s or refs/tags/%[2]s)",
				ErrInvalidOptions, ref, rem.safeURL, branchHash.String()[:12], tagHash.String()[:12])
		}
		return branchPrefix + ref, branchHash, nil
	case branchErr == nil:
		return branchPrefix + ref, branchHash, nil
	case tagErr == nil:
		return tagPrefix + ref, tagHash, nil
	case !errors.Is(branchErr, plumbing.ErrReferenceNotFound):
		return "", plumbing.ZeroHash, fmt.Errorf("resolve branch %q in %s: %w", ref, rem.safeURL, cred.scrub.wrap(branchErr))
	case !errors.Is(tagErr, plumbing.ErrReferenceNotFound):
		return "", plumbing.ZeroHash, fmt.Errorf("resolve tag %q in %s: %w", ref, rem.safeURL, cred.scrub.wrap(tagErr))
	}

	if isHex(ref) && len(ref) >= minShortSHA && len(ref) <= len(plumbing.ZeroHash)*2 {
		h, err := lookupCommit(repo, rem, strings.ToLower(ref))
		if err != nil {
			return "", plumbing.ZeroHash, err
		}
		return h.String(), h, nil
	}
	return "", plumbing.ZeroHash, refNotFound(repo, rem, fmt.Sprintf("ref %q", ref), plumbing.ErrReferenceNotFound)
}

// defaultBranch asks the remote which branch its HEAD points to.
func defaultBranch(ctx context.Context, rem *remote, cred *credentials) (string, error) {
	r := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: remoteName, URLs: []string{rem.fetchURL}})
	refs, err := r.ListContext(ctx, &git.ListOptions{Auth: cred.auth})
	if err != nil {
		return "", fetchFailure(ctx, err, rem, cred)
	}
	for _, ref := range refs {
		if ref.Name() != plumbing.HEAD {
			continue
		}
		if ref.Type() == plumbing.SymbolicReference && ref.Target().IsBranch() {
			return ref.Target().Short(), nil
		}
		break
	}
	return "", newKindError(ErrRefNotFound, nil,
		"%s has no default branch (its HEAD names no branch): set a ref", rem.safeURL)
}

// lookupRef returns the commit a local ref leads to, peeling tags.
func lookupRef(repo *git.Repository, name string) (plumbing.Hash, error) {
	ref, err := repo.Reference(plumbing.ReferenceName(name), true)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	h, err := peelToCommit(repo, ref.Hash())
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("%s: %w", name, err)
	}
	return h, nil
}

// peelToCommit follows annotated tags (possibly nested) to a commit.
func peelToCommit(repo *git.Repository, h plumbing.Hash) (plumbing.Hash, error) {
	for range 16 {
		obj, err := repo.Storer.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		switch obj.Type() {
		case plumbing.CommitObject:
			return h, nil
		case plumbing.TagObject:
			tag, err := object.DecodeTag(repo.Storer, obj)
			if err != nil {
				return plumbing.ZeroHash, err
			}
			h = tag.Target
		default:
			return plumbing.ZeroHash, fmt.Errorf("%s %w (it is a %s)", h, errNotACommit, obj.Type())
		}
	}
	return plumbing.ZeroHash, fmt.Errorf("%s: tags nested too deeply", h)
}

// lookupCommit finds the commit a full or abbreviated SHA names. Only
// objects in the clone count, so a commit that no branch or tag reaches is
// not found.
func lookupCommit(repo *git.Repository, rem *remote, sha string) (plumbing.Hash, error) {
	var candidates []plumbing.Hash
	if len(sha) == len(plumbing.ZeroHash)*2 {
		candidates = []plumbing.Hash{plumbing.NewHash(sha)}
	} else {
		prefix, _ := hex.DecodeString(sha[:len(sha)&^1])
		type prefixFinder interface {
			HashesWithPrefix(prefix []byte) ([]plumbing.Hash, error)
		}
		finder, ok := repo.Storer.(prefixFinder)
		if !ok {
			return plumbing.ZeroHash, fmt.Errorf("resolve %q: the object store cannot search by prefix", sha)
		}
		hashes, err := finder.HashesWithPrefix(prefix)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("resolve %q in %s: %w", sha, rem.safeURL, err)
		}
		for _, h := range hashes {
			if strings.HasPrefix(h.String(), sha) {
				candidates = append(candidates, h)
			}
		}
	}

	var commits []plumbing.Hash
	for _, h := range candidates {
		c, err := peelToCommit(repo, h)
		switch {
		case err == nil:
			if !slices.Contains(commits, c) {
				commits = append(commits, c)
			}
		case errors.Is(err, plumbing.ErrObjectNotFound), errors.Is(err, errNotACommit):
			// not a commit (a tree or blob), or not here at all
		default:
			return plumbing.ZeroHash, fmt.Errorf("resolve %q in %s: %w", sha, rem.safeURL, err)
		}
	}
	switch len(commits) {
	case 1:
		return commits[0], nil
	case 0:
		return plumbing.ZeroHash, refNotFoundNote(repo, rem,
			fmt.Sprintf("commit %q", sha), "no branch or tag reaches it", plumbing.ErrObjectNotFound)
	default:
		return plumbing.ZeroHash, fmt.Errorf("%w: short commit SHA %q is ambiguous in %s (%d commits match): give more digits",
			ErrInvalidOptions, sha, rem.safeURL, len(commits))
	}
}

// refNotFound builds the "ref not found" error, listing some branches and
// tags that do exist.
func refNotFound(repo *git.Repository, rem *remote, what string, cause error) error {
	return refNotFoundNote(repo, rem, what, "", cause)
}

// refNotFoundNote is refNotFound with a note before the list of refs.
func refNotFoundNote(repo *git.Repository, rem *remote, what, note string, cause error) error {
	var branches, tags []string
	if refs, err := repo.References(); err == nil {
		_ = refs.ForEach(func(r *plumbing.Reference) error {
			name := r.Name().String()
			switch {
			case strings.HasPrefix(name, remoteBranchPrefix) && name != remoteBranchPrefix+"HEAD":
				branches = append(branches, strings.TrimPrefix(name, remoteBranchPrefix))
			case strings.HasPrefix(name, tagPrefix):
				tags = append(tags, strings.TrimPrefix(name, tagPrefix))
			}
			return nil
		})
	}
	known := "branches: " + listSome(branches)
	if note != "" {
		known = note + "; " + known
	}
	if len(tags) > 0 {
		known += "; tags: " + listSome(tags)
	}
	var detail error
	if cause != nil && !errors.Is(cause, plumbing.ErrReferenceNotFound) && !errors.Is(cause, plumbing.ErrObjectNotFound) {
		detail = cause
	}
	return newKindError(ErrRefNotFound, detail, "%s not found in %s (%s)", what, rem.safeURL, known)
}

func listSome(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	slices.Sort(names)
	if len(names) <= maxListedRefs {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:maxListedRefs], ", "), len(names)-maxListedRefs)
}

func isHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return s != ""
}

// cleanSubdir validates Options.Path and returns it in fs.FS form ("." for
// the root). It refuses absolute paths and "..".
func cleanSubdir(p string) (string, error) {
	if p == "" {
		return ".", nil
	}
	switch {
	case strings.HasPrefix(p, "/") || strings.HasPrefix(p, `\`) || (len(p) >= 2 && p[1] == ':'):
		return "", fmt.Errorf("%w: path %q must be relative to the repository root", ErrInvalidOptions, p)
	case strings.Contains(p, `\`):
		return "", fmt.Errorf("%w: path %q: use forward slashes", ErrInvalidOptions, p)
	case slices.Contains(strings.Split(p, "/"), ".."):
		return "", fmt.Errorf("%w: path %q must not contain \"..\"", ErrInvalidOptions, p)
	}
	c := path.Clean(p)
	if !fs.ValidPath(c) {
		return "", fmt.Errorf("%w: path %q is not a valid path", ErrInvalidOptions, p)
	}
	return c, nil
}
