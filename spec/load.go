package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/flexiwan-gitops/reconciler/internal/yamlcheck"
	"go.yaml.in/yaml/v3"
)

// Limits on what a source may hold. They keep a hostile or mistaken
// repository (a huge generated file, a YAML bomb) from exhausting memory.
const (
	MaxFileBytes  = 4 << 20
	MaxTotalBytes = 32 << 20
	MaxFiles      = 5000
)

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
// and directories, such as .git or .github, are skipped) and returns the
// validated desired state. On any problem it returns a yamlcheck.Errors
// listing all of them.
func Load(fsys fs.FS, dir string) (*Spec, error) {
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
			if len(names) > MaxFiles {
				return fmt.Errorf("more than %d YAML files", MaxFiles)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read source: %w", err)
	}
	var files []parsedFile
	var errs yamlcheck.Errors
	total := 0
	for _, name := range names {
		data, err := readLimited(fsys, name)
		if err != nil {
			errs = append(errs, yamlcheck.Error{File: name, Msg: err.Error()})
			continue
		}
		total += len(data)
		if total > MaxTotalBytes {
			errs = append(errs, yamlcheck.Error{File: name, Msg: fmt.Sprintf("the source is larger than %d MiB", MaxTotalBytes>>20)})
			break
		}
		pf, ferrs := parseFile(name, data)
		errs = append(errs, ferrs...)
		if pf.root != nil {
			files = append(files, pf)
		}
	}
	return build(files, names, errs)
}

// Parse reads one YAML document (named name in messages) as a whole source.
func Parse(name string, r io.Reader) (*Spec, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(data) > MaxFileBytes {
		return nil, yamlcheck.Errors{{File: name, Msg: fmt.Sprintf("file is larger than %d MiB", MaxFileBytes>>20)}}
	}
	pf, errs := parseFile(name, data)
	var files []parsedFile
	if pf.root != nil {
		files = append(files, pf)
	}
	return build(files, []string{name}, errs)
}

func readLimited(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("file is larger than %d MiB", MaxFileBytes>>20)
	}
	return data, nil
}

func parseFile(name string, data []byte) (parsedFile, yamlcheck.Errors) {
	pf := parsedFile{name: name}
	if n := extraDocument(data); n != nil {
		return pf, yamlcheck.Errors{yamlcheck.At(name, n, "only one YAML document per file is allowed")}
	}
	root, err := yamlcheck.Decode(name, data, &pf.doc)
	var errs yamlcheck.Errors
	if err != nil && !errors.As(err, &errs) {
		errs = yamlcheck.Errors{{File: name, Msg: err.Error()}}
	}
	if root != nil && root.Kind != yaml.MappingNode {
		return pf, yamlcheck.Errors{yamlcheck.At(name, root, "the file must be a mapping with pathLabels, devices, tunnels or settings")}
	}
	// Unknown keys and type mismatches leave the rest of the file usable:
	// keep it, so that one run reports the semantic problems too.
	pf.root = root
	return pf, errs
}

// extraDocument returns the second document's node when data holds more
// than one YAML document.
func extraDocument(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var first yaml.Node
	if dec.Decode(&first) != nil {
		return nil
	}
	var second yaml.Node
	if dec.Decode(&second) != nil {
		return nil
	}
	if len(second.Content) > 0 {
		return second.Content[0]
	}
	return &second
}
