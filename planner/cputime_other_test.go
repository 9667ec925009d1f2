//go:build !unix

package planner_test

import "time"

func processCPU() (time.Duration, bool) { return 0, false }
