// Package examples embeds the example fleet and topology so that
// `reconciler demo` and `reconciler simulate` work from a bare binary.
package examples

import "embed"

// LabFleet is lab/fleet.yaml: the simulator's default fleet.
//
//go:embed lab/fleet.yaml
var LabFleet []byte

// FS holds every embedded example file.
//
//go:embed lab topology
var FS embed.FS
