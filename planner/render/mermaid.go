package render

import (
	"fmt"
	"sort"
	"strings"

	"github.com/flexiwan-gitops/reconciler/planner"
)

// edgeKind is what happens to the tunnels an edge stands for. The order is
// the order edges are drawn in.
type edgeKind uint8

const (
	edgeCreate edgeKind = iota
	edgeRepair
	edgeDelete
)

// Mermaid link syntax and style per kind: created tunnels solid green,
// repaired ones thick amber, deleted ones dotted red.
var edgeStyle = [...]struct{ link, style, legend string }{
	edgeCreate: {"---", "stroke:#1a7f37,stroke-width:2px", "solid green: created"},
	edgeRepair: {"===", "stroke:#bf8700,stroke-width:3px", "thick amber: repaired"},
	edgeDelete: {"-.-", "stroke:#cf222e,stroke-width:2px", "dotted red: deleted"},
}

// node is a device, or a stand-in for many devices when a star is folded.
type node struct {
	key, name string
}

// edge is every tunnel of one kind and label between a and b.
type edge struct {
	kind  edgeKind
	a, b  node // a.key < b.key
	label string
	n     int
}

// graph is the tunnel change drawn as a Mermaid flowchart.
type graph struct {
	edges []edge
	total int // edges before folding and capping
	// folded and dropped say how the picture was simplified to stay
	// readable (and within GitHub's Mermaid limits).
	folded  bool
	dropped int
}

// buildGraph draws one edge per device pair, kind and label (tunnels of the
// same pair on several interfaces are counted on the edge). When that is
// more than maxEdges, the edges of a device with many peers are folded into
// one edge to a node standing for them ("hq — mpls ×4999 — 4999 devices");
// if it is still too many, only the first maxEdges are drawn and the graph
// says how many were left out.
func buildGraph(steps []planner.Step, maxEdges int) graph {
	type key struct {
		kind  edgeKind
		a, b  string
		label string
	}
	agg := map[key]*edge{}
	add := func(kind edgeKind, t planner.TunnelRef) {
		a, b := endNode(t.A), endNode(t.B)
		if b.key < a.key {
			a, b = b, a
		}
		label := t.Label
		if label == "" {
			label = "unlabeled"
		}
		k := key{kind, a.key, b.key, label}
		if e := agg[k]; e != nil {
			e.n++
			return
		}
		agg[k] = &edge{kind: kind, a: a, b: b, label: label, n: 1}
	}
	for _, s := range steps {
		for _, t := range s.Creates {
			add(edgeCreate, t)
		}
		for _, t := range s.Repairs {
			add(edgeRepair, t)
		}
		for _, t := range s.Deletes {
			add(edgeDelete, t)
		}
	}
	g := graph{}
	for _, e := range agg {
		g.edges = append(g.edges, *e)
	}
	sortEdges(g.edges)
	g.total = len(g.edges)
	if maxEdges <= 0 || len(g.edges) <= maxEdges {
		return g
	}
	g.edges, g.folded = foldStars(g.edges), true
	if len(g.edges) > maxEdges {
		g.dropped = len(g.edges) - maxEdges
		g.edges = g.edges[:maxEdges]
	}
	return g
}

func endNode(e planner.EndRef) node {
	name := e.Device
	if name == "" {
		name = e.DeviceID
	}
	key := e.DeviceID
	if key == "" {
		key = "name:" + e.Device
	}
	return node{key: key, name: name}
}

func sortEdges(es []edge) {
	sort.Slice(es, func(i, j int) bool {
		x, y := es[i], es[j]
		if x.kind != y.kind {
			return x.kind < y.kind
		}
		if x.a.name != y.a.name {
			return x.a.name < y.a.name
		}
		if x.b.name != y.b.name {
			return x.b.name < y.b.name
		}
		if x.a.key != y.a.key {
			return x.a.key < y.a.key
		}
		if x.b.key != y.b.key {
			return x.b.key < y.b.key
		}
		return x.label < y.label
	})
}

// foldStars replaces, for each kind and label, the edges from a device to
// three or more peers by one edge to a stand-in node. An edge belongs to
// its end with more peers (the hub of a star), ties to the name that sorts
// first.
func foldStars(es []edge) []edge {
	peers := map[string]map[string]bool{}
	for _, e := range es {
		for _, p := range [][2]string{{e.a.key, e.b.key}, {e.b.key, e.a.key}} {
			if peers[p[0]] == nil {
				peers[p[0]] = map[string]bool{}
			}
			peers[p[0]][p[1]] = true
		}
	}
	type key struct {
		kind   edgeKind
		center string
		label  string
	}
	type star struct {
		center node
		edges  []edge
	}
	stars := map[key]*star{}
	var order []key
	for _, e := range es {
		c := e.a
		da, db := len(peers[e.a.key]), len(peers[e.b.key])
		if db > da || db == da && e.b.name < e.a.name {
			c = e.b
		}
		k := key{e.kind, c.key, e.label}
		if stars[k] == nil {
			stars[k] = &star{center: c}
			order = append(order, k)
		}
		stars[k].edges = append(stars[k].edges, e)
	}
	var out []edge
	for _, k := range order {
		s := stars[k]
		if len(s.edges) < 3 {
			out = append(out, s.edges...)
			continue
		}
		n := 0
		for _, e := range s.edges {
			n += e.n
		}
		others := node{
			key:  fmt.Sprintf("\x00peers:%d:%s:%s", k.kind, k.center, k.label),
			name: fmt.Sprintf("%d devices", len(s.edges)),
		}
		out = append(out, edge{kind: k.kind, a: s.center, b: others, label: k.label, n: n})
	}
	sortEdges(out)
	return out
}

// mermaid writes the graph as a Mermaid flowchart (without the fence).
func (g graph) mermaid(b *strings.Builder) {
	b.WriteString("graph LR\n")
	ids := nodeIDs(g.edges)
	seen := map[string]bool{}
	var nodes []node
	for _, e := range g.edges {
		for _, n := range []node{e.a, e.b} {
			if !seen[n.key] {
				seen[n.key] = true
				nodes = append(nodes, n)
			}
		}
	}
	sort.Slice(nodes, func(i, j int) bool { return ids[nodes[i].key] < ids[nodes[j].key] })
	for _, n := range nodes {
		fmt.Fprintf(b, "  %s[\"%s\"]\n", ids[n.key], mermaidText(n.name))
	}
	byKind := map[edgeKind][]string{}
	for i, e := range g.edges {
		label := e.label
		if e.n > 1 {
			label += fmt.Sprintf(" ×%d", e.n)
		}
		fmt.Fprintf(b, "  %s %s|\"%s\"| %s\n", ids[e.a.key], edgeStyle[e.kind].link, mermaidText(label), ids[e.b.key])
		byKind[e.kind] = append(byKind[e.kind], fmt.Sprint(i))
	}
	for k := edgeCreate; k <= edgeDelete; k++ {
		if idx := byKind[k]; len(idx) > 0 {
			fmt.Fprintf(b, "  linkStyle %s %s\n", strings.Join(idx, ","), edgeStyle[k].style)
		}
	}
}

// legend explains the styles used, and how the graph was simplified.
func (g graph) legend() string {
	used := map[edgeKind]bool{}
	for _, e := range g.edges {
		used[e.kind] = true
	}
	var parts []string
	for k := edgeCreate; k <= edgeDelete; k++ {
		if used[k] {
			parts = append(parts, edgeStyle[k].legend)
		}
	}
	s := "Tunnels between devices, one link per device pair and label (×N: N tunnels): " + strings.Join(parts, ", ") + "."
	if g.folded {
		s += fmt.Sprintf(" The change has %d links; a device's links to many peers are drawn as one link to a node standing for them.", g.total)
	}
	if g.dropped > 0 {
		s += fmt.Sprintf(" %d more links are not drawn.", g.dropped)
	}
	return s
}

// nodeIDs gives every node a Mermaid id made of its name's letters, digits
// and underscores, prefixed (so "end" or "graph" cannot clash with a
// keyword) and numbered when two names sanitise alike. Ids are handed out
// in name order, so they do not depend on the edges' order.
func nodeIDs(es []edge) map[string]string {
	var nodes []node
	seen := map[string]bool{}
	for _, e := range es {
		for _, n := range []node{e.a, e.b} {
			if !seen[n.key] {
				seen[n.key] = true
				nodes = append(nodes, n)
			}
		}
	}
	sort.Slice(nodes, func(i, j int) bool {
		if nodes[i].name != nodes[j].name {
			return nodes[i].name < nodes[j].name
		}
		return nodes[i].key < nodes[j].key
	})
	ids := map[string]string{}
	used := map[string]bool{}
	for _, n := range nodes {
		base := "d_" + sanitizeID(n.name)
		if strings.HasPrefix(n.key, "\x00peers:") {
			base = "peers"
		}
		id := base
		for i := 2; used[id]; i++ {
			id = fmt.Sprintf("%s_%d", base, i)
		}
		used[id] = true
		ids[n.key] = id
	}
	return ids
}

func sanitizeID(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// mermaidText makes s safe inside a quoted Mermaid label: quotes and the
// characters GitHub's sanitiser or Mermaid's entity syntax would eat become
// Mermaid entity codes.
func mermaidText(s string) string {
	r := strings.NewReplacer(
		`#`, "#35;",
		`"`, "#quot;",
		`<`, "#lt;",
		`>`, "#gt;",
		"`", "#96;",
		"\n", " ",
		"\r", " ",
	)
	return r.Replace(s)
}
