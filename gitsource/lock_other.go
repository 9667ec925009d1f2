//go:build !(linux || darwin || freebsd || dragonfly || netbsd || openbsd)

package gitsource

import "context"

// lockFile is a no-op where flock is not available: on these systems,
// concurrent Fetch calls that share a CacheDir and URL must be serialised
// by the caller.
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return func() {}, nil
}
