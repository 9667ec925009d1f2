// Package gitsource fetches the desired-state repository and hands the
// YAML tree at one commit to the rest of the reconciler as an fs.FS.
//
// It is the git edge of the pipeline (DESIGN.md §2): spec reads the
// returned Snapshot.FS and knows nothing about git, and the plan records
// Snapshot.Revision.
//
// # Inputs
//
// Fetch takes Options: the repository URL (https, http to a loopback host,
// ssh:// or scp-like user@host:path, a local path or file:///path), a Ref
// (branch, tag, full or short commit SHA; empty for the remote's default
// branch), a Path inside the repository, a CacheDir, and credentials. A
// branch and a tag with the same name that point to different commits are
// refused as ambiguous; "refs/heads/NAME" or "refs/tags/NAME" choose one.
// A short SHA needs at least 7 hex digits and must match one commit. A
// commit is found only if some branch or tag reaches it.
//
// # Outputs
//
// A Snapshot: the full commit SHA (Revision), what Ref resolved to
// ("refs/heads/main", "refs/tags/v1.2", or the SHA), and FS, the commit's
// tree rooted at Path. FS reads trees and blobs straight from the git
// object store of the cached clone; there is no work tree, so a later or
// concurrent Fetch never changes a Snapshot already returned (fetches only
// add objects; only replacing a corrupt clone removes them, and reads from
// older snapshots then fail with an error). FS implements fs.FS,
// fs.ReadDirFS, fs.ReadFileFS and fs.StatFS, is read-only and safe for
// concurrent use. It shows directories and regular and executable
// files (modes 0555 and 0444/0555); symbolic links and submodules are
// skipped: ReadDir does not list them and Open reports fs.ErrNotExist, so
// nothing can point outside the tree. Every entry's ModTime is the commit's
// committer time. A file is read into memory when first read.
//
// # Caching
//
// Each URL has one bare clone under CacheDir, in a directory named after
// the URL (without credentials) plus a hash of it, so a token rotation
// keeps the clone. The first Fetch clones into a temporary directory and
// renames it into place when complete; later calls fetch incrementally into
// the same clone ("already up to date" is success). Every branch is
// fetched (refs/heads/*:refs/remotes/origin/*) and every tag
// (refs/tags/*:refs/tags/*), with forced updates and pruning, so
// force-pushes, moved tags and deleted branches and tags are followed.
// Before each fetch the clone is checked (it opens, and every ref leads to
// a readable commit and tree); a clone that fails the check, or whose fetch
// fails on its own files, is removed and cloned again, with a warning
// saying why.
// Leftover temporary clones from a crash are removed the same way. An
// exclusive file lock (flock, on Linux and the BSDs including macOS) per
// clone serialises Fetch calls that share a CacheDir, across processes;
// elsewhere the caller must not run them concurrently.
//
// The remote's default branch is asked for with one extra ref listing
// when Ref is empty. Local paths and file:// URLs go through go-git's file
// transport, which runs the git-upload-pack program: they need git
// installed.
//
// # Security
//
// Credentials never appear in errors or logs. Userinfo is stripped from
// every URL that is printed (https://user:secret@host/r.git prints as
// https://host/r.git, git@host:r.git as host:r.git), credentials are passed
// to go-git separately from the URL, and any message from below is
// scrubbed of the token, the URL password and the key passphrase.
//
//   - https: Options.Token is sent as the basic-auth password, with the
//     user Options.Username, else the URL's user, else "x-access-token".
//     Credentials in the URL are used when no token is given. Credentials are refused over plain http
//     unless the host is a loopback address.
//   - ssh: Options.SSHKeyFile (optionally encrypted, with
//     SSHKeyPassphrase) authenticates as the URL's user, else Username,
//     else "git". The host key is checked against KnownHostsFile (OpenSSH
//     format, hashed names allowed); checking can only be turned off with
//     InsecureSkipHostKeyCheck, which logs a warning on every Fetch. go-git
//     dials SSH without the context: the TCP connect is bounded by 30 s or
//     the context deadline, whichever is sooner, and the context is
//     honoured again once the session is open.
//   - local paths, file:// and git://: no credentials; any given are
//     ignored.
//
// TokenFromFile reads a token from a secret file; its errors never contain
// the file's content.
//
// # Errors
//
// Errors are one line, name the repository without credentials, and match
// these sentinels with errors.Is: ErrRepositoryNotFound,
// ErrEmptyRepository, ErrAuthentication (required or refused),
// ErrHostKey (unknown host or host key mismatch), ErrRefNotFound (the
// message lists a few branches and tags that exist), ErrPathNotFound (the
// message names the path and the revision) and ErrInvalidOptions. Network
// errors stay reachable with errors.As, and a cancelled or expired context
// gives an error that matches ctx.Err().
package gitsource
