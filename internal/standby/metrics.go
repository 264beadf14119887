package standby

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are a standby's gauges, for one project. A nil *Metrics
// records nothing.
type Metrics struct {
	mu          sync.Mutex
	appliedAt   time.Time // the applied archive's creation time
	newestAt    time.Time
	promoted    prometheus.Gauge
	appliedTime prometheus.Gauge
	newestTime  prometheus.Gauge
}

// NewMetrics registers the standby's metrics of project in reg. The ages
// are computed when scraped, so that a standby that stopped following
// shows its lag growing.
func NewMetrics(reg prometheus.Registerer, project string, now func() time.Time) *Metrics {
	if now == nil {
		now = time.Now
	}
	labels := prometheus.Labels{"project": project}
	m := &Metrics{
		promoted: prometheus.NewGauge(prometheus.GaugeOpts{Name: "docker_backup_standby_promoted", ConstLabels: labels,
			Help: "1 once the project was promoted on this host (standby ended), else 0."}),
		appliedTime: prometheus.NewGauge(prometheus.GaugeOpts{Name: "docker_backup_standby_applied_archive_timestamp_seconds", ConstLabels: labels,
			Help: "When the archive the standby holds was taken (Unix time)."}),
		newestTime: prometheus.NewGauge(prometheus.GaugeOpts{Name: "docker_backup_standby_newest_archive_timestamp_seconds", ConstLabels: labels,
			Help: "When the newest archive in the storage was taken (Unix time)."}),
	}
	age := func(pick func() time.Time) func() float64 {
		return func() float64 {
			m.mu.Lock()
			t := pick()
			m.mu.Unlock()
			if t.IsZero() {
				return 0
			}
			return now().Sub(t).Seconds()
		}
	}
	reg.MustRegister(m.promoted, m.appliedTime, m.newestTime,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "docker_backup_standby_applied_archive_age_seconds", ConstLabels: labels,
			Help: "How old the data the standby holds is: the age of the archive it applied last (0 before the first)."},
			age(func() time.Time { return m.appliedAt })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "docker_backup_standby_newest_archive_age_seconds", ConstLabels: labels,
			Help: "The age of the newest archive in the storage (0 before the first)."},
			age(func() time.Time { return m.newestAt })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "docker_backup_standby_lag_seconds", ConstLabels: labels,
			Help: "How far the applied archive is behind the newest one in the storage (0: caught up)."},
			func() float64 {
				m.mu.Lock()
				defer m.mu.Unlock()
				if m.newestAt.IsZero() || !m.newestAt.After(m.appliedAt) {
					return 0
				}
				if m.appliedAt.IsZero() {
					return now().Sub(m.newestAt).Seconds()
				}
				return m.newestAt.Sub(m.appliedAt).Seconds()
			}),
	)
	return m
}

func (m *Metrics) state(st State) {
	if m == nil {
		return
	}
	if st.Mode == ModePromoted || st.Mode == ModePromoting {
		m.promoted.Set(1)
	} else {
		m.promoted.Set(0)
	}
	if st.Applied != nil {
		m.applied(st.Applied)
	}
}

func (m *Metrics) applied(a *Applied) {
	if m == nil || a == nil {
		return
	}
	m.mu.Lock()
	m.appliedAt = a.CreatedAt
	m.mu.Unlock()
	m.appliedTime.Set(float64(a.CreatedAt.Unix()))
}

func (m *Metrics) available(a *Archive) {
	if m == nil || a == nil {
		return
	}
	m.mu.Lock()
	m.newestAt = a.CreatedAt
	m.mu.Unlock()
	m.newestTime.Set(float64(a.CreatedAt.Unix()))
}
