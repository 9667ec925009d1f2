// Package diff pairs the desired state (spec) with the live state (live)
// by natural keys and returns typed changes: path labels by name; devices
// by machineId or name; interfaces by name or devId; tunnels by the
// unordered pair of (device, interface devId) plus the label name; static
// routes by destination and gateway; DHCP servers by interface.
//
// Tunnel groups are expanded into concrete tunnels exactly as flexiManage
// would create them (Expand), from the interface labels the desired state
// leaves in place. Ownership decides what may be deleted: a live tunnel is
// managed when a declared group covers it (both ends in the group, one of
// them the hub for hubAndSpoke, its label among the group's labels, or
// unlabeled for an unlabeled group). A managed tunnel that is no longer
// desired is deleted without prune; any other tunnel between two declared
// devices is unmanaged and deleted only with prune; a tunnel that touches
// an undeclared device is never touched.
//
// Compute is pure: no I/O, no clock, no logging. Problems that make a plan
// impossible (a declared device missing from flexiManage, a label removal
// blocked by a tunnel that may not be deleted, ...) are returned in
// Result.Problems rather than as an error, so that all of them are reported
// together.
package diff
