// Package daemon is the long-running reconciler behind `reconciler serve`:
// it reconciles once at start, then on a cron schedule (plus jitter) and on
// each accepted push webhook, one reconcile at a time; a burst of triggers
// during a run collapses into one follow-up run. A push of a revision a run
// already fetched needs no run, and a trigger that names no revision waits
// until Options.TriggerSpacing after the last run began, so that a flood of
// webhooks costs at most a run or two. A push of a new revision stops the
// run in progress at its next safe point (the end of its current phase's
// writes; the wait for that phase's jobs is cut short).
//
// Each reconcile fetches git (incrementally), plans, then applies (mode
// apply) or only reports drift (mode detect), and ends in exactly one
// outcome: success (next run on schedule), transient failure (retried with
// capped exponential backoff and jitter) or terminal failure (an invalid
// source, a refused key, a plan refused by a guard: not retried until the
// revision or the configuration changes).
//
// It serves /healthz, /readyz, /status (JSON), / (an HTML page), /metrics
// (Prometheus) and /webhook (GitHub, GitLab and a generic signed trigger).
// Secrets (the access key, the webhook secret, the git token) are read from
// files or environment variables when used and never appear in logs,
// status, metrics or plans.
package daemon
