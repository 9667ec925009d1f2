package fleximanage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Options configure a Client. BaseURL and Key are required; the rest have
// defaults.
type Options struct {
	// BaseURL is flexiManage's address without /api, e.g.
	// https://manage.flexiwan.com. A trailing /api is tolerated.
	BaseURL string
	// Key is the access key, sent as a bearer token.
	Key AccessKey
	// Org is the organization id sent as ?org= on every call that takes
	// one. It may be empty only to list organizations.
	Org string
	// HTTPClient sends the requests. Default: a client with a 60 s timeout.
	HTTPClient *http.Client
	// Budget limits the request rate. Default: NewBudget(300, 5m). Use the
	// same Budget for every Client of one flexiManage.
	Budget *Budget
	// NoBudget disables the request budget (tests of other things only).
	NoBudget bool
	// MaxAttempts bounds tries per request for retryable failures.
	// Default 5.
	MaxAttempts int
	// BackoffBase and BackoffMax shape the retry delay: full jitter over an
	// exponentially growing ceiling. Defaults 250 ms and 15 s.
	BackoffBase, BackoffMax time.Duration
	// MaxRetryAfter caps how long a 429's Retry-After is honoured before the
	// error is returned instead. Default 5 minutes.
	MaxRetryAfter time.Duration
	// PageSize is the limit used when paging through devices and tunnels.
	// Default 1000.
	PageSize int
	// Logger receives one debug line per request. Default: discard.
	Logger *slog.Logger
	// OnResponse, when set, is called after every HTTP exchange with the
	// method, the route (path with ids replaced by {id}) and the status (0
	// for a transport error). It is meant for metrics.
	OnResponse func(method, route string, status int)
}

// Client talks to one flexiManage organization. It is safe for concurrent
// use.
type Client struct {
	base        *url.URL
	key         AccessKey
	org         string
	hc          *http.Client
	budget      *Budget
	maxAttempts int
	backoffBase time.Duration
	backoffMax  time.Duration
	maxRetryAft time.Duration
	pageSize    int
	log         *slog.Logger
	onResponse  func(method, route string, status int)
}

// New returns a client, or an error if the options cannot work.
func New(opts Options) (*Client, error) {
	if opts.BaseURL == "" {
		return nil, errors.New("fleximanage: no server URL")
	}
	u, err := url.Parse(strings.TrimRight(opts.BaseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("fleximanage: server URL %q: want http(s)://host[:port]", opts.BaseURL)
	}
	u.Path = strings.TrimSuffix(strings.TrimRight(u.Path, "/"), "/api")
	u.RawQuery, u.Fragment, u.User = "", "", nil
	if opts.Key == "" {
		return nil, errors.New("fleximanage: no access key")
	}
	c := &Client{
		base:        u,
		key:         opts.Key,
		org:         opts.Org,
		hc:          opts.HTTPClient,
		budget:      opts.Budget,
		maxAttempts: opts.MaxAttempts,
		backoffBase: opts.BackoffBase,
		backoffMax:  opts.BackoffMax,
		maxRetryAft: opts.MaxRetryAfter,
		pageSize:    opts.PageSize,
		log:         opts.Logger,
		onResponse:  opts.OnResponse,
	}
	if c.hc == nil {
		c.hc = &http.Client{Timeout: 60 * time.Second}
	}
	if c.budget == nil && !opts.NoBudget {
		c.budget = NewBudget(DefaultBudgetRequests, DefaultBudgetWindow)
	}
	if c.maxAttempts <= 0 {
		c.maxAttempts = 5
	}
	if c.backoffBase <= 0 {
		c.backoffBase = 250 * time.Millisecond
	}
	if c.backoffMax <= 0 {
		c.backoffMax = 15 * time.Second
	}
	if c.maxRetryAft <= 0 {
		c.maxRetryAft = 5 * time.Minute
	}
	if c.pageSize <= 0 {
		c.pageSize = 1000
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Org returns the organization id the client sends.
func (c *Client) Org() string { return c.org }

// WithOrg returns a copy of the client for another organization, sharing the
// HTTP client and the budget.
func (c *Client) WithOrg(org string) *Client {
	cc := *c
	cc.org = org
	return &cc
}

// Budget returns the client's request budget (nil when unlimited).
func (c *Client) Budget() *Budget { return c.budget }

// request describes one call.
type request struct {
	op     string
	method string
	path   string // under /api, e.g. /devices/abc
	route  string // path with ids replaced, for metrics
	query  url.Values
	noOrg  bool // do not send ?org= (version, organizations)
	body   any
	out    any // decoded from a 2xx body when non-nil
}

// response is what a successful call leaves besides the decoded body.
type response struct {
	status int
	header http.Header
}

// do runs r with the budget and retries, and decodes the answer.
func (c *Client) do(ctx context.Context, r request) (*response, error) {
	var body []byte
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return nil, fmt.Errorf("%s: encode request: %w", r.op, err)
		}
		body = b
	}
	u := *c.base
	u.Path += "/api" + r.path
	q := url.Values{}
	for k, v := range r.query {
		q[k] = v
	}
	if !r.noOrg && c.org != "" {
		q.Set("org", c.org)
	}
	u.RawQuery = q.Encode()
	urlStr := u.String()
	apiPath := "/api" + r.path

	for attempt := 1; ; attempt++ {
		if err := c.budget.Wait(ctx); err != nil {
			return nil, err
		}
		resp, err := c.once(ctx, r, urlStr, body)
		if err == nil {
			return resp, nil
		}
		var ae *APIError
		if !errors.As(err, &ae) {
			return nil, err
		}
		ae.Op, ae.Method, ae.Path = r.op, r.method, apiPath
		if ctx.Err() != nil {
			return nil, ae
		}
		if !ae.Kind.Retryable() || attempt >= c.maxAttempts {
			return nil, ae
		}
		delay := c.backoff(attempt)
		if ae.Kind == KindRateLimited && ae.RetryAfter > 0 {
			if ae.RetryAfter > c.maxRetryAft {
				return nil, ae
			}
			delay = ae.RetryAfter
		}
		c.log.Debug("retrying flexiManage request", "op", r.op, "method", r.method, "path", apiPath,
			"attempt", attempt, "kind", ae.Kind.String(), "status", ae.Status, "delay", delay)
		if err := sleep(ctx, delay); err != nil {
			return nil, ae
		}
	}
}

// once sends one HTTP request and turns the answer into a response or an
// *APIError.
func (c *Client) once(ctx context.Context, r request, urlStr string, body []byte) (*response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, urlStr, rd)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.op, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key.Reveal())
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.observe(r, 0)
		c.log.Debug("flexiManage request failed", "op", r.op, "method", r.method, "path", r.path, "error", err)
		return nil, &APIError{Kind: KindTransient, Message: transportMessage(err), Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	c.observe(r, resp.StatusCode)
	c.log.Debug("flexiManage request", "op", r.op, "method", r.method, "path", r.path,
		"status", resp.StatusCode, "duration", time.Since(start))
	if err != nil {
		return nil, &APIError{Status: resp.StatusCode, Kind: KindTransient, Message: "reading the answer: " + transportMessage(err), Err: err}
	}
	if resp.StatusCode >= 300 {
		msg, d := parseErrorBody(data)
		ae := &APIError{Status: resp.StatusCode, Kind: classify(resp.StatusCode, msg), Message: msg, Data: d}
		if resp.StatusCode == http.StatusTooManyRequests {
			ae.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"))
		}
		return nil, ae
	}
	if r.out != nil && len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, r.out); err != nil {
			return nil, fmt.Errorf("%s: %s %s: decode answer: %w", r.op, r.method, "/api"+r.path, err)
		}
	}
	return &response{status: resp.StatusCode, header: resp.Header}, nil
}

func (c *Client) observe(r request, status int) {
	if c.onResponse != nil {
		c.onResponse(r.method, r.route, status)
	}
}

// transportMessage strips the URL net/http puts in its errors; the URL
// carries nothing secret, but the message reads better without it.
func transportMessage(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// backoff returns the delay before retry number attempt (1-based): full
// jitter over min(max, base·2^(attempt-1)).
func (c *Client) backoff(attempt int) time.Duration {
	ceil := c.backoffBase << (attempt - 1)
	if ceil <= 0 || ceil > c.backoffMax {
		ceil = c.backoffMax
	}
	return time.Duration(rand.Int64N(int64(ceil)) + 1)
}

func parseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// pathID escapes an id for use as a path segment.
func pathID(id string) string { return url.PathEscape(id) }

// BaseURL returns the server address the client talks to (without /api).
func (c *Client) BaseURL() string { return c.base.String() }
