// Package executor runs a planner.Plan against flexiManage.
//
// Phases run in the plan's order, and a phase starts only when every job of
// the phase before has ended. Within a phase, calls go out concurrently
// (bounded by Options.Concurrency), except that a step waits for the answers
// of the steps it lists in After. Jobs are followed by polling GET /jobs
// with all outstanding ids at once (in chunks of 100 ids), fast at first and
// slower as the wait grows, up to a per-phase deadline.
//
// A failed call or job stops the run at the end of its phase: nothing of
// the later phases is sent, so a failure while adding never leads to a
// deletion (make before break). Jobs that stay inactive because their
// device is disconnected are reported as waiting for that device; at the
// deadline the run fails with that cause.
//
// Every request goes through the client, so through its request budget;
// the executor adds no request of its own outside it. Before each write the
// step is recorded in a journal and after it the job ids, so that a run
// killed at any point can be resumed: Resume awaits the jobs an unfinished
// journal names and then the caller plans again from fresh live state.
package executor
