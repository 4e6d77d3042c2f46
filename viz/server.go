// Package viz serves a local web page that watches and steers a real
// autoencoder training run: the network (encoder → latent → decoder), the
// selected sample's input, latent code and reconstruction with per-feature
// error, live train and validation loss curves, the latent space as a 2-D
// scatter, the histogram of reconstruction errors with the anomaly
// threshold, and a VAE's generated samples and latent traversal; with
// start/pause/reset, learning rate, latent size, variant, noise and
// patience controls. The status names the best validation loss and its
// step; with a patience, training stops early as aegpu train --patience
// does, with the best weights restored.
//
// Training runs on the backend it is given (a GPU when engine.Open found
// one) in the session's goroutine; snapshots of the model are computed
// there between two steps, at most every Options.SnapshotEvery and only
// while a page is connected, and pushed to the pages as Server-Sent Events.
// The page is plain HTML, CSS and JavaScript embedded in the binary.
//
// Endpoints: GET / (the page), GET /static/… (its assets), GET /events (the
// event stream: one JSON Frame per message, the first a snapshot taken when
// the stream opens), GET /api/state (State, with a snapshot taken for the
// request), POST /api/control (a Control as JSON, at most 4 KiB).
package viz

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"mime"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
)

//go:embed static
var staticFiles embed.FS

// Options configure a Server. Only Backend is required.
type Options struct {
	// Backend trains the model; the Server does not close it.
	// DeviceNote says how it was chosen (engine.Open's note).
	Backend    engine.Backend
	DeviceNote string
	// Data are the rows to train on, in their own units; nil: ToyData with
	// its labels. Source names them on the page.
	Data   *dataset.Table
	Source string
	// Labels, one per row, colour the latent scatter (optional).
	Labels []int
	// ImageShape [H, W] draws rows as grey images; nil: Data.Shape[1:]
	// when Data is N×H×W, else rows are drawn as bars.
	ImageShape []int
	// Layers are the encoder widths from the input to the latent code
	// (the decoder mirrors them); nil: DefaultLayers(Data.Cols).
	Layers []int
	// ModelDir, when set, is a model directory (aegpu train's) to start
	// from: its architecture, scaler, settings and weights. Reset starts
	// over from random weights.
	ModelDir string
	// Settings are the first model's settings; zero fields take lr 1e-3,
	// the latent width of Layers, the plain variant and no noise.
	Settings Settings
	Batch    int    // rows per step; 0: 64 (128 for data wider than 64 columns)
	Seed     uint64 // of the split, weights, shuffling, noise; 0: 1
	// SnapshotEvery is the least time between two snapshots pushed to the
	// pages (0: 300 ms); it grows when snapshots are slow, so that they
	// take at most 2% of the training time.
	SnapshotEvery time.Duration
	// MaxShown is the number of samples in the scatter and the error
	// histogram (0: 500), spread evenly over the rows.
	MaxShown int
	// MaxClients bounds the connected pages (0: 8).
	MaxClients int
	// LoopbackOnly refuses requests whose Host header is not a loopback
	// name or address (set it when listening on loopback: it stops DNS
	// rebinding from reaching the server through a browser).
	LoopbackOnly bool
}

// DefaultLayers returns the encoder widths used for d-column data: d → d/2
// up to 16 columns (8 → 4 for the toy data), d → d/2 → d/8 up to 128,
// d → 128 → 16 beyond.
func DefaultLayers(d int) []int {
	switch {
	case d <= 16:
		return []int{d, max((d+1)/2, 1)}
	case d <= 128:
		return []int{d, (d + 1) / 2, max((d+7)/8, 2)}
	}
	return []int{d, 128, 16}
}

// Server is the visualizer: an http.Handler and the training session behind
// it. Close it to stop training and free the device memory.
type Server struct {
	o      Options
	sess   *session
	hub    *hub
	static http.Handler
	index  []byte
}

// New prepares the data and the first model; training starts when a page
// (or Do) says so.
func New(o Options) (*Server, error) {
	if o.Backend == nil {
		return nil, errors.New("viz: no backend")
	}
	if o.Data == nil {
		o.Data, o.Labels = ToyData(ToyRows, 1)
		o.Source = ToyName
	}
	d := o.Data
	if d.Rows < 2 || d.Cols < 1 || len(d.Data) != d.Rows*d.Cols {
		return nil, fmt.Errorf("viz: the data must have at least 2 rows of at least 1 column, got %d×%d", d.Rows, d.Cols)
	}
	for i, v := range d.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("viz: data row %d column %d is %v", i/d.Cols, i%d.Cols, v)
		}
	}
	if o.Source == "" {
		o.Source = "data"
	}
	if o.Labels != nil && len(o.Labels) != d.Rows {
		return nil, fmt.Errorf("viz: %d labels for %d rows", len(o.Labels), d.Rows)
	}
	if o.ImageShape == nil && len(d.Shape) == 3 {
		o.ImageShape = d.Shape[1:]
	}
	if o.ImageShape != nil && (len(o.ImageShape) != 2 || o.ImageShape[0]*o.ImageShape[1] != d.Cols) {
		return nil, fmt.Errorf("viz: image shape %v does not hold the %d columns (want H×W = %d)", o.ImageShape, d.Cols, d.Cols)
	}
	if o.Layers == nil {
		o.Layers = DefaultLayers(d.Cols)
	}
	if len(o.Layers) < 2 || o.Layers[0] != d.Cols {
		return nil, fmt.Errorf("viz: layers %v must start with the data width %d and end with the latent width, e.g. %v", o.Layers, d.Cols, DefaultLayers(d.Cols))
	}
	if o.Settings.LR == 0 {
		o.Settings.LR = 1e-3
	}
	if o.Settings.Latent == 0 {
		o.Settings.Latent = o.Layers[len(o.Layers)-1]
	}
	if o.Settings.Variant == "" {
		o.Settings.Variant = "plain"
	}
	if o.Batch == 0 {
		o.Batch = 64
		if d.Cols > 64 {
			o.Batch = 128
		}
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.SnapshotEvery <= 0 {
		o.SnapshotEvery = 300 * time.Millisecond
	}
	if o.MaxShown <= 0 {
		o.MaxShown = 500
	}
	if o.MaxClients <= 0 {
		o.MaxClients = 8
	}
	index, err := staticFiles.ReadFile("static/index.html")
	if err != nil {
		return nil, err
	}
	sub, err := fs.Sub(staticFiles, "static")
	if err != nil {
		return nil, err
	}
	s := &Server{o: o, hub: newHub(o.MaxClients), index: index,
		static: http.StripPrefix("/static/", http.FileServer(http.FS(sub)))}
	if s.sess, err = newSession(&s.o, s.hub); err != nil {
		return nil, err
	}
	return s, nil
}

// Close stops training, disconnects the pages and frees the model's device
// memory (not the backend).
func (s *Server) Close() {
	s.hub.close()
	s.sess.close()
}

// State is what GET /api/state returns: the fixed facts of the session, its
// status, and the latest frame with the whole loss history.
type State struct {
	Backend     string   `json:"backend"`
	DeviceNote  string   `json:"device_note,omitempty"`
	Data        DataInfo `json:"data"`
	Variants    []string `json:"variants"`
	Limits      Limits   `json:"limits"`
	ShownRows   []int    `json:"shown_rows"`             // the rows in the scatter and the histogram
	ShownLabels []int    `json:"shown_labels,omitempty"` // their labels
	Status      Status   `json:"status"`
	Frame       *Frame   `json:"frame"`
}

// DataInfo describes the training data.
type DataInfo struct {
	Source     string `json:"source"`
	ModelDir   string `json:"model_dir,omitempty"`
	Rows       int    `json:"rows"`
	Cols       int    `json:"cols"`
	ImageShape []int  `json:"image_shape,omitempty"`
	Classes    int    `json:"classes"` // 1 + the largest label; 0 without labels
	TrainRows  int    `json:"train_rows"`
	ValRows    int    `json:"val_rows"`
}

// Limits are the ranges the controls accept.
type Limits struct {
	LRMax       float64 `json:"lr_max"`
	NoiseMax    float64 `json:"noise_max"`
	LatentMax   int     `json:"latent_max"`
	SampleMax   int     `json:"sample_max"`
	PatienceMax int     `json:"patience_max"`
}

// State returns the session's state with the latest frame computed (which
// is older than the status while training runs with no page connected: the
// frame's own Status is the one of its snapshot). CurrentState takes a new
// snapshot.
func (s *Server) State() State {
	st := s.facts()
	st.Status, st.Frame = s.sess.latest()
	return st
}

// CurrentState returns the session's state with a snapshot of the model as
// it is now (taken between two training steps), so that the frame, its
// losses and its step agree with the status: what a page starts from.
func (s *Server) CurrentState(ctx context.Context) (State, error) {
	st := s.facts()
	var err error
	if st.Status, st.Frame, err = s.sess.current(ctx); err != nil {
		return State{}, s.wrap(err)
	}
	return st, nil
}

// facts returns the fixed part of State.
func (s *Server) facts() State {
	st := State{Backend: s.o.Backend.Info().String(), DeviceNote: s.o.DeviceNote,
		Data: DataInfo{Source: s.o.Source, ModelDir: s.o.ModelDir, Rows: s.o.Data.Rows, Cols: s.o.Data.Cols,
			ImageShape: s.o.ImageShape, TrainRows: len(s.sess.train) / s.o.Data.Cols, ValRows: len(s.sess.val) / s.o.Data.Cols},
		Variants:  autoencoder.Variants,
		Limits:    Limits{LRMax: MaxLR, NoiseMax: MaxNoise, LatentMax: s.o.Data.Cols, SampleMax: s.o.Data.Rows - 1, PatienceMax: MaxPatience},
		ShownRows: s.sess.shown}
	if s.o.Labels != nil {
		for _, l := range s.o.Labels {
			st.Data.Classes = max(st.Data.Classes, l+1)
		}
		st.ShownLabels = make([]int, len(s.sess.shown))
		for i, r := range s.sess.shown {
			st.ShownLabels[i] = s.o.Labels[r]
		}
	}
	return st
}

// latest returns the status and the latest frame with its loss history up
// to the frame's step. The frame keeps the status of its snapshot, so that
// its panels, losses and step agree.
func (s *session) latest() (Status, *Frame) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.Clients = s.hub.count()
	if s.last == nil {
		return st, nil
	}
	f := *s.last
	f.Status.Clients = st.Clients
	n := len(s.points)
	for n > 0 && s.points[n-1].Step > f.Status.Step {
		n--
	}
	f.Loss = slices.Clone(s.points[:n])
	f.LossHistory = true
	return st, &f
}

// Control is a request to the session (the body of POST /api/control).
// Action is one of:
//
//	start   train (LR and Patience, when given, are set first); after
//	        early stopping, goes on from the restored best weights
//	pause   stop after the current step; start continues
//	reset   a new model with fresh weights and the given settings (LR,
//	        Latent, Variant, Noise, Patience; absent ones keep their
//	        values); paused
//	select  show data row Sample in the sample panels
//	set     change the learning rate and/or the patience of the model (LR,
//	        Patience)
type Control struct {
	Action   string   `json:"action"`
	LR       *float64 `json:"lr,omitempty"`
	Latent   *int     `json:"latent,omitempty"`
	Variant  *string  `json:"variant,omitempty"`
	Noise    *float64 `json:"noise,omitempty"`
	Patience *int     `json:"patience,omitempty"`
	Sample   *int     `json:"sample,omitempty"`
}

// RequestError is a control request that was refused; Code is its HTTP
// status.
type RequestError struct {
	Code int
	Msg  string
}

func (e *RequestError) Error() string { return e.Msg }

func badRequest(format string, args ...any) error {
	return &RequestError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// Do checks and runs a control request and returns the status after it.
// Errors are *RequestError: 400 for malformed or out-of-range values, 409
// for a request that cannot be done now, 503 when shutting down.
func (s *Server) Do(ctx context.Context, c Control) (Status, error) {
	fields := map[string]bool{"lr": c.LR != nil, "latent": c.Latent != nil, "variant": c.Variant != nil,
		"noise": c.Noise != nil, "patience": c.Patience != nil, "sample": c.Sample != nil}
	allowed := map[string][]string{"start": {"lr", "patience"}, "pause": {}, "reset": {"lr", "latent", "variant", "noise", "patience"},
		"select": {"sample"}, "set": {"lr", "patience"}}
	ok, known := allowed[c.Action]
	if !known {
		return Status{}, badRequest("action must be one of start, pause, reset, select, set; got %q", c.Action)
	}
	for _, f := range []string{"lr", "latent", "variant", "noise", "patience", "sample"} {
		if fields[f] && !slices.Contains(ok, f) {
			return Status{}, badRequest("%s is not a setting of action %s (it takes: %s)", f, c.Action, orNone(ok))
		}
	}
	if c.LR != nil && !(*c.LR > 0 && *c.LR <= MaxLR) {
		return Status{}, badRequest("lr must be a number in (0, %g], got %v", MaxLR, *c.LR)
	}
	if c.Latent != nil && (*c.Latent < 1 || *c.Latent > s.o.Data.Cols) {
		return Status{}, badRequest("latent must be an integer in [1, %d] (the input width), got %d", s.o.Data.Cols, *c.Latent)
	}
	if c.Variant != nil && !slices.Contains(autoencoder.Variants, *c.Variant) {
		return Status{}, badRequest("variant must be one of %s, got %q", strings.Join(autoencoder.Variants, ", "), *c.Variant)
	}
	if c.Noise != nil && !(*c.Noise >= 0 && *c.Noise <= MaxNoise) {
		return Status{}, badRequest("noise must be a number in [0, %g], got %v", MaxNoise, *c.Noise)
	}
	if c.Patience != nil && (*c.Patience < 0 || *c.Patience > MaxPatience) {
		return Status{}, badRequest("%v", patienceError(*c.Patience))
	}
	cmd := command{Action: c.Action}
	switch c.Action {
	case "select":
		if c.Sample == nil {
			return Status{}, badRequest("select needs sample, a data row in [0, %d]", s.o.Data.Rows-1)
		}
		if *c.Sample < 0 || *c.Sample >= s.o.Data.Rows {
			return Status{}, badRequest("sample must be a data row in [0, %d], got %d", s.o.Data.Rows-1, *c.Sample)
		}
		cmd.Sample = *c.Sample
	case "set":
		if c.LR == nil && c.Patience == nil {
			return Status{}, badRequest("set needs lr or patience (or both)")
		}
		cmd.LR, cmd.Patience = c.LR, c.Patience
	case "reset":
		s.sess.mu.Lock()
		set := s.sess.status.Settings
		s.sess.mu.Unlock()
		if c.LR != nil {
			set.LR = *c.LR
		}
		if c.Latent != nil {
			set.Latent = *c.Latent
		}
		if c.Variant != nil {
			set.Variant = *c.Variant
			if c.Noise == nil && set.Variant != "denoising" {
				set.Noise = 0
			}
		}
		if c.Noise != nil {
			set.Noise = *c.Noise
		}
		if c.Patience != nil {
			set.Patience = *c.Patience
		}
		if set.Variant == "denoising" && c.Noise == nil && set.Noise == 0 {
			set.Noise = 0.2
		}
		if err := set.validate(s.o.Data.Cols); err != nil {
			return Status{}, badRequest("%v", err)
		}
		cmd.Settings = set
	}
	if c.Action == "start" && (c.LR != nil || c.Patience != nil) {
		if _, err := s.sess.send(ctx, command{Action: "set", LR: c.LR, Patience: c.Patience}); err != nil {
			return Status{}, s.wrap(err)
		}
	}
	st, err := s.sess.send(ctx, cmd)
	return st, s.wrap(err)
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "nothing"
	}
	return strings.Join(s, ", ")
}

// wrap turns a session error into a RequestError.
func (s *Server) wrap(err error) error {
	var conflict *errConflict
	switch {
	case err == nil:
		return nil
	case errors.As(err, &conflict):
		return &RequestError{http.StatusConflict, err.Error()}
	case errors.Is(err, errClosed):
		return &RequestError{http.StatusServiceUnavailable, err.Error()}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &RequestError{http.StatusServiceUnavailable, "the request was cancelled: " + err.Error()}
	}
	return &RequestError{http.StatusInternalServerError, err.Error()}
}

// MaxControlBytes bounds the body of POST /api/control.
const MaxControlBytes = 4 << 10

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
	if s.o.LoopbackOnly && !loopbackHost(r.Host) {
		httpError(w, http.StatusForbidden, fmt.Sprintf("host %q is not a loopback name: open the page as http://127.0.0.1:PORT/ or http://localhost:PORT/", r.Host))
		return
	}
	path := r.URL.Path
	switch {
	case path == "/api/control":
		if r.Method != http.MethodPost {
			methodNotAllowed(w, "POST")
			return
		}
		s.serveControl(w, r)
		return
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		methodNotAllowed(w, "GET, HEAD")
		return
	case path == "/" || path == "/index.html":
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		w.Write(s.index)
	case path == "/api/state":
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		st, err := s.CurrentState(ctx)
		if err != nil {
			var re *RequestError
			errors.As(err, &re)
			httpError(w, re.Code, re.Msg)
			return
		}
		writeJSON(w, http.StatusOK, st)
	case path == "/events":
		s.serveEvents(w, r)
	case strings.HasPrefix(path, "/static/") && !strings.HasSuffix(path, "/"):
		if name := strings.TrimPrefix(path, "/static/"); !utf8.ValidString(name) || !fs.ValidPath(name) {
			httpError(w, http.StatusNotFound, "not found: "+strconv.QuoteToASCII(path))
			return
		}
		h.Set("Cache-Control", "no-cache")
		s.static.ServeHTTP(w, r)
	default:
		httpError(w, http.StatusNotFound, "not found: "+path)
	}
}

// serveControl decodes, checks and runs a Control.
func (s *Server) serveControl(w http.ResponseWriter, r *http.Request) {
	// A body that never arrives must not hold the connection.
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(BodyTimeout))
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		httpError(w, http.StatusUnsupportedMediaType, "the body must be JSON sent as Content-Type: application/json")
		return
	}
	if o := r.Header.Get("Origin"); o != "" && !sameOrigin(o, r.Host) {
		httpError(w, http.StatusForbidden, fmt.Sprintf("cross-origin request from %s refused", o))
		return
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxControlBytes))
	dec.DisallowUnknownFields()
	var c Control
	if err := dec.Decode(&c); err != nil {
		code, msg := decodeError(err)
		httpError(w, code, msg)
		return
	}
	if _, err := dec.Token(); err != io.EOF {
		httpError(w, http.StatusBadRequest, "the body must be a single JSON object")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	st, err := s.Do(ctx, c)
	if err != nil {
		var re *RequestError
		if !errors.As(err, &re) {
			re = &RequestError{http.StatusInternalServerError, err.Error()}
		}
		httpError(w, re.Code, re.Msg)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "status": st})
}

// decodeError turns a JSON decoding error into a status and a message that
// names the field.
func decodeError(err error) (int, string) {
	var mb *http.MaxBytesError
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &mb):
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", MaxControlBytes)
	case errors.As(err, &te):
		want := map[string]string{"action": "a string", "variant": "a string", "lr": "a number", "noise": "a number",
			"latent": "an integer", "patience": "an integer", "sample": "an integer"}[te.Field]
		if te.Field == "" {
			return http.StatusBadRequest, "the body must be a JSON object such as {\"action\":\"start\"}"
		}
		if want == "" {
			want = "a " + te.Type.String()
		}
		return http.StatusBadRequest, fmt.Sprintf("%s must be %s, got %s", te.Field, want, te.Value)
	case errors.As(err, &se):
		return http.StatusBadRequest, fmt.Sprintf("malformed JSON at byte %d: %v", se.Offset, err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return http.StatusBadRequest, "the body is empty or cut short: want a JSON object such as {\"action\":\"start\"}"
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return http.StatusBadRequest, strings.TrimPrefix(err.Error(), "json: ") + "; the fields are action, lr, latent, variant, noise, patience, sample"
	}
	return http.StatusBadRequest, "malformed request: " + err.Error()
}

// serveEvents streams frames as Server-Sent Events until the client goes
// away or the server closes.
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	c := s.hub.subscribe()
	if c == nil {
		httpError(w, http.StatusServiceUnavailable, "too many pages connected (or shutting down)")
		return
	}
	defer s.hub.unsubscribe(c)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(msg []byte) bool {
		rc.SetWriteDeadline(time.Now().Add(10 * time.Second)) // a stuck client is dropped
		if _, err := fmt.Fprintf(w, "data: %s\n\n", msg); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if _, err := io.WriteString(w, "retry: 2000\n\n"); err != nil {
		return
	}
	// The first frame is a snapshot of the model as it is now: the latest
	// one pushed may be much older (none are computed while no page is
	// connected).
	_, f, err := s.sess.current(r.Context())
	if err != nil {
		return // shutting down, or the client went away
	}
	msg, err := json.Marshal(f)
	if err != nil || !send(msg) {
		return
	}
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		select {
		case msg, ok := <-c.ch:
			if !ok || !send(msg) {
				return
			}
		case <-ping.C:
			rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(w, ": ping\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case <-r.Context().Done():
			return
		}
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

func httpError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	httpError(w, http.StatusMethodNotAllowed, "method not allowed; use "+allow)
}

// loopbackHost reports whether a Host header names the loopback interface.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// sameOrigin reports whether an Origin header names the host the request
// was sent to.
func sameOrigin(origin, host string) bool {
	o, ok := strings.CutPrefix(origin, "http://")
	if !ok {
		o, ok = strings.CutPrefix(origin, "https://")
	}
	return ok && strings.EqualFold(o, host)
}

// CheckAddr checks a listen address (host:port) and reports whether it
// binds only the loopback interface. An empty host (":8080"), 0.0.0.0, ::
// or any other address is reachable from the network: the caller should
// warn. Host names other than localhost are not resolved and count as
// non-loopback.
func CheckAddr(addr string) (loopback bool, err error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("address %q: want host:port, e.g. 127.0.0.1:8080", addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return false, fmt.Errorf("address %q: port %q is not a number in 0…65535", addr, port)
	}
	if strings.EqualFold(host, "localhost") {
		return true, nil
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback(), nil
}
