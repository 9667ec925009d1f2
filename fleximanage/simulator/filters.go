package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// filterSet is flexiManage's filters parameter: a JSON array of
// {key, op, val}, all of which must match. A "?" in a key means "side A or
// side B" (device?.name), a "|" separates keys of which any may match.
type filterSet struct {
	items []filterItem
}

type filterItem struct {
	Key string          `json:"key"`
	Op  string          `json:"op"`
	Val json.RawMessage `json:"val"`
}

var filterOps = map[string]bool{"==": true, "!=": true, "contains": true, "!contains": true, "<": true, ">": true, "<=": true, ">=": true, "in": true, "in last days": true}

// parseFilters parses the parameter; "" means no filter.
func parseFilters(s string) (*filterSet, *apiError) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var items []filterItem
	if err := json.Unmarshal([]byte(s), &items); err != nil {
		return nil, svcErr(http.StatusInternalServerError, "%s", jsonErrMessage(err, []byte(s)))
	}
	for _, it := range items {
		if !filterOps[it.Op] || it.Key == "" {
			return nil, svcErr(http.StatusInternalServerError, "There is an error in filter: %s", mustJSON(it))
		}
	}
	return &filterSet{items: items}, nil
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// toGeneric turns a rendered item into maps and slices for key lookup.
func toGeneric(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var g any
	err = dec.Decode(&g)
	return g, err
}

func (fs *filterSet) match(item any) (bool, *apiError) {
	g, err := toGeneric(item)
	if err != nil {
		return false, svcErr(http.StatusInternalServerError, "%s", err.Error())
	}
	for _, it := range fs.items {
		ok := false
		for _, key := range expandKeys(it.Key) {
			if v, found := lookup(g, key); found && compare(v, it.Op, it.Val) {
				ok = true
				break
			} else if !found && (it.Op == "!=" || it.Op == "!contains") {
				ok = true
				break
			}
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

func expandKeys(key string) []string {
	var out []string
	for _, k := range strings.Split(key, "|") {
		if strings.Contains(k, "?") {
			out = append(out, strings.Replace(k, "?", "A", 1), strings.Replace(k, "?", "B", 1))
		} else {
			out = append(out, k)
		}
	}
	return out
}

func lookup(g any, key string) (any, bool) {
	cur := g
	for _, part := range strings.Split(key, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = m[part]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

func scalarString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	default:
		return mustJSON(x)
	}
}

func compare(v any, op string, val json.RawMessage) bool {
	var want any
	dec := json.NewDecoder(bytes.NewReader(val))
	dec.UseNumber()
	_ = dec.Decode(&want)
	have := scalarString(v)
	switch op {
	case "==":
		return strings.EqualFold(have, scalarString(want))
	case "!=":
		return !strings.EqualFold(have, scalarString(want))
	case "contains":
		return strings.Contains(strings.ToLower(have), strings.ToLower(scalarString(want)))
	case "!contains":
		return !strings.Contains(strings.ToLower(have), strings.ToLower(scalarString(want)))
	case "in":
		var opts []string
		switch w := want.(type) {
		case []any:
			for _, x := range w {
				opts = append(opts, scalarString(x))
			}
		default:
			for _, x := range strings.Split(scalarString(w), ",") {
				opts = append(opts, strings.TrimSpace(x))
			}
		}
		for _, o := range opts {
			if strings.EqualFold(have, o) {
				return true
			}
		}
		return false
	case "<", ">", "<=", ">=":
		a, errA := strconv.ParseFloat(have, 64)
		b, errB := strconv.ParseFloat(scalarString(want), 64)
		var c int
		if errA == nil && errB == nil {
			c = cmpFloat(a, b)
		} else {
			c = strings.Compare(have, scalarString(want))
		}
		switch op {
		case "<":
			return c < 0
		case ">":
			return c > 0
		case "<=":
			return c <= 0
		default:
			return c >= 0
		}
	}
	return false
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// sortGeneric orders rendered items by a field path (sortField/sortOrder).
func sortGeneric[T any](items []T, field, order string) error {
	if field == "" {
		return nil
	}
	keys := make([]string, len(items))
	nums := make([]float64, len(items))
	numeric := true
	for i, it := range items {
		g, err := toGeneric(it)
		if err != nil {
			return err
		}
		v, _ := lookup(g, field)
		keys[i] = scalarString(v)
		f, err := strconv.ParseFloat(keys[i], 64)
		if err != nil {
			numeric = false
		}
		nums[i] = f
	}
	idx := make([]int, len(items))
	for i := range idx {
		idx[i] = i
	}
	desc := strings.EqualFold(order, "desc")
	sort.SliceStable(idx, func(a, b int) bool {
		var c int
		if numeric {
			c = cmpFloat(nums[idx[a]], nums[idx[b]])
		} else {
			c = strings.Compare(keys[idx[a]], keys[idx[b]])
		}
		if desc {
			return c > 0
		}
		return c < 0
	})
	sorted := make([]T, len(items))
	for i, j := range idx {
		sorted[i] = items[j]
	}
	copy(items, sorted)
	return nil
}

var _ = fmt.Sprintf
