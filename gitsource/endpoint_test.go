package gitsource

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestParseRemote(t *testing.T) {
	tests := []struct {
		raw          string
		wantKind     transportKind
		wantSafe     string
		wantFetch    string
		wantUser     string
		wantHostPort string
	}{
		{"https://github.com/acme/sdwan.git", transportHTTP, "https://github.com/acme/sdwan.git", "https://github.com/acme/sdwan.git", "", "github.com"},
		{"https://user:secret@host/repo.git", transportHTTP, "https://host/repo.git", "https://host/repo.git", "user", "host"},
		{"https://ghp_tokenonly1234@host:8443/repo.git", transportHTTP, "https://host:8443/repo.git", "https://host:8443/repo.git", "ghp_tokenonly1234", "host:8443"},
		{"http://127.0.0.1:3000/r.git", transportHTTP, "http://127.0.0.1:3000/r.git", "http://127.0.0.1:3000/r.git", "", "127.0.0.1:3000"},
		{"ssh://git@github.com/acme/sdwan.git", transportSSH, "ssh://github.com/acme/sdwan.git", "ssh://git@github.com/acme/sdwan.git", "git", "github.com:22"},
		{"ssh://deploy@10.0.0.1:2222/srv/git/r", transportSSH, "ssh://10.0.0.1:2222/srv/git/r", "ssh://deploy@10.0.0.1:2222/srv/git/r", "deploy", "10.0.0.1:2222"},
		{"git+ssh://host/r", transportSSH, "ssh://host/r", "ssh://host/r", "", "host:22"},
		{"git@github.com:acme/sdwan.git", transportSSH, "github.com:acme/sdwan.git", "git@github.com:acme/sdwan.git", "git", "github.com:22"},
		{"github.com:acme/sdwan.git", transportSSH, "github.com:acme/sdwan.git", "github.com:acme/sdwan.git", "", "github.com:22"},
		{"file:///srv/git/sdwan", transportLocal, "file:///srv/git/sdwan", "file:///srv/git/sdwan", "", ""},
		{"/srv/git/sdwan", transportLocal, "/srv/git/sdwan", "/srv/git/sdwan", "", ""},
		{"/srv/git/odd@name", transportLocal, "/srv/git/odd@name", "/srv/git/odd@name", "", ""},
		{"git://host/r.git", transportGit, "git://host/r.git", "git://host/r.git", "", "host"},
	}
	for _, tc := range tests {
		t.Run(tc.raw, func(t *testing.T) {
			r, err := parseRemote(tc.raw)
			if err != nil {
				t.Fatalf("parseRemote() error: %v", err)
			}
			if r.kind != tc.wantKind || r.safeURL != tc.wantSafe || r.fetchURL != tc.wantFetch || r.user != tc.wantUser {
				t.Errorf("parseRemote() = kind %v safe %q fetch %q user %q; want %v %q %q %q",
					r.kind, r.safeURL, r.fetchURL, r.user, tc.wantKind, tc.wantSafe, tc.wantFetch, tc.wantUser)
			}
			if tc.wantHostPort != "" && r.hostPort != tc.wantHostPort {
				t.Errorf("hostPort = %q, want %q", r.hostPort, tc.wantHostPort)
			}
			if strings.Contains(r.cacheName(), "secret") || strings.Contains(r.cacheName(), "ghp_") {
				t.Errorf("cacheName() = %q contains a credential", r.cacheName())
			}
		})
	}
}

func TestParseRemoteErrorsHideCredentials(t *testing.T) {
	tests := []struct {
		raw  string
		want string
	}{
		{"https://user:s3cr3t@host/%zz", "https://host/%zz"},
		{"ftp://user:s3cr3t@host/r", "ftp://host/r"},
		{"ssh://user:s3cr3t@host/r", "ssh://host/r"},
		{"https://user:s3cr3t@/r", "https:///r"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			_, err := parseRemote(tc.raw)
			if !errors.Is(err, ErrInvalidOptions) {
				t.Fatalf("parseRemote() error = %v, want ErrInvalidOptions", err)
			}
			if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "user") {
				t.Errorf("parseRemote() error %q contains the userinfo", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("parseRemote() error %q, want it to name %q", err, tc.want)
			}
		})
	}
}

func TestStripUserinfo(t *testing.T) {
	tests := map[string]string{
		"https://user:secret@host/repo.git":   "https://host/repo.git",
		"https://a@b:c@host/repo.git":         "https://host/repo.git",
		"https://host/path@with-at":           "https://host/path@with-at",
		"https://host/repo.git?x=a@b":         "https://host/repo.git?x=a@b",
		"git@github.com:acme/sdwan.git":       "github.com:acme/sdwan.git",
		"/srv/a@b:c":                          "/srv/a@b:c",
		"./rel@x:y":                           "./rel@x:y",
		"ssh://git@host:2222/r":               "ssh://host:2222/r",
		"https://x-access-token:t@host:1/r.g": "https://host:1/r.g",
	}
	for in, want := range tests {
		if got := stripUserinfo(in); got != want {
			t.Errorf("stripUserinfo(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCacheName(t *testing.T) {
	a, _ := parseRemote("https://user:one@github.com/acme/sdwan.git")
	b, _ := parseRemote("https://other:two@github.com/acme/sdwan.git")
	c, _ := parseRemote("https://github.com/acme/sdwan2.git")
	if a.cacheName() != b.cacheName() {
		t.Errorf("cacheName differs with credentials only: %q vs %q", a.cacheName(), b.cacheName())
	}
	if a.cacheName() == c.cacheName() {
		t.Errorf("two repositories share cacheName %q", a.cacheName())
	}
	if want := "github.com-acme-sdwan.git-"; !strings.HasPrefix(a.cacheName(), want) {
		t.Errorf("cacheName() = %q, want prefix %q", a.cacheName(), want)
	}
}

func TestScrubber(t *testing.T) {
	rem, err := parseRemote("https://bob:p%40ss%20w0rd@host/r.git")
	if err != nil {
		t.Fatal(err)
	}
	if rem.password != "p@ss w0rd" {
		t.Fatalf("password = %q, want the unescaped form", rem.password)
	}
	cred, err := newCredentials(t.Context(), rem, &Options{Token: "tok/en+1234567"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	msg := cred.scrub.wrap(errors.New("failed: p@ss w0rd p%40ss%20w0rd tok/en+1234567 tok%2Fen%2B1234567")).Error()
	for _, secret := range []string{"p@ss w0rd", "p%40ss%20w0rd", "tok/en+1234567", "tok%2Fen%2B1234567"} {
		if strings.Contains(msg, secret) {
			t.Errorf("scrubbed message %q still contains %q", msg, secret)
		}
	}
}
