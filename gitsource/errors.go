package gitsource

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/skeema/knownhosts"
)

// Sentinel errors for the conditions a caller may branch on, with errors.Is.
// Fetch returns them wrapped in a one-line message that names the repository
// (without credentials) and, where it helps, the ref, path or file involved.
var (
	// ErrRepositoryNotFound: the server (or the local path) has no such
	// repository, or the credentials given have no access to it.
	ErrRepositoryNotFound = errors.New("repository not found")
	// ErrEmptyRepository: the repository exists but has no commits.
	ErrEmptyRepository = errors.New("repository is empty")
	// ErrAuthentication: credentials were required and missing, or refused.
	ErrAuthentication = errors.New("authentication failed")
	// ErrHostKey: the SSH server's host key is unknown or does not match the
	// known_hosts file.
	ErrHostKey = errors.New("host key verification failed")
	// ErrRefNotFound: the branch, tag or commit asked for does not exist.
	ErrRefNotFound = errors.New("ref not found")
	// ErrPathNotFound: Options.Path does not exist (or is not a directory)
	// in the commit.
	ErrPathNotFound = errors.New("path not found")
	// ErrInvalidOptions: Options are incomplete or contradictory.
	ErrInvalidOptions = errors.New("invalid options")
)

// kindError carries a hand-written message and matches one of the sentinels
// above (and the cause, if any) with errors.Is and errors.As.
type kindError struct {
	kind  error
	msg   string
	cause error
}

func (e *kindError) Error() string { return e.msg }

func (e *kindError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

func newKindError(kind, cause error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...), cause: cause}
}

// scrubbedError hides secrets that a lower layer may have put into its
// message. Error returns the scrubbed text; Unwrap still reaches the
// original error so that callers can use errors.Is and errors.As (for
// example to find a *net.OpError and retry).
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// scrubber replaces secrets in text. The zero value replaces nothing.
type scrubber struct {
	// pairs of old, new strings for strings.NewReplacer.
	pairs []string
}

func (s *scrubber) addSecret(secret string) {
	if secret == "" {
		return
	}
	s.pairs = append(s.pairs, secret, "***")
}

func (s *scrubber) addReplacement(from, to string) {
	if from == "" || from == to {
		return
	}
	s.pairs = append(s.pairs, from, to)
}

func (s *scrubber) scrub(text string) string {
	if len(s.pairs) == 0 {
		return text
	}
	return strings.NewReplacer(s.pairs...).Replace(text)
}

// wrap returns err with its message scrubbed; it also unwraps go-git's
// UnexpectedError and PermanentError (which have no Unwrap method) so that
// the network error underneath is reachable with errors.As.
func (s *scrubber) wrap(err error) error {
	if err == nil {
		return nil
	}
	inner := err
	for {
		switch e := inner.(type) {
		case *plumbing.UnexpectedError:
			inner = e.Err
			continue
		case *plumbing.PermanentError:
			inner = e.Err
			continue
		}
		break
	}
	// One line: server and git messages may span several.
	msg := strings.Join(strings.Fields(s.scrub(inner.Error())), " ")
	return &scrubbedError{msg: msg, err: inner}
}

// fetchFailure turns an error from go-git's transport into one of the
// one-line errors described in the package documentation.
func fetchFailure(ctx context.Context, err error, rem *remote, cred *credentials) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("fetch %s: %w", rem.safeURL, ctxErr)
	}
	if fp, hkErr := cred.hostKeyFailure(); hkErr != nil {
		switch {
		case knownhosts.IsHostKeyChanged(hkErr):
			return newKindError(ErrHostKey, hkErr,
				"fetch %s: host key mismatch: %s presented key %s, which differs from the one recorded for it in %s (possible man-in-the-middle; update that file only if the server's key really changed)",
				rem.safeURL, rem.hostPort, fp, cred.knownHostsFile)
		case knownhosts.IsHostUnknown(hkErr):
			return newKindError(ErrHostKey, hkErr,
				"fetch %s: unknown host: %s (key %s) has no entry in known hosts file %s",
				rem.safeURL, rem.hostPort, fp, cred.knownHostsFile)
		default:
			return newKindError(ErrHostKey, cred.scrub.wrap(hkErr),
				"fetch %s: host key check for %s failed: %s",
				rem.safeURL, rem.hostPort, cred.scrub.scrub(hkErr.Error()))
		}
	}
	if rem.kind == transportSSH && cred.knownHostsFile != "" && isNoCommonHostKeyAlgorithm(err) {
		// Only the key types listed in the known hosts file are offered,
		// and the server has none of them.
		return newKindError(ErrHostKey, cred.scrub.wrap(err),
			"fetch %s: host key mismatch: %s offers none of the key types recorded for it in %s (possible man-in-the-middle; update that file only if the server's keys really changed)",
			rem.safeURL, rem.hostPort, cred.knownHostsFile)
	}
	switch {
	case errors.Is(err, transport.ErrRepositoryNotFound):
		if cred.given() {
			return newKindError(ErrRepositoryNotFound, nil,
				"fetch %s: repository not found (or %s has no access to it)", rem.safeURL, cred.describe())
		}
		return newKindError(ErrRepositoryNotFound, nil, "fetch %s: repository not found", rem.safeURL)
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return newKindError(ErrEmptyRepository, nil, "fetch %s: repository is empty (no commits)", rem.safeURL)
	case errors.Is(err, transport.ErrAuthenticationRequired):
		if cred.given() {
			return newKindError(ErrAuthentication, nil,
				"fetch %s: authentication refused: the server rejected %s", rem.safeURL, cred.describe())
		}
		return newKindError(ErrAuthentication, nil,
			"fetch %s: authentication required: the server asks for credentials and none were given (set a token)", rem.safeURL)
	case errors.Is(err, transport.ErrAuthorizationFailed):
		return newKindError(ErrAuthentication, nil,
			"fetch %s: authentication refused: %s is not allowed to read the repository", rem.safeURL, cred.describe())
	case rem.kind == transportSSH && isSSHAuthFailure(err):
		return newKindError(ErrAuthentication, cred.scrub.wrap(err),
			"fetch %s: authentication refused: the server rejected %s", rem.safeURL, cred.describe())
	}
	return fmt.Errorf("fetch %s: %w", rem.safeURL, cred.scrub.wrap(err))
}

// isNoCommonHostKeyAlgorithm reports whether the SSH handshake failed
// because no host key algorithm was acceptable to both sides; x/crypto/ssh
// has no type for it either.
func isNoCommonHostKeyAlgorithm(err error) bool {
	return strings.Contains(err.Error(), "no common algorithm for host key")
}

// isSSHAuthFailure reports whether err is x/crypto/ssh's client-side
// authentication failure. That package returns it as a plain formatted
// error (no type or sentinel), so the message is the only thing to match.
func isSSHAuthFailure(err error) bool {
	return strings.Contains(err.Error(), "ssh: unable to authenticate")
}
