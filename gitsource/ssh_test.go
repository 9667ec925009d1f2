package gitsource

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"
)

// sshGitServer is an SSH server on 127.0.0.1 that runs "git upload-pack"
// for "git-upload-pack '<path>'" exec requests, for one client key.
type sshGitServer struct {
	t       *testing.T
	git     string
	addr    string
	hostKey ssh.Signer
	config  *ssh.ServerConfig
	ln      net.Listener

	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newSSHGitServer(t *testing.T, clientKey ssh.PublicKey) *sshGitServer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hostKey, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	config := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if bytes.Equal(key.Marshal(), clientKey.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("key not authorised")
		},
	}
	config.AddHostKey(hostKey)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sshGitServer{t: t, git: gitPath(t), addr: ln.Addr().String(), hostKey: hostKey, config: config, ln: ln}
	s.wg.Go(s.serve)
	t.Cleanup(s.close)
	return s
}

func (s *sshGitServer) serve() {
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, conn)
		s.mu.Unlock()
		s.wg.Go(func() { s.handleConn(conn) })
	}
}

func (s *sshGitServer) close() {
	_ = s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *sshGitServer) handleConn(conn net.Conn) {
	defer conn.Close()
	_, chans, reqs, err := ssh.NewServerConn(conn, s.config)
	if err != nil {
		return // handshake or authentication failed: the client reports it
	}
	s.wg.Go(func() { ssh.DiscardRequests(reqs) })
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			continue
		}
		s.wg.Go(func() { s.handleSession(ch, chReqs) })
	}
}

func (s *sshGitServer) handleSession(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" {
			_ = req.Reply(req.Type == "env", nil)
			continue
		}
		var payload struct{ Command string }
		if err := ssh.Unmarshal(req.Payload, &payload); err != nil {
			_ = req.Reply(false, nil)
			return
		}
		repoPath, ok := strings.CutPrefix(payload.Command, "git-upload-pack ")
		if !ok {
			_ = req.Reply(false, nil)
			return
		}
		_ = req.Reply(true, nil)
		status := s.uploadPack(ch, strings.Trim(repoPath, "'"))
		_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
		return
	}
}

// uploadPack runs git upload-pack with the channel as stdin and stdout.
func (s *sshGitServer) uploadPack(ch ssh.Channel, repoPath string) uint32 {
	cmd := exec.Command(s.git, "upload-pack", repoPath)
	cmd.Env = gitEnv(s.t.TempDir())
	cmd.Stdout = ch
	cmd.Stderr = ch.Stderr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 1
	}
	if err := cmd.Start(); err != nil {
		return 1
	}
	// Not waited for: it ends when the client closes the channel (which
	// handleSession's deferred Close forces).
	go func() {
		_, _ = io.Copy(stdin, ch)
		_ = stdin.Close()
	}()
	if err := cmd.Wait(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return uint32(exitErr.ExitCode())
		}
		return 1
	}
	return 0
}

// writeKey writes an unencrypted OpenSSH private key file.
func writeKey(t *testing.T, dir, name string, key any) string {
	t.Helper()
	block, err := ssh.MarshalPrivateKey(key, "")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeKnownHosts(t *testing.T, dir, name string, lines ...string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// encryptedKeyFixture is an OpenSSH ed25519 key made for these tests with
// "ssh-keygen -t ed25519 -a 1 -N <encryptedKeyPassphrase>": one bcrypt
// round keeps parsing fast under -race. It is not a secret.
const (
	encryptedKeyFixture    = "testdata/id_ed25519_encrypted"
	encryptedKeyPassphrase = "correct horse battery staple"
)

func TestFetchSSH(t *testing.T) {
	const passphrase = encryptedKeyPassphrase
	r := newTestRepo(t)
	r.write("topology/site.yaml", "v: 1\n")
	first := r.commit("one")

	dir := t.TempDir()
	pemBytes, err := os.ReadFile(encryptedKeyFixture)
	if err != nil {
		t.Fatal(err)
	}
	clientPriv, err := ssh.ParseRawPrivateKeyWithPassphrase(pemBytes, []byte(passphrase))
	if err != nil {
		t.Fatal(err)
	}
	clientSigner, err := ssh.NewSignerFromKey(clientPriv)
	if err != nil {
		t.Fatal(err)
	}
	sshClientPub := clientSigner.PublicKey()
	keyFile := writeKey(t, dir, "id_ed25519", clientPriv)
	encryptedKeyFile, err := filepath.Abs(encryptedKeyFixture)
	if err != nil {
		t.Fatal(err)
	}
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	otherKeyFile := writeKey(t, dir, "id_other", otherPriv)

	srv := newSSHGitServer(t, sshClientPub)
	repoURL := "ssh://git@" + srv.addr + r.dir

	knownHosts := writeKnownHosts(t, dir, "known_hosts",
		knownhosts.Line([]string{"github.com"}, sshClientPub), // some other host first
		knownhosts.Line([]string{srv.addr}, srv.hostKey.PublicKey()))
	otherSigner, _ := ssh.NewSignerFromKey(otherPriv)
	mismatchHosts := writeKnownHosts(t, dir, "known_hosts_mismatch",
		knownhosts.Line([]string{srv.addr}, otherSigner.PublicKey()))
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecPub, _ := ssh.NewPublicKey(&ecKey.PublicKey)
	otherTypeHosts := writeKnownHosts(t, dir, "known_hosts_other_type",
		knownhosts.Line([]string{srv.addr}, ecPub))
	unknownHosts := writeKnownHosts(t, dir, "known_hosts_unknown",
		knownhosts.Line([]string{"example.com"}, srv.hostKey.PublicKey()))

	t.Run("known host, then an incremental fetch", func(t *testing.T) {
		log, logs := newTestLogger()
		opts := Options{URL: repoURL, Ref: "main", Path: "topology", SSHKeyFile: keyFile, KnownHostsFile: knownHosts, CacheDir: t.TempDir(), Logger: log}
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
		if strings.Contains(logs.String(), "git@") {
			t.Errorf("log contains the URL's userinfo:\n%s", logs)
		}
	})

	t.Run("default branch, encrypted key", func(t *testing.T) {
		snap := fetchOK(t, t.Context(), Options{URL: repoURL, SSHKeyFile: encryptedKeyFile, SSHKeyPassphrase: passphrase,
			KnownHostsFile: knownHosts, CacheDir: t.TempDir()})
		if snap.Ref != "refs/heads/main" {
			t.Errorf("Ref = %q, want refs/heads/main", snap.Ref)
		}
	})

	t.Run("host key check skipped explicitly", func(t *testing.T) {
		log, logs := newTestLogger()
		fetchOK(t, t.Context(), Options{URL: repoURL, SSHKeyFile: keyFile, KnownHostsFile: mismatchHosts,
			InsecureSkipHostKeyCheck: true, CacheDir: t.TempDir(), Logger: log})
		if !strings.Contains(logs.String(), "host key checking is disabled") {
			t.Errorf("no warning about the disabled host key check:\n%s", logs)
		}
	})

	tests := []struct {
		name    string
		opts    Options
		wantErr error
		want    []string
	}{
		{
			name:    "host key mismatch",
			opts:    Options{SSHKeyFile: keyFile, KnownHostsFile: mismatchHosts},
			wantErr: ErrHostKey,
			want:    []string{"host key mismatch", srv.addr, mismatchHosts},
		},
		{
			name:    "known host key of another type",
			opts:    Options{SSHKeyFile: keyFile, KnownHostsFile: otherTypeHosts},
			wantErr: ErrHostKey,
			want:    []string{"host key mismatch", otherTypeHosts},
		},
		{
			name:    "unknown host",
			opts:    Options{SSHKeyFile: keyFile, KnownHostsFile: unknownHosts},
			wantErr: ErrHostKey,
			want:    []string{"unknown host", srv.addr, unknownHosts},
		},
		{
			name:    "no known hosts file and no explicit skip",
			opts:    Options{SSHKeyFile: keyFile},
			wantErr: ErrInvalidOptions,
			want:    []string{"known hosts file"},
		},
		{
			name:    "missing known hosts file",
			opts:    Options{SSHKeyFile: keyFile, KnownHostsFile: filepath.Join(dir, "nope")},
			wantErr: ErrInvalidOptions,
			want:    []string{"known hosts file", "nope"},
		},
		{
			name:    "key not authorised",
			opts:    Options{SSHKeyFile: otherKeyFile, KnownHostsFile: knownHosts},
			wantErr: ErrAuthentication,
			want:    []string{"authentication refused", otherKeyFile, `user "git"`},
		},
		{
			name:    "encrypted key without passphrase",
			opts:    Options{SSHKeyFile: encryptedKeyFile, KnownHostsFile: knownHosts},
			wantErr: ErrInvalidOptions,
			want:    []string{"encrypted", encryptedKeyFile},
		},
		{
			name:    "wrong passphrase",
			opts:    Options{SSHKeyFile: encryptedKeyFile, SSHKeyPassphrase: "not " + passphrase, KnownHostsFile: knownHosts},
			wantErr: ErrInvalidOptions,
			want:    []string{"wrong passphrase"},
		},
		{
			name:    "missing key file",
			opts:    Options{SSHKeyFile: filepath.Join(dir, "missing"), KnownHostsFile: knownHosts},
			wantErr: ErrInvalidOptions,
			want:    []string{"SSH key file", "missing"},
		},
		{
			name:    "missing repository",
			opts:    Options{URL: "ssh://git@" + srv.addr + "/no/such/repo", SSHKeyFile: keyFile, KnownHostsFile: knownHosts},
			wantErr: ErrRepositoryNotFound,
			want:    []string{"repository not found", "ssh://" + srv.addr + "/no/such/repo"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			if opts.URL == "" {
				opts.URL = repoURL
			}
			opts.CacheDir = t.TempDir()
			_, err := Fetch(t.Context(), opts)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Fetch() error = %v, want %v", err, tc.wantErr)
			}
			msg := err.Error()
			t.Logf("error: %s", msg)
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("Fetch() error = %q, want it to contain %q", msg, w)
				}
			}
			if strings.Contains(msg, passphrase) || strings.Contains(msg, "PRIVATE KEY") {
				t.Errorf("Fetch() error leaks key material: %q", msg)
			}
		})
	}
}
