package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// strField reads a body member the way mongoose casts to String: strings as
// they are, numbers and booleans as their text. present is false when the
// member is missing or null; ok is false when it cannot be cast.
func strField(body map[string]json.RawMessage, key string) (v string, present, ok bool) {
	r, has := body[key]
	if !has {
		return "", false, true
	}
	r = bytes.TrimSpace(r)
	if bytes.Equal(r, []byte("null")) {
		return "", false, true
	}
	var s string
	if json.Unmarshal(r, &s) == nil {
		return s, true, true
	}
	var n json.Number
	if json.Unmarshal(r, &n) == nil {
		return n.String(), true, true
	}
	var b bool
	if json.Unmarshal(r, &b) == nil {
		if b {
			return "true", true, true
		}
		return "false", true, true
	}
	return "", true, false
}

func (s *Simulator) labelsOfOrgsLocked(orgs []string) []*label {
	var out []*label
	for _, l := range s.labels {
		if inList(orgs, l.org) {
			out = append(out, l)
		}
	}
	return out
}

func (s *Simulator) getLabels(c *call) (reply, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	orgs, aerr := s.orgListLocked(c, false)
	if aerr != nil {
		return reply{}, aerr
	}
	ls := s.labelsOfOrgsLocked(orgs)
	from, to := pageBounds(c, len(ls))
	out := make([]wireLabel, 0, to-from)
	for _, l := range ls[from:to] {
		out = append(out, l.wire())
	}
	return reply{body: out}, nil
}

func (s *Simulator) labelInOrgsLocked(id string, orgs []string) (*label, *apiError) {
	if aerr := castObjectID(id, "_id", "PathLabels"); aerr != nil {
		return nil, aerr
	}
	l := s.labelByID[id]
	if l == nil || !inList(orgs, l.org) {
		return nil, svcErr(http.StatusNotFound, "Not found")
	}
	return l, nil
}

func (s *Simulator) getLabel(c *call) (reply, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	orgs, aerr := s.orgListLocked(c, false)
	if aerr != nil {
		return reply{}, aerr
	}
	l, aerr := s.labelInOrgsLocked(c.params["id"], orgs)
	if aerr != nil {
		return reply{}, aerr
	}
	return reply{body: l.wire()}, nil
}

// labelBody is a path label request body after casting.
type labelBody struct {
	name, description, color, typ      string
	hasName, hasDesc, hasColor, hasTyp bool
	castErrs                           []string
}

func readLabelBody(body map[string]json.RawMessage) labelBody {
	var lb labelBody
	var ok bool
	for _, f := range []struct {
		key string
		v   *string
		has *bool
	}{{"name", &lb.name, &lb.hasName}, {"description", &lb.description, &lb.hasDesc}, {"color", &lb.color, &lb.hasColor}, {"type", &lb.typ, &lb.hasTyp}} {
		*f.v, *f.has, ok = strField(body, f.key)
		if !ok {
			lb.castErrs = append(lb.castErrs, fmt.Sprintf("%s: Cast to string failed for value %s (type %s) at path \"%s\"", f.key, string(body[f.key]), jsType(body[f.key]), f.key))
			*f.has = false
		}
	}
	return lb
}

func jsType(r json.RawMessage) string {
	r = bytes.TrimSpace(r)
	if len(r) == 0 {
		return "undefined"
	}
	switch r[0] {
	case '{':
		return "Object"
	case '[':
		return "Array"
	}
	return "unknown"
}

// validate runs the schema's validators, returning mongoose's message.
func (lb labelBody) validate() string {
	errs := append([]string{}, lb.castErrs...)
	switch {
	case !lb.hasName:
		errs = append(errs, "name: Path `name` is required.")
	case !labelNameRE.MatchString(lb.name):
		errs = append(errs, "name: Path label name format is invalid")
	}
	if lb.hasDesc && lb.description != "" && !labelDescRE.MatchString(lb.description) {
		errs = append(errs, "description: Path label description format is invalid")
	}
	switch {
	case !lb.hasColor:
		errs = append(errs, "color: Path `color` is required.")
	case !colorRE.MatchString(lb.color):
		errs = append(errs, "color: Path label color is invalid")
	}
	if lb.hasTyp && lb.typ != "DIA" && lb.typ != "Tunnel" {
		errs = append(errs, fmt.Sprintf("type: `%s` is not a valid enum value for path `type`.", lb.typ))
	}
	if len(errs) == 0 {
		return ""
	}
	return "PathLabels validation failed: " + strings.Join(errs, ", ")
}

// labelUsageLocked counts what uses a label, across every org as
// flexiManage does.
func (s *Simulator) labelUsageLocked(id string) string {
	devs, tuns := 0, 0
	for _, d := range s.devices {
		used := false
		for _, f := range d.ifaces {
			for _, l := range f.labels {
				if l == id {
					used = true
				}
			}
		}
		if used {
			devs++
		}
	}
	for _, t := range s.tunnels {
		if t.active && t.label == id {
			tuns++
		}
	}
	var parts []string
	if devs > 0 {
		parts = append(parts, fmt.Sprintf("%d devices", devs))
	}
	if tuns > 0 {
		parts = append(parts, fmt.Sprintf("%d tunnels", tuns))
	}
	if len(parts) == 0 {
		return ""
	}
	return "Path label is used by " + strings.Join(parts, ", ")
}

func (s *Simulator) nameTakenLocked(org, name, except string) bool {
	for _, l := range s.labels {
		if l.org == org && l.name == name && l.id != except {
			return true
		}
	}
	return false
}

type createdLabel struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Color       string `json:"color"`
	ID          string `json:"_id"`
	Type        string `json:"type"`
}

func (s *Simulator) postLabel(c *call) (reply, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	orgs, aerr := s.orgListLocked(c, true)
	if aerr != nil {
		return reply{}, aerr
	}
	if len(orgs) == 0 {
		return reply{}, svcErr(http.StatusInternalServerError, "PathLabels validation failed: org: Path `org` is required.")
	}
	org := orgs[0]
	lb := readLabelBody(c.body)
	if lb.hasName && s.nameTakenLocked(org, lb.name, "") {
		return reply{}, svcErr(http.StatusInternalServerError, "Duplicated path labels names are not allowed")
	}
	if len(s.labelsOfOrgsLocked([]string{org})) >= 200 {
		return reply{}, svcErr(http.StatusBadRequest, "Can't create more than 200 Path Labels")
	}
	if msg := lb.validate(); msg != "" {
		return reply{}, svcErr(http.StatusInternalServerError, "%s", msg)
	}
	l := &label{id: s.ids.next(), org: org, name: lb.name, description: lb.description, color: lb.color, typ: lb.typ}
	if !lb.hasTyp {
		l.typ = "DIA"
	}
	s.labels = append(s.labels, l)
	s.labelByID[l.id] = l
	return reply{status: http.StatusCreated, body: createdLabel{Name: l.name, Description: l.description, Color: l.color, ID: l.id, Type: l.typ}}, nil
}

// putLabel replaces a label. flexiManage runs no validators here; members
// left out keep their value, and a type that differs from the stored one
// (including a missing type) is refused while the label is in use.
func (s *Simulator) putLabel(c *call) (reply, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	orgs, aerr := s.orgListLocked(c, true)
	if aerr != nil {
		return reply{}, aerr
	}
	lb := readLabelBody(c.body)
	if len(lb.castErrs) > 0 {
		return reply{}, svcErr(http.StatusInternalServerError, "Validation failed: %s", strings.Join(lb.castErrs, ", "))
	}
	if aerr := castObjectID(c.params["id"], "_id", "PathLabels"); aerr != nil {
		return reply{}, aerr
	}
	orig := s.labelByID[c.params["id"]]
	if lb.hasName && orig != nil && s.nameTakenLocked(orig.org, lb.name, orig.id) {
		return reply{}, svcErr(http.StatusInternalServerError, "Duplicated path labels names are not allowed")
	}
	if orig == nil || !inList(orgs, orig.org) {
		return reply{}, svcErr(http.StatusNotFound, "Not found")
	}
	if !lb.hasTyp || lb.typ != orig.typ {
		if msg := s.labelUsageLocked(orig.id); msg != "" {
			return reply{}, svcErr(http.StatusBadRequest, "%s", msg)
		}
	}
	if lb.hasName {
		orig.name = lb.name
	}
	if lb.hasDesc {
		orig.description = lb.description
	}
	if lb.hasColor {
		orig.color = lb.color
	}
	if lb.hasTyp {
		orig.typ = lb.typ
	}
	return reply{body: orig.wire()}, nil
}

func (s *Simulator) deleteLabel(c *call) (reply, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	orgs, aerr := s.orgListLocked(c, true)
	if aerr != nil {
		return reply{}, aerr
	}
	id := c.params["id"]
	if aerr := castObjectID(id, "_id", "devices"); aerr != nil {
		return reply{}, aerr
	}
	if msg := s.labelUsageLocked(id); msg != "" {
		return reply{}, svcErr(http.StatusBadRequest, "%s", msg)
	}
	l := s.labelByID[id]
	if l == nil || !inList(orgs, l.org) {
		return reply{}, svcErr(http.StatusNotFound, "Not found")
	}
	delete(s.labelByID, id)
	for i, x := range s.labels {
		if x == l {
			s.labels = append(s.labels[:i:i], s.labels[i+1:]...)
			break
		}
	}
	return reply{status: http.StatusNoContent}, nil
}
