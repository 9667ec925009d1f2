package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/flexiwan-gitops/reconciler/fleximanage"
	"github.com/flexiwan-gitops/reconciler/live"
	"github.com/flexiwan-gitops/reconciler/liveread"
)

// connFlags are CONN: --server, --token-file, --org (or their env vars).
type connFlags struct {
	server    string
	tokenFile string
	org       string
}

func (c *connFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.server, "server", "", "flexiManage URL without /api (env FLEXIMANAGE_URL)")
	fs.StringVar(&c.tokenFile, "token-file", "", "file holding the flexiManage access key (or env FLEXIMANAGE_TOKEN)")
	fs.StringVar(&c.org, "org", "", "organization id or name (env FLEXIMANAGE_ORG)")
}

// client builds the flexiManage client and resolves the organization.
func (c *connFlags) connect(ctx context.Context, log *slog.Logger) (*fleximanage.Client, live.Org, error) {
	server := firstNonEmpty(c.server, os.Getenv("FLEXIMANAGE_URL"))
	if server == "" {
		return nil, live.Org{}, errors.New("no flexiManage server: give --server URL or set FLEXIMANAGE_URL")
	}
	var key string
	switch {
	case c.tokenFile != "":
		k, err := readSecretFile(c.tokenFile)
		if err != nil {
			return nil, live.Org{}, err
		}
		key = k
	case os.Getenv("FLEXIMANAGE_TOKEN") != "":
		key = strings.TrimSpace(os.Getenv("FLEXIMANAGE_TOKEN"))
	default:
		return nil, live.Org{}, errors.New("no access key: give --token-file FILE or set FLEXIMANAGE_TOKEN")
	}
	orgRef := firstNonEmpty(c.org, os.Getenv("FLEXIMANAGE_ORG"))
	if orgRef == "" {
		return nil, live.Org{}, errors.New("no organization: give --org ID_OR_NAME or set FLEXIMANAGE_ORG")
	}
	client, err := fleximanage.New(fleximanage.Options{BaseURL: server, Key: fleximanage.AccessKey(key), Logger: log})
	if err != nil {
		return nil, live.Org{}, err
	}
	org, err := liveread.ResolveOrg(ctx, client, orgRef)
	if err != nil {
		return nil, live.Org{}, explainAPIError(server, err)
	}
	return client.WithOrg(org.ID), org, nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// explainAPIError turns a flexiManage failure into a one-line cause.
func explainAPIError(server string, err error) error {
	var ae *fleximanage.APIError
	if !errors.As(err, &ae) {
		return err
	}
	switch ae.Kind {
	case fleximanage.KindAuth:
		return fmt.Errorf("flexiManage at %s refused the access key (%d %s)", server, ae.Status, ae.Message)
	case fleximanage.KindPermission:
		return fmt.Errorf("the access key may not do this at %s: %s", server, ae.Message)
	case fleximanage.KindTransient:
		if ae.Status == 0 {
			return fmt.Errorf("cannot reach flexiManage at %s: %s", server, ae.Message)
		}
	}
	return err
}
