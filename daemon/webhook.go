package daemon

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"
)

// MaxWebhookBody bounds a webhook body; larger ones get 413.
const MaxWebhookBody = 1 << 20

// Webhook headers.
const (
	headerGitHubEvent     = "X-GitHub-Event"
	headerGitHubSignature = "X-Hub-Signature-256"
	headerGitLabEvent     = "X-Gitlab-Event"
	headerGitLabToken     = "X-Gitlab-Token"
	// HeaderSignature carries the generic trigger's signature:
	// "sha256=" + hex(HMAC-SHA256(secret, body)), like GitHub's.
	HeaderSignature = "X-Reconciler-Signature"
)

// pushEvent is the part of a GitHub or GitLab push (or a generic trigger)
// the daemon reads.
type pushEvent struct {
	Ref   string `json:"ref"`
	After string `json:"after"`
	// Generic triggers may name the revision directly.
	Revision string `json:"revision"`
}

// serveWebhook accepts GitHub and GitLab push events and the generic signed
// trigger. It answers at once; the reconcile runs in the background.
func (d *Daemon) serveWebhook(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	cfg := d.Config()
	secret, err := readSecret(cfg.Webhook.SecretFile, cfg.Webhook.SecretEnv, "webhook secret")
	if err != nil || secret == "" {
		d.metrics.webhooks.WithLabelValues("disabled").Inc()
		if err != nil {
			d.log.Error("webhook secret unreadable: webhooks refused", "error", err)
		}
		http.Error(w, "webhooks are not configured (webhook.secretFile or webhook.secretEnv)", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxWebhookBody+1))
	if err != nil {
		d.metrics.webhooks.WithLabelValues("bad_request").Inc()
		http.Error(w, "cannot read the body", http.StatusBadRequest)
		return
	}
	if len(body) > MaxWebhookBody {
		d.metrics.webhooks.WithLabelValues("too_large").Inc()
		http.Error(w, "body larger than 1 MiB", http.StatusRequestEntityTooLarge)
		return
	}
	var event, source string
	switch {
	case r.Header.Get(headerGitHubEvent) != "":
		source, event = "github", r.Header.Get(headerGitHubEvent)
		if !validHMAC(secret, body, r.Header.Get(headerGitHubSignature)) {
			d.unauthorized(w, source)
			return
		}
	case r.Header.Get(headerGitLabEvent) != "":
		source, event = "gitlab", r.Header.Get(headerGitLabEvent)
		if subtle.ConstantTimeCompare([]byte(r.Header.Get(headerGitLabToken)), []byte(secret)) != 1 {
			d.unauthorized(w, source)
			return
		}
	default:
		source, event = "generic", "trigger"
		if !validHMAC(secret, body, r.Header.Get(HeaderSignature)) {
			d.unauthorized(w, source)
			return
		}
	}
	switch {
	case source == "github" && event == "ping":
		d.metrics.webhooks.WithLabelValues("accepted").Inc()
		writeJSON(w, http.StatusOK, map[string]string{"result": "pong"})
		return
	case source == "github" && event != "push", source == "gitlab" && event != "Push Hook":
		d.metrics.webhooks.WithLabelValues("ignored").Inc()
		writeJSON(w, http.StatusAccepted, map[string]string{"result": "ignored", "reason": "not a push event"})
		return
	}
	var ev pushEvent
	if len(body) > 0 && json.Unmarshal(body, &ev) != nil {
		d.metrics.webhooks.WithLabelValues("bad_request").Inc()
		http.Error(w, "the body is not JSON", http.StatusBadRequest)
		return
	}
	if branch := cfg.WebhookBranch(); branch != "" && ev.Ref != "" && ev.Ref != "refs/heads/"+branch {
		d.metrics.webhooks.WithLabelValues("ignored").Inc()
		writeJSON(w, http.StatusAccepted, map[string]string{"result": "ignored", "reason": "push to another branch"})
		return
	}
	if source != "generic" && ev.Ref == "" {
		d.metrics.webhooks.WithLabelValues("ignored").Inc()
		writeJSON(w, http.StatusAccepted, map[string]string{"result": "ignored", "reason": "no ref in the push"})
		return
	}
	rev := ev.After
	if ev.Revision != "" {
		rev = ev.Revision
	}
	if rev != "" && d.seen(rev) {
		// A redelivery, or a push the run in progress (or the last one)
		// already fetched: no run needed, so a flood of them costs none.
		d.metrics.webhooks.WithLabelValues("ignored").Inc()
		d.log.Debug("webhook ignored: revision already fetched", "source", source, "revision", short(rev))
		writeJSON(w, http.StatusAccepted, map[string]string{"result": "ignored", "reason": "revision already fetched"})
		return
	}
	d.metrics.webhooks.WithLabelValues("accepted").Inc()
	d.log.Info("webhook accepted", "source", source, "ref", ev.Ref, "revision", short(rev))
	d.supersede(rev)
	// A trigger that names no revision may announce nothing new: it waits
	// for TriggerSpacing after the last run started.
	d.trigger(trigger{reason: "webhook:" + source, spaced: rev == ""})
	writeJSON(w, http.StatusAccepted, map[string]string{"result": "accepted"})
}

func (d *Daemon) unauthorized(w http.ResponseWriter, source string) {
	d.metrics.webhooks.WithLabelValues("unauthorized").Inc()
	// One warning per 10 s at most, with the count since the last one: a
	// flood of unsigned requests must not flood the log too.
	n := d.refused.Add(1)
	now := time.Now().UnixNano()
	last := d.refusedLogged.Load()
	if now-last >= int64(10*time.Second) && d.refusedLogged.CompareAndSwap(last, now) {
		d.refused.Store(0)
		d.log.Warn("webhook refused: missing or wrong signature", "source", source, "refusedSinceLastWarning", n)
	}
	http.Error(w, "missing or wrong signature", http.StatusUnauthorized)
}

// validHMAC checks a "sha256=<hex>" signature of body in constant time.
func validHMAC(secret string, body []byte, header string) bool {
	sig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// Sign returns the signature header value for body, for generic triggers.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
