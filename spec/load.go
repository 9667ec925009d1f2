package spec

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"

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
	var files []parsedFile
	var errs yamlcheck.Errors
	budget := budget{limits: lim}
	for _, name := range names {
		data, err := readLimited(fsys, name, lim.fileBytes)
		if err != nil {
			errs = append(errs, yamlcheck.Error{File: name, Msg: err.Error()})
			continue
		}
		budget.bytes += len(data)
		if budget.bytes > lim.totalBytes {
			errs = append(errs, yamlcheck.Error{File: name, Msg: fmt.Sprintf("the source is larger than %s; nothing after this file was read", size(lim.totalBytes))})
			break
		}
		pf, ferrs, stop := parseFile(name, data, &budget)
		errs = append(errs, ferrs...)
		if stop {
			break
		}
		if pf.root != nil {
			files = append(files, pf)
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
	budget := budget{limits: lim}
	pf, errs, _ := parseFile(name, data, &budget)
	var files []parsedFile
	if pf.root != nil {
		files = append(files, pf)
	}
	return build(files, []string{name}, errs)
}

// budget is what a source has used of its limits so far.
type budget struct {
	limits
	bytes, nodes int
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

// parseFile parses and decodes one file. stop reports that the source
// exceeded its node budget: nothing more should be read.
func parseFile(name string, data []byte, b *budget) (pf parsedFile, errs yamlcheck.Errors, stop bool) {
	pf.name = name
	root, err := yamlcheck.Parse(name, data)
	if err != nil {
		return pf, asErrors(name, err), false
	}
	if root == nil {
		return pf, nil, false
	}
	b.nodes += yamlcheck.Size(root)
	if b.nodes > b.limits.nodes {
		return pf, yamlcheck.Errors{{File: name, Msg: fmt.Sprintf("the source has more than %d YAML nodes (keys, values and list items); nothing after this file was read", b.limits.nodes)}}, true
	}
	if root.Kind != yaml.MappingNode {
		return pf, yamlcheck.Errors{yamlcheck.At(name, root, "the file must be a mapping with pathLabels, devices, tunnels or settings")}, false
	}
	// Unknown keys and type mismatches leave the rest of the file usable:
	// keep it, so that one run reports the semantic problems too.
	errs = asErrors(name, yamlcheck.DecodeNode(name, root, &pf.doc))
	pf.root = root
	return pf, errs, false
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
