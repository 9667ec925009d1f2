package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/flexiwan-gitops/reconciler/planner"
)

// ErrFormatVersion is returned (wrapped) by ReadJSON for a plan written in a
// format version this build cannot read.
var ErrFormatVersion = errors.New("unsupported plan format version")

// supportedVersions are the format versions ReadJSON reads.
var supportedVersions = []int{planner.FormatVersion}

// JSON writes the plan value itself as JSON, indented by two spaces, with a
// trailing newline: the saved plan that ReadJSON reads back. HTML characters
// are not escaped ("<->" stays readable). Request bodies are indented with
// the rest; ReadJSON compacts them again.
func JSON(w io.Writer, p *planner.Plan) error {
	if p == nil {
		return errNilPlan
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(p); err != nil {
		return fmt.Errorf("render json: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// ReadJSON reads a plan saved by JSON. It is strict: the format version must
// be one this build supports (checked first, so a newer plan is reported as
// such rather than as unknown fields), unknown fields and trailing data are
// errors, and the steps must be well formed (known phases and actions,
// unique ids, After naming other steps). Request bodies are compacted, so a
// plan read back equals the plan written.
func ReadJSON(r io.Reader) (*planner.Plan, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	var head struct {
		FormatVersion *int `json:"formatVersion"`
	}
	// Only the first value: trailing data is reported below, by name.
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&head); err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	if head.FormatVersion == nil {
		return nil, fmt.Errorf("read plan: no formatVersion; is this a plan saved with --format json?")
	}
	if !supported(*head.FormatVersion) {
		return nil, fmt.Errorf("read plan: %w %d; this reconciler reads version %s", ErrFormatVersion, *head.FormatVersion, versionsText())
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var p planner.Plan
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("read plan: unexpected data after the plan")
	}
	for i := range p.Steps {
		if b := p.Steps[i].Request.Body; len(b) > 0 {
			var c bytes.Buffer
			if err := json.Compact(&c, b); err != nil {
				return nil, fmt.Errorf("read plan: step %d: request body: %w", p.Steps[i].ID, err)
			}
			p.Steps[i].Request.Body = c.Bytes()
		}
	}
	if err := check(&p); err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	return &p, nil
}

func supported(v int) bool {
	for _, s := range supportedVersions {
		if s == v {
			return true
		}
	}
	return false
}

func versionsText() string {
	vs := make([]string, len(supportedVersions))
	for i, v := range supportedVersions {
		vs[i] = fmt.Sprint(v)
	}
	return strings.Join(vs, ", ")
}

// check finds what JSON decoding alone lets through and the executor must
// not run: steps without a phase or an action, duplicate ids, and After
// entries that name no other step of the same phase.
func check(p *planner.Plan) error {
	var errs []error
	phase := map[int]planner.Phase{}
	for i, s := range p.Steps {
		if s.ID <= 0 {
			errs = append(errs, fmt.Errorf("step #%d has no id", i+1))
			continue
		}
		if _, dup := phase[s.ID]; dup {
			errs = append(errs, fmt.Errorf("step id %d appears twice", s.ID))
		}
		phase[s.ID] = s.Phase
		if s.Phase.Title() == "" {
			errs = append(errs, fmt.Errorf("step %d has no phase", s.ID))
		}
		if _, err := planner.ParseAction(s.Action.String()); err != nil {
			errs = append(errs, fmt.Errorf("step %d has no action", s.ID))
		}
	}
	for _, s := range p.Steps {
		for _, a := range s.After {
			ph, ok := phase[a]
			switch {
			case a == s.ID:
				errs = append(errs, fmt.Errorf("step %d waits for itself", s.ID))
			case !ok:
				errs = append(errs, fmt.Errorf("step %d waits for step %d, which the plan does not have", s.ID, a))
			case ph != s.Phase:
				errs = append(errs, fmt.Errorf("step %d waits for step %d of another phase (%s)", s.ID, a, ph))
			}
		}
	}
	return errors.Join(errs...)
}
