// Package render turns a planner.Plan into something people or programs
// read: Text for a terminal (Terraform-like, optionally coloured), JSON for
// a saved plan that ReadJSON reads back for the executor, and Markdown for a
// pull-request comment, with a Mermaid picture of the tunnel changes and a
// size limit that keeps it under GitHub's comment limit.
//
// Rendering is pure: the only I/O is the io.Writer given, nothing reads the
// clock, nothing logs, and the same plan always gives the same bytes. Every
// renderer builds its output in memory and writes it with one Write call,
// so a failed render writes nothing.
//
// The caller decides about colour (a terminal, NO_COLOR) and about where the
// JSON artifact lives; this package only formats.
package render
