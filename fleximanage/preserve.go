package fleximanage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// Fields holds the JSON members of an object as they were received. Types
// that flexiManage expects back whole (Device and what it contains) keep
// them so that a PUT writes back every member this package does not model,
// byte for byte.
type Fields map[string]json.RawMessage

// unmarshalKeeping decodes data into v (a pointer to a struct without custom
// JSON methods) and returns every member of the object, modelled or not.
func unmarshalKeeping(data []byte, v any) (Fields, error) {
	var all Fields
	if err := json.Unmarshal(data, &all); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return nil, err
	}
	return all, nil
}

// marshalKeeping encodes v (a struct without custom JSON methods) over the
// members received in kept:
//   - a modelled field whose value is what its received member decodes to
//     keeps the received bytes;
//   - a modelled field that was not received and is still zero is left out;
//   - any other modelled field is written from its value, nil slices as [];
//   - members the struct does not model are written back unchanged.
func marshalKeeping(v any, kept Fields) ([]byte, error) {
	rv := reflect.ValueOf(v)
	out := make(map[string]json.RawMessage, len(kept)+8)
	for k, raw := range kept {
		out[k] = raw
	}
	for _, f := range jsonFieldsOf(rv.Type()) {
		fv := rv.Field(f.index)
		raw, had := kept[f.name]
		if had {
			fresh := reflect.New(f.typ)
			if json.Unmarshal(raw, fresh.Interface()) == nil && reflect.DeepEqual(fresh.Elem().Interface(), fv.Interface()) {
				continue // unchanged: out already holds the received bytes
			}
		} else if fv.IsZero() {
			continue
		}
		enc, err := encodeNoNull(fv)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f.name, err)
		}
		out[f.name] = enc
	}
	return json.Marshal(out)
}

// encodeNoNull encodes v, writing a nil slice as [] rather than null:
// flexiManage iterates arrays it is sent and fails on null.
func encodeNoNull(v reflect.Value) (json.RawMessage, error) {
	if v.Kind() == reflect.Slice && v.IsNil() {
		return json.RawMessage("[]"), nil
	}
	b, err := json.Marshal(v.Interface())
	if err != nil {
		return nil, err
	}
	return bytes.TrimSpace(b), nil
}

type jsonField struct {
	index int
	name  string
	typ   reflect.Type
}

var fieldCache sync.Map // reflect.Type → []jsonField

func jsonFieldsOf(t reflect.Type) []jsonField {
	if c, ok := fieldCache.Load(t); ok {
		return c.([]jsonField)
	}
	var fs []jsonField
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		fs = append(fs, jsonField{index: i, name: name, typ: sf.Type})
	}
	fieldCache.Store(t, fs)
	return fs
}
