package daemon

import (
	"html/template"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves /, /status, /healthz, /readyz, /metrics and /webhook.
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !d.fetchedOK.Load() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready: git not reached yet"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		s := d.status.get()
		s.Ready = d.fetchedOK.Load()
		writeJSON(w, http.StatusOK, s)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/webhook", d.serveWebhook)
	mux.HandleFunc("GET /{$}", d.servePage)
	return mux
}

var mermaidRE = regexp.MustCompile("(?s)```mermaid\n(.*?)```")

var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format(time.RFC3339)
	},
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>flexiWAN reconciler</title>
<meta http-equiv="refresh" content="30">
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;max-width:72rem;color:#222}
h1{font-size:1.4rem}table{border-collapse:collapse}td,th{padding:.2rem .8rem;border-bottom:1px solid #ddd;text-align:left}
.success{color:#1e8449}.transient{color:#b9770e}.terminal{color:#c0392b}
pre{background:#f6f8fa;padding:1rem;overflow:auto;font-size:12px}
</style></head><body>
<h1>flexiWAN GitOps reconciler</h1>
<table>
<tr><th>Mode</th><td>{{.S.Mode}}</td></tr>
<tr><th>Organization</th><td>{{.S.Organization}}</td></tr>
<tr><th>Source</th><td>{{.S.Source}}</td></tr>
<tr><th>Ready</th><td>{{.S.Ready}}</td></tr>
<tr><th>Reconciling now</th><td>{{.S.Reconciling}} ({{.S.JobsInFlight}} jobs in flight)</td></tr>
<tr><th>Last attempted revision</th><td><code>{{.S.LastAttemptedRevision}}</code></td></tr>
<tr><th>Last applied revision</th><td><code>{{.S.LastAppliedRevision}}</code></td></tr>
{{with .S.LastOutcome}}<tr><th>Last outcome</th><td class="{{.Result}}">{{.Result}} at {{ago .At}}{{if .Reason}}: {{.Reason}}{{end}}</td></tr>{{end}}
<tr><th>Next run</th><td>{{ago .S.NextRun}}</td></tr>
</table>
<h2>Drift</h2>
<table>{{range $k, $v := .S.Drift}}{{if $v}}<tr><th>{{$k}}</th><td>{{$v}}</td></tr>{{end}}{{else}}<tr><td>none known yet</td></tr>{{end}}</table>
{{if .Mermaid}}<h2>Topology change</h2>
<pre class="mermaid">{{.Mermaid}}</pre>
<script type="module">import mermaid from "https://cdn.jsdelivr.net/npm/mermaid@11/dist/mermaid.esm.min.mjs"; mermaid.initialize({startOnLoad:true});</script>
<p><small>The picture needs the Mermaid script from the Internet; without it the graph's source is shown.</small></p>{{end}}
{{if .Markdown}}<h2>Last plan</h2><pre>{{.Markdown}}</pre>{{end}}
<p><a href="/status">/status</a> · <a href="/metrics">/metrics</a></p>
</body></html>
`))

func (d *Daemon) servePage(w http.ResponseWriter, r *http.Request) {
	s := d.status.get()
	s.Ready = d.fetchedOK.Load()
	data := struct {
		S        Status
		Markdown string
		Mermaid  string
	}{S: s, Markdown: s.planMarkdown}
	if m := mermaidRE.FindStringSubmatch(s.planMarkdown); m != nil {
		data.Mermaid = strings.TrimSpace(m[1])
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = page.Execute(w, data)
}
