package gitsource

import (
	"context"
	"crypto/subtle"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// newHTTPGitServer serves the repositories under root with
// "git http-backend" (smart HTTP) on 127.0.0.1, behind HTTP basic auth
// that accepts any user with the given token as password.
func newHTTPGitServer(t *testing.T, root, token string) *httptest.Server {
	t.Helper()
	home := t.TempDir()
	backend := &cgi.Handler{
		Path: gitPath(t),
		Args: []string{"http-backend"},
		Dir:  root,
		Env: []string{
			"GIT_PROJECT_ROOT=" + root,
			"GIT_HTTP_EXPORT_ALL=1",
			"HOME=" + home,
			"GIT_CONFIG_NOSYSTEM=1",
			"GIT_CONFIG_GLOBAL=" + os.DevNull,
		},
		InheritEnv: []string{"PATH"},
		Stderr:     io.Discard, // "Not a git repository" for the missing-repo case
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pass, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(pass), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestFetchHTTP(t *testing.T) {
	const token = "ghp_T0kenThatMustNeverLeak42"
	r := newTestRepo(t)
	r.write("topology/site.yaml", "v: 1\n")
	first := r.commit("one")
	srv := newHTTPGitServer(t, filepath.Dir(r.dir), token)
	repoURL := srv.URL + "/" + filepath.Base(r.dir)
	u, err := url.Parse(repoURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("someone", token)
	urlWithToken := u.String()
	u.User = url.UserPassword("someone", "wrong-"+token[:5])
	urlWithWrongToken := u.String()

	t.Run("token, then an incremental fetch", func(t *testing.T) {
		log, logs := newTestLogger()
		opts := Options{URL: repoURL, Ref: "main", Path: "topology", Token: token, CacheDir: t.TempDir(), Logger: log}
		snap := fetchOK(t, t.Context(), opts)
		if snap.Revision != first || readFile(t, snap, "site.yaml") != "v: 1\n" {
			t.Errorf("first fetch = %s, want %s with v: 1", snap.Revision, first)
		}
		r.write("topology/site.yaml", "v: 2\n")
		second := r.commit("two")
		snap = fetchOK(t, t.Context(), opts)
		if snap.Revision != second || readFile(t, snap, "site.yaml") != "v: 2\n" {
			t.Errorf("second fetch = %s, want %s with v: 2", snap.Revision, second)
		}
		if n := strings.Count(logs.String(), "cloning repository"); n != 1 {
			t.Errorf("logged %d clones, want 1", n)
		}
		if strings.Contains(logs.String(), token) {
			t.Errorf("log contains the token:\n%s", logs)
		}
	})

	t.Run("credentials in the URL and the default branch", func(t *testing.T) {
		log, logs := newTestLogger()
		snap := fetchOK(t, t.Context(), Options{URL: urlWithToken, CacheDir: t.TempDir(), Logger: log})
		if snap.Ref != "refs/heads/main" {
			t.Errorf("Ref = %q, want refs/heads/main", snap.Ref)
		}
		if strings.Contains(logs.String(), token) || strings.Contains(logs.String(), "someone") {
			t.Errorf("log contains the URL's credentials:\n%s", logs)
		}
		if !strings.Contains(logs.String(), repoURL) {
			t.Errorf("log does not name %s:\n%s", repoURL, logs)
		}
	})

	tests := []struct {
		name    string
		opts    Options
		wantErr error
		want    string
	}{
		{"no token", Options{URL: repoURL}, ErrAuthentication, "authentication required"},
		{"wrong token", Options{URL: repoURL, Token: "wrong-" + token[:5]}, ErrAuthentication, "authentication refused"},
		{"wrong token with user", Options{URL: repoURL, Token: "wrong-" + token[:5], Username: "deploy"}, ErrAuthentication, `user "deploy"`},
		{"wrong token in the URL", Options{URL: urlWithWrongToken}, ErrAuthentication, "authentication refused"},
		{"token in the URL, wrong token given", Options{URL: urlWithToken, Token: "wrong-" + token[:5]}, ErrAuthentication, "authentication refused"},
		{"missing repository", Options{URL: srv.URL + "/no-such-repo", Token: token}, ErrRepositoryNotFound, "repository not found"},
		{"missing ref", Options{URL: repoURL, Token: token, Ref: "nope"}, ErrRefNotFound, `"nope" not found`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			log, logs := newTestLogger()
			opts := tc.opts
			opts.CacheDir = t.TempDir()
			opts.Logger = log
			_, err := Fetch(t.Context(), opts)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Fetch() error = %v, want %v", err, tc.wantErr)
			}
			msg := err.Error()
			t.Logf("error: %s", msg)
			if !strings.Contains(msg, tc.want) {
				t.Errorf("Fetch() error = %q, want it to contain %q", msg, tc.want)
			}
			if !strings.Contains(msg, srv.URL) {
				t.Errorf("Fetch() error = %q, want it to name the server %s", msg, srv.URL)
			}
			for _, secret := range []string{token, "wrong-" + token[:5], "someone"} {
				if strings.Contains(msg, secret) {
					t.Errorf("Fetch() error contains %q: %q", secret, msg)
				}
				if strings.Contains(logs.String(), secret) {
					t.Errorf("log contains %q:\n%s", secret, logs)
				}
			}
		})
	}
}

func TestFetchHTTPHonoursContext(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // a server that never answers
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Fetch(ctx, Options{URL: srv.URL + "/repo.git", CacheDir: t.TempDir()})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Fetch() error = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Fetch() returned after %v, want about 200ms", d)
	}
}

func TestFetchUnreachableServerKeepsNetworkError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now

	repoURL := "http://user:pa55word-never-shown@" + addr + "/repo.git"
	_, err = Fetch(t.Context(), Options{URL: repoURL, CacheDir: t.TempDir()})
	if err == nil {
		t.Fatal("Fetch() succeeded against a closed port")
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Errorf("Fetch() error = %v, want a *net.OpError inside (so callers can retry)", err)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "fetch http://"+addr+"/repo.git: ") || strings.Contains(msg, "pa55word") || strings.Contains(msg, "\n") {
		t.Errorf("Fetch() error = %q, want one line naming http://%s/repo.git without credentials", msg, addr)
	}
}
