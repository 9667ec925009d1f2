package spec

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

// readSchema reads schema.json, which must be valid JSON.
func readSchema(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("schema.json: %v", err)
	}
	return s
}

// TestSchemaMatchesDecoder walks the decoding structs of load.go and the
// schema together: every yaml key must be a schema property and every
// schema property a yaml key, with matching kinds, at every level.
func TestSchemaMatchesDecoder(t *testing.T) {
	root := readSchema(t)
	v := &validator{root: root}
	var walk func(path string, typ reflect.Type, s map[string]any)
	walk = func(path string, typ reflect.Type, s map[string]any) {
		s = v.resolve(t, s)
		for typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		switch typ.Kind() {
		case reflect.Struct:
			if s["type"] != "object" || s["additionalProperties"] != false {
				t.Errorf("%s: schema has type %v, additionalProperties %v; want an object with additionalProperties false", path, s["type"], s["additionalProperties"])
			}
			props, _ := s["properties"].(map[string]any)
			fields := fieldTags(typ)
			var want, got []string
			for name := range fields {
				want = append(want, name)
			}
			for name := range props {
				got = append(got, name)
			}
			sort.Strings(want)
			sort.Strings(got)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s: properties differ from the yaml tags of %s (-yaml +schema):\n%s", path, typ, diff)
			}
			for name, ft := range fields {
				if ps, ok := props[name].(map[string]any); ok {
					walk(path+"."+name, ft, ps)
				}
			}
		case reflect.Slice:
			items, ok := s["items"].(map[string]any)
			if s["type"] != "array" || !ok {
				t.Errorf("%s: schema has type %v and items %v, want an array", path, s["type"], s["items"])
				return
			}
			walk(path+"[]", typ.Elem(), items)
		case reflect.String:
			if s["type"] != "string" && !allStrings(s["enum"]) {
				t.Errorf("%s: schema type %v, want string (or an enum of strings)", path, s["type"])
			}
		case reflect.Int:
			if s["type"] != "integer" {
				t.Errorf("%s: schema type %v, want integer", path, s["type"])
			}
		case reflect.Bool:
			if s["type"] != "boolean" {
				t.Errorf("%s: schema type %v, want boolean", path, s["type"])
			}
		default:
			t.Errorf("%s: no rule for Go kind %s", path, typ.Kind())
		}
	}
	walk("$", reflect.TypeFor[fileDoc](), root)
}

// fieldTags returns a struct's yaml keys and field types.
func fieldTags(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

func allStrings(v any) bool {
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return false
	}
	for _, x := range list {
		if _, ok := x.(string); !ok {
			return false
		}
	}
	return true
}

// TestSchemaPatternsMatchValidation: the schema's patterns are the very
// expressions validate.go checks with, so the two cannot drift apart.
func TestSchemaPatternsMatchValidation(t *testing.T) {
	root := readSchema(t)
	v := &validator{root: root}
	get := func(path ...string) string {
		var s any = root
		for _, p := range path {
			m, _ := s.(map[string]any)
			s = m[p]
			if m, ok := s.(map[string]any); ok {
				s = v.resolve(t, m)
			}
		}
		m, _ := s.(map[string]any)
		p, _ := m["pattern"].(string)
		return p
	}
	defs := func(def string, path ...string) []string { return append([]string{"$defs", def}, path...) }
	for _, tt := range []struct {
		path []string
		re   *regexp.Regexp
	}{
		{defs("pathLabel", "properties", "name"), labelNameRE},
		{defs("pathLabel", "properties", "color"), colorRE},
		{defs("pathLabel", "properties", "description"), labelDescRE},
		{defs("device", "properties", "name"), deviceRE},
		{defs("device", "properties", "version"), versionRE},
		{defs("device", "properties", "machineId"), machineRE},
	} {
		if got := get(tt.path...); got != tt.re.String() {
			t.Errorf("%s: schema pattern %q, validate.go %q", strings.Join(tt.path, "."), got, tt.re.String())
		}
	}
}

// TestSchemaDescriptions: editors show descriptions as help, so every
// property has one, and the schema says how to use it.
func TestSchemaDescriptions(t *testing.T) {
	root := readSchema(t)
	if d, _ := root["description"].(string); !strings.Contains(d, "# yaml-language-server: $schema=") {
		t.Errorf("the top-level description does not explain the yaml-language-server comment: %q", d)
	}
	if root["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %v, want draft 2020-12", root["$schema"])
	}
	count := 0
	var walk func(path string, s any)
	walk = func(path string, s any) {
		m, ok := s.(map[string]any)
		if !ok {
			return
		}
		if props, ok := m["properties"].(map[string]any); ok && !strings.Contains(path, "/if") && !strings.Contains(path, "/then") {
			for name, p := range props {
				count++
				pm, _ := p.(map[string]any)
				if d, _ := pm["description"].(string); strings.TrimSpace(d) == "" {
					t.Errorf("%s/properties/%s has no description", path, name)
				}
			}
		}
		for k, c := range m {
			switch c := c.(type) {
			case map[string]any:
				walk(path+"/"+k, c)
			case []any:
				for i, x := range c {
					walk(fmt.Sprintf("%s/%s/%d", path, k, i), x)
				}
			}
		}
	}
	walk("#", root)
	if count < 30 {
		t.Errorf("found %d properties, want the 30 or so the format has", count)
	}
}

// TestSchemaKeywords: the schema uses only keywords the test validator
// checks (or annotations), also in branches no test instance reaches.
func TestSchemaKeywords(t *testing.T) {
	known := map[string]bool{
		"$ref": true, "type": true, "enum": true, "pattern": true, "minLength": true, "minimum": true, "maximum": true,
		"minItems": true, "uniqueItems": true, "items": true, "properties": true, "additionalProperties": true,
		"required": true, "allOf": true, "anyOf": true, "oneOf": true, "not": true, "if": true, "then": true, "else": true,
	}
	var walk func(path string, s any)
	walk = func(path string, s any) {
		m, ok := s.(map[string]any)
		if !ok {
			if _, ok := s.(bool); !ok {
				t.Errorf("%s: a schema must be an object or a boolean, not %T", path, s)
			}
			return
		}
		for k, x := range m {
			switch {
			case k == "properties" || k == "$defs":
				for name, sub := range x.(map[string]any) {
					walk(path+"/"+k+"/"+name, sub)
				}
			case k == "allOf" || k == "anyOf" || k == "oneOf":
				for i, sub := range x.([]any) {
					walk(fmt.Sprintf("%s/%s/%d", path, k, i), sub)
				}
			case k == "items" || k == "not" || k == "if" || k == "then" || k == "else" || k == "additionalProperties":
				walk(path+"/"+k, x)
			case k == "$ref":
				if (&validator{root: readSchema(t)}).lookup(x.(string)) == nil {
					t.Errorf("%s: $ref %q does not resolve", path, x)
				}
			case !known[k] && !annotations[k]:
				t.Errorf("%s: keyword %q is not checked by the test validator", path, k)
			}
		}
	}
	walk("#", readSchema(t))
}

// TestSchemaValidatesExamples: every YAML file of examples/topology is
// valid against the schema.
func TestSchemaValidatesExamples(t *testing.T) {
	v := &validator{root: readSchema(t)}
	files, err := filepath.Glob("../examples/topology/*.y*ml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if errs := v.validateYAML(t, data); len(errs) > 0 {
			t.Errorf("%s does not validate:\n  %s", name, strings.Join(errs, "\n  "))
		}
	}
}

// TestSchemaSnippets: the schema accepts and refuses what the loader
// does, for problems one file can show. Where they differ (names across
// files), the case says so.
func TestSchemaSnippets(t *testing.T) {
	v := &validator{root: readSchema(t)}
	const decl = "pathLabels: [{name: mpls}, {name: inet}]\ndevices: [{name: hq}, {name: b1}, {name: b2}]\n"
	tests := []struct {
		name   string
		yaml   string
		schema string // "" = valid; else a part of a problem
		spec   bool   // whether spec.Parse accepts it
	}{
		{"empty mapping", "{}", "", true},
		{"every field", `pathLabels:
  - {name: mpls, type: Tunnel, color: "#AbCdEf", description: "MPLS (primary) @hq"}
  - {name: "lte backup", type: DIA}
devices:
  - name: hq
    machineId: 5c2d-AB
    state: stopped
    version: "6.3.37"
    interfaces: [{name: eth0, pathLabels: [mpls]}, {name: eth1, pathLabels: []}, {name: eth2}]
    staticRoutes: [{destination: 0.0.0.0/0, gateway: 255.255.255.255, interface: eth1, metric: 1999999999}]
    dhcp: [{interface: eth2, rangeStart: 10.0.0.1, rangeEnd: 10.0.0.1, dns: []}]
  - {name: b1, staticRoutes: [], dhcp: []}
tunnels:
  - {name: star, topology: hubAndSpoke, hub: hq, spokes: ["b*"], pathLabels: [mpls]}
  - {topology: fullMesh, devices: [hq, b1], pathLabels: []}
settings: {prune: true, maxDeletions: 0}
`, "", true},
		{"unknown top-level key", "device: []", `$: property "device" is not allowed`, false},
		{"unknown device key", "devices: [{name: hq, stat: running}]", `$.devices[0]: property "stat" is not allowed`, false},
		{"unknown interface key", "devices: [{name: hq, interfaces: [{name: eth0, labels: []}]}]", `property "labels" is not allowed`, false},
		{"unknown route key", "devices: [{name: hq, staticRoutes: [{destination: 10.0.0.0/8, gateway: 1.1.1.1, gw: x}]}]", `property "gw" is not allowed`, false},
		{"unknown settings key", "settings: {maxDeletion: 1}", `property "maxDeletion" is not allowed`, false},
		{"label without name", "pathLabels: [{type: DIA}]", `$.pathLabels[0]: property "name" is required`, false},
		{"label type", "pathLabels: [{name: mpls, type: tunnel}]", `$.pathLabels[0].type: "tunnel" is not one of ["Tunnel","DIA"]`, false},
		{"label name too short", "pathLabels: [{name: ab}]", `$.pathLabels[0].name: "ab" does not match`, false},
		{"colour", `pathLabels: [{name: mpls, color: "#12345g"}]`, `.color: "#12345g" does not match`, false},
		{"description", `pathLabels: [{name: mpls, description: "a/b"}]`, `.description: "a/b" does not match`, false},
		{"device state", "devices: [{name: hq, state: paused}]", `.state: "paused" is not one of`, false},
		{"device version", `devices: [{name: hq, version: "6.3"}]`, `.version: "6.3" does not match`, false},
		{"version as a number", `devices: [{name: hq, version: 6.3}]`, `.version: 6.3 is not of type string`, false},
		{"device name of the wrong type", "devices: [{name: [hq]}]", `.name: ["hq"] is not of type string`, false},
		{"route destination", "devices: [{name: hq, staticRoutes: [{destination: 10.0.0.0/33, gateway: 1.1.1.1}]}]", `.destination: "10.0.0.0/33" does not match`, false},
		{"route gateway", "devices: [{name: hq, staticRoutes: [{destination: 10.0.0.0/8, gateway: 1.1.1.256}]}]", `.gateway: "1.1.1.256" does not match`, false},
		{"route gateway with a leading zero", "devices: [{name: hq, staticRoutes: [{destination: 10.0.0.0/8, gateway: 1.1.1.01}]}]", `.gateway: "1.1.1.01" does not match`, false},
		{"route without gateway", "devices: [{name: hq, staticRoutes: [{destination: 10.0.0.0/8}]}]", `property "gateway" is required`, false},
		{"negative metric", "devices: [{name: hq, staticRoutes: [{destination: 10.0.0.0/8, gateway: 1.1.1.1, metric: -1}]}]", `.metric: -1 is less than 0`, false},
		{"huge metric", "devices: [{name: hq, staticRoutes: [{destination: 10.0.0.0/8, gateway: 1.1.1.1, metric: 2000000000}]}]", `.metric: 2000000000 is more than 1999999999`, false},
		{"dhcp without range", "devices: [{name: hq, dhcp: [{interface: eth1}]}]", `property "rangeStart" is required`, false},
		{"dhcp dns", "devices: [{name: hq, dhcp: [{interface: eth1, rangeStart: 10.0.0.1, rangeEnd: 10.0.0.2, dns: [dns.google]}]}]", `.dns[0]: "dns.google" does not match`, false},
		{"label twice on an interface", "pathLabels: [{name: mpls}]\ndevices: [{name: hq, interfaces: [{name: eth0, pathLabels: [mpls, mpls]}]}]", `.pathLabels: items are not unique: "mpls" repeats`, false},
		{"fullMesh", decl + "tunnels: [{topology: fullMesh, devices: [hq, b1]}]", "", true},
		{"fullMesh with a hub", decl + "tunnels: [{topology: fullMesh, devices: [hq, b1], hub: hq}]", `.hub: the schema false allows nothing`, false},
		{"fullMesh with spokes", decl + "tunnels: [{topology: fullMesh, devices: [hq, b1], spokes: [b1]}]", `.spokes: the schema false allows nothing`, false},
		{"fullMesh without devices", decl + "tunnels: [{topology: fullMesh}]", `property "devices" is required`, false},
		{"fullMesh with no devices", decl + "tunnels: [{topology: fullMesh, devices: []}]", `has 0 items, fewer than 1`, false},
		{"hubAndSpoke", decl + "tunnels: [{topology: hubAndSpoke, hub: hq, spokes: [b1, b2]}]", "", true},
		{"hubAndSpoke without spokes", decl + "tunnels: [{topology: hubAndSpoke, hub: hq}]", `property "spokes" is required`, false},
		{"hubAndSpoke without hub", decl + "tunnels: [{topology: hubAndSpoke, spokes: [b1]}]", `property "hub" is required`, false},
		{"hubAndSpoke with devices", decl + "tunnels: [{topology: hubAndSpoke, hub: hq, spokes: [b1], devices: [b2]}]", `.devices: the schema false allows nothing`, false},
		{"hub as a pattern", decl + `tunnels: [{topology: hubAndSpoke, hub: "h*", spokes: [b1]}]`, `.hub: "h*" does not match`, false},
		{"no topology", decl + "tunnels: [{devices: [hq, b1]}]", `property "topology" is required`, false},
		{"unknown topology", decl + "tunnels: [{topology: star, devices: [hq, b1]}]", `.topology: "star" is not one of`, false},
		{"prune as a string", "settings: {prune: maybe}", `.prune: "maybe" is not of type boolean`, false},
		{"negative maxDeletions", "settings: {maxDeletions: -1}", `.maxDeletions: -1 is less than 0`, false},
		{"not a mapping", "- devices", `$: ["devices"] is not of type object`, false},
		// What one file cannot show: the schema accepts, the loader does not.
		{"undeclared label (across files)", "devices: [{name: hq, interfaces: [{name: eth0, pathLabels: [mpls]}]}]", "", false},
		{"undeclared device (across files)", "tunnels: [{topology: fullMesh, devices: [hq, b1]}]", "", false},
		{"DIA label in a group", "pathLabels: [{name: lte, type: DIA}]\ndevices: [{name: hq}, {name: b1}]\ntunnels: [{topology: fullMesh, devices: [hq, b1], pathLabels: [lte]}]", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := v.validateYAML(t, []byte(tt.yaml))
			switch {
			case tt.schema == "" && len(errs) > 0:
				t.Errorf("schema refuses it:\n  %s", strings.Join(errs, "\n  "))
			case tt.schema != "" && !slices.ContainsFunc(errs, func(e string) bool { return strings.Contains(e, tt.schema) }):
				t.Errorf("schema problems %q, want one containing %q", errs, tt.schema)
			}
			_, err := Parse("s.yaml", strings.NewReader(tt.yaml))
			if (err == nil) != tt.spec {
				t.Errorf("Parse() error = %v, want accepted = %v", err, tt.spec)
			}
		})
	}
}

// validator is a small JSON Schema (draft 2020-12) validator for just the
// keywords schema.json uses. A keyword it does not know is reported as a
// problem, so that the schema cannot use one that goes unchecked here.
type validator struct {
	root map[string]any
}

// annotations are keywords that do not constrain instances.
var annotations = map[string]bool{"$schema": true, "$id": true, "$defs": true, "title": true, "description": true, "default": true}

func (v *validator) resolve(t *testing.T, s map[string]any) map[string]any {
	t.Helper()
	for {
		ref, ok := s["$ref"].(string)
		if !ok {
			return s
		}
		target := v.lookup(ref)
		if target == nil {
			t.Fatalf("$ref %q does not resolve", ref)
		}
		merged := map[string]any{}
		for k, x := range target {
			merged[k] = x
		}
		for k, x := range s {
			if k != "$ref" {
				merged[k] = x
			}
		}
		s = merged
	}
}

func (v *validator) lookup(ref string) map[string]any {
	name, ok := strings.CutPrefix(ref, "#/$defs/")
	if !ok {
		return nil
	}
	defs, _ := v.root["$defs"].(map[string]any)
	m, _ := defs[name].(map[string]any)
	return m
}

func (v *validator) validateYAML(t *testing.T, data []byte) []string {
	t.Helper()
	var inst any
	if err := yaml.Unmarshal(data, &inst); err != nil {
		t.Fatalf("test YAML does not parse: %v", err)
	}
	if inst == nil {
		inst = map[string]any{}
	}
	return v.validate(v.root, inst, "$")
}

// validate returns the problems of inst against schema s, each as
// "path: problem".
func (v *validator) validate(s any, inst any, path string) []string {
	switch s := s.(type) {
	case bool:
		if s {
			return nil
		}
		return []string{path + ": the schema false allows nothing"}
	case map[string]any:
		var errs []string
		fail := func(format string, args ...any) { errs = append(errs, path+": "+fmt.Sprintf(format, args...)) }
		for k, kv := range s {
			switch k {
			case "$ref":
				target := v.lookup(kv.(string))
				if target == nil {
					fail("$ref %q does not resolve", kv)
					continue
				}
				errs = append(errs, v.validate(target, inst, path)...)
			case "type":
				if !hasType(inst, kv.(string)) {
					fail("%s is not of type %s", show(inst), kv)
				}
			case "enum":
				if !slices.ContainsFunc(kv.([]any), func(e any) bool { return sameJSON(e, inst) }) {
					fail("%s is not one of %s", show(inst), show(kv))
				}
			case "pattern":
				if str, ok := inst.(string); ok && !regexp.MustCompile(kv.(string)).MatchString(str) {
					fail("%q does not match %s", str, kv)
				}
			case "minLength":
				if str, ok := inst.(string); ok && utf8.RuneCountInString(str) < int(kv.(float64)) {
					fail("%q is shorter than %v", str, kv)
				}
			case "minimum":
				if n, ok := number(inst); ok && n < kv.(float64) {
					fail("%s is less than %s", show(inst), show(kv))
				}
			case "maximum":
				if n, ok := number(inst); ok && n > kv.(float64) {
					fail("%s is more than %s", show(inst), show(kv))
				}
			case "minItems":
				if list, ok := inst.([]any); ok && len(list) < int(kv.(float64)) {
					fail("has %d items, fewer than %v", len(list), kv)
				}
			case "uniqueItems":
				if list, ok := inst.([]any); ok && kv == true {
					for i := range list {
						for j := range i {
							if sameJSON(list[i], list[j]) {
								fail("items are not unique: %s repeats", show(list[i]))
							}
						}
					}
				}
			case "items":
				if list, ok := inst.([]any); ok {
					for i, x := range list {
						errs = append(errs, v.validate(kv, x, fmt.Sprintf("%s[%d]", path, i))...)
					}
				}
			case "properties":
				if obj, ok := inst.(map[string]any); ok {
					for name, ps := range kv.(map[string]any) {
						if x, ok := obj[name]; ok {
							errs = append(errs, v.validate(ps, x, path+"."+name)...)
						}
					}
				}
			case "additionalProperties":
				if obj, ok := inst.(map[string]any); ok {
					props, _ := s["properties"].(map[string]any)
					for _, name := range sortedKeys(obj) {
						if _, known := props[name]; known {
							continue
						}
						if kv == false {
							fail("property %q is not allowed", name)
						} else {
							errs = append(errs, v.validate(kv, obj[name], path+"."+name)...)
						}
					}
				}
			case "required":
				if obj, ok := inst.(map[string]any); ok {
					for _, name := range kv.([]any) {
						if _, ok := obj[name.(string)]; !ok {
							fail("property %q is required", name)
						}
					}
				}
			case "allOf":
				for _, sub := range kv.([]any) {
					errs = append(errs, v.validate(sub, inst, path)...)
				}
			case "anyOf", "oneOf":
				n := 0
				for _, sub := range kv.([]any) {
					if len(v.validate(sub, inst, path)) == 0 {
						n++
					}
				}
				if n == 0 || k == "oneOf" && n > 1 {
					fail("%d of the %s schemas match", n, k)
				}
			case "not":
				if len(v.validate(kv, inst, path)) == 0 {
					fail("matches a schema it must not")
				}
			case "if":
				branch := "else"
				if len(v.validate(kv, inst, path)) == 0 {
					branch = "then"
				}
				if sub, ok := s[branch]; ok {
					errs = append(errs, v.validate(sub, inst, path)...)
				}
			case "then", "else":
				// Applied through "if".
			default:
				if !annotations[k] {
					fail("the test validator does not know the keyword %q", k)
				}
			}
		}
		sort.Strings(errs)
		return errs
	}
	return []string{fmt.Sprintf("%s: a schema must be an object or a boolean, not %T", path, s)}
}

func hasType(inst any, typ string) bool {
	switch typ {
	case "object":
		_, ok := inst.(map[string]any)
		return ok
	case "array":
		_, ok := inst.([]any)
		return ok
	case "string":
		_, ok := inst.(string)
		return ok
	case "boolean":
		_, ok := inst.(bool)
		return ok
	case "null":
		return inst == nil
	case "number":
		_, ok := number(inst)
		return ok
	case "integer":
		n, ok := number(inst)
		return ok && n == math.Trunc(n)
	}
	return false
}

func number(inst any) (float64, bool) {
	switch n := inst.(type) {
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint64:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

// sameJSON compares two instances as JSON values (1 and 1.0 are equal).
func sameJSON(a, b any) bool {
	x, okx := number(a)
	y, oky := number(b)
	if okx || oky {
		return okx && oky && x == y
	}
	return reflect.DeepEqual(a, b)
}

// show formats an instance as JSON.
func show(inst any) string {
	b, err := json.Marshal(inst)
	if err != nil {
		return fmt.Sprint(inst)
	}
	return string(b)
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
