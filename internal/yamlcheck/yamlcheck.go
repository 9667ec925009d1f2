// Package yamlcheck decodes YAML strictly and reports every problem with its
// file, line and column: syntax errors, unknown keys (all of them, also
// below types with custom unmarshalers for their scalars), type mismatches
// and duplicate keys. It also finds the position of any value by its path,
// so that later semantic checks can point at the offending line.
package yamlcheck

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Error is one problem at a position. Line and Col are 1-based; Col is 0
// when the YAML library reported only a line.
type Error struct {
	File string
	Line int
	Col  int
	Msg  string
}

func (e Error) Error() string {
	switch {
	case e.Line == 0:
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	case e.Col == 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	default:
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	}
}

// Errors is a list of problems, reported one per line in position order.
type Errors []Error

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// Sort orders the errors by file, line and column, keeping equal positions
// in their original order.
func (es Errors) Sort() {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

// Err returns nil for an empty list, else the sorted list without repeats
// (a bad value reached through several aliases is reported once).
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	es.Sort()
	seen := make(map[Error]bool, len(es))
	out := es[:0]
	for _, e := range es {
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	return out
}

// At returns an Error at n's position.
func At(file string, n *yaml.Node, format string, args ...any) Error {
	e := Error{File: file, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
	}
	return e
}

var lineRE = regexp.MustCompile(`(?s)^(?:yaml: )?line (\d+): (.*)$`)

// Decode parses data (named file in messages) into v and returns the
// document's root node for positions: Parse, then DecodeNode. An empty
// document decodes to the zero value with a nil root. On any problem it
// returns Errors and v must not be used.
func Decode(file string, data []byte, v any) (*yaml.Node, error) {
	root, err := Parse(file, data)
	if err != nil || root == nil {
		return nil, err
	}
	return root, DecodeNode(file, root, v)
}

// Parse parses the one YAML document in data (named file in messages) and
// returns its root node, or nil when the document is empty (nothing, or
// only comments). A syntax error anywhere in data, or a second document
// with content, is an error; empty documents after the first are ignored.
//
// The YAML library itself bounds nesting (10,000 levels) and, when
// decoding, the expansion of aliases; DecodeNode bounds its own work by the
// size of the tree. Callers that accept many documents should still bound
// the total with Size.
func Parse(file string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, Errors{syntaxError(file, data, err)}
	}
	for {
		var next yaml.Node
		err := dec.Decode(&next)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, Errors{syntaxError(file, data, err)}
		}
		if n := content(&next); n != nil {
			return nil, Errors{At(file, n, "only one YAML document per file is allowed")}
		}
	}
	return content(&doc), nil
}

// content returns a document's root node, or nil when it is empty.
func content(doc *yaml.Node) *yaml.Node {
	if len(doc.Content) == 0 {
		return nil
	}
	n := doc.Content[0]
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" && n.Value == "" && n.Anchor == "" && n.Style == 0 {
		return nil // "---" followed by nothing
	}
	return n
}

// Size returns the number of nodes in the tree below n, n included. An
// alias counts as one node: its target is counted where it is declared.
func Size(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	total := 1
	for _, c := range n.Content {
		total += Size(c)
	}
	return total
}

// DecodeNode decodes root (parsed from file) strictly into v: it reports
// every unknown key, every value of the wrong type, duplicate keys and
// aliases that contain themselves. After a type mismatch or an unknown key
// the rest of v is decoded; after any other problem v is left zero, so that
// later checks do not report problems that are not there.
func DecodeNode(file string, root *yaml.Node, v any) error {
	var errs Errors
	if errs = selfAliases(file, root); len(errs) > 0 {
		return errs.Err()
	}
	kc := keyChecker{file: file, errs: &errs, done: map[checked]bool{}}
	kc.check(root, reflect.TypeOf(v))
	if err := root.Decode(v); err != nil {
		idx := newLineIndex(file, root, reflect.TypeOf(v))
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, m := range te.Errors {
				if strings.Contains(m, " not found in type ") {
					continue // reported by checkKeys with a column and the known keys
				}
				errs = append(errs, fromLibError(file, m, idx))
			}
		} else {
			// The library gave up half way: what it decoded is partial.
			if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && !rv.IsNil() {
				rv.Elem().SetZero()
			}
			errs = append(errs, fromLibError(file, err.Error(), idx))
		}
	}
	return errs.Err()
}

// selfAliases reports every alias that refers to a node containing it
// (`&a [*a]`): such a value is infinite.
func selfAliases(file string, root *yaml.Node) Errors {
	var errs Errors
	open := map[*yaml.Node]bool{}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.AliasNode {
			if open[n.Alias] {
				errs = append(errs, At(file, n, "alias *%s refers to a value that contains it", n.Value))
			}
			return
		}
		open[n] = true
		for _, c := range n.Content {
			walk(c)
		}
		delete(open, n)
	}
	walk(root)
	return errs
}

// parserProblems are the messages of the YAML library's parser (as opposed
// to its scanner). The library reports their line 0-based, one less than
// the line people count, and leaves it out on the first line.
var parserProblems = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"found undefined tag handle":             true,
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found duplicate %TAG directive":         true,
}

var unknownAnchorRE = regexp.MustCompile(`^(?:yaml: )?unknown anchor '(.*)' referenced$`)

// syntaxError turns a parse error of the YAML library into an Error at the
// line people count.
func syntaxError(file string, data []byte, err error) Error {
	msg := err.Error()
	if m := unknownAnchorRE.FindStringSubmatch(msg); m != nil {
		e := Error{File: file, Msg: fmt.Sprintf("alias *%s refers to no anchor &%s declared before it", m[1], m[1])}
		if i := aliasAt(data, m[1]); i >= 0 {
			e.Line, e.Col = position(data, i)
		}
		return e
	}
	e := fromLibError(file, msg, lineIndex{})
	switch {
	case e.Line == 0 && readerProblem(e.Msg):
		// An encoding problem: the library gives no position.
		e.Line, e.Col = badChar(data)
	case e.Line == 0:
		// The library leaves the line out when it is the first.
		e.Line = 1
	case parserProblems[e.Msg]:
		e.Line++
	}
	// The end of the input counts as a line of its own, even when the
	// last line has no line break.
	if last, _ := position(data, len(data)); e.Line > last {
		e.Line = last
	}
	return e
}

// position returns the line and column of data[off], counted as the YAML
// library counts them: in characters, after a byte order mark, with \n,
// \r\n, \r, NEL, LS and PS as line breaks.
func position(data []byte, off int) (line, col int) {
	line, col = 1, 1
	i := 0
	if bytes.HasPrefix(data, []byte("\uFEFF")) {
		i = 3
	}
	for i < off && i < len(data) {
		if n := lineBreak(data[i:]); n > 0 {
			line, col = line+1, 1
			i += n
			continue
		}
		_, size := utf8.DecodeRune(data[i:])
		col++
		i += size
	}
	return line, col
}

// lineBreak returns the length of the line break data starts with, or 0.
func lineBreak(data []byte) int {
	switch {
	case bytes.HasPrefix(data, []byte("\r\n")):
		return 2
	case data[0] == '\r' || data[0] == '\n':
		return 1
	case bytes.HasPrefix(data, []byte("\u0085")):
		return 2
	case bytes.HasPrefix(data, []byte("\u2028")), bytes.HasPrefix(data, []byte("\u2029")):
		return 3
	}
	return 0
}

// aliasAt returns the offset of the first "*name" in data that is not part
// of a longer name, or -1. (It may be inside a quoted string: good enough
// to point at the problem.)
func aliasAt(data []byte, name string) int {
	ref := []byte("*" + name)
	for off := 0; ; {
		i := bytes.Index(data[off:], ref)
		if i < 0 {
			return -1
		}
		end := off + i + len(ref)
		if end == len(data) || !isAnchorByte(data[end]) {
			return off + i
		}
		off = end
	}
}

// isAnchorByte reports whether c may be part of an anchor name (the YAML
// library allows letters, digits, '-' and '_').
func isAnchorByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_'
}

// readerProblem reports whether msg is the YAML library's complaint about
// the encoding of its input rather than about YAML syntax.
func readerProblem(msg string) bool {
	return strings.Contains(msg, "UTF-8") || strings.Contains(msg, "UTF-16") || strings.Contains(msg, "surrogate") ||
		strings.Contains(msg, "control characters") || strings.Contains(msg, "Unicode character") || strings.HasPrefix(msg, "input error")
}

// badChar returns the line and column of the first byte of UTF-8 data that
// YAML does not allow (an invalid sequence or a control character), or 0, 0.
func badChar(data []byte) (line, col int) {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size <= 1,
			r < 0x20 && r != '\t' && r != '\n' && r != '\r',
			r >= 0x7f && r < 0xa0 && r != 0x85,
			r >= 0xd800 && r < 0xe000, r == 0xfffe, r == 0xffff:
			return position(data, i)
		}
		i += size
	}
	return 0, 0
}

var typeErrorRE = regexp.MustCompile("(?s)^cannot unmarshal (\\S+)(?: `(.*)`)? into ")

// fromLibError turns a message of the YAML library, which has at most a
// line, into an Error. With idx it also finds the column: that of the node
// the message is about, or else of the first node on the line.
func fromLibError(file, msg string, idx lineIndex) Error {
	// A message may quote a multi-line value: the value is matched as it
	// is, and oneLine keeps the message to one line.
	m := lineRE.FindStringSubmatch(msg)
	if m == nil {
		return Error{File: file, Msg: oneLine(strings.TrimPrefix(msg, "yaml: "))}
	}
	line, _ := strconv.Atoi(m[1])
	e := Error{File: file, Line: line, Msg: oneLine(tidy(m[2]))}
	nodes := idx.nodes[line]
	if len(nodes) == 0 {
		return e
	}
	e.Col = nodes[0].Column
	for _, n := range nodes {
		e.Col = min(e.Col, n.Column)
	}
	if t := typeErrorRE.FindStringSubmatch(m[2]); t != nil {
		into := m[2][len(t[0]):]
		found := false
		for _, n := range nodes {
			if n.Kind == yaml.AliasNode || n.ShortTag() != t[1] || !sameValue(n, t[2]) {
				continue
			}
			if want := idx.want[n]; want != nil && want.String() == into {
				return Error{File: file, Line: line, Col: n.Column, Msg: e.Msg}
			}
			if !found {
				e.Col, found = n.Column, true
			}
		}
	}
	return e
}

// lineIndex finds the node a message of the YAML library is about.
type lineIndex struct {
	nodes map[int][]*yaml.Node        // by line, in document order
	want  map[*yaml.Node]reflect.Type // the type each node decodes into
}

// newLineIndex indexes the tree below root, to be decoded into a value of
// type t. It is built only when there are problems to place.
func newLineIndex(file string, root *yaml.Node, t reflect.Type) lineIndex {
	var ignored Errors
	kc := keyChecker{file: file, errs: &ignored, done: map[checked]bool{}, want: map[*yaml.Node]reflect.Type{}}
	kc.check(root, t)
	return lineIndex{nodes: indexLines(root), want: kc.want}
}

// oneLine escapes line breaks, which the YAML library quotes raw from
// multi-line values: Errors are listed one per line.
func oneLine(msg string) string {
	return strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(msg)
}

// sameValue reports whether n's value is v as the YAML library quotes it
// in a type error: whole up to 10 bytes, else the first 7 and "...".
func sameValue(n *yaml.Node, v string) bool {
	if n.Kind != yaml.ScalarNode {
		return v == ""
	}
	if len(n.Value) > 10 {
		return v == n.Value[:7]+"..."
	}
	return v == n.Value
}

// tidy rewrites the YAML library's Go-flavoured messages for people.
func tidy(msg string) string {
	if i := strings.Index(msg, " into "); i >= 0 && strings.HasPrefix(msg, "cannot unmarshal ") {
		what := strings.TrimPrefix(msg[:i], "cannot unmarshal ")
		into := msg[i+len(" into "):]
		return fmt.Sprintf("cannot use %s as %s", what, goTypeWord(into))
	}
	return msg
}

func goTypeWord(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["):
		return "a mapping"
	case t == "string":
		return "a string"
	case t == "bool":
		return "a boolean (true or false)"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "an integer"
	case strings.HasPrefix(t, "float"):
		return "a number"
	}
	return "a mapping"
}

// indexLines lists the nodes of each line of the tree below root, in
// document order: the YAML library reports type errors by line only.
func indexLines(root *yaml.Node) map[int][]*yaml.Node {
	idx := map[int][]*yaml.Node{}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		idx[n.Line] = append(idx[n.Line], n)
		for _, c := range n.Content {
			walk(c)
		}
	}
	if root != nil {
		walk(root)
	}
	return idx
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// keyChecker reports every mapping key that the target type does not have.
//
// Aliases make the node tree a graph: an anchored node may be reached many
// times (a "billion laughs" document reaches it exponentially often) and a
// merge key may even refer back to its own mapping. So every anchored node
// is checked once per type: the work is bounded by the size of the document,
// and a problem inside an anchor is reported once, at the anchor.
type keyChecker struct {
	file string
	errs *Errors
	done map[checked]bool
	want map[*yaml.Node]reflect.Type // if not nil: records the type each node decodes into
}

type checked struct {
	n *yaml.Node
	t reflect.Type
}

func (kc *keyChecker) check(n *yaml.Node, t reflect.Type) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if kc.want != nil {
		kc.want[n] = t
	}
	if n.Anchor != "" { // only an anchored node can be reached twice
		if kc.done[checked{n, t}] {
			return
		}
		kc.done[checked{n, t}] = true
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) || t.Implements(unmarshalerType) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return
		}
		fields := fieldsOf(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" {
				// A merge key takes a mapping or a list of mappings.
				m := v
				if m.Kind == yaml.AliasNode && m.Alias != nil {
					m = m.Alias
				}
				if m.Kind == yaml.SequenceNode {
					for _, c := range m.Content {
						kc.check(c, t)
					}
				} else {
					kc.check(m, t)
				}
				continue
			}
			ft, ok := fields[k.Value]
			if !ok {
				*kc.errs = append(*kc.errs, At(kc.file, k, "unknown key %q%s", k.Value, suggest(k.Value, fields)))
				continue
			}
			kc.check(v, ft)
		}
	case reflect.Slice, reflect.Array:
		if n.Kind == yaml.SequenceNode {
			for _, c := range n.Content {
				kc.check(c, t.Elem())
			}
		}
	case reflect.Map:
		if n.Kind == yaml.MappingNode {
			for i := 1; i < len(n.Content); i += 2 {
				kc.check(n.Content[i], t.Elem())
			}
		}
	}
}

// fieldCache holds fieldsOf results: a type's keys never change, and a
// large document asks for the same few types many thousands of times.
var fieldCache sync.Map // reflect.Type → map[string]reflect.Type

// fieldsOf returns the YAML keys of a struct type and their types. The
// result is shared: callers must not change it.
func fieldsOf(t reflect.Type) map[string]reflect.Type {
	if c, ok := fieldCache.Load(t); ok {
		return c.(map[string]reflect.Type)
	}
	out := computeFields(t)
	fieldCache.Store(t, out)
	return out
}

func computeFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			ft := sf.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range fieldsOf(ft) {
					out[k] = v
				}
			}
			continue
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		out[name] = sf.Type
	}
	return out
}

// suggest names the closest known key, or lists the known keys when there
// are few.
func suggest(key string, fields map[string]reflect.Type) string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	slices.Sort(names)
	best, bestD := "", 1<<30
	for _, k := range names {
		if d := Distance(strings.ToLower(key), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" && bestD <= max(2, len(key)/3) {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return fmt.Sprintf(" (known keys: %s)", strings.Join(names, ", "))
}

// Distance is the Levenshtein distance between a and b, for "did you
// mean" hints.
func Distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// Find returns the node at path below root: each element is a mapping key
// (string) or a sequence index (int). It returns the deepest node found, so
// a position is always available when root is not nil.
func Find(root *yaml.Node, path ...any) *yaml.Node {
	n := root
	for _, p := range path {
		if n == nil {
			return nil
		}
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		var next *yaml.Node
		switch p := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == p {
						next = n.Content[i+1]
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && p >= 0 && p < len(n.Content) {
				next = n.Content[p]
			}
		}
		if next == nil {
			return n
		}
		n = next
	}
	return n
}

// FindKey is Find, but for a final string element it returns the key node
// rather than the value, which is where "duplicate"/"unknown" belong.
func FindKey(root *yaml.Node, path ...any) *yaml.Node {
	if len(path) == 0 {
		return root
	}
	parent := Find(root, path[:len(path)-1]...)
	last, ok := path[len(path)-1].(string)
	if !ok || parent == nil || parent.Kind != yaml.MappingNode {
		return Find(root, path...)
	}
	for i := 0; i+1 < len(parent.Content); i += 2 {
		if parent.Content[i].Value == last {
			return parent.Content[i]
		}
	}
	return parent
}
