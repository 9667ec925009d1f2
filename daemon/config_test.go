package daemon_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flexiwan-gitops/reconciler/daemon"
	"github.com/flexiwan-gitops/reconciler/internal/yamlcheck"
)

// minimalConfig has only the required fields.
const minimalConfig = `flexiManage:
  url: https://manage.example.com
  organization: acme
git:
  repo: https://git.example.com/acme/sdwan.git
stateDir: /var/lib/reconciler
`

func loadConfig(t *testing.T, text string) (*daemon.Config, error) {
	t.Helper()
	return daemon.LoadConfig("reconciler.yaml", strings.NewReader(text))
}

// configProblems returns the problems LoadConfig reports, one string each.
func configProblems(t *testing.T, text string) []string {
	t.Helper()
	cfg, err := loadConfig(t, text)
	if err == nil {
		t.Fatalf("LoadConfig accepted an invalid config: %+v\n%s", cfg, text)
	}
	if cfg != nil {
		t.Errorf("LoadConfig returned a config with an error")
	}
	var errs yamlcheck.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("LoadConfig error is %T (%v), want yamlcheck.Errors", err, err)
	}
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

func TestLoadConfigDefaults(t *testing.T) {
	cfg, err := loadConfig(t, minimalConfig)
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	type defaults struct {
		Schedule      string
		Listen        string
		Mode          daemon.Mode
		LogFormat     string
		LogLevel      string
		ShutdownGrace time.Duration
		TokenEnv      string
		Jitter        time.Duration
		Prune         bool
		MaxDeletions  *int
	}
	got := defaults{cfg.Schedule, cfg.Listen, cfg.Mode, cfg.Log.Format, cfg.Log.Level, cfg.Apply.ShutdownGrace.D(),
		cfg.FlexiManage.TokenEnv, cfg.Jitter.D(), cfg.Prune, cfg.MaxDeletions}
	want := defaults{
		Schedule: "*/10 * * * *", Listen: "127.0.0.1:8080", Mode: daemon.ModeApply, LogFormat: "json", LogLevel: "info",
		ShutdownGrace: 2 * time.Minute, TokenEnv: "FLEXIMANAGE_TOKEN",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	if cfg.Schedule != daemon.DefaultSchedule || cfg.Listen != daemon.DefaultListen {
		t.Errorf("defaults differ from the exported constants")
	}
	// The default schedule runs every ten minutes.
	at := time.Date(2026, 3, 1, 12, 4, 59, 0, time.UTC)
	if got, want := cfg.Next(at), time.Date(2026, 3, 1, 12, 10, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Next(%s) = %s, want %s", at, got, want)
	}
}

func TestLoadConfigFull(t *testing.T) {
	cfg, err := loadConfig(t, `flexiManage:
  url: https://manage.flexiwan.com
  tokenFile: /run/secrets/flexiwan-token
  organization: 5f3c0a000000000000000000
  budget: {requests: 100, window: 1m}
git:
  repo: git@github.com:acme/sdwan.git
  ref: main
  path: topology
  sshKeyFile: /run/secrets/id_ed25519
  knownHostsFile: /etc/ssh/ssh_known_hosts
schedule: "*/5 * * * *"
jitter: 30s
mode: detect
prune: true
maxDeletions: 3
listen: 0.0.0.0:9090
webhook:
  secretFile: /run/secrets/webhook-secret
  branch: production
stateDir: /var/lib/reconciler
log: {format: text, level: debug}
apply: {concurrency: 2, phaseDeadline: 5m, shutdownGrace: 45s}
`)
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	if cfg.Mode != daemon.ModeDetect || !cfg.Prune || cfg.MaxDeletions == nil || *cfg.MaxDeletions != 3 ||
		cfg.Jitter.D() != 30*time.Second || cfg.Apply.ShutdownGrace.D() != 45*time.Second ||
		cfg.Apply.PhaseDeadline.D() != 5*time.Minute || cfg.Listen != "0.0.0.0:9090" ||
		cfg.FlexiManage.TokenEnv != "" || cfg.FlexiManage.Budget == nil || cfg.FlexiManage.Budget.Window.D() != time.Minute ||
		cfg.Log.Format != "text" || cfg.Log.Level != "debug" || cfg.WebhookBranch() != "production" {
		t.Errorf("LoadConfig = %+v", cfg)
	}
}

// Every problem is reported at once, each with its position.
func TestLoadConfigReportsEveryProblem(t *testing.T) {
	got := configProblems(t, `flexiManage:
  url: ftp://manage.example.com
  tokn: abc
git:
  sshKeyFile: /k
schedule: "61 * * * *"
mode: fix
jitter: soon
listen: nowhere
log: {format: xml, level: loud}
apply: {concurrency: -1}
maxDeletions: -2
`)
	want := []string{
		`reconciler.yaml:1:1: stateDir is required (the git cache and the journal live there)`,
		`reconciler.yaml:2:3: flexiManage.organization is required (an id or a name)`,
		`reconciler.yaml:2:8: flexiManage.url "ftp://manage.example.com": want http(s)://host`,
		`reconciler.yaml:3:3: unknown key "tokn" (known keys: budget, organization, tokenEnv, tokenFile, url)`,
		`reconciler.yaml:5:3: git.repo is required`,
		`reconciler.yaml:5:15: git.knownHostsFile is required with git.sshKeyFile (host keys are always checked)`,
		`reconciler.yaml:6:11: schedule "61 * * * *": end of range (61) above maximum (59): 61`,
		`reconciler.yaml:7:7: mode "fix": want apply or detect`,
		`reconciler.yaml:8:1: "soon" is not a duration (such as 30s or 5m)`,
		`reconciler.yaml:9:9: listen "nowhere": want host:port`,
		`reconciler.yaml:10:15: log.format "xml": want text or json`,
		`reconciler.yaml:10:27: log.level "loud": want debug, info, warn or error`,
		`reconciler.yaml:11:22: apply.concurrency must be positive`,
		`reconciler.yaml:12:15: maxDeletions must be 0 or more`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestLoadConfigProblems(t *testing.T) {
	// withRequired puts the required fields around a fragment.
	tests := map[string]struct {
		text string
		want string // a substring of one problem, with its position
	}{
		"empty": {
			text: "",
			want: "reconciler.yaml: the config is empty",
		},
		"comments only": {
			text: "# nothing yet\n",
			want: "the config is empty",
		},
		"not YAML": {
			text: "flexiManage: [\n",
			want: "reconciler.yaml:",
		},
		"unknown top-level key": {
			text: minimalConfig + "schedules: \"@hourly\"\n",
			want: `reconciler.yaml:7:1: unknown key "schedules"`,
		},
		"unknown nested key": {
			text: minimalConfig + "webhook: {secret: abc}\n",
			want: `reconciler.yaml:7:11: unknown key "secret"`,
		},
		"missing url": {
			text: "flexiManage: {organization: acme}\ngit: {repo: /r}\nstateDir: /s\n",
			want: "flexiManage.url is required",
		},
		"missing organization": {
			text: "flexiManage: {url: https://m.example.com}\ngit: {repo: /r}\nstateDir: /s\n",
			want: "flexiManage.organization is required",
		},
		"missing repo": {
			text: "flexiManage: {url: https://m.example.com, organization: acme}\nstateDir: /s\n",
			want: "git.repo is required",
		},
		"missing stateDir": {
			text: "flexiManage: {url: https://m.example.com, organization: acme}\ngit: {repo: /r}\n",
			want: "stateDir is required",
		},
		"tokenFile and tokenEnv": {
			text: "flexiManage: {url: https://m.example.com, organization: acme, tokenFile: /t, tokenEnv: TOKEN}\ngit: {repo: /r}\nstateDir: /s\n",
			want: "give flexiManage.tokenFile or flexiManage.tokenEnv, not both",
		},
		"git tokenFile and tokenEnv": {
			text: "flexiManage: {url: https://m.example.com, organization: acme}\ngit: {repo: /r, tokenFile: /t, tokenEnv: GIT_TOKEN}\nstateDir: /s\n",
			want: "give git.tokenFile or git.tokenEnv, not both",
		},
		"webhook secretFile and secretEnv": {
			text: minimalConfig + "webhook: {secretFile: /w, secretEnv: WEBHOOK_SECRET}\n",
			want: "give webhook.secretFile or webhook.secretEnv, not both",
		},
		"ssh key without known_hosts": {
			text: "flexiManage: {url: https://m.example.com, organization: acme}\ngit: {repo: 'git@github.com:acme/sdwan.git', sshKeyFile: /k}\nstateDir: /s\n",
			want: "git.knownHostsFile is required with git.sshKeyFile",
		},
		"budget without window": {
			text: "flexiManage: {url: https://m.example.com, organization: acme, budget: {requests: 10}}\ngit: {repo: /r}\nstateDir: /s\n",
			want: "flexiManage.budget",
		},
		"negative duration": {
			text: minimalConfig + "jitter: -5s\n",
			want: `reconciler.yaml:7:1: "-5s" is not a duration`,
		},
		"listen without port": {
			text: minimalConfig + "listen: 127.0.0.1\n",
			want: `listen "127.0.0.1": want host:port`,
		},
		"wrong type": {
			text: minimalConfig + "prune: maybe\n",
			want: "reconciler.yaml:7:8:",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got := configProblems(t, tt.text)
			for _, p := range got {
				if strings.Contains(p, tt.want) {
					return
				}
			}
			t.Errorf("LoadConfig problems = %q, want one containing %q", got, tt.want)
		})
	}
}

func TestLoadConfigTokenSources(t *testing.T) {
	tests := map[string]struct {
		flexiManage string
		wantFile    string
		wantEnv     string
	}{
		"default env":  {"{url: https://m.example.com, organization: acme}", "", "FLEXIMANAGE_TOKEN"},
		"token file":   {"{url: https://m.example.com, organization: acme, tokenFile: /run/secrets/key}", "/run/secrets/key", ""},
		"explicit env": {"{url: https://m.example.com, organization: acme, tokenEnv: FM_KEY}", "", "FM_KEY"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			cfg, err := loadConfig(t, "flexiManage: "+tt.flexiManage+"\ngit: {repo: /r}\nstateDir: /s\n")
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			if cfg.FlexiManage.TokenFile != tt.wantFile || cfg.FlexiManage.TokenEnv != tt.wantEnv {
				t.Errorf("tokenFile, tokenEnv = %q, %q; want %q, %q", cfg.FlexiManage.TokenFile, cfg.FlexiManage.TokenEnv, tt.wantFile, tt.wantEnv)
			}
		})
	}
}

func TestLoadConfigSchedule(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 4, 59, 0, time.UTC)
	tests := map[string]struct {
		schedule string
		want     time.Time // Next(at)
	}{
		"five fields":              {"*/10 * * * *", time.Date(2026, 3, 1, 12, 10, 0, 0, time.UTC)},
		"five fields, fixed":       {"30 2 * * *", time.Date(2026, 3, 2, 2, 30, 0, 0, time.UTC)},
		"six fields, with seconds": {"*/15 * * * * *", time.Date(2026, 3, 1, 12, 5, 0, 0, time.UTC)},
		"six fields, fixed second": {"20 */2 * * * *", time.Date(2026, 3, 1, 12, 6, 20, 0, time.UTC)},
		"@every":                   {"@every 5m", at.Add(5 * time.Minute)},
		"@every seconds":           {"@every 2s", at.Add(2 * time.Second)},
		"@hourly":                  {"@hourly", time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC)},
		"@daily":                   {"@daily", time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			cfg, err := loadConfig(t, minimalConfig+"schedule: \""+tt.schedule+"\"\n")
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			if got := cfg.Next(at); !got.Equal(tt.want) {
				t.Errorf("Next(%s) = %s, want %s", at.Format(time.TimeOnly), got, tt.want)
			}
		})
	}
	for _, bad := range []string{"every 5m", "* * *", "61 * * * *", "* * * * * * *", "@every", "@every -1m", "@every 0s", "@every 100ms", "@fortnightly", "*/0 * * * *"} {
		t.Run("invalid "+bad, func(t *testing.T) {
			got := configProblems(t, minimalConfig+"schedule: \""+bad+"\"\n")
			want := "reconciler.yaml:7:11: schedule \"" + bad + "\""
			if len(got) != 1 || !strings.HasPrefix(got[0], want) {
				t.Errorf("problems = %q, want one starting with %q", got, want)
			}
		})
	}
}

func TestWebhookBranch(t *testing.T) {
	tests := []struct {
		ref, branch string
		want        string
	}{
		{ref: "", want: ""},
		{ref: "main", want: "main"},
		{ref: "refs/heads/production", want: "production"},
		{ref: "release/2026", want: "release/2026"},
		{ref: "refs/tags/v1.2.0", want: ""},
		{ref: "3f2a9c1", want: ""},
		{ref: "3f2a9c1e4b5d6a7f8091a2b3c4d5e6f708192a3b", want: ""},
		{ref: "cafe", want: "cafe"},           // too short to be a SHA: a branch
		{ref: "deadbeefx", want: "deadbeefx"}, // not hex
		{ref: "refs/tags/v1", branch: "main", want: "main"},
		{ref: "main", branch: "staging", want: "staging"},
	}
	for _, tt := range tests {
		t.Run(tt.ref+"|"+tt.branch, func(t *testing.T) {
			text := minimalConfig
			if tt.ref != "" {
				text = strings.Replace(text, "git:\n", "git:\n  ref: "+tt.ref+"\n", 1)
			}
			if tt.branch != "" {
				text += "webhook: {branch: " + tt.branch + "}\n"
			}
			cfg, err := loadConfig(t, text)
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			if got := cfg.WebhookBranch(); got != tt.want {
				t.Errorf("WebhookBranch() with ref %q, branch %q = %q, want %q", tt.ref, tt.branch, got, tt.want)
			}
		})
	}
}

func TestLoadConfigFile(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "reconciler.yaml", minimalConfig+"mode: nope\n")
	_, err := daemon.LoadConfigFile(p)
	if err == nil || !strings.Contains(err.Error(), p+":7:7: mode \"nope\"") {
		t.Errorf("LoadConfigFile error = %v, want the file name and position", err)
	}
	if _, err := daemon.LoadConfigFile(dir + "/missing.yaml"); err == nil {
		t.Errorf("LoadConfigFile of a missing file succeeded")
	}
}
