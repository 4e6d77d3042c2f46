package viz

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/internal/metrics"
	"github.com/aegpu/aegpu/internal/pca"
)

// Settings are the training settings the page controls.
type Settings struct {
	LR      float64 `json:"lr"`      // learning rate (Adam); changed live
	Latent  int     `json:"latent"`  // width of the latent code
	Variant string  `json:"variant"` // plain, denoising, sparse, contractive, vae
	// Noise is the σ of the Gaussian input corruption (0: none; a plain
	// model with noise is a denoising one).
	Noise float64 `json:"noise"`
	// Patience stops training when the validation loss (computed after
	// every epoch) has not improved for this many epochs, and restores the
	// weights of the best epoch, as aegpu train --patience does; 0: off.
	// Changed live.
	Patience int `json:"patience"`
}

// Limits of the controls.
const (
	MaxLR       = 1.0
	MaxNoise    = 1.0
	MaxPatience = 10000
)

// patienceError is the message for a patience outside [0, MaxPatience].
func patienceError(p int) error {
	return fmt.Errorf("patience must be an integer in [0, %d] (epochs without a better validation loss before training stops; 0: off), got %d", MaxPatience, p)
}

// validate checks s for a model whose input has width inputs.
func (s Settings) validate(inputs int) error {
	switch {
	case !(s.LR > 0 && s.LR <= MaxLR):
		return fmt.Errorf("lr must be a number in (0, %g], got %v", MaxLR, s.LR)
	case s.Latent < 1 || s.Latent > inputs:
		return fmt.Errorf("latent must be an integer in [1, %d] (the input width), got %d", inputs, s.Latent)
	case !slices.Contains(autoencoder.Variants, s.Variant):
		return fmt.Errorf("variant must be one of %v, got %q", autoencoder.Variants, s.Variant)
	case !(s.Noise >= 0 && s.Noise <= MaxNoise):
		return fmt.Errorf("noise must be a number in [0, %g], got %v", MaxNoise, s.Noise)
	case s.Variant == "denoising" && s.Noise == 0:
		return errors.New("a denoising autoencoder needs noise > 0 (the σ of the Gaussian corruption), e.g. 0.2")
	case s.Patience < 0 || s.Patience > MaxPatience:
		return patienceError(s.Patience)
	}
	return nil
}

// normalized turns a plain model with noise into the denoising one it is.
func (s Settings) normalized() Settings {
	if s.Variant == "plain" && s.Noise > 0 {
		s.Variant = "denoising"
	}
	return s
}

// Training constants of the session.
const (
	sessionEpochs = 1_000_000 // "until paused"
	progressEvery = 100 * time.Millisecond
	pointEvery    = 200 * time.Millisecond // a loss point at least this often (more often early on)
	maxPoints     = 4000                   // loss history kept (then halved)
	tailPoints    = 32                     // loss points repeated in every frame (at least)
	histBins      = 40
	vaeSamples    = 16
	vaeSteps      = 7
	vaeMaxDims    = 5
	vaeRange      = 2.5
	// snapshotBudget is the largest fraction of the time snapshots may
	// take: the interval between two grows to cost/snapshotBudget.
	snapshotBudget = 0.02
)

// thresholdRule is the anomaly threshold drawn on the error histogram.
const thresholdRule = "mean+3std"

// command is a control request for the session's goroutine.
type command struct {
	Action   string
	Settings Settings // reset: the new settings
	LR       *float64 // set: a new learning rate
	Patience *int     // set: a new patience
	Sample   int      // select
	reply    chan result
}

type result struct {
	status Status
	frame  *Frame // snapshot: a fresh frame with the whole loss history
	err    error
}

// errConflict marks a command that is valid but cannot be done now.
type errConflict struct{ msg string }

func (e *errConflict) Error() string { return e.msg }

// session owns one training run on the backend. Every use of the device —
// building the model, training, snapshots — happens on its goroutine
// (loop), so no locking of the device is needed: snapshots are computed in
// the trainer's progress callback, between two steps.
type session struct {
	o       *Options
	b       engine.Backend
	hub     *hub
	cols    int
	base    autoencoder.Arch // the architecture before the latent width is applied
	loss    string
	scaler  dataset.Scaler
	train   []float32 // scaled
	val     []float32
	labels  []int // nil without labels
	shown   []int // rows in the scatter
	shownX  []float32
	prior   []float32 // a VAE's fixed prior codes (per latent width)
	rule    metrics.Rule
	initial *autoencoder.Model // a model to start from (Options.ModelDir); used by the first build
	initCfg autoencoder.Config

	cmds    chan command
	quit    chan struct{}
	done    chan struct{}
	ctlMu   sync.Mutex // one command at a time
	closeMu sync.Once

	// Owned by loop's goroutine.
	model    *autoencoder.Model
	tr       *autoencoder.Trainer
	pred     *autoencoder.Predictor
	settings Settings
	gen      int
	running  bool
	failure  string
	selected int
	nextSnap time.Time
	interval time.Duration
	snapCost time.Duration
	seq      int64
	bestStep int64 // the step of the best validation loss (0: none yet)
	stopped  string
	rateStep int64
	rateAt   time.Time
	rate     float64

	// Shared with the HTTP handlers, under mu.
	mu       sync.Mutex
	cancel   context.CancelFunc
	closing  bool
	status   Status
	last     *Frame // the latest frame with a snapshot
	points   []LossPoint
	pointAt  time.Time
	curLoss  float64
	curVal   float64
	valNew   bool
	sentStep int64 // the step of the last loss point sent
}

// newSession prepares the data and the first model.
func newSession(o *Options, h *hub) (*session, error) {
	s := &session{o: o, b: o.Backend, hub: h, cols: o.Data.Cols, labels: o.Labels,
		cmds: make(chan command, 1), quit: make(chan struct{}), done: make(chan struct{}),
		interval: o.SnapshotEvery, curLoss: math.NaN(), curVal: math.NaN(), loss: "mse"}
	var err error
	if s.rule, err = metrics.ParseThreshold(thresholdRule); err != nil {
		return nil, err
	}
	data := o.Data
	trainRows, valRows := autoencoder.Split(data.Rows, 0.1, o.Seed)
	s.train, s.val = data.Gather(trainRows), data.Gather(valRows)
	set := o.Settings
	if o.ModelDir != "" {
		m, cfg, err := autoencoder.LoadModel(o.ModelDir, s.b)
		if err != nil {
			return nil, err
		}
		if m.Arch.Input() != data.Cols {
			m.Free()
			return nil, fmt.Errorf("model %s takes %d inputs but the data has %d columns", o.ModelDir, m.Arch.Input(), data.Cols)
		}
		s.initial, s.initCfg, s.scaler, s.base = m, cfg, cfg.Scaler, m.Arch
		s.loss = cfg.Train.Loss
		set = Settings{LR: cfg.Train.LR, Latent: m.Arch.LatentDim(), Variant: string(cfg.Variant), Patience: o.Settings.Patience}
		if cfg.Train.Noise != "" {
			if _, level, err := engine.ParseNoise(cfg.Train.Noise); err == nil {
				set.Noise = float64(level)
			}
		}
	} else {
		scale := autoencoder.AutoScale(data)
		if s.scaler, err = dataset.FitScaler(scale, &dataset.Table{Rows: len(trainRows), Cols: data.Cols, Data: s.train}); err != nil {
			return nil, err
		}
		s.base = autoencoder.Arch{Layers: o.Layers, Hidden: engine.ReLU, Latent: engine.Linear, Output: autoencoder.AutoOutput(scale, data)}
	}
	if err := s.scaler.Apply(s.train, data.Cols); err != nil {
		return nil, err
	}
	if err := s.scaler.Apply(s.val, data.Cols); err != nil {
		return nil, err
	}
	n := min(o.MaxShown, data.Rows)
	s.shown = make([]int, n)
	s.shownX = make([]float32, 0, n*data.Cols)
	for i := range s.shown {
		r := int(int64(i) * int64(data.Rows) / int64(n))
		s.shown[i] = r
		s.shownX = append(s.shownX, data.Row(r)...)
	}
	if err := s.build(set); err != nil {
		if s.initial != nil {
			s.initial.Free()
		}
		return nil, err
	}
	s.refreshStatus()
	s.publish()
	go s.loop()
	return s, nil
}

// trainConfig returns the training settings of set.
func (s *session) trainConfig(set Settings) autoencoder.TrainConfig {
	c := autoencoder.DefaultTrainConfig()
	if s.initial != nil {
		c = s.initCfg.Train
		c.VariantConfig = autoencoder.VariantConfig{} // the session's settings choose it
	}
	c.Epochs, c.Patience, c.Batch, c.Seed, c.Loss = sessionEpochs, set.Patience, s.o.Batch, s.o.Seed, s.loss
	c.Schedule = "constant"
	c.LR = set.LR
	c.Kind = autoencoder.Variant(set.Variant)
	if set.Noise > 0 {
		c.Noise = fmt.Sprintf("gaussian:%g", set.Noise)
	}
	switch set.Variant {
	case "sparse":
		c.SparsityBeta, c.SparsityTarget = 1, 0.05
	case "contractive":
		c.Contractive, c.Projections = 0.01, 1
	case "vae":
		c.KLBeta = 1
	}
	return c
}

// arch returns the architecture of set.
func (s *session) arch(set Settings) autoencoder.Arch {
	a := s.base
	a.Layers = slices.Clone(s.base.Layers)
	a.Layers[len(a.Layers)-1] = set.Latent
	a.VAE = set.Variant == "vae"
	a.Tied = a.Tied && !a.VAE
	switch {
	case a.VAE:
		a.Latent = engine.Linear // a VAE's code is the sample of its linear heads
	case set.Variant == "sparse":
		a.Latent = engine.Sigmoid // the KL sparsity penalty needs units in (0, 1)
	case s.initial != nil && s.initCfg.Variant != "sparse":
		// keep the loaded model's latent activation
	default:
		a.Latent = engine.Linear
	}
	return a
}

// build replaces the model, trainer and predictor by new ones for set: the
// model given in Options.ModelDir on the first call, else fresh weights
// drawn from the seed (and the number of resets).
func (s *session) build(set Settings) error {
	set = set.normalized()
	if err := set.validate(s.cols); err != nil {
		return err
	}
	cfg := s.trainConfig(set)
	var m *autoencoder.Model
	if s.initial != nil && s.model == nil && s.gen == 0 {
		m = s.initial
	} else {
		var err error
		if m, err = autoencoder.NewModel(s.b, s.arch(set)); err != nil {
			return err
		}
		if err := m.Init(s.o.Seed + uint64(s.gen)); err != nil {
			m.Free()
			return err
		}
	}
	tr, err := autoencoder.NewTrainer(m, cfg, s.train, s.val, s.cols)
	if err != nil {
		if m != s.initial {
			m.Free()
		}
		return err
	}
	tr.ProgressEvery = progressEvery
	tr.OnProgress = s.onProgress
	tr.OnEpoch = s.onEpoch
	conf := autoencoder.NewConfig(m.Arch, cfg, s.scaler, autoencoder.DataInfo{})
	conf.ImageShape = s.o.ImageShape
	pred, err := autoencoder.NewPredictor(m, conf, len(s.shown)+1)
	if err != nil {
		tr.Free()
		if m != s.initial {
			m.Free()
		}
		return err
	}
	s.free()
	s.model, s.tr, s.pred, s.settings = m, tr, pred, set
	if m.Arch.VAE {
		s.prior = make([]float32, vaeSamples*m.Arch.LatentDim())
		engine.FillNormal(s.prior, s.o.Seed, engine.StreamSample, 0, 0, 1)
	}
	s.failure, s.stopped, s.bestStep = "", "", 0
	s.rateStep, s.rateAt, s.rate = 0, time.Time{}, math.NaN()
	s.mu.Lock()
	s.points, s.pointAt, s.curLoss, s.curVal, s.valNew, s.sentStep = nil, time.Time{}, math.NaN(), math.NaN(), false, -1
	s.mu.Unlock()
	return nil
}

// free releases the current model, trainer and predictor.
func (s *session) free() {
	if s.pred != nil {
		s.pred.Free()
	}
	if s.tr != nil {
		s.tr.Free()
	}
	if s.model != nil {
		s.model.Free()
	}
	s.model, s.tr, s.pred = nil, nil, nil
}

// loop runs commands and, while running, training, until close.
func (s *session) loop() {
	defer close(s.done)
	defer s.free()
	for {
		if s.running {
			select {
			case <-s.quit:
				return
			case c := <-s.cmds:
				s.handle(c)
			default:
				s.trainUntilInterrupted()
			}
			continue
		}
		select {
		case <-s.quit:
			return
		case c := <-s.cmds:
			s.handle(c)
		}
	}
}

// trainUntilInterrupted trains until a command (or close) cancels the
// context, training finishes or fails.
func (s *session) trainUntilInterrupted() {
	s.mu.Lock()
	if len(s.cmds) > 0 || s.closing {
		s.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.mu.Unlock()
	if s.rateAt.IsZero() {
		s.rateStep, s.rateAt = s.tr.State.Step, time.Now()
	}
	err := s.tr.Train(ctx)
	s.mu.Lock()
	s.cancel = nil
	s.mu.Unlock()
	cancel()
	switch {
	case autoencoder.IsInterrupted(err):
		return // a command is waiting
	case err != nil:
		s.failure = "training stopped: " + err.Error() + " — reset to start over"
	case s.tr.State.StopReason == "early_stopping":
		st := s.tr.State
		s.stopped = fmt.Sprintf("early stopping: no better validation loss for %d epochs; restored the weights of epoch %d (step %d, validation loss %.4g). Start goes on from them.",
			s.tr.Cfg.Patience, st.BestEpoch, s.bestStep, st.BestVal)
	default:
		s.failure = "training finished"
	}
	s.running = false
	s.recordPoint(true)
	s.publish()
}

// send hands c to the session's goroutine, interrupting training (after the
// current step) so that it runs at once, and waits for the result.
func (s *session) send(ctx context.Context, c command) (Status, error) {
	r := s.call(ctx, c)
	return r.status, r.err
}

// current takes a snapshot of the model as it is now (interrupting
// training for it) and returns the frame with the whole loss history: what
// a page that connects starts from.
func (s *session) current(ctx context.Context) (Status, *Frame, error) {
	r := s.call(ctx, command{Action: "snapshot"})
	return r.status, r.frame, r.err
}

func (s *session) call(ctx context.Context, c command) result {
	s.ctlMu.Lock()
	defer s.ctlMu.Unlock()
	c.reply = make(chan result, 1)
	select {
	case s.cmds <- c:
	case <-s.done:
		return result{err: errClosed}
	case <-ctx.Done():
		return result{err: ctx.Err()}
	}
	s.mu.Lock()
	if s.cancel != nil {
		s.cancel()
	}
	s.mu.Unlock()
	select {
	case r := <-c.reply:
		return r
	case <-s.done:
		return result{err: errClosed}
	case <-ctx.Done():
		return result{err: ctx.Err()}
	}
}

var errClosed = errors.New("the visualizer is shutting down")

// handle runs one command on the session's goroutine.
func (s *session) handle(c command) {
	var err error
	switch c.Action {
	case "start":
		st := &s.tr.State
		if st.Finished && st.StopReason == "early_stopping" {
			// Go on from the restored best weights, with a fresh count of
			// epochs without improvement.
			st.Finished, st.StopReason, st.BadEpochs = false, "", 0
			s.stopped = ""
		}
		if s.failure != "" && s.failure != "training finished" {
			err = &errConflict{s.failure}
		} else if st.Finished {
			err = &errConflict{"training finished; reset to start over"}
		} else {
			if !s.running {
				s.rateAt = time.Time{}
			}
			s.running = true
		}
	case "pause":
		if s.running {
			s.running = false
			s.recordPoint(true)
		}
	case "reset":
		s.gen++ // a new seed for the weights
		if err = s.build(c.Settings); err != nil {
			s.gen--
		} else {
			s.running = false
		}
	case "set":
		if c.LR != nil {
			s.settings.LR = *c.LR
			s.tr.Cfg.LR = *c.LR
		}
		if c.Patience != nil {
			s.settings.Patience = *c.Patience
			s.tr.Cfg.Patience = *c.Patience
		}
	case "select":
		s.selected = c.Sample
	case "snapshot":
		// publish below takes it
	default:
		err = fmt.Errorf("unknown action %q", c.Action)
	}
	s.refreshStatus()
	s.publish()
	r := result{err: err}
	if c.Action == "snapshot" {
		r.status, r.frame = s.latest()
	} else {
		s.mu.Lock()
		r.status = s.status
		s.mu.Unlock()
	}
	c.reply <- r
}

// close stops training and frees the device memory.
func (s *session) close() {
	s.closeMu.Do(func() {
		s.mu.Lock()
		s.closing = true
		if s.cancel != nil {
			s.cancel()
		}
		s.mu.Unlock()
		close(s.quit)
		<-s.done
	})
}

// onProgress and onEpoch run on the session's goroutine, between steps.
func (s *session) onProgress(p autoencoder.Progress) {
	s.mu.Lock()
	s.curLoss = p.Loss
	s.mu.Unlock()
	s.tick()
}

func (s *session) onEpoch(m autoencoder.EpochMetrics) {
	s.tr.State.Metrics = s.tr.State.Metrics[:0] // the session keeps its own history
	s.mu.Lock()
	s.curLoss = m.TrainLoss
	if m.ValLoss != nil {
		s.curVal, s.valNew = *m.ValLoss, true
	}
	s.mu.Unlock()
	if m.Best {
		s.bestStep = m.Step
	}
	s.tick()
}

// tick records a loss point when one is due and pushes a snapshot when a
// page is connected and the last one is old enough. (A page that connects
// gets a fresh snapshot of its own: see current.)
func (s *session) tick() {
	s.recordPoint(false)
	now := time.Now()
	if now.Before(s.nextSnap) {
		s.refreshStatus()
		return
	}
	if s.hub.count() == 0 {
		s.refreshStatus()
		return
	}
	s.publish()
}

// recordPoint appends a loss point when pointEvery has passed since the
// last one (or when forced and there is something new).
func (s *session) recordPoint(force bool) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if math.IsNaN(s.curLoss) {
		return
	}
	step, last := s.tr.State.Step, int64(0)
	if n := len(s.points); n > 0 {
		last = s.points[n-1].Step
	}
	// A point every pointEvery, and more often early on (whenever the step
	// count grew by a sixth), so that a fast run's first descent shows too.
	dt := now.Sub(s.pointAt)
	due := force || dt >= pointEvery || (dt >= 2*time.Millisecond && float64(step) >= 1.15*float64(last))
	if !due || (len(s.points) > 0 && step <= last) {
		return
	}
	p := LossPoint{Step: step, Train: Num(s.curLoss)}
	if s.valNew {
		v := Num(s.curVal)
		p.Val, s.valNew = &v, false
	}
	s.points = append(s.points, p)
	s.pointAt = now
	if len(s.points) > maxPoints {
		s.points = decimate(s.points)
	}
}

// decimate halves a loss history, keeping every point with a validation
// loss, every second other point, and the last point.
func decimate(p []LossPoint) []LossPoint {
	out := p[:0]
	for i, q := range p {
		if i%2 == 0 || q.Val != nil || i == len(p)-1 {
			out = append(out, q)
		}
	}
	if len(out) > maxPoints*3/4 { // mostly validation points: drop every second one
		keep := out[:0]
		for i, q := range out {
			if i%2 == 0 || i == len(out)-1 {
				keep = append(keep, q)
			}
		}
		out = keep
	}
	return out
}

// refreshStatus updates the status the handlers read.
func (s *session) refreshStatus() {
	st := s.tr.State
	now := time.Now()
	if s.running && !s.rateAt.IsZero() && now.Sub(s.rateAt) >= 250*time.Millisecond {
		s.rate = float64(st.Step-s.rateStep) / now.Sub(s.rateAt).Seconds()
		s.rateStep, s.rateAt = st.Step, now
	}
	if !s.running {
		s.rate = math.NaN()
	}
	a := s.model.Arch
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = Status{Running: s.running, Gen: s.gen, Step: st.Step, Epoch: st.Epoch,
		Loss: Num(s.curLoss), ValLoss: Num(s.curVal), StepsPerSec: Num(s.rate),
		SamplesPerSec: Num(s.rate * float64(s.tr.Cfg.Batch)), Settings: s.settings,
		Layers: slices.Clone(a.Layers), Hidden: a.Hidden.String(), LatentAct: a.Latent.String(), Output: a.Output.String(),
		Params: a.NumParams(), Batch: s.tr.Cfg.Batch, Selected: s.selected, Error: s.failure,
		SnapshotMs: Num(s.snapCost.Seconds() * 1000), IntervalMs: Num(s.interval.Seconds() * 1000),
		Clients: s.hub.count(), BestVal: Num(math.NaN()), BadEpochs: st.BadEpochs, StopReason: st.StopReason,
		Stopped: s.stopped}
	if st.BestEpoch > 0 {
		s.status.BestVal, s.status.BestEpoch, s.status.BestStep = Num(st.BestVal), st.BestEpoch, s.bestStep
	}
	if s.failure == "training finished" {
		s.status.Error = ""
	}
}

// publish computes a snapshot and pushes the frame to the connected pages.
func (s *session) publish() {
	t0 := time.Now()
	s.refreshStatus()
	s.seq++
	f := &Frame{Seq: s.seq}
	err := s.snapshot(f)
	s.mu.Lock()
	if err != nil {
		s.status.Error = "snapshot: " + err.Error()
	}
	f.Status = s.status
	// The points since the last frame, and at least the last tailPoints
	// (a page that lost a frame gets them again).
	from := max(len(s.points)-tailPoints, 0)
	for from > 0 && s.points[from-1].Step > s.sentStep {
		from--
	}
	if n := len(s.points); n > 0 {
		s.sentStep = s.points[n-1].Step
	}
	f.Loss = slices.Clone(s.points[from:])
	f.LossHistory = from == 0
	s.last = f
	s.mu.Unlock()
	s.hub.broadcast(f)
	s.snapCost = time.Since(t0)
	s.interval = max(s.o.SnapshotEvery, time.Duration(float64(s.snapCost)/snapshotBudget))
	s.nextSnap = time.Now().Add(s.interval)
}

// snapshot runs the shown samples and the selected one through the model
// (between training steps) and fills f's views.
func (s *session) snapshot(f *Frame) error {
	n, d := len(s.shown), s.cols
	lat := s.model.Arch.LatentDim()
	batch := append(slices.Clip(s.shownX), s.o.Data.Row(s.selected)...)
	codes, err := s.pred.Encode(batch, d)
	if err != nil {
		return err
	}
	recon, err := s.pred.DecodeScaled(codes)
	if err != nil {
		return err
	}
	scaled := slices.Clone(batch)
	if err := s.scaler.Apply(scaled, d); err != nil {
		return err
	}
	rowErr := make([]float64, n+1)
	feat := make([]float32, d)
	for i := 0; i <= n; i++ {
		var sum float64
		for j := 0; j < d; j++ {
			e := float64(recon[i*d+j]) - float64(scaled[i*d+j])
			sum += e * e
			if i == n {
				feat[j] = float32(e * e)
			}
		}
		rowErr[i] = sum / float64(d)
	}
	sv := &SampleView{Index: s.selected, Input: scaled[n*d:], Code: codes[n*lat:], Recon: recon[n*d:],
		Error: feat, RowError: Num(rowErr[n])}
	if s.labels != nil {
		l := s.labels[s.selected]
		sv.Label = &l
	}
	f.Sample = sv
	f.Scatter = s.scatter(codes[:n*lat], n, lat, rowErr[:n])
	f.Hist = s.histogram(rowErr[:n])
	if s.model.Arch.VAE {
		if f.VAE, err = s.vae(codes[n*lat:]); err != nil {
			return err
		}
	}
	return nil
}

func (s *session) scatter(codes []float32, n, lat int, rowErr []float64) *ScatterView {
	sc := &ScatterView{X: make(Vec, n), Y: make(Vec, n)}
	switch {
	case lat == 1:
		sc.Axes = "latent-error"
		for i := range n {
			sc.X[i], sc.Y[i] = codes[i], float32(rowErr[i])
		}
	case lat == 2:
		sc.Axes = "latent"
		for i := range n {
			sc.X[i], sc.Y[i] = codes[2*i], codes[2*i+1]
		}
	default:
		sc.Axes = "pca"
		m, err := pca.Fit(codes, n, lat, 2)
		if err != nil {
			return nil
		}
		p := m.Transform(codes)
		for i := range n {
			sc.X[i], sc.Y[i] = p[2*i], p[2*i+1]
		}
		for _, v := range m.ExplainedVariance() {
			sc.Explained = append(sc.Explained, float32(v))
		}
	}
	return sc
}

func (s *session) histogram(errs []float64) *HistView {
	h := &HistView{Counts: make([]int, histBins), Rule: thresholdRule}
	thr := s.rule.Fit(errs)
	mean, _ := metrics.MeanStd(errs)
	hi := thr
	for _, e := range errs {
		hi = max(hi, e)
	}
	if !(hi > 0) || math.IsInf(hi, 0) {
		hi = 1e-9
	}
	hi *= 1.05
	for _, e := range errs {
		b := int(e / hi * histBins)
		h.Counts[min(max(b, 0), histBins-1)]++
		if e > thr {
			h.Above++
		}
	}
	h.Lo, h.Hi, h.Threshold, h.Mean = 0, Num(hi), Num(thr), Num(mean)
	return h
}

// vae decodes the fixed prior codes and a traversal around mu.
func (s *session) vae(mu []float32) (*VAEView, error) {
	lat := len(mu)
	dims := min(lat, vaeMaxDims)
	codes := slices.Clone(s.prior)
	for k := range dims {
		for st := range vaeSteps {
			c := slices.Clone(mu)
			c[k] = float32(-vaeRange + 2*vaeRange*float64(st)/float64(vaeSteps-1))
			codes = append(codes, c...)
		}
	}
	out, err := s.pred.DecodeScaled(codes)
	if err != nil {
		return nil, err
	}
	d := s.cols
	return &VAEView{Samples: out[:vaeSamples*d], N: vaeSamples, Traversal: out[vaeSamples*d:],
		Dims: dims, Steps: vaeSteps, Range: vaeRange}, nil
}
