package daemon_test

import (
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/flexiwan-gitops/reconciler/daemon"
)

// The example configs in examples/ are valid.
func TestExampleConfigs(t *testing.T) {
	cfg, err := daemon.LoadConfigFile("../examples/reconciler.yaml")
	if err != nil {
		t.Fatalf("examples/reconciler.yaml: %v", err)
	}
	if cfg.Listen != daemon.DefaultListen || cfg.Schedule != daemon.DefaultSchedule || cfg.Mode != daemon.ModeApply {
		t.Errorf("examples/reconciler.yaml does not show the defaults: listen %s, schedule %s, mode %s", cfg.Listen, cfg.Schedule, cfg.Mode)
	}

	b, err := os.ReadFile("../examples/kubernetes/configmap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	if err := yaml.Unmarshal(b, &cm); err != nil {
		t.Fatalf("configmap.yaml: %v", err)
	}
	text, ok := cm.Data["reconciler.yaml"]
	if !ok {
		t.Fatalf("configmap.yaml has no data.reconciler.yaml")
	}
	cfg, err = daemon.LoadConfig("configmap.yaml#reconciler.yaml", strings.NewReader(text))
	if err != nil {
		t.Fatalf("the ConfigMap's reconciler.yaml: %v", err)
	}
	if cfg.Listen != "0.0.0.0:8080" {
		t.Errorf("the ConfigMap listens on %s: the Service and the probes need 0.0.0.0:8080", cfg.Listen)
	}
}
