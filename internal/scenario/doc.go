// Package scenario holds the end-to-end scenario tests: each scenario under
// testdata/scenarios/ is a fleet (the live flexiManage state, seeded into
// the simulator) and a desired-state source. The tests plan it, compare the
// plan's text, JSON and markdown renderings with golden files, apply the
// plan to the simulator step by step, and check that planning again gives
// an empty plan.
//
// Regenerate the golden files with: go test ./internal/scenario -update
package scenario
