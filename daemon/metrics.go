package daemon

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the daemon's Prometheus metrics, on their own registry.
type metrics struct {
	reg          *prometheus.Registry
	reconciles   *prometheus.CounterVec
	duration     prometheus.Histogram
	drift        *prometheus.GaugeVec
	lastApplied  prometheus.Gauge
	info         *prometheus.GaugeVec
	apiRequests  *prometheus.CounterVec
	jobs         *prometheus.CounterVec
	webhooks     *prometheus.CounterVec
	infoRevision string
}

func newMetrics(budgetRemaining func() float64) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reconciler_reconcile_total", Help: "Reconciles by result: success, transient, terminal, skipped.",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "reconciler_reconcile_duration_seconds", Help: "Time a reconcile took, fetch to last job.",
			Buckets: []float64{0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800},
		}),
		drift: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "reconciler_drift_changes", Help: "Changes the last plan found, by kind.",
		}, []string{"kind"}),
		lastApplied: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "reconciler_last_applied_timestamp_seconds", Help: "When a revision was last applied successfully (Unix time).",
		}),
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "reconciler_info", Help: "1, labelled with the last applied revision.",
		}, []string{"revision"}),
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reconciler_api_requests_total", Help: "Requests sent to flexiManage by method and HTTP status (0: no answer).",
		}, []string{"method", "code"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reconciler_jobs_total", Help: "flexiManage jobs followed to their end, by final state.",
		}, []string{"state"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reconciler_webhook_requests_total", Help: "Webhook requests by result.",
		}, []string{"result"}),
	}
	budget := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "reconciler_api_budget_remaining", Help: "Requests the client may still send now without waiting (-1: no budget).",
	}, budgetRemaining)
	m.reg.MustRegister(m.reconciles, m.duration, m.drift, m.lastApplied, m.info, m.apiRequests, m.jobs, m.webhooks, budget)
	for _, r := range []string{"success", "transient", "terminal", "skipped"} {
		m.reconciles.WithLabelValues(r)
	}
	for _, r := range []string{"accepted", "ignored", "unauthorized", "too_large", "bad_request", "disabled"} {
		m.webhooks.WithLabelValues(r)
	}
	return m
}

func (m *metrics) apiResponse(method, _ string, status int) {
	m.apiRequests.WithLabelValues(method, strconv.Itoa(status)).Inc()
}

func (m *metrics) setInfo(revision string) {
	if m.infoRevision == revision {
		return
	}
	if m.infoRevision != "" {
		m.info.DeleteLabelValues(m.infoRevision)
	}
	m.info.WithLabelValues(revision).Set(1)
	m.infoRevision = revision
}
