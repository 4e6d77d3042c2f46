// Package serve is aegpu's online inference server: trained model
// directories answer encode, reconstruct and score requests over HTTP.
//
// Requests to one model are batched: each version of a model has one
// goroutine (its batcher) that owns a Predictor and its preallocated
// buffers, gathers the rows of concurrent requests up to Options.MaxBatch
// rows or Options.MaxDelay, whichever comes first, runs them as one device
// batch and hands every request its rows of the result. It waits only
// while another request to the version is on its way (reading its body,
// or queued): a lone request runs at once. The kernels are
// row-independent, so a row gives the same bits in any batch, alone or
// with others, as with `aegpu encode` and `aegpu score`.
//
// Reload (SIGHUP in `aegpu serve`) or a changed checkpoint manifest
// (Options.Watch) loads a new version of a model next to the one serving;
// new requests go to the new version, the requests in flight finish on the
// one they started with, then the old version's batcher stops and its
// buffers are freed. A version that fails to load leaves the old one
// serving; /v1/models says why.
//
// Everything is bounded: rows and bytes per request, requests waiting per
// model (429 with Retry-After beyond), a deadline per request (504), and
// the connections and timeouts of the HTTP server Serve runs.
//
// Imports point one way: serve → autoencoder, dataset, engine.
package serve

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/internal/netlimit"
)

// Options configures a Server. Zero fields take the defaults in brackets.
type Options struct {
	// Backend runs every model; when nil, Device ("auto", "cpu", "cuda",
	// "cuda:N"; [auto]) is opened with engine.Open (the backends must be
	// linked in) and closed by Close.
	Backend engine.Backend
	Device  string
	// MaxBatch is the most rows in one device batch [256].
	MaxBatch int
	// MaxDelay is how long a batcher waits for more rows after the first
	// request of a batch, while other requests are on their way [2ms].
	MaxDelay time.Duration
	// MaxRows is the most rows in one request [4096]; MaxBodyBytes the
	// largest request body [32 MiB].
	MaxRows      int
	MaxBodyBytes int64
	// MaxQueue is the most requests waiting for a model's batcher; more
	// are answered 429 with Retry-After [1024].
	MaxQueue int
	// Timeout is a request's deadline from its arrival to its answer
	// [10s]; a client may ask for less with ?timeout=DURATION.
	Timeout time.Duration
	// Token, when set, is the bearer token every request but /healthz and
	// /readyz must carry (Authorization: Bearer TOKEN).
	Token string
	// Logger receives one line per request at debug level and reloads at
	// info [discard].
	Logger *slog.Logger
	// Registry receives the server's metrics, served on /metrics [a new
	// registry with the Go and process collectors].
	Registry *prometheus.Registry
	// Watch, when positive, is how often every model's checkpoint manifest
	// is read: a new checkpoint is loaded as a new version.
	Watch time.Duration

	// Limits of the HTTP server Serve runs (not of the Handler mounted
	// elsewhere). MaxConns is the most connections open at once; more wait
	// in the listen queue until one closes [4096: more than MaxQueue, so
	// that a burst past the queue is answered 429 rather than held].
	MaxConns int
	// ReadHeaderTimeout bounds reading a request's headers [10s];
	// ReadTimeout reading a whole request, body included [30s];
	// WriteTimeout a request from the end of its headers to the end of
	// its answer, so a client that does not read is cut off [1m, or
	// Timeout + 10s when that is longer];
	// IdleTimeout a kept-alive connection with no request [2m];
	// DrainTimeout Serve's wait, once its context is done, for the
	// requests in flight [30s].
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout, DrainTimeout time.Duration
}

// Model names a model directory to serve.
type Model struct {
	Name string // the {name} of /v1/models/{name}/…
	Dir  string
}

// Server serves models over HTTP; it is an http.Handler.
type Server struct {
	o       Options
	backend engine.Backend
	owned   bool
	dev     sync.Mutex // the backend runs one batch (or load) at a time
	models  map[string]*slot
	names   []string
	mux     *http.ServeMux
	m       *metrics
	log     *slog.Logger
	closing atomic.Bool
	stopW   chan struct{}
	wg      sync.WaitGroup // the watcher
	once    sync.Once
}

// New loads every model (each must load) and returns the server.
func New(o Options, models ...Model) (*Server, error) {
	if len(models) == 0 {
		return nil, errors.New("serve: no model to serve")
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = 256
	}
	if o.MaxDelay == 0 {
		o.MaxDelay = 2 * time.Millisecond
	}
	if o.MaxRows == 0 {
		o.MaxRows = 4096
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = 32 << 20
	}
	if o.MaxQueue == 0 {
		o.MaxQueue = 1024
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MaxConns == 0 {
		o.MaxConns = 4096
	}
	if o.WriteTimeout == 0 && o.Timeout+10*time.Second > time.Minute {
		o.WriteTimeout = o.Timeout + 10*time.Second // a request may take its whole deadline, then be written
	}
	for _, d := range []struct {
		p   *time.Duration
		def time.Duration
	}{{&o.ReadHeaderTimeout, 10 * time.Second}, {&o.ReadTimeout, 30 * time.Second}, {&o.WriteTimeout, time.Minute},
		{&o.IdleTimeout, 2 * time.Minute}, {&o.DrainTimeout, 30 * time.Second}} {
		if *d.p == 0 {
			*d.p = d.def
		}
	}
	switch {
	case o.MaxBatch < 1 || o.MaxRows < 1 || o.MaxBodyBytes < 1 || o.MaxQueue < 1:
		return nil, fmt.Errorf("serve: max batch, rows, body bytes and queue must be ≥ 1 (got %d, %d, %d, %d)", o.MaxBatch, o.MaxRows, o.MaxBodyBytes, o.MaxQueue)
	case o.MaxDelay < 0 || o.Timeout < 0:
		return nil, fmt.Errorf("serve: max delay and timeout must not be negative")
	case o.MaxConns < 1:
		return nil, fmt.Errorf("serve: max connections must be ≥ 1 (got %d)", o.MaxConns)
	case o.ReadHeaderTimeout < 0 || o.ReadTimeout < 0 || o.WriteTimeout < 0 || o.IdleTimeout < 0 || o.DrainTimeout < 0:
		return nil, fmt.Errorf("serve: the HTTP server's timeouts must not be negative")
	}
	s := &Server{o: o, backend: o.Backend, models: map[string]*slot{}, log: o.Logger, stopW: make(chan struct{})}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.backend == nil {
		dev := o.Device
		if dev == "" {
			dev = "auto"
		}
		b, _, err := engine.Open(dev)
		if err != nil {
			return nil, err
		}
		s.backend, s.owned = b, true
	}
	reg := o.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	}
	s.m = newMetrics(reg, o.MaxBatch)
	for _, md := range models {
		if !validName(md.Name) {
			s.Close()
			return nil, fmt.Errorf("serve: model name %q: use letters, digits, '-', '_' and '.'", md.Name)
		}
		if _, dup := s.models[md.Name]; dup {
			s.Close()
			return nil, fmt.Errorf("serve: two models named %q", md.Name)
		}
		v, err := s.load(md.Name, md.Dir)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("serve: model %s: %w", md.Name, err)
		}
		sl := &slot{name: md.Name, dir: md.Dir, cur: v}
		s.models[md.Name] = sl
		s.names = append(s.names, md.Name)
		s.m.version(md.Name, "", v.id)
	}
	s.routes(reg)
	if o.Watch > 0 {
		s.wg.Add(1)
		go s.watch()
	}
	return s, nil
}

func validName(n string) bool {
	if n == "" || len(n) > 128 {
		return false
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// ServeHTTP routes a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Ready reports whether every model is loaded and the server is not
// shutting down (/readyz).
func (s *Server) Ready() bool { return !s.closing.Load() && len(s.models) > 0 }

// Close stops the batchers once the requests in flight are answered, and
// frees the models (and the backend New opened). Call it after the HTTP
// server has stopped handing requests in.
func (s *Server) Close() error {
	s.closing.Store(true)
	s.once.Do(func() { close(s.stopW) })
	s.wg.Wait()
	for _, sl := range s.models {
		sl.mu.Lock()
		v := sl.cur
		sl.cur = nil
		sl.mu.Unlock()
		if v != nil {
			v.retire()
		}
		sl.waitRetired()
	}
	if s.owned && s.backend != nil {
		err := s.backend.Close()
		s.backend = nil
		return err
	}
	return nil
}

// Serve serves s on ln until ctx is done, then stops accepting
// connections, answers the requests already accepted (for at most
// Options.DrainTimeout), and closes s. At most Options.MaxConns
// connections are open at once, and the HTTP server's timeouts are the
// Options'.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: s.o.ReadHeaderTimeout,
		ReadTimeout:       s.o.ReadTimeout,
		WriteTimeout:      s.o.WriteTimeout,
		IdleTimeout:       s.o.IdleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	ln = netlimit.Listener(ln, s.o.MaxConns, func(d int) { s.m.conns.Add(float64(d)) })
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		s.Close()
		return err
	case <-ctx.Done():
	}
	s.closing.Store(true) // /readyz says 503 while draining
	s.log.Info("shutting down: draining requests in flight")
	sctx, cancel := context.WithTimeout(context.Background(), s.o.DrainTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	s.Close()
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// CheckAddr splits a listen address and reports whether its host is a
// loopback address (or localhost).
func CheckAddr(addr string) (loopback bool, err error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("address %q: want host:port, e.g. 127.0.0.1:8080", addr)
	}
	if strings.EqualFold(host, "localhost") {
		return true, nil
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback(), nil
}

// authorized checks the bearer token in constant time.
func (s *Server) authorized(r *http.Request) bool {
	if s.o.Token == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(s.o.Token)) == 1
}

// Names are the served models' names, in the order given to New.
func (s *Server) Names() []string { return slices.Clone(s.names) }
