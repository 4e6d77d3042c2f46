package serve

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus series (names under aegpu_serve_).
type metrics struct {
	requests     *prometheus.CounterVec   // model, op, code
	errors       *prometheus.CounterVec   // code
	rows         *prometheus.CounterVec   // model, op
	latency      *prometheus.HistogramVec // model, op
	batchRows    *prometheus.HistogramVec // model
	batchSeconds *prometheus.HistogramVec // model
	queue        *prometheus.GaugeVec     // model
	info         *prometheus.GaugeVec     // model, version
	reloads      *prometheus.CounterVec   // model, result
	conns        prometheus.Gauge         // open connections (Serve)
}

func newMetrics(reg prometheus.Registerer, maxBatch int) *metrics {
	var sizes []float64
	for b := 1; b < maxBatch; b *= 2 {
		sizes = append(sizes, float64(b))
	}
	sizes = append(sizes, float64(maxBatch))
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aegpu_serve_requests_total",
			Help: "Requests answered, by model, operation and HTTP status code."}, []string{"model", "op", "code"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aegpu_serve_errors_total",
			Help: "Requests answered with an error, by HTTP status code."}, []string{"code"}),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aegpu_serve_rows_total",
			Help: "Rows answered, by model and operation."}, []string{"model", "op"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "aegpu_serve_request_duration_seconds",
			Help:    "Time from a request's arrival to its answer, by model and operation.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18)}, []string{"model", "op"}),
		batchRows: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "aegpu_serve_batch_rows",
			Help: "Rows per device batch.", Buckets: sizes}, []string{"model"}),
		batchSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "aegpu_serve_batch_duration_seconds",
			Help:    "Time one device batch takes (scaling, upload, kernels, download).",
			Buckets: prometheus.ExponentialBuckets(0.00002, 2, 18)}, []string{"model"}),
		queue: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "aegpu_serve_queue_depth",
			Help: "Requests waiting for a model's batcher."}, []string{"model"}),
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "aegpu_serve_model_version_info",
			Help: "1 for the version (SHA-256 of model.safetensors) each model serves."}, []string{"model", "version"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aegpu_serve_reloads_total",
			Help: "Reloads of a model, by result (ok, error)."}, []string{"model", "result"}),
		conns: prometheus.NewGauge(prometheus.GaugeOpts{Name: "aegpu_serve_connections",
			Help: "Connections open (Serve's listener; at most its MaxConns)."}),
	}
	reg.MustRegister(m.requests, m.errors, m.rows, m.latency, m.batchRows, m.batchSeconds, m.queue, m.info, m.reloads, m.conns)
	return m
}

// version records that model now serves version id instead of old.
func (m *metrics) version(model, old, id string) {
	if old != "" && old != id {
		m.info.DeleteLabelValues(model, old)
	}
	m.info.WithLabelValues(model, id).Set(1)
}
