package spec

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/flexiwan-gitops/reconciler/internal/yamlcheck"
	"go.yaml.in/yaml/v3"
)

// Limits on what a source may hold. They keep a hostile or mistaken
// repository (a huge generated file, a YAML bomb) from exhausting memory or
// time: bytes are counted before a file is parsed, nodes (every key, value
// and list item; an alias counts once) right after, before decoding.
// Nesting is bounded by the YAML library (10,000 levels) and the expansion
// of aliases by the decoder.
const (
	MaxFileBytes  = 4 << 20
	MaxTotalBytes = 32 << 20
	MaxFiles      = 5000
	MaxNodes      = 1 << 20
)

// limits are the bounds one Load or Parse works within; tests shrink them.
type limits struct {
	fileBytes, totalBytes, files, nodes int
}

func defaultLimits() limits {
	return limits{fileBytes: MaxFileBytes, totalBytes: MaxTotalBytes, files: MaxFiles, nodes: MaxNodes}
}

// The YAML shape of one file. Pointers tell "absent" from "empty".
type fileDoc struct {
	PathLabels []yLabel   `yaml:"pathLabels"`
	Devices    []yDevice  `yaml:"devices"`
	Tunnels    []yTunnel  `yaml:"tunnels"`
	Settings   *ySettings `yaml:"settings"`
}

type yLabel struct {
	Name        string  `yaml:"name"`
	Type        string  `yaml:"type"`
	Color       string  `yaml:"color"`
	Description *string `yaml:"description"`
}

type yDevice struct {
	Name         string       `yaml:"name"`
	MachineID    string       `yaml:"machineId"`
	State        string       `yaml:"state"`
	Version      string       `yaml:"version"`
	Interfaces   []yInterface `yaml:"interfaces"`
	StaticRoutes *[]yRoute    `yaml:"staticRoutes"`
	DHCP         *[]yDHCP     `yaml:"dhcp"`
}

type yInterface struct {
	Name       string   `yaml:"name"`
	PathLabels []string `yaml:"pathLabels"`
}

type yRoute struct {
	Destination string `yaml:"destination"`
	Gateway     string `yaml:"gateway"`
	Interface   string `yaml:"interface"`
	Metric      *int   `yaml:"metric"`
}

type yDHCP struct {
	Interface  string   `yaml:"interface"`
	RangeStart string   `yaml:"rangeStart"`
	RangeEnd   string   `yaml:"rangeEnd"`
	DNS        []string `yaml:"dns"`
}

type yTunnel struct {
	Name       string   `yaml:"name"`
	Topology   string   `yaml:"topology"`
	Devices    []string `yaml:"devices"`
	Hub        string   `yaml:"hub"`
	Spokes     []string `yaml:"spokes"`
	PathLabels []string `yaml:"pathLabels"`
}

type ySettings struct {
	Prune        *bool `yaml:"prune"`
	MaxDeletions *int  `yaml:"maxDeletions"`
}

// parsedFile is one decoded file with its node tree for positions.
type parsedFile struct {
	name string
	doc  fileDoc
	root *yaml.Node
}

// Load reads every *.yaml and *.yml file below dir in fsys (hidden files
// and directories, such as .git or .github, are skipped), merges them in
// lexical order of their paths and returns the validated desired state. On
// any problem it returns a yamlcheck.Errors listing all of them.
func Load(fsys fs.FS, dir string) (*Spec, error) {
	return load(fsys, dir, defaultLimits())
}

func load(fsys fs.FS, dir string, lim limits) (*Spec, error) {
	if dir == "" {
		dir = "."
	}
	var names []string
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		base := d.Name()
		if p != dir && strings.HasPrefix(base, ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if ext := path.Ext(base); ext == ".yaml" || ext == ".yml" {
			names = append(names, p)
			if len(names) > lim.files {
				return fmt.Errorf("more than %d YAML files", lim.files)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read source: %w", err)
	}
	// WalkDir visits a directory's entries in name order, which puts
	// "a/x.yaml" before "a.yaml"; merge in plain path order instead.
	sort.Strings(names)
	// Read in path order (the byte budget stops at the first file over it),
	// parse and decode in parallel (files are independent; YAML parsing is
	// most of the cost of a large source), then merge in path order again,
	// where the node budget stops at the first file over it.
	type input struct {
		name string
		data []byte
		err  error
	}
	var inputs []input
	var errs yamlcheck.Errors
	total := 0
	for _, name := range names {
		data, err := readLimited(fsys, name, lim.fileBytes)
		if err != nil {
			inputs = append(inputs, input{name: name, err: err})
			continue
		}
		total += len(data)
		if total > lim.totalBytes {
			inputs = append(inputs, input{name: name, err: fmt.Errorf("the source is larger than %s; nothing after this file was read", size(lim.totalBytes))})
			break
		}
		inputs = append(inputs, input{name: name, data: data})
	}
	type output struct {
		pf    parsedFile
		errs  yamlcheck.Errors
		nodes int
	}
	outputs := make([]output, len(inputs))
	var used atomic.Int64 // nodes parsed so far, in any order
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(inputs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				in := inputs[i]
				if in.err != nil {
					continue
				}
				if used.Load() > int64(lim.nodes) {
					outputs[i] = output{nodes: lim.nodes + 1} // over budget already: not parsed
					continue
				}
				pf, ferrs, nodes := parseFile(in.name, in.data, &used, lim.nodes)
				outputs[i] = output{pf: pf, errs: ferrs, nodes: nodes}
			}
		}()
	}
	for i := range inputs {
		work <- i
	}
	close(work)
	wg.Wait()
	var files []parsedFile
	nodes := 0
	for i, in := range inputs {
		if in.err != nil {
			errs = append(errs, yamlcheck.Error{File: in.name, Msg: in.err.Error()})
			continue
		}
		out := outputs[i]
		nodes += out.nodes
		if nodes > lim.nodes {
			errs = append(errs, yamlcheck.Error{File: in.name, Msg: fmt.Sprintf("the source has more than %d YAML nodes (keys, values and list items); nothing after this file was read", lim.nodes)})
			break
		}
		errs = append(errs, out.errs...)
		if out.pf.root != nil {
			files = append(files, out.pf)
		}
	}
	return build(files, names, errs)
}

// Parse reads one YAML document (named name in messages) as a whole source.
func Parse(name string, r io.Reader) (*Spec, error) {
	return parse(name, r, defaultLimits())
}

func parse(name string, r io.Reader, lim limits) (*Spec, error) {
	data, err := io.ReadAll(io.LimitReader(r, int64(lim.fileBytes)+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(data) > lim.fileBytes {
		return nil, yamlcheck.Errors{{File: name, Msg: fmt.Sprintf("file is larger than %s", size(lim.fileBytes))}}
	}
	var used atomic.Int64
	pf, errs, nodes := parseFile(name, data, &used, lim.nodes)
	if nodes > lim.nodes {
		errs = yamlcheck.Errors{{File: name, Msg: fmt.Sprintf("the source has more than %d YAML nodes (keys, values and list items); nothing after this file was read", lim.nodes)}}
	}
	var files []parsedFile
	if pf.root != nil {
		files = append(files, pf)
	}
	return build(files, []string{name}, errs)
}

// size formats a byte limit for messages.
func size(n int) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

func readLimited(fsys fs.FS, name string, limit int) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(data) > limit {
		return nil, fmt.Errorf("file is larger than %s", size(limit))
	}
	return data, nil
}

// parseFile parses and decodes one file. It adds the file's YAML nodes to
// used and returns their count; when used then exceeds limit the file is
// not decoded (decoding is where a node-heavy file costs most).
func parseFile(name string, data []byte, used *atomic.Int64, limit int) (pf parsedFile, errs yamlcheck.Errors, nodes int) {
	pf.name = name
	root, err := yamlcheck.Parse(name, data)
	if err != nil {
		return pf, asErrors(name, err), 0
	}
	if root == nil {
		return pf, nil, 0
	}
	nodes = yamlcheck.Size(root)
	if used.Add(int64(nodes)) > int64(limit) {
		return pf, nil, nodes
	}
	if root.Kind != yaml.MappingNode {
		return pf, yamlcheck.Errors{yamlcheck.At(name, root, "the file must be a mapping with pathLabels, devices, tunnels or settings")}, nodes
	}
	// Unknown keys and type mismatches leave the rest of the file usable:
	// keep it, so that one run reports the semantic problems too.
	errs = asErrors(name, yamlcheck.DecodeNode(name, root, &pf.doc))
	pf.root = root
	return pf, errs, nodes
}

func asErrors(name string, err error) yamlcheck.Errors {
	if err == nil {
		return nil
	}
	var errs yamlcheck.Errors
	if !errors.As(err, &errs) {
		errs = yamlcheck.Errors{{File: name, Msg: err.Error()}}
	}
	return errs
}
