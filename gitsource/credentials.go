package gitsource

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"
)

// defaultTokenUser is the basic-auth user name sent with Options.Token
// when Options.Username is empty. GitHub, GitLab, Gitea and Bitbucket all
// accept a token as the password with any non-empty user name.
const defaultTokenUser = "x-access-token"

// defaultSSHUser is the SSH user when neither the URL nor Options name one.
const defaultSSHUser = "git"

// sshConnectTimeout bounds the TCP connect to an SSH server when the context
// has no earlier deadline (go-git dials SSH without the context).
const sshConnectTimeout = 30 * time.Second

// credentials is the auth method for one Fetch, plus what error messages
// may say about it.
type credentials struct {
	auth transport.AuthMethod
	// user and what is the user name and the kind of secret ("token",
	// "password", "ssh key /path"), for messages; empty when anonymous.
	user string
	what string
	// knownHostsFile is the file host keys were checked against (SSH).
	knownHostsFile string
	scrub          scrubber

	mu         sync.Mutex
	hostKeyErr error  // the last error of the host key callback
	hostKeyFP  string // the SHA256 fingerprint of the key the server presented
}

func (c *credentials) given() bool { return c.what != "" }

func (c *credentials) describe() string {
	if c.user == "" {
		return "the " + c.what
	}
	return fmt.Sprintf("the %s for user %q", c.what, c.user)
}

// hostKeyFailure returns the fingerprint of the key the host key callback
// was last given and the error it returned.
func (c *credentials) hostKeyFailure() (fingerprint string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hostKeyFP, c.hostKeyErr
}

// newCredentials builds the auth method for rem from opts. It reads the
// SSH key and known_hosts files but never puts their content in an error.
func newCredentials(ctx context.Context, rem *remote, opts *Options, log *slog.Logger) (*credentials, error) {
	c := &credentials{}
	for _, s := range []string{opts.Token, rem.password, opts.SSHKeyPassphrase} {
		c.scrub.addSecret(s)
		c.scrub.addSecret(url.QueryEscape(s))
		c.scrub.addSecret(url.PathEscape(s))
		if s != "" {
			// The escaping a URL's userinfo uses.
			c.scrub.addSecret(strings.TrimPrefix(url.UserPassword("u", s).String(), "u:"))
		}
	}
	// A token is often sent as the user name (https://TOKEN@host/...);
	// short names without a password ("git", "deploy") are left readable.
	if rem.kind == transportHTTP && !rem.hasPassword && len(rem.user) >= 8 {
		c.scrub.addSecret(rem.user)
	}
	if rem.fetchURL != rem.safeURL {
		c.scrub.addReplacement(rem.fetchURL, rem.safeURL)
	}

	switch rem.kind {
	case transportHTTP:
		return c, c.setHTTP(ctx, rem, opts, log)
	case transportSSH:
		return c, c.setSSH(ctx, rem, opts, log)
	default:
		if opts.Token != "" || opts.SSHKeyFile != "" || rem.user != "" {
			log.DebugContext(ctx, "ignoring credentials for a URL that takes none",
				logKeyURL, rem.safeURL, logKeyTransport, rem.kind.String())
		}
		return c, nil
	}
}

func (c *credentials) setHTTP(ctx context.Context, rem *remote, opts *Options, log *slog.Logger) error {
	if opts.SSHKeyFile != "" {
		log.DebugContext(ctx, "ignoring the SSH key file for an http(s) URL", logKeyURL, rem.safeURL)
	}
	user, secret := opts.Username, opts.Token
	c.what = "token"
	switch {
	case secret != "":
		if user == "" {
			user = rem.user
		}
		if user == "" {
			user = defaultTokenUser
		}
	case rem.user != "" || rem.hasPassword:
		user, secret = rem.user, rem.password
		c.what = "credentials from the URL"
	default:
		c.what = ""
		return nil
	}
	// The username alone may be the token (https://TOKEN@host/...): only
	// name it in messages when it came from Options.
	if user == opts.Username || user == defaultTokenUser {
		c.user = user
	}
	u, _ := url.Parse(rem.safeURL)
	if u != nil && strings.EqualFold(u.Scheme, "http") && !isLoopback(rem.host) {
		return fmt.Errorf("%w: refusing to send credentials over plain http to %s (use https)",
			ErrInvalidOptions, rem.safeURL)
	}
	c.auth = &githttp.BasicAuth{Username: user, Password: secret}
	return nil
}

func (c *credentials) setSSH(ctx context.Context, rem *remote, opts *Options, log *slog.Logger) error {
	if opts.Token != "" {
		log.DebugContext(ctx, "ignoring the token for an ssh URL", logKeyURL, rem.safeURL)
	}
	if opts.SSHKeyFile == "" {
		return fmt.Errorf("%w: %s is an ssh URL: set an SSH key file", ErrInvalidOptions, rem.safeURL)
	}
	user := rem.user
	if user == "" {
		user = opts.Username
	}
	if user == "" {
		user = defaultSSHUser
	}
	c.user = user
	c.what = "SSH key " + opts.SSHKeyFile

	signer, err := loadSSHKey(opts.SSHKeyFile, opts.SSHKeyPassphrase)
	if err != nil {
		return err
	}

	a := &sshAuth{user: user, signer: signer, timeout: sshConnectTimeout}
	if deadline, ok := ctx.Deadline(); ok {
		if d := time.Until(deadline); d < a.timeout {
			a.timeout = max(d, time.Millisecond)
		}
	}
	switch {
	case opts.InsecureSkipHostKeyCheck:
		log.WarnContext(ctx, "SSH host key checking is disabled", logKeyURL, rem.safeURL)
		a.hostKeyCallback = ssh.InsecureIgnoreHostKey()
	case opts.KnownHostsFile == "":
		return fmt.Errorf("%w: %s is an ssh URL: set a known hosts file (or, unsafely, skip the host key check)",
			ErrInvalidOptions, rem.safeURL)
	default:
		db, err := knownhosts.NewDB(opts.KnownHostsFile)
		if err != nil {
			return fmt.Errorf("%w: read known hosts file: %w", ErrInvalidOptions, c.scrub.wrap(err))
		}
		c.knownHostsFile = opts.KnownHostsFile
		check := db.HostKeyCallback()
		a.hostKeyCallback = func(hostname string, remoteAddr net.Addr, key ssh.PublicKey) error {
			err := check(hostname, remoteAddr, key)
			c.mu.Lock()
			c.hostKeyErr, c.hostKeyFP = err, ssh.FingerprintSHA256(key)
			c.mu.Unlock()
			return err
		}
		a.hostKeyAlgorithms = db.HostKeyAlgorithms(rem.hostPort)
	}
	c.auth = a
	return nil
}

// loadSSHKey reads and parses a private key file. Errors name the file,
// never its content.
func loadSSHKey(file, passphrase string) (ssh.Signer, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%w: read SSH key file: %w", ErrInvalidOptions, err)
	}
	var signer ssh.Signer
	if passphrase != "" {
		signer, err = ssh.ParsePrivateKeyWithPassphrase(pem, []byte(passphrase))
	} else {
		signer, err = ssh.ParsePrivateKey(pem)
	}
	var missing *ssh.PassphraseMissingError
	switch {
	case err == nil:
		return signer, nil
	case errors.As(err, &missing):
		return nil, fmt.Errorf("%w: SSH key file %s is encrypted: set its passphrase", ErrInvalidOptions, file)
	case errors.Is(err, x509.IncorrectPasswordError):
		return nil, fmt.Errorf("%w: SSH key file %s: wrong passphrase", ErrInvalidOptions, file)
	default:
		// x/crypto's parse errors describe the format, not the content.
		return nil, fmt.Errorf("%w: SSH key file %s: %w", ErrInvalidOptions, file, err)
	}
}

// sshAuth is go-git's ssh.AuthMethod for one key, with the host key
// check, the host key algorithms and a connect timeout, which go-git's own
// PublicKeys method does not let us set together.
type sshAuth struct {
	user              string
	signer            ssh.Signer
	hostKeyCallback   ssh.HostKeyCallback
	hostKeyAlgorithms []string
	timeout           time.Duration
}

var _ gitssh.AuthMethod = (*sshAuth)(nil)

func (a *sshAuth) Name() string { return gitssh.PublicKeysName }

func (a *sshAuth) String() string { return fmt.Sprintf("user: %s, name: %s", a.user, a.Name()) }

func (a *sshAuth) ClientConfig() (*ssh.ClientConfig, error) {
	return &ssh.ClientConfig{
		User:              a.user,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(a.signer)},
		HostKeyCallback:   a.hostKeyCallback,
		HostKeyAlgorithms: a.hostKeyAlgorithms,
		Timeout:           a.timeout,
	}, nil
}
