package planner

import (
	"encoding/json"
	"fmt"
)

// Phase orders the steps. A phase starts only after every job of the phase
// before has ended. The order is DESIGN.md §5's, with one phase added
// (CreateMovedTunnels): a label moving between two interfaces of one device
// cannot be on both at once, so its new tunnels can only be created after
// the move.
type Phase uint8

const (
	PhaseLabels             Phase = iota + 1 // create or update path labels
	PhaseStart                               // start devices that must run
	PhaseModifyAdd                           // device PUTs: add labels, routes, DHCP
	PhaseCreateTunnels                       // tunnels calls; syncs that repair tunnels
	PhaseRemoveRoutes                        // device PUTs: remove routes and DHCP
	PhaseDeleteTunnels                       // deltunnels
	PhaseModifyRemove                        // device PUTs: remove labels, move labels, routes via new tunnels
	PhaseCreateMovedTunnels                  // tunnels calls on labels that moved in the phase before
	PhaseDeleteLabels                        // delete undeclared path labels (prune)
	PhaseStop                                // stop devices
	PhaseUpgrade                             // upgrades, in waves
)

var phaseNames = map[Phase]string{
	PhaseLabels: "labels", PhaseStart: "start", PhaseModifyAdd: "modify-add", PhaseCreateTunnels: "create-tunnels",
	PhaseRemoveRoutes: "remove-routes", PhaseDeleteTunnels: "delete-tunnels", PhaseModifyRemove: "modify-remove",
	PhaseCreateMovedTunnels: "create-moved-tunnels", PhaseDeleteLabels: "delete-labels", PhaseStop: "stop", PhaseUpgrade: "upgrade",
}

var phaseTitles = map[Phase]string{
	PhaseLabels: "Path labels", PhaseStart: "Start devices", PhaseModifyAdd: "Modify devices (add)", PhaseCreateTunnels: "Create tunnels",
	PhaseRemoveRoutes: "Remove static routes and DHCP", PhaseDeleteTunnels: "Delete tunnels", PhaseModifyRemove: "Modify devices (remove)",
	PhaseCreateMovedTunnels: "Create tunnels on moved labels", PhaseDeleteLabels: "Delete path labels", PhaseStop: "Stop devices", PhaseUpgrade: "Upgrade devices",
}

func (p Phase) String() string {
	if n, ok := phaseNames[p]; ok {
		return n
	}
	return fmt.Sprintf("Phase(%d)", uint8(p))
}

// Title is the phase's heading for people.
func (p Phase) Title() string { return phaseTitles[p] }

// Creates reports whether the phase creates or adds (make), as opposed to
// deleting or removing (break).
func (p Phase) Creates() bool {
	return p == PhaseLabels || p == PhaseStart || p == PhaseModifyAdd || p == PhaseCreateTunnels
}

// ParsePhase returns the phase named s.
func ParsePhase(s string) (Phase, error) {
	for p, n := range phaseNames {
		if n == s {
			return p, nil
		}
	}
	return 0, fmt.Errorf("unknown phase %q", s)
}

func (p Phase) MarshalJSON() ([]byte, error) { return json.Marshal(p.String()) }

func (p *Phase) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := ParsePhase(s)
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// Action is what a step does.
type Action uint8

const (
	CreateLabel Action = iota + 1
	UpdateLabel
	DeleteLabel
	StartDevices
	ModifyDevice
	CreateTunnels
	SyncDevice
	DeleteTunnels
	StopDevices
	UpgradeDevices
)

var actionNames = map[Action]string{
	CreateLabel: "create-label", UpdateLabel: "update-label", DeleteLabel: "delete-label", StartDevices: "start",
	ModifyDevice: "modify-device", CreateTunnels: "create-tunnels", SyncDevice: "sync", DeleteTunnels: "delete-tunnels",
	StopDevices: "stop", UpgradeDevices: "upgrade",
}

func (a Action) String() string {
	if n, ok := actionNames[a]; ok {
		return n
	}
	return fmt.Sprintf("Action(%d)", uint8(a))
}

// IsDestructive reports whether the action deletes or takes something down.
func (a Action) IsDestructive() bool {
	return a == DeleteLabel || a == DeleteTunnels || a == StopDevices
}

// Symbol is the action's mark in a text plan.
func (a Action) Symbol() string {
	switch a {
	case CreateLabel, CreateTunnels, StartDevices:
		return "+"
	case DeleteLabel, DeleteTunnels, StopDevices:
		return "-"
	}
	return "~"
}

// ParseAction returns the action named s.
func ParseAction(s string) (Action, error) {
	for a, n := range actionNames {
		if n == s {
			return a, nil
		}
	}
	return 0, fmt.Errorf("unknown action %q", s)
}

func (a Action) MarshalJSON() ([]byte, error) { return json.Marshal(a.String()) }

func (a *Action) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := ParseAction(s)
	if err != nil {
		return err
	}
	*a = v
	return nil
}
