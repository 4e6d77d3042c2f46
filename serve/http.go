package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/dataset/columnar"
)

// Content types of request and response bodies.
const (
	TypeJSON  = "application/json"
	TypeNPY   = "application/x-npy"
	TypeArrow = "application/vnd.apache.arrow.stream" // an Arrow IPC stream
)

// VersionHeader names the model version that answered, on every answer of
// an inference endpoint.
const VersionHeader = "X-Model-Version"

func (s *Server) routes(reg *prometheus.Registry) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.Ready() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready: shutting down"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "models": s.names})
	})
	mux.Handle("GET /metrics", s.instrument("metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	mux.Handle("GET /v1/models", s.instrument("models", http.HandlerFunc(s.listModels)))
	mux.Handle("GET /v1/models/{name}", s.instrument("models", http.HandlerFunc(s.listModels)))
	for _, o := range []op{opEncode, opReconstruct, opScore} {
		mux.Handle("POST /v1/models/{name}/"+o.String(), s.instrument(o.String(), s.infer(o)))
	}
	mux.HandleFunc("/v1/models/{name}/{op}", func(w http.ResponseWriter, r *http.Request) {
		switch r.PathValue("op") {
		case "encode", "reconstruct", "score":
			w.Header().Set("Allow", "POST")
			s.fail(w, http.StatusMethodNotAllowed, "%s %s: the endpoint takes POST", r.Method, r.URL.Path)
		default:
			s.fail(w, http.StatusNotFound, "no endpoint %s %s: POST /v1/models/{name}/encode, /reconstruct or /score", r.Method, r.URL.Path)
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, http.StatusNotFound, "no endpoint %s %s: POST /v1/models/{name}/encode, /reconstruct or /score; GET /v1/models, /healthz, /readyz, /metrics", r.Method, r.URL.Path)
	})
	s.mux = mux
}

// recorder keeps the status code a handler wrote and the version and rows
// it answered, for the metrics and the log line.
type recorder struct {
	http.ResponseWriter
	code    int
	version string
	rows    int
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

var recorders = sync.Pool{New: func() any { return new(recorder) }}

// instrument checks the token, then counts, times and logs each request.
func (s *Server) instrument(opName string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := recorders.Get().(*recorder)
		*rec = recorder{ResponseWriter: w}
		if s.authorized(r) {
			h.ServeHTTP(rec, r)
		} else {
			rec.Header().Set("WWW-Authenticate", `Bearer realm="aegpu"`)
			s.fail(rec, http.StatusUnauthorized, "missing or wrong bearer token (Authorization: Bearer TOKEN)")
		}
		if rec.code == 0 {
			rec.code = http.StatusOK
		}
		model := r.PathValue("name")
		if _, ok := s.models[model]; !ok {
			model = "" // unknown names would make unbounded series
		}
		code := strconv.Itoa(rec.code)
		d := time.Since(start)
		s.m.requests.WithLabelValues(model, opName, code).Inc()
		if rec.code >= 400 {
			s.m.errors.WithLabelValues(code).Inc()
		} else if rec.rows > 0 {
			s.m.rows.WithLabelValues(model, opName).Add(float64(rec.rows))
			s.m.latency.WithLabelValues(model, opName).Observe(d.Seconds())
		}
		if s.log.Enabled(r.Context(), slog.LevelDebug) {
			s.log.LogAttrs(r.Context(), slog.LevelDebug, "request", slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.String("model", model), slog.String("version", rec.version), slog.Int("rows", rec.rows),
				slog.Int("status", rec.code), slog.Duration("duration", d), slog.String("remote", r.RemoteAddr))
		}
		*rec = recorder{}
		recorders.Put(rec)
	})
}

// apiError is the body of every error answer.
type apiError struct {
	Error string `json:"error"`
	Code  int    `json:"code"`
}

func (s *Server) fail(w http.ResponseWriter, code int, format string, a ...any) {
	writeJSON(w, code, apiError{Error: fmt.Sprintf(format, a...), Code: code})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"encoding the answer failed","code":500}`)
	}
	w.Header().Set("Content-Type", TypeJSON)
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

// ModelInfo is one model in GET /v1/models.
type ModelInfo struct {
	Name        string         `json:"name"`
	Dir         string         `json:"dir"`
	Version     string         `json:"version"` // SHA-256 of model.safetensors
	LoadedAt    time.Time      `json:"loaded_at"`
	Cols        int            `json:"cols"`   // values per input row
	Latent      int            `json:"latent"` // values per code
	EncoderOnly bool           `json:"encoder_only"`
	Metric      string         `json:"metric"` // of /score and /reconstruct's errors
	Scaler      dataset.Scaler `json:"scaler"`
	Threshold   *ThresholdInfo `json:"threshold"` // nil: none saved, nothing is flagged
	Features    []string       `json:"features"`
	Config      map[string]any `json:"config"`
	ReloadError string         `json:"reload_error,omitempty"` // why the last reload failed
}

// ThresholdInfo is the threshold saved with a model (threshold.json).
type ThresholdInfo struct {
	Value    float64 `json:"value"`
	Rule     string  `json:"rule"`
	Metric   string  `json:"metric"`
	FittedOn string  `json:"fitted_on"`
}

// Models describes the served models, in the order given to New.
func (s *Server) Models() []ModelInfo {
	var out []ModelInfo
	for _, n := range s.names {
		sl := s.models[n]
		sl.mu.RLock()
		v, lastErr := sl.cur, sl.lastErr
		sl.mu.RUnlock()
		if v == nil {
			continue
		}
		mi := ModelInfo{Name: n, Dir: sl.dir, Version: v.id, LoadedAt: v.loaded, Cols: v.cols, Latent: v.lat,
			EncoderOnly: v.cfg.EncoderOnly, Metric: v.kind.String(), Scaler: v.cfg.Scaler, Features: v.names, ReloadError: lastErr}
		if t := v.threshold; t != nil {
			mi.Threshold = &ThresholdInfo{Value: t.Value, Rule: t.Rule, Metric: t.Metric, FittedOn: t.FittedOn}
		}
		if b, err := json.Marshal(v.cfg); err == nil {
			json.Unmarshal(b, &mi.Config)
		}
		out = append(out, mi)
	}
	return out
}

func (s *Server) listModels(w http.ResponseWriter, r *http.Request) {
	ms := s.Models()
	if name := r.PathValue("name"); name != "" {
		for _, m := range ms {
			if m.Name == name {
				writeJSON(w, http.StatusOK, m)
				return
			}
		}
		s.fail(w, http.StatusNotFound, "no model %q (served: %s)", name, strings.Join(s.names, ", "))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"models": ms})
}

// infer answers POST /v1/models/{name}/{op}.
func (s *Server) infer(o op) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := w.(*recorder)
		name := r.PathValue("name")
		sl, ok := s.models[name]
		if !ok {
			s.fail(w, http.StatusNotFound, "no model %q (served: %s)", name, strings.Join(s.names, ", "))
			return
		}
		v := sl.acquire()
		if v == nil {
			s.fail(w, http.StatusServiceUnavailable, "the server is shutting down")
			return
		}
		defer v.refs.Done()
		v.arriving.Add(1)
		queued := false
		defer func() {
			if !queued {
				v.arriving.Add(-1)
			}
		}()
		rec.version = v.id
		w.Header().Set(VersionHeader, v.id)
		q := r.URL.Query()
		timeout := s.o.Timeout
		if t := q.Get("timeout"); t != "" {
			d, err := time.ParseDuration(t)
			if err != nil || d <= 0 {
				s.fail(w, http.StatusBadRequest, "?timeout=%s: want a positive duration such as 250ms", t)
				return
			}
			timeout = min(timeout, d)
		}
		explain := 0
		if e := q.Get("explain"); e != "" {
			k, err := strconv.Atoi(e)
			if o != opScore || err != nil || k < 1 || k > v.cols {
				s.fail(w, http.StatusBadRequest, "?explain=%s: /score takes ?explain=k with k in 1…%d (the model's features)", e, v.cols)
				return
			}
			explain = k
		}
		if o != opEncode && v.cfg.EncoderOnly {
			s.fail(w, http.StatusBadRequest, "model %s is encoder-only (exported without its decoder): it answers /encode, not /%s", name, o)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || (mt != TypeJSON && mt != TypeNPY && mt != TypeArrow) {
			s.fail(w, http.StatusUnsupportedMediaType, "Content-Type %q: send %s ({\"rows\": [[…], …]}), %s (a .npy file's bytes) or %s (an Arrow IPC stream)",
				r.Header.Get("Content-Type"), TypeJSON, TypeNPY, TypeArrow)
			return
		}
		body := http.MaxBytesReader(w, r.Body, s.o.MaxBodyBytes)
		j, code, err := s.decode(ctx, mt, body, v, o, explain > 0)
		if err != nil {
			s.fail(w, code, "%s", err)
			return
		}
		v.qDepth.Inc()
		select {
		case v.queue <- j:
			queued = true
			v.enqueued.Add(1)
		default:
			v.qDepth.Dec()
			w.Header().Set("Retry-After", "1")
			s.fail(w, http.StatusTooManyRequests, "model %s has %d requests waiting: retry later", name, s.o.MaxQueue)
			j.free()
			return
		}
		select {
		case <-j.done:
		case <-ctx.Done():
			select {
			case <-j.done:
			default: // abandoned: its batcher may still write it, so it is not reused
				if r.Context().Err() != nil {
					rec.code = 499 // the client went away
					return
				}
				s.fail(w, http.StatusGatewayTimeout, "deadline of %s exceeded before the rows were run", timeout)
				return
			}
		}
		defer j.free()
		if j.err != nil {
			if errors.Is(j.err, context.DeadlineExceeded) {
				s.fail(w, http.StatusGatewayTimeout, "deadline of %s exceeded before the rows were run", timeout)
				return
			}
			s.fail(w, http.StatusInternalServerError, "%s: %s", o, j.err)
			return
		}
		rec.rows = j.rows
		if accepts(r, TypeNPY) {
			s.writeNPY(w, v, j)
			return
		}
		s.writeAnswer(w, v, j, explain)
	})
}

// accepts reports whether the request's Accept header names typ.
func accepts(r *http.Request, typ string) bool {
	for _, a := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(a)); err == nil && mt == typ {
			return true
		}
	}
	return false
}

// decode reads a request body into a job for v; on error it returns the
// status code to answer.
func (s *Server) decode(ctx context.Context, mt string, body io.Reader, v *version, o op, explain bool) (*job, int, error) {
	bufp := bodyBufs.Get().(*bytes.Buffer)
	defer func() { bufp.Reset(); bodyBufs.Put(bufp) }()
	if _, err := bufp.ReadFrom(body); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("the body is larger than the limit of %d bytes: send fewer rows per request", tooBig.Limit)
		}
		return nil, http.StatusBadRequest, fmt.Errorf("reading the body: %w", err)
	}
	b := bufp.Bytes()
	var j *job
	if mt == TypeNPY || mt == TypeArrow {
		var t *dataset.Table
		var err error
		if mt == TypeNPY {
			t, err = dataset.ReadNPY(bytes.NewReader(b), "the body")
		} else {
			// the columns the model was trained on, by name, when it recorded them
			t, err = columnar.ReadIPCStream(bytes.NewReader(b), dataset.ColumnOptions{Columns: v.cfg.Data.Columns}, s.o.MaxRows)
		}
		var limit *columnar.RowLimitError
		if errors.As(err, &limit) {
			return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("%w per request: split them", err)
		}
		if err != nil {
			return nil, http.StatusBadRequest, err
		}
		if t.Cols != v.cols {
			return nil, http.StatusBadRequest, fmt.Errorf("the rows have %d values, model %s takes %d (layers %v)", t.Cols, v.name, v.cols, v.cfg.Layers)
		}
		if code, err := s.checkRows(t.Rows); err != nil {
			return nil, code, err
		}
		j = newJob(ctx, o, t.Rows, v.cols, v.lat, explain)
		copy(j.data, t.Data)
	} else if vals, n, ok := parseRows(b, v.cols, s.scratch(v.cols)); ok {
		if code, err := s.checkRows(n); err != nil {
			s.putScratch(vals)
			return nil, code, err
		}
		j = newJob(ctx, o, n, v.cols, v.lat, explain)
		copy(j.data, vals)
		s.putScratch(vals)
	} else {
		s.putScratch(vals)
		var req struct {
			Rows [][]float32 `json:"rows"`
		}
		if err := json.Unmarshal(b, &req); err != nil {
			if bytes.Contains(b, []byte("NaN")) || bytes.Contains(b, []byte("Infinity")) {
				return nil, http.StatusBadRequest, fmt.Errorf("the rows hold NaN or Infinity, which are not JSON numbers and which the model cannot score: %w", err)
			}
			return nil, http.StatusBadRequest, fmt.Errorf("the body is not {\"rows\": [[number, …], …]}: %w", err)
		}
		if code, err := s.checkRows(len(req.Rows)); err != nil {
			return nil, code, err
		}
		for i, row := range req.Rows {
			if len(row) != v.cols {
				return nil, http.StatusBadRequest, fmt.Errorf("row %d has %d values, model %s takes %d (layers %v)", i, len(row), v.name, v.cols, v.cfg.Layers)
			}
		}
		j = newJob(ctx, o, len(req.Rows), v.cols, v.lat, explain)
		for i, row := range req.Rows {
			copy(j.data[i*v.cols:], row)
		}
	}
	for i, x := range j.data {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			j.free()
			return nil, http.StatusBadRequest, fmt.Errorf("row %d column %d is %v: the model takes finite values only", i/v.cols, i%v.cols, x)
		}
	}
	return j, 0, nil
}

func (s *Server) checkRows(n int) (int, error) {
	switch {
	case n == 0:
		return http.StatusBadRequest, errors.New("no rows: send {\"rows\": [[…], …]} with at least one row")
	case n > s.o.MaxRows:
		return http.StatusRequestEntityTooLarge, fmt.Errorf("%d rows, more than the limit of %d per request: split them", n, s.o.MaxRows)
	}
	return 0, nil
}

var bodyBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}
var valueBufs = sync.Pool{New: func() any { return new([]float32) }}

// scratch returns an empty slice for parsed values, from a pool.
func (s *Server) scratch(cols int) []float32 { return (*valueBufs.Get().(*[]float32))[:0] }

func (s *Server) putScratch(v []float32) {
	v = v[:0]
	valueBufs.Put(&v)
}

var outBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// appendF writes a float32 as JSON (its shortest form, which reads back
// to the same bits; null for NaN or ±Inf).
func appendF(b []byte, x float32) []byte {
	if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, float64(x), 'g', -1, 32)
}

func appendMatrix(b []byte, key string, data []float32, cols int) []byte {
	b = append(b, `,"`...)
	b = append(b, key...)
	b = append(b, `":[`...)
	for i := 0; i < len(data); i += cols {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		for k, x := range data[i : i+cols] {
			if k > 0 {
				b = append(b, ',')
			}
			b = appendF(b, x)
		}
		b = append(b, ']')
	}
	return append(b, ']')
}

// writeAnswer writes a job's results as JSON.
func (s *Server) writeAnswer(w http.ResponseWriter, v *version, j *job, explain int) {
	bp := outBufs.Get().(*[]byte)
	b := append((*bp)[:0], `{"model":`...)
	b = strconv.AppendQuote(b, v.name)
	b = append(b, `,"version":"`...)
	b = append(b, v.id...)
	b = append(b, `","rows":`...)
	b = strconv.AppendInt(b, int64(j.rows), 10)
	switch j.op {
	case opEncode:
		b = appendMatrix(b, "codes", j.codes, v.lat)
	case opReconstruct:
		b = append(b, `,"metric":"`...)
		b = append(b, v.kind.String()...)
		b = append(b, '"')
		b = appendMatrix(b, "reconstructions", j.recon, v.cols)
		b = appendList(b, "errors", j.rowErr)
	case opScore:
		b = append(b, `,"metric":"`...)
		b = append(b, v.kind.String()...)
		b = append(b, `","threshold":`...)
		if v.threshold != nil {
			b = strconv.AppendFloat(b, v.threshold.Value, 'g', -1, 64)
		} else {
			b = append(b, "null"...)
		}
		b = appendList(b, "scores", j.rowErr)
		b = append(b, `,"flags":[`...)
		for i, e := range j.rowErr {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendBool(b, flagged(e, v.threshold))
		}
		b = append(b, ']')
		if explain > 0 {
			b = append(b, `,"explain":[`...)
			idx := make([]int, explain)
			for i := range j.rows {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, '[')
				for k, f := range topK(idx, j.featErr[i*v.cols:(i+1)*v.cols]) {
					if k > 0 {
						b = append(b, ',')
					}
					b = append(b, `{"feature":`...)
					b = strconv.AppendInt(b, int64(f), 10)
					b = append(b, `,"name":`...)
					b = strconv.AppendQuote(b, v.names[f])
					b = append(b, `,"error":`...)
					b = appendF(b, j.featErr[i*v.cols+f])
					b = append(b, '}')
				}
				b = append(b, ']')
			}
			b = append(b, ']')
		}
	}
	b = append(b, "}\n"...)
	w.Header().Set("Content-Type", TypeJSON)
	w.Write(b)
	*bp = b
	outBufs.Put(bp)
}

func appendList(b []byte, key string, data []float32) []byte {
	b = append(b, `,"`...)
	b = append(b, key...)
	b = append(b, `":[`...)
	for i, x := range data {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendF(b, x)
	}
	return append(b, ']')
}

// flagged is `aegpu score`'s flag: the score (widened to float64) is
// greater than the threshold.
func flagged(e float32, t *autoencoder.Threshold) bool { return t != nil && float64(e) > t.Value }

// writeNPY writes a job's results as a .npy file: the codes, the
// reconstructions, or score and flag per row (as aegpu score's .npy).
func (s *Server) writeNPY(w http.ResponseWriter, v *version, j *job) {
	var data []float32
	cols := 0
	switch j.op {
	case opEncode:
		data, cols = j.codes, v.lat
	case opReconstruct:
		data, cols = j.recon, v.cols
	case opScore:
		data, cols = make([]float32, 2*j.rows), 2
		for i, e := range j.rowErr {
			data[2*i] = e
			if flagged(e, v.threshold) {
				data[2*i+1] = 1
			}
		}
	}
	w.Header().Set("Content-Type", TypeNPY)
	dataset.EncodeNPY(w, j.rows, cols, data)
}
