package simulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// apiError is an error answer. Middleware errors have the body
// {"error":msg}; service errors {"error":msg,"code":status,"data":data}.
type apiError struct {
	status     int
	msg        string
	data       any // service errors only; nil → {}
	nullData   bool
	middleware bool
	header     http.Header
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.status, e.msg) }

// svcErr is an error raised inside a flexiManage service.
func svcErr(status int, format string, args ...any) *apiError {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

// mwErr is an error raised by flexiManage's middleware.
func mwErr(status int, msg string) *apiError {
	return &apiError{status: status, msg: msg, middleware: true}
}

func (e *apiError) body() []byte {
	if e.middleware {
		b, _ := json.Marshal(map[string]string{"error": e.msg})
		return b
	}
	var data any = map[string]any{}
	if e.data != nil {
		data = e.data
	}
	if e.nullData {
		data = nil
	}
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
		Code  int    `json:"code"`
		Data  any    `json:"data"`
	}{e.msg, e.status, data})
	return b
}

// Messages of flexiManage that several handlers share.
const (
	msgOrgRequired  = "Organization query parameter must be specified for this operation"
	msgNoAuth       = "No auth token"
	msgBadSignature = "invalid signature"
	msgRevoked      = "Invalid token used"
	msgNoPerm       = "You don't have permission to perform this operation"
	msgRateLimited  = "Request rate limit exceeded"
)

// call is one request on its way through the handlers.
type call struct {
	w      http.ResponseWriter
	r      *http.Request
	key    *keyScope
	query  url.Values
	params map[string]string
	body   map[string]json.RawMessage // the JSON body when it is an object, else empty
	header http.Header                // extra response headers (Location, records-total)
}

// reply is a successful answer: a status and a body that is either
// pre-encoded JSON (json.RawMessage) or a value to encode (nil = no body).
type reply struct {
	status int
	body   any
	page   *[]byte // body's buffer, back to Simulator.pages once written
}

type handler func(s *Simulator, c *call) (reply, *apiError)

type endpoint struct {
	pattern *regexp.Regexp
	names   []string
	methods map[string]handler
	noAuth  bool
}

// routes is the subset of flexiManage's API the simulator serves.
func (s *Simulator) routeTable() []*endpoint {
	mk := func(p string, m map[string]handler) *endpoint {
		names := []string{}
		re := "^" + regexp.MustCompile(`\{([a-zA-Z]+)\}`).ReplaceAllStringFunc(p, func(seg string) string {
			names = append(names, seg[1:len(seg)-1])
			return `([^/]+)`
		}) + "/?$"
		return &endpoint{pattern: regexp.MustCompile(re), names: names, methods: m}
	}
	version := mk("/api/version", map[string]handler{"GET": (*Simulator).getVersion})
	version.noAuth = true
	return []*endpoint{
		version,
		mk("/api/organizations", map[string]handler{"GET": (*Simulator).getOrganizations}),
		mk("/api/devices", map[string]handler{"GET": (*Simulator).getDevices}),
		mk("/api/devices/apply", map[string]handler{"POST": (*Simulator).postApply}),
		mk("/api/devices/{id}", map[string]handler{"GET": (*Simulator).getDevice, "PUT": (*Simulator).putDevice}),
		mk("/api/devices/{id}/apply", map[string]handler{"POST": (*Simulator).postDeviceApply}),
		mk("/api/devices/{id}/status", map[string]handler{"GET": (*Simulator).getDeviceStatus}),
		mk("/api/devices/{id}/tunnels", map[string]handler{"GET": (*Simulator).getDeviceTunnels}),
		mk("/api/devices/{id}/staticroutes", map[string]handler{"GET": (*Simulator).getRoutes, "POST": (*Simulator).postRoute}),
		mk("/api/devices/{id}/staticroutes/{route}", map[string]handler{"DELETE": (*Simulator).deleteRoute, "PATCH": (*Simulator).patchRoute}),
		mk("/api/devices/{id}/dhcp", map[string]handler{"GET": (*Simulator).getDHCPs, "POST": (*Simulator).postDHCP}),
		mk("/api/devices/{id}/dhcp/{dhcpId}", map[string]handler{"GET": (*Simulator).getDHCP, "PUT": (*Simulator).putDHCP, "PATCH": (*Simulator).patchDHCP, "DELETE": (*Simulator).deleteDHCP}),
		mk("/api/tunnels", map[string]handler{"GET": (*Simulator).getTunnels}),
		mk("/api/pathlabels", map[string]handler{"GET": (*Simulator).getLabels, "POST": (*Simulator).postLabel}),
		mk("/api/pathlabels/{id}", map[string]handler{"GET": (*Simulator).getLabel, "PUT": (*Simulator).putLabel, "DELETE": (*Simulator).deleteLabel}),
		mk("/api/jobs", map[string]handler{"GET": (*Simulator).getJobs, "DELETE": (*Simulator).deleteJobs}),
		mk("/api/jobs/{id}", map[string]handler{"GET": (*Simulator).getJob, "DELETE": (*Simulator).deleteJob}),
	}
}

// maxBody is body-parser's default limit (100 kB) raised for large device
// bodies; flexiManage configures a larger limit than the default.
const maxBody = 10 << 20

// ServeHTTP runs flexiManage's request pipeline: rate limiter, injected
// faults, JSON body parser, authentication, route matching (404/405),
// permissions, then the handler.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	status := s.serve(w, r)
	s.log.Debug("simulator request", "method", r.Method, "path", r.URL.Path, "status", status, "duration", time.Since(start))
}

func (s *Simulator) serve(w http.ResponseWriter, r *http.Request) int {
	h := w.Header()
	if s.rl != nil {
		limit, remaining, reset, over := s.rl.hit(clientIP(r.RemoteAddr, r.Header.Get("X-Forwarded-For")), time.Now())
		h.Set("X-RateLimit-Limit", itoa(limit))
		h.Set("X-RateLimit-Remaining", itoa(remaining))
		h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
		if over {
			h.Set("Retry-After", itoa(s.rl.retryAfter))
			return writeErr(w, mwErr(http.StatusTooManyRequests, msgRateLimited))
		}
	}
	if strings.HasPrefix(r.URL.Path, "/api/") {
		fault, delay := s.faults.request()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return 0
			}
		}
		switch {
		case fault == http.StatusTooManyRequests:
			h.Set("Retry-After", itoa(s.retryAfter))
			return writeErr(w, mwErr(fault, msgRateLimited))
		case fault != 0:
			return writeErr(w, &apiError{status: fault, msg: http.StatusText(fault), middleware: fault != 500})
		}
	}

	c := &call{w: w, r: r, query: r.URL.Query(), header: http.Header{}, body: map[string]json.RawMessage{}}
	if err := c.parseBody(); err != nil {
		return writeErr(w, err)
	}
	if !strings.HasPrefix(r.URL.Path, "/api/") && r.URL.Path != "/api" {
		return writeErr(w, mwErr(http.StatusNotFound, "not found"))
	}
	var matched *endpoint
	for _, rt := range s.routes() {
		if m := rt.pattern.FindStringSubmatch(r.URL.Path); m != nil {
			if rt.noAuth && rt.methods[r.Method] == nil {
				continue
			}
			matched = rt
			c.params = map[string]string{}
			for i, n := range rt.names {
				v, err := url.PathUnescape(m[i+1])
				if err != nil {
					v = m[i+1]
				}
				c.params[n] = v
			}
			break
		}
	}
	if matched == nil || !matched.noAuth {
		key, err := s.authenticate(r)
		if err != nil {
			return writeErr(w, err)
		}
		c.key = key
	}
	if matched == nil {
		return writeErr(w, mwErr(http.StatusNotFound, "not found"))
	}
	hf := matched.methods[r.Method]
	if hf == nil {
		allow := make([]string, 0, len(matched.methods))
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			if matched.methods[m] != nil {
				allow = append(allow, m)
			}
		}
		h.Set("Allow", strings.Join(allow, ", "))
		return writeErr(w, mwErr(http.StatusMethodNotAllowed, r.Method+" method not allowed"))
	}
	if c.key != nil && c.key.role == RoleViewer && r.Method != http.MethodGet {
		return writeErr(w, mwErr(http.StatusForbidden, msgNoPerm))
	}
	rep, aerr := hf(s, c)
	for k, v := range c.header {
		h[k] = v
	}
	if aerr != nil {
		for k, v := range aerr.header {
			h[k] = v
		}
		return writeErr(w, aerr)
	}
	st := writeReply(w, rep)
	if rep.page != nil {
		s.pages.Put(rep.page) // a ResponseWriter does not keep what it was given
	}
	return st
}

func (s *Simulator) routes() []*endpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.routeCache == nil {
		s.routeCache = s.routeTable()
	}
	return s.routeCache
}

func writeErr(w http.ResponseWriter, e *apiError) int {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(e.status)
	w.Write(e.body())
	return e.status
}

func writeReply(w http.ResponseWriter, rep reply) int {
	if rep.status == 0 {
		rep.status = http.StatusOK
	}
	if rep.body == nil || rep.status == http.StatusNoContent {
		w.WriteHeader(rep.status)
		return rep.status
	}
	var b []byte
	switch v := rep.body.(type) {
	case json.RawMessage:
		b = v
	default:
		var err error
		b, err = json.Marshal(v)
		if err != nil {
			return writeErr(w, svcErr(500, "%s", err.Error()))
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(rep.status)
	w.Write(b)
	return rep.status
}

// parseBody reads a JSON body the way express.json does: only for a JSON
// content type, objects and arrays only, 400 with the parser's message
// otherwise. A body that is not an object leaves c.body empty.
func (c *call) parseBody() *apiError {
	if c.r.Body == nil {
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(c.r.Body, maxBody+1))
	if err != nil {
		return mwErr(http.StatusBadRequest, "request aborted")
	}
	if len(data) > maxBody {
		return mwErr(http.StatusRequestEntityTooLarge, "request entity too large")
	}
	ct := c.r.Header.Get("Content-Type")
	if !strings.Contains(strings.ToLower(ct), "json") {
		return nil
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil
	}
	if trimmed[0] != '{' && trimmed[0] != '[' {
		return mwErr(http.StatusBadRequest, fmt.Sprintf("Unexpected token %s in JSON at position 0", firstRune(trimmed)))
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return mwErr(http.StatusBadRequest, jsonErrMessage(err, trimmed))
	}
	if dec.More() {
		return mwErr(http.StatusBadRequest, fmt.Sprintf("Unexpected token in JSON at position %d", dec.InputOffset()))
	}
	if trimmed[0] == '{' {
		if err := json.Unmarshal(trimmed, &c.body); err != nil {
			return mwErr(http.StatusBadRequest, jsonErrMessage(err, trimmed))
		}
	}
	return nil
}

func firstRune(b []byte) string {
	r := []rune(string(b))
	if len(r) == 0 {
		return ""
	}
	return string(r[0])
}

func jsonErrMessage(err error, data []byte) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		pos := int(se.Offset) - 1
		if pos >= 0 && pos < len(data) {
			return fmt.Sprintf("Unexpected token %s in JSON at position %d", firstRune(data[pos:]), pos)
		}
		return "Unexpected end of JSON input"
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "Unexpected end of JSON input"
	}
	return err.Error()
}

// authenticate checks the bearer token (passport-jwt reads only the
// Authorization header).
func (s *Simulator) authenticate(r *http.Request) (*keyScope, *apiError) {
	auth := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || strings.TrimSpace(tok) == "" {
		return nil, mwErr(http.StatusUnauthorized, msgNoAuth)
	}
	s.mu.Lock()
	k := s.keys[strings.TrimSpace(tok)]
	s.mu.Unlock()
	if k == nil {
		return nil, mwErr(http.StatusUnauthorized, msgBadSignature)
	}
	if k.revoked {
		return nil, mwErr(http.StatusUnauthorized, msgRevoked)
	}
	return k, nil
}

// orgList resolves the org query parameter for this key, as
// getAccessTokenOrgList does. Call with s.mu held.
func (s *Simulator) orgListLocked(c *call, required bool) ([]string, *apiError) {
	org := c.query.Get("org")
	if org == "" {
		if required {
			return nil, svcErr(http.StatusInternalServerError, msgOrgRequired)
		}
		var all []string
		for _, o := range s.orgs {
			if c.key.orgs == nil || c.key.orgs[o.id] {
				all = append(all, o.id)
			}
		}
		return all, nil
	}
	if s.orgByID[org] != nil && (c.key.orgs == nil || c.key.orgs[org]) {
		return []string{org}, nil
	}
	return nil, nil
}

func inList(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// castObjectID mirrors mongoose's cast of an id that is not an ObjectId.
func castObjectID(v, path, model string) *apiError {
	if objectIDRE.MatchString(strings.ToLower(v)) && len(v) == 24 {
		return nil
	}
	return svcErr(http.StatusInternalServerError, "Cast to ObjectId failed for value \"%s\" (type string) at path \"%s\" for model \"%s\"", v, path, model)
}

// location builds flexiManage's jobs Location header for ids.
func location(r *http.Request, org string, ids []int64) string {
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p != "" {
		proto = strings.TrimSpace(strings.Split(p, ",")[0])
	}
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatInt(id, 10)
	}
	return fmt.Sprintf("%s://%s/api/jobs?status=all&ids=%s&org=%s", proto, r.Host, strings.Join(parts, "%2C"), org)
}

// queryInt parses offset/limit like parseInt: a leading number, else none.
func queryInt(q url.Values, k string) (int, bool) {
	v := q.Get(k)
	if v == "" {
		return 0, false
	}
	i := 0
	for i < len(v) && (v[i] >= '0' && v[i] <= '9' || (i == 0 && v[i] == '-')) {
		i++
	}
	n, err := strconv.Atoi(v[:i])
	if err != nil {
		return 0, false
	}
	return n, true
}
