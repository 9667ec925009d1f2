package yamlcheck

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type doc struct {
	Name  string   `yaml:"name"`
	Count int      `yaml:"count"`
	Tags  []string `yaml:"tags"`
	Items []item   `yaml:"items"`
}

type item struct {
	ID   string `yaml:"id"`
	On   bool   `yaml:"on"`
	Size *int   `yaml:"size"`
}

func TestParse(t *testing.T) {
	tests := map[string]struct {
		data    string
		empty   bool
		wantErr string
	}{
		"one document":                       {data: "name: a\n"},
		"empty":                              {data: "", empty: true},
		"only comments":                      {data: "# nothing\n", empty: true},
		"only a marker":                      {data: "---\n", empty: true},
		"empty documents after":              {data: "name: a\n---\n...\n---\n# c\n"},
		"second document":                    {data: "name: a\n---\nname: b\n", wantErr: "f.yaml:3:1: only one YAML document per file is allowed"},
		"third document":                     {data: "name: a\n---\n---\nname: b\n", wantErr: "f.yaml:4:1: only one YAML document per file is allowed"},
		"broken second document":             {data: "name: a\n---\nname: [\n", wantErr: "f.yaml:4: did not find expected node content"},
		"parser error line is 1-based":       {data: "items:\n  - id: a\n   on: true\n", wantErr: "f.yaml:2: did not find expected '-' indicator"},
		"unclosed flow list":                 {data: "name: a\ntags: [x,\n  y\n", wantErr: "f.yaml:2: did not find expected ',' or ']'"},
		"scanner error on line 1":            {data: "a: b: c\n", wantErr: "f.yaml:1: mapping values are not allowed in this context"},
		"scanner error on line 2":            {data: "name: a\n\tcount: 1\n", wantErr: "f.yaml:2: found a tab character that violates indentation"},
		"end of input without newline":       {data: "name: a\ntags: [", wantErr: "f.yaml:2: did not find expected node content"},
		"unknown anchor":                     {data: "name: a\ntags: [x, *nope]\n", wantErr: "f.yaml:2:11: alias *nope refers to no anchor &nope declared before it"},
		"unknown anchor, a longer one known": {data: "name: &nopeX a\ntags: [*nopeX, *nope]\n", wantErr: "f.yaml:2:16: alias *nope refers to no anchor &nope declared before it"},
		"lines ended by CR, NEL and LS":      {data: "name: a\rcount: 1\u0085items: []\u2028tags: [x, *nope]\n", wantErr: "f.yaml:4:11: alias *nope refers to no anchor &nope declared before it"},
		"byte order mark":                    {data: "\uFEFFtags: [*nope]\n", wantErr: "f.yaml:1:8: alias *nope refers to no anchor &nope declared before it"},
		"end of input after CRs":             {data: "\r\r\rtags: [", wantErr: "f.yaml:4: did not find expected node content"},
		"invalid UTF-8":                      {data: "name: a\ntags: [é, \xff]\n", wantErr: "f.yaml:2:11: invalid leading UTF-8 octet"},
		"control character":                  {data: "name: \"a\x01\"\n", wantErr: "f.yaml:1:9: control characters are not allowed"},
		"too deep":                           {data: strings.Repeat("[", 20000), wantErr: "f.yaml:1: exceeded max depth of 10000"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			root, err := Parse("f.yaml", []byte(tt.data))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("Parse() error = %v, want %q", err, tt.wantErr)
				}
				if root != nil {
					t.Error("Parse() returned a root with an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse() error = %v", err)
			}
			if (root == nil) != tt.empty {
				t.Errorf("Parse() root = %v, want empty %v", root, tt.empty)
			}
		})
	}
}

func TestSize(t *testing.T) {
	root, err := Parse("f.yaml", []byte("a: &x [1, 2]\nb: *x\n"))
	if err != nil {
		t.Fatal(err)
	}
	// mapping, a, [1 2] with 2 items, b, alias
	if got := Size(root); got != 7 {
		t.Errorf("Size() = %d, want 7", got)
	}
	if got := Size(nil); got != 0 {
		t.Errorf("Size(nil) = %d, want 0", got)
	}
}

func TestDecodeProblems(t *testing.T) {
	tests := map[string]struct {
		data string
		want []string
	}{
		"unknown keys at every level": {
			data: "name: a\nnmae: b\nitems:\n  - {id: x, of: true}\n",
			want: []string{
				`f.yaml:2:1: unknown key "nmae" (did you mean "name"?)`,
				`f.yaml:4:13: unknown key "of" (did you mean "on"?)`,
			},
		},
		"unknown keys in merged mappings and lists of them": {
			data: "items:\n  - &a {id: x, bad: 1}\n  - {<<: *a, id: y}\n  - {<<: [*a, {worse: 2}], id: z}\n",
			want: []string{
				`f.yaml:2:16: unknown key "bad" (did you mean "id"?)`,
				`f.yaml:4:16: unknown key "worse" (known keys: id, on, size)`,
			},
		},
		"wrong types point at the value": {
			data: "name: [a]\ncount: many\ntags: x\nitems: [{id: x, on: maybe, size: big}]\n",
			want: []string{
				"f.yaml:1:7: cannot use !!seq as a string",
				"f.yaml:2:8: cannot use !!str `many` as an integer",
				"f.yaml:3:7: cannot use !!str `x` as a list",
				"f.yaml:4:21: cannot use !!str `maybe` as a boolean (true or false)",
				"f.yaml:4:34: cannot use !!str `big` as an integer",
			},
		},
		"same value on one line, the right one is found": {
			data: "items: [{id: x, on: [x]}, {id: [x]}]\n",
			want: []string{
				"f.yaml:1:21: cannot use !!seq as a boolean (true or false)",
				"f.yaml:1:32: cannot use !!seq as a string",
			},
		},
		"multi-line value stays on one line": {
			data: "count: \"a\n\n  b\"\n",
			want: []string{"f.yaml:1:8: cannot use !!str `a\\nb` as an integer"},
		},
		"a bad value behind many aliases is reported once": {
			data: "items: &i [{id: [x]}]\ntags: [a]\nname: b\ncount: 1\n",
			want: []string{"f.yaml:1:17: cannot use !!seq as a string"},
		},
		"self-referencing alias": {
			data: "items: &i [{id: a}, *i]\n",
			want: []string{"f.yaml:1:21: alias *i refers to a value that contains it"},
		},
		"duplicate key": {
			data: "name: a\nname: b\n",
			want: []string{`f.yaml:2:1: mapping key "name" already defined at line 1`},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var v doc
			_, err := Decode("f.yaml", []byte(tt.data), &v)
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decode() problems (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDecodeGivesUp: when the YAML library stops half way, the value is
// left zero rather than half decoded.
func TestDecodeGivesUp(t *testing.T) {
	var b strings.Builder
	b.WriteString("items:\n  - &l0 {id: lol}\n")
	for i := 1; i < 12; i++ {
		b.WriteString("  - &l" + string(rune('0'+i%10)) + string(rune('a'+i)) + " {<<: [")
		prev := "l0"
		if i > 1 {
			prev = "l" + string(rune('0'+(i-1)%10)) + string(rune('a'+i-1))
		}
		b.WriteString(strings.TrimSuffix(strings.Repeat("*"+prev+", ", 9), ", ") + "]}\n")
	}
	v := doc{Name: "before"}
	_, err := Decode("f.yaml", []byte(b.String()), &v)
	if err == nil || !strings.Contains(err.Error(), "excessive aliasing") {
		t.Fatalf("Decode() error = %v, want excessive aliasing", err)
	}
	if v.Name != "" || v.Items != nil {
		t.Errorf("Decode() left %+v, want the zero value", v)
	}
}

func TestErrorsErr(t *testing.T) {
	if err := Errors(nil).Err(); err != nil {
		t.Errorf("Errors(nil).Err() = %v, want nil", err)
	}
	es := Errors{
		{File: "b.yaml", Line: 1, Msg: "x"},
		{File: "a.yaml", Line: 2, Col: 3, Msg: "y"},
		{File: "a.yaml", Line: 2, Col: 3, Msg: "y"},
		{File: "a.yaml", Msg: "z"},
		{File: "a.yaml", Line: 2, Col: 1, Msg: "w"},
	}
	want := "a.yaml: z\na.yaml:2:1: w\na.yaml:2:3: y\nb.yaml:1: x"
	if got := es.Err().Error(); got != want {
		t.Errorf("Err() =\n%s\nwant\n%s", got, want)
	}
}
