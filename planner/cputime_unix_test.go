//go:build unix

package planner_test

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user and system) the test process has used,
// garbage collection included. Benchmarks report it next to wall time,
// which other processes on a busy machine inflate.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
