package main

import (
	"log/slog"

	"github.com/flexiwan-gitops/reconciler/fleximanage"
	"github.com/flexiwan-gitops/reconciler/live"
)

// env is what a planned command keeps for later steps (apply).
type env struct {
	client *fleximanage.Client
	log    *slog.Logger
	src    *loaded
	state  *live.State
}
