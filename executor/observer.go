package executor

import "github.com/flexiwan-gitops/reconciler/planner"

// Observer is told how a run goes. Calls come from several goroutines.
type Observer interface {
	PhaseStarted(phase planner.Phase, wave, steps int)
	StepSent(step *planner.Step, sent Sent, err error)
	JobsProgress(phase planner.Phase, counts JobCounts)
	PhaseDone(phase planner.Phase, wave int, err error)
}

type nopObserver struct{}

func (nopObserver) PhaseStarted(planner.Phase, int, int)  {}
func (nopObserver) StepSent(*planner.Step, Sent, error)   {}
func (nopObserver) JobsProgress(planner.Phase, JobCounts) {}
func (nopObserver) PhaseDone(planner.Phase, int, error)   {}
