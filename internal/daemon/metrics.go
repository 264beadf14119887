package daemon

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the daemon's Prometheus metrics, per project.
type Metrics struct {
	reg         *prometheus.Registry
	lastSuccess *prometheus.GaugeVec
	lastFailure *prometheus.GaugeVec
	duration    *prometheus.GaugeVec
	size        *prometheus.GaugeVec
	nextRun     *prometheus.GaugeVec
	uploaded    *prometheus.CounterVec
	runs        *prometheus.CounterVec
	skipped     prometheus.Counter
}

// Outcomes of a run, the values of the outcome label.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
)

// NewMetrics registers the metrics in a registry of their own, with the
// Go runtime's and the process's.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	project := []string{"project"}
	m := &Metrics{
		reg: reg,
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "docker_backup_last_success_timestamp_seconds",
			Help: "When the last successful backup of the project ended (Unix time)."}, project),
		lastFailure: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "docker_backup_last_failure_timestamp_seconds",
			Help: "When the last failed backup of the project ended (Unix time)."}, project),
		duration: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "docker_backup_last_duration_seconds",
			Help: "How long the last backup of the project took, create, upload and prune."}, project),
		size: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "docker_backup_last_archive_size_bytes",
			Help: "Size of the last archive written for the project."}, project),
		nextRun: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "docker_backup_next_run_timestamp_seconds",
			Help: "When the next scheduled backup of the project starts (Unix time, before jitter)."}, project),
		uploaded: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "docker_backup_uploaded_bytes_total",
			Help: "Archive bytes written to the storage for the project."}, project),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "docker_backup_runs_total",
			Help: "Backups of the project by outcome (success, failure)."}, []string{"project", "outcome"}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{Name: "docker_backup_skipped_runs_total",
			Help: "Scheduled runs skipped because the previous run was still going."}),
	}
	reg.MustRegister(m.lastSuccess, m.lastFailure, m.duration, m.size, m.nextRun, m.uploaded, m.runs, m.skipped)
	return m
}

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry is where the metrics are registered, for tests and callers
// that add their own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

func (m *Metrics) project(name string) {
	// Both outcomes show from the start, at zero, so that a rate or an
	// alert on failures works before the first one.
	m.runs.WithLabelValues(name, OutcomeSuccess)
	m.runs.WithLabelValues(name, OutcomeFailure)
	m.uploaded.WithLabelValues(name)
}

func (m *Metrics) record(name string, r *RunStatus) {
	m.duration.WithLabelValues(name).Set(r.End.Sub(r.Start).Seconds())
	if r.Size > 0 {
		m.size.WithLabelValues(name).Set(float64(r.Size))
		m.uploaded.WithLabelValues(name).Add(float64(r.Size))
	}
	if r.Succeeded {
		m.lastSuccess.WithLabelValues(name).Set(float64(r.End.UnixNano()) / 1e9)
		m.runs.WithLabelValues(name, OutcomeSuccess).Inc()
	} else {
		m.lastFailure.WithLabelValues(name).Set(float64(r.End.UnixNano()) / 1e9)
		m.runs.WithLabelValues(name, OutcomeFailure).Inc()
	}
}
