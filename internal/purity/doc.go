// Package purity holds no code, only a test that enforces the pure core of
// DESIGN.md §2 and house-style rule 1: the packages that turn a desired
// state and a live state into a plan (spec, diff, planner, planner/render
// and the live model they share) touch nothing outside their inputs.
//
// The test fails when one of them
//   - depends, directly or not, on the network (net, net/http), on running
//     programs (os/exec), on git (github.com/go-git/...), or on the
//     packages at the edges that use those: the flexiManage client and
//     its simulator, the live-state reader, the executor, the git source
//     and the daemon; or
//   - in its non-test source, reads the clock (time.Now, time.Since,
//     time.Until), opens, reads, writes or lists files through package os,
//     or logs (any use of log or log/slog).
//
// Time comes in as a parameter, files as an io.Reader or fs.FS, and
// problems go back as values.
package purity
