package gitsource

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
)

// transportKind is the protocol family of a repository URL.
type transportKind uint8

const (
	transportLocal transportKind = iota + 1 // a local path or file:// URL
	transportHTTP                           // http:// or https://
	transportSSH                            // ssh:// or scp-like user@host:path
	transportGit                            // git:// (unauthenticated, unencrypted)
)

func (k transportKind) String() string {
	switch k {
	case transportLocal:
		return "file"
	case transportHTTP:
		return "http"
	case transportSSH:
		return "ssh"
	case transportGit:
		return "git"
	default:
		return "unknown"
	}
}

// remote is a parsed Options.URL.
type remote struct {
	kind transportKind
	// fetchURL is what go-git dials. It never holds a password or token:
	// those travel in the auth method. For SSH it keeps the user name.
	fetchURL string
	// safeURL has no userinfo at all. It is the only form used in errors,
	// logs and the cache key.
	safeURL string
	// user and password come from the URL's userinfo, if any.
	user        string
	password    string
	hasPassword bool
	// hostPort is host:port for SSH (port 22 by default), host[:port] otherwise.
	hostPort string
	// host is the bare host name (no port, no brackets).
	host string
}

// parseRemote classifies raw and splits the credentials off it. Its errors
// never contain the userinfo of raw.
func parseRemote(raw string) (*remote, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, fmt.Errorf("%w: repository URL is empty", ErrInvalidOptions)
	}
	if strings.Contains(raw, "://") {
		return parseURLRemote(raw)
	}
	if ep, err := transport.NewEndpoint(raw); err == nil && ep.Protocol == "ssh" {
		return parseSCPRemote(raw, ep)
	}
	// A local path. Make it absolute so the cache key does not depend on
	// the working directory.
	abs, err := filepath.Abs(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: repository path %s: %w", ErrInvalidOptions, raw, err)
	}
	return &remote{kind: transportLocal, fetchURL: abs, safeURL: abs}, nil
}

func parseURLRemote(raw string) (*remote, error) {
	safe := stripUserinfo(raw)
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's error quotes the whole input, credentials included.
		return nil, fmt.Errorf("%w: repository URL %s is not a valid URL", ErrInvalidOptions, safe)
	}
	r := &remote{}
	switch strings.ToLower(u.Scheme) {
	case "https", "http":
		r.kind = transportHTTP
	case "ssh", "git+ssh", "ssh+git":
		r.kind = transportSSH
		u.Scheme = "ssh"
	case "file":
		r.kind = transportLocal
	case "git":
		r.kind = transportGit
	default:
		return nil, fmt.Errorf("%w: repository URL %s: unsupported scheme %q (use https, ssh, file or a local path)",
			ErrInvalidOptions, safe, u.Scheme)
	}
	if u.User != nil {
		r.user = u.User.Username()
		r.password, r.hasPassword = u.User.Password()
	}
	if r.kind == transportSSH && r.hasPassword {
		return nil, fmt.Errorf("%w: repository URL %s: passwords in ssh URLs are not supported (use an SSH key file)",
			ErrInvalidOptions, stripUserinfo(raw))
	}
	u.User = nil
	r.safeURL = u.String()
	r.host = u.Hostname()
	r.hostPort = u.Host

	switch r.kind {
	case transportLocal:
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("%w: repository URL %s: file URLs must not name a host", ErrInvalidOptions, r.safeURL)
		}
		if u.Path == "" {
			return nil, fmt.Errorf("%w: repository URL %s has no path", ErrInvalidOptions, r.safeURL)
		}
		r.fetchURL = "file://" + u.Path
		r.safeURL = r.fetchURL
	case transportSSH:
		port := u.Port()
		if port == "" {
			port = "22"
		}
		r.hostPort = net.JoinHostPort(r.host, port)
		withUser := *u
		if r.user != "" {
			withUser.User = url.User(r.user)
		}
		r.fetchURL = withUser.String()
	default:
		r.fetchURL = r.safeURL
	}
	if r.host == "" && r.kind != transportLocal {
		return nil, fmt.Errorf("%w: repository URL %s has no host", ErrInvalidOptions, r.safeURL)
	}
	return r, nil
}

// parseSCPRemote handles the scp-like form [user@]host:path.
func parseSCPRemote(raw string, ep *transport.Endpoint) (*remote, error) {
	if strings.Contains(ep.User, ":") {
		return nil, fmt.Errorf("%w: repository URL %s: passwords in ssh URLs are not supported (use an SSH key file)",
			ErrInvalidOptions, stripUserinfo(raw))
	}
	port := ep.Port
	if port <= 0 {
		port = 22
	}
	return &remote{
		kind:     transportSSH,
		fetchURL: raw,
		safeURL:  stripUserinfo(raw),
		user:     ep.User,
		host:     ep.Host,
		hostPort: net.JoinHostPort(ep.Host, strconv.Itoa(port)),
	}, nil
}

// stripUserinfo removes "user[:password]@" from a URL or an scp-like
// address by hand, so it works on strings url.Parse rejects too. Local
// paths (which may contain '@') are returned as they are.
func stripUserinfo(raw string) string {
	if i := strings.Index(raw, "://"); i >= 0 {
		rest := raw[i+3:]
		end := strings.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
			return raw[:i+3] + rest[at+1:]
		}
		return raw
	}
	if strings.HasPrefix(raw, "/") || strings.HasPrefix(raw, ".") {
		return raw
	}
	// scp-like: the userinfo ends at the last '@' before the first ':'.
	colon := strings.Index(raw, ":")
	if colon < 0 {
		return raw
	}
	if at := strings.LastIndex(raw[:colon], "@"); at >= 0 {
		return raw[at+1:]
	}
	return raw
}

// cacheName is the directory name of the cached clone of r inside
// Options.CacheDir: a readable slug of the URL plus a hash of it, so two
// URLs never share a clone and a token change keeps the same clone.
func (r *remote) cacheName() string {
	sum := sha256.Sum256([]byte(r.safeURL))
	var slug strings.Builder
	lastDash := true
	for _, c := range r.safeURL {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_'
		switch {
		case ok:
			slug.WriteRune(c)
			lastDash = false
		case !lastDash:
			slug.WriteByte('-')
			lastDash = true
		}
	}
	s := strings.Trim(slug.String(), "-.")
	for _, prefix := range []string{"https-", "http-", "ssh-", "file-", "git-"} {
		s = strings.TrimPrefix(s, prefix)
	}
	if len(s) > 48 {
		s = strings.Trim(s[len(s)-48:], "-.")
	}
	if s == "" {
		s = "repo"
	}
	return s + "-" + hex.EncodeToString(sum[:8])
}

// isLoopback reports whether host names this machine.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Redact returns a repository URL or scp-like address without its
// credentials, for messages, plans and status pages.
func Redact(raw string) string { return stripUserinfo(raw) }
