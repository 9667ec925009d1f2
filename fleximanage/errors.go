package fleximanage

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Kind classifies a failed call by what the caller should do about it.
type Kind uint8

const (
	// KindServer is a 5xx that is not one of the classified cases below,
	// typically a plain 500. The request may or may not have taken effect, so
	// it is never retried automatically.
	KindServer Kind = iota
	// KindTransient: the request did not get a definite answer (transport
	// error, 502, 503, 504). Retried by the client; safe to retry later.
	KindTransient
	// KindRateLimited: flexiManage answered 429. Retried after Retry-After.
	KindRateLimited
	// KindInvalid: the request was refused as malformed or not allowed by the
	// object's rules. Retrying the same request will fail the same way.
	KindInvalid
	// KindNotFound: the object (device, label, job, route) does not exist.
	KindNotFound
	// KindConflict: the live state disagrees with the request (a duplicate
	// name, a label or interface still used by tunnels, tunnels already
	// deleted). Re-read the live state, then decide again.
	KindConflict
	// KindPermission: the access key lacks the permission (403).
	KindPermission
	// KindAuth: the access key is missing, invalid or revoked (401).
	KindAuth
)

var kindNames = [...]string{
	KindServer:      "server",
	KindTransient:   "transient",
	KindRateLimited: "rate-limited",
	KindInvalid:     "invalid",
	KindNotFound:    "not-found",
	KindConflict:    "conflict",
	KindPermission:  "permission",
	KindAuth:        "auth",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Retryable reports whether the client retries this kind by itself.
func (k Kind) Retryable() bool { return k == KindTransient || k == KindRateLimited }

// APIError is every failure of a flexiManage call: an HTTP error answer or a
// transport failure (Status 0). It never holds the access key.
type APIError struct {
	Op         string          // what the client was doing, e.g. "list devices"
	Method     string          // HTTP method
	Path       string          // request path without the query, e.g. /api/devices
	Status     int             // HTTP status; 0 for a transport error
	Kind       Kind            // what to do about it
	Message    string          // flexiManage's "error" text, or the transport error's
	Data       json.RawMessage // the service error's "data", when present and not empty
	RetryAfter time.Duration   // from Retry-After on a 429
	Err        error           // the transport error, if any
}

func (e *APIError) Error() string {
	var b strings.Builder
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	b.WriteString(e.Method)
	b.WriteByte(' ')
	b.WriteString(e.Path)
	b.WriteString(": ")
	if e.Status != 0 {
		fmt.Fprintf(&b, "%d %s", e.Status, http.StatusText(e.Status))
		if e.Message != "" {
			b.WriteString(": ")
			b.WriteString(e.Message)
		}
	} else {
		b.WriteString(e.Message)
	}
	return b.String()
}

func (e *APIError) Unwrap() error { return e.Err }

// KindOf returns the Kind of the first *APIError in err's chain, and false if
// there is none.
func KindOf(err error) (Kind, bool) {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Kind, true
	}
	return 0, false
}

// IsKind reports whether err carries an *APIError of kind k.
func IsKind(err error, k Kind) bool {
	got, ok := KindOf(err)
	return ok && got == k
}

// errorBody covers both of flexiManage's error shapes: the middleware's
// {"error":msg} and the services' {"error":msg,"code":n,"data":{...}}.
type errorBody struct {
	Error json.RawMessage `json:"error"`
	Code  json.RawMessage `json:"code"`
	Data  json.RawMessage `json:"data"`
}

// parseErrorBody extracts the message and data from an error answer. A body
// that is not JSON yields its first line as the message.
func parseErrorBody(body []byte) (msg string, data json.RawMessage) {
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err != nil || eb.Error == nil {
		s := strings.TrimSpace(string(body))
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[:i]
		}
		if len(s) > 200 {
			s = s[:200]
		}
		return s, nil
	}
	var s string
	if json.Unmarshal(eb.Error, &s) == nil {
		msg = s
	} else {
		msg = string(eb.Error)
	}
	if d := strings.TrimSpace(string(eb.Data)); d != "" && d != "{}" && d != "null" {
		data = eb.Data
	}
	return msg, data
}

// The texts below are flexiManage's own (fleximanage/API.md); they are the
// only place where this package looks at message strings, so that callers
// never have to.
var (
	conflictTexts = []string{
		"Duplicated path labels names are not allowed",
		"Some tunnels were not found, try refresh and delete again",
		"used by existing tunnels",
		"is used by",
		"DHCP already configured for that interface",
		"Only one device change is allowed at any time",
		"Some static routes defined via removed tunnel",
	}
	notFoundTexts = []string{
		"doesnt exist",
		"Job not found in org",
		"Device not found",
		"Devices not found",
		"Static route not found",
		"DHCP ID not found",
	}
	invalidTexts = []string{
		"Organization query parameter",
		"Cast to ObjectId failed",
		"validation failed",
		"Apply method not found",
		"Unknown topology when creating tunnels",
		"Hub must be specified",
		"Hub device not found",
		"At least 2 devices must be selected",
		"MTU value must be between",
		"Device name must be set",
		"Device must be first approved",
		"Sync device failed, please approve device first",
	}
)

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// classify maps a status and message to a Kind.
func classify(status int, msg string) Kind {
	switch {
	case status == http.StatusUnauthorized:
		return KindAuth
	case status == http.StatusForbidden:
		return KindPermission
	case status == http.StatusTooManyRequests:
		return KindRateLimited
	case status == http.StatusBadGateway, status == http.StatusServiceUnavailable, status == http.StatusGatewayTimeout:
		return KindTransient
	case status == http.StatusNotFound:
		return KindNotFound
	case containsAny(msg, conflictTexts):
		return KindConflict
	case containsAny(msg, notFoundTexts):
		return KindNotFound
	case status >= 400 && status < 500:
		return KindInvalid
	case containsAny(msg, invalidTexts):
		return KindInvalid
	default:
		return KindServer
	}
}
