// Package planner turns the difference between the desired and the live
// state into a Plan: an ordered, minimal list of flexiManage API calls.
//
// Phases run in a fixed order (see Phase) and a phase starts only when every
// job of the one before has ended. Within a phase, calls are independent
// unless a step lists others in After.
//
// Batching: one tunnels call per declared group that has missing tunnels;
// tunnels declared pair by pair are merged into stars (one hubAndSpoke call
// per shared endpoint and label set); no call may create a tunnel that is
// not desired (flexiManage creates every tunnel a call's pairing allows), so
// a group whose call would is split into smaller calls; no call creates more
// than MaxTunnelsPerCall tunnels, because above 1000 flexiManage answers
// without job ids.
//
// Make before break: everything that adds (labels, starts, interface labels,
// routes, tunnels) comes before anything that removes. The one exception is
// forced by flexiManage: a path label can sit on only one WAN of a device,
// so a label moving between two interfaces of one device loses its old
// tunnels, moves in one request, then gets its new tunnels.
//
// Safety: an apply call never has an empty devices map (flexiManage would
// apply it to every device of the organization); deletions appear only for
// managed objects or with prune; a plan deleting more than MaxDeletions
// objects, or deleting anything while the source declares nothing, is
// refused unless overridden.
//
// Build is pure: the caller passes the time the plan is made.
package planner
