// Package spec reads the desired state of a flexiWAN network from a
// directory of YAML files: path labels, devices (run state, version,
// interface labels, static routes, DHCP), tunnel groups and settings.
//
// Input is an fs.FS; nothing else is read. Every *.yaml and *.yml file under
// the directory is decoded strictly (an unknown key is an error, anywhere)
// and merged in lexical order of their paths; a name defined twice is an
// error naming both places. One validation pass then reports every problem
// of the whole source at once, each as file:line:col: message. A Spec is
// returned only when the source is valid; it is read-only afterwards. A source is bounded in files, bytes
// and YAML nodes (MaxFiles, MaxFileBytes, MaxTotalBytes, MaxNodes), so that
// a hostile or mistaken repository cannot exhaust memory or time.
//
// Semantics that later stages rely on:
//   - Only declared devices are managed; only the listed interfaces of a
//     device have their labels managed (a listed interface without
//     pathLabels has none); staticRoutes and dhcp, when present (even
//     empty), are the exact set for the device, and leave the device's
//     routes or DHCP alone when absent.
//   - A tunnel group's members are declared device names or shell globs
//     over them (path.Match syntax); every pattern must match something.
//   - A group without pathLabels (or with []) means tunnels between
//     unlabeled WAN interfaces, exactly as flexiManage's own [] does.
//   - Path labels default to type Tunnel (flexiManage's default is DIA).
//
// The package does no I/O beyond the fs.FS it is given, reads no clock and
// does not log.
package spec
