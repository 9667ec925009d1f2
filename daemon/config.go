package daemon

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"go.yaml.in/yaml/v3"

	"github.com/flexiwan-gitops/reconciler/internal/yamlcheck"
)

// Config is reconciler.yaml (DESIGN.md §6, "The daemon's config").
type Config struct {
	FlexiManage FlexiManageConfig `yaml:"flexiManage"`
	Git         GitConfig         `yaml:"git"`
	// Schedule is a cron expression (seconds optional) or a descriptor
	// such as "@every 5m". Default every 10 minutes.
	Schedule string   `yaml:"schedule"`
	Jitter   Duration `yaml:"jitter"`
	// Mode is apply (plan and apply) or detect (plan and report only).
	Mode         Mode        `yaml:"mode"`
	Prune        bool        `yaml:"prune"`
	MaxDeletions *int        `yaml:"maxDeletions"`
	Listen       string      `yaml:"listen"`
	Webhook      Webhook     `yaml:"webhook"`
	StateDir     string      `yaml:"stateDir"`
	Log          LogConfig   `yaml:"log"`
	Apply        ApplyConfig `yaml:"apply"`

	schedule cron.Schedule
}

// FlexiManageConfig is where flexiManage is and how to reach it.
type FlexiManageConfig struct {
	URL          string `yaml:"url"`
	TokenFile    string `yaml:"tokenFile"`
	TokenEnv     string `yaml:"tokenEnv"` // default FLEXIMANAGE_TOKEN when no tokenFile
	Organization string `yaml:"organization"`
	// Budget is the client's request budget (default 300 per 5 minutes).
	Budget *BudgetConfig `yaml:"budget"`
}

// BudgetConfig is a request budget.
type BudgetConfig struct {
	Requests int      `yaml:"requests"`
	Window   Duration `yaml:"window"`
}

// GitConfig is the desired-state repository.
type GitConfig struct {
	Repo           string `yaml:"repo"`
	Ref            string `yaml:"ref"`
	Path           string `yaml:"path"`
	TokenFile      string `yaml:"tokenFile"`
	TokenEnv       string `yaml:"tokenEnv"`
	SSHKeyFile     string `yaml:"sshKeyFile"`
	KnownHostsFile string `yaml:"knownHostsFile"`
}

// Webhook configures POST /webhook.
type Webhook struct {
	SecretFile string `yaml:"secretFile"`
	SecretEnv  string `yaml:"secretEnv"`
	// Branch whose pushes trigger a run; default git.ref when it names a
	// branch, else the repository's default branch is not known and every
	// push triggers.
	Branch string `yaml:"branch"`
}

// LogConfig is the log format and level.
type LogConfig struct {
	Format string `yaml:"format"` // text | json
	Level  string `yaml:"level"`  // debug | info | warn | error
}

// ApplyConfig tunes the executor.
type ApplyConfig struct {
	Concurrency   int      `yaml:"concurrency"`
	PhaseDeadline Duration `yaml:"phaseDeadline"`
	// ShutdownGrace bounds how long SIGTERM waits for the jobs of the
	// phase in progress.
	ShutdownGrace Duration `yaml:"shutdownGrace"`
}

// Mode is what a reconcile does with a plan.
type Mode string

const (
	ModeApply  Mode = "apply"
	ModeDetect Mode = "detect"
)

// Duration is a YAML duration such as 30s.
type Duration time.Duration

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil || v < 0 {
		// A *yaml.TypeError lets the decoder go on, so that every other
		// problem of the file is reported too (any other error stops it
		// half way and leaves the config empty).
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q is not a duration (such as 30s or 5m)", n.Line, n.Value)}}
	}
	*d = Duration(v)
	return nil
}

// D returns the duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Defaults of the config.
const (
	DefaultSchedule = "*/10 * * * *"
	DefaultListen   = "127.0.0.1:8080"
)

// cronParser accepts five fields, six with seconds, and descriptors.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// LoadConfig reads and checks a config file: strict YAML, defaults, and
// every problem reported with its position.
func LoadConfig(name string, r io.Reader) (*Config, error) {
	data, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var c Config
	root, err := yamlcheck.Decode(name, data, &c)
	var errs yamlcheck.Errors
	if err != nil && !errors.As(err, &errs) {
		return nil, err
	}
	if root == nil && len(errs) == 0 {
		return nil, yamlcheck.Errors{{File: name, Msg: "the config is empty"}}
	}
	at := func(format string, path []any, args ...any) {
		n := yamlcheck.Find(root, path...)
		errs = append(errs, yamlcheck.At(name, n, format, args...))
	}
	if c.FlexiManage.URL == "" {
		at("flexiManage.url is required", []any{"flexiManage"})
	} else if !strings.HasPrefix(c.FlexiManage.URL, "http://") && !strings.HasPrefix(c.FlexiManage.URL, "https://") {
		at("flexiManage.url %q: want http(s)://host", []any{"flexiManage", "url"}, c.FlexiManage.URL)
	}
	if c.FlexiManage.Organization == "" {
		at("flexiManage.organization is required (an id or a name)", []any{"flexiManage"})
	}
	if c.FlexiManage.TokenFile != "" && c.FlexiManage.TokenEnv != "" {
		at("give flexiManage.tokenFile or flexiManage.tokenEnv, not both", []any{"flexiManage", "tokenEnv"})
	}
	if c.FlexiManage.TokenFile == "" && c.FlexiManage.TokenEnv == "" {
		c.FlexiManage.TokenEnv = "FLEXIMANAGE_TOKEN"
	}
	if b := c.FlexiManage.Budget; b != nil && (b.Requests < 0 || (b.Requests > 0 && b.Window <= 0)) {
		at("flexiManage.budget: requests must be 0 (no budget) or more, with a window", []any{"flexiManage", "budget"})
	}
	if c.Git.Repo == "" {
		at("git.repo is required", []any{"git"})
	}
	if c.Git.TokenFile != "" && c.Git.TokenEnv != "" {
		at("give git.tokenFile or git.tokenEnv, not both", []any{"git", "tokenEnv"})
	}
	if c.Git.SSHKeyFile != "" && c.Git.KnownHostsFile == "" {
		at("git.knownHostsFile is required with git.sshKeyFile (host keys are always checked)", []any{"git", "sshKeyFile"})
	}
	if c.Schedule == "" {
		c.Schedule = DefaultSchedule
	}
	if s, err := cronParser.Parse(c.Schedule); err != nil {
		at("schedule %q: %v", []any{"schedule"}, c.Schedule, err)
	} else if every, ok := strings.CutPrefix(c.Schedule, "@every "); ok && !atLeastOneSecond(every) {
		// cron silently turns these into "every second".
		at("schedule %q: the interval must be 1s or more", []any{"schedule"}, c.Schedule)
	} else {
		c.schedule = s
	}
	switch c.Mode {
	case "":
		c.Mode = ModeApply
	case ModeApply, ModeDetect:
	default:
		at("mode %q: want apply or detect", []any{"mode"}, c.Mode)
	}
	if c.MaxDeletions != nil && *c.MaxDeletions < 0 {
		at("maxDeletions must be 0 or more", []any{"maxDeletions"})
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		at("listen %q: want host:port", []any{"listen"}, c.Listen)
	}
	if c.Webhook.SecretFile != "" && c.Webhook.SecretEnv != "" {
		at("give webhook.secretFile or webhook.secretEnv, not both", []any{"webhook", "secretEnv"})
	}
	if c.StateDir == "" {
		at("stateDir is required (the git cache and the journal live there)", []any{})
	}
	switch c.Log.Format {
	case "":
		c.Log.Format = "json"
	case "text", "json":
	default:
		at("log.format %q: want text or json", []any{"log", "format"}, c.Log.Format)
	}
	switch strings.ToLower(c.Log.Level) {
	case "":
		c.Log.Level = "info"
	case "debug", "info", "warn", "error":
	default:
		at("log.level %q: want debug, info, warn or error", []any{"log", "level"}, c.Log.Level)
	}
	if c.Apply.Concurrency < 0 {
		at("apply.concurrency must be positive", []any{"apply", "concurrency"})
	}
	if c.Apply.ShutdownGrace == 0 {
		c.Apply.ShutdownGrace = Duration(2 * time.Minute)
	}
	if len(errs) > 0 {
		return nil, errs.Err()
	}
	return &c, nil
}

// LoadConfigFile reads a config file.
func LoadConfigFile(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return LoadConfig(path, f)
}

// Next is the next scheduled run after t.
func (c *Config) Next(t time.Time) time.Time { return c.schedule.Next(t) }

// WebhookBranch is the branch whose pushes trigger a run ("" = any).
func (c *Config) WebhookBranch() string {
	if c.Webhook.Branch != "" {
		return c.Webhook.Branch
	}
	r := c.Git.Ref
	switch {
	case r == "":
		return ""
	case strings.HasPrefix(r, "refs/heads/"):
		return strings.TrimPrefix(r, "refs/heads/")
	case strings.HasPrefix(r, "refs/tags/"), looksLikeSHA(r):
		return "" // a tag or a commit never moves with a push; any push may fix an error
	}
	return r
}

func atLeastOneSecond(s string) bool {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	return err == nil && d >= time.Second
}

func looksLikeSHA(s string) bool {
	if len(s) < 7 || len(s) > 40 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

// readSecret reads a secret from a file or an environment variable; the
// value never appears in errors.
func readSecret(file, env, what string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			return "", fmt.Errorf("%s: %s is empty", what, file)
		}
		return s, nil
	}
	if env != "" {
		s := strings.TrimSpace(os.Getenv(env))
		if s == "" {
			return "", fmt.Errorf("%s: environment variable %s is not set", what, env)
		}
		return s, nil
	}
	return "", nil
}
