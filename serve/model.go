package serve

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/engine"
)

// slot is a served name: the version answering new requests, and the
// outcome of the last reload.
type slot struct {
	name, dir string
	mu        sync.RWMutex
	cur       *version
	lastErr   string // why the last reload failed ("" when it did not)
	failed    string // the manifest's weights checksum that failed to load
	retiring  sync.WaitGroup
	reloadMu  sync.Mutex // one reload at a time
}

// acquire returns the current version with a reference the caller gives
// back with v.release(); nil when the server is closing.
func (sl *slot) acquire() *version {
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	v := sl.cur
	if v != nil {
		v.refs.Add(1)
	}
	return v
}

func (sl *slot) waitRetired() { sl.retiring.Wait() }

// version is one loaded version of a model: its predictor, the buffers of
// one device batch, and the batcher that owns them.
type version struct {
	s         *Server
	name, id  string
	cfg       autoencoder.Config
	files     *autoencoder.ModelFiles
	model     *autoencoder.Model
	pred      *autoencoder.Predictor
	threshold *autoencoder.Threshold
	kind      engine.Loss
	cols, lat int
	names     []string // feature names for explanations
	loaded    time.Time

	queue    chan *job
	started  atomic.Int64 // device batches begun (tests wait on it)
	enqueued atomic.Int64 // requests queued (tests wait on it)
	gathers  atomic.Int64 // batches taken from the queue (tests count them)
	// arriving counts requests that hold this version and are not yet
	// taken by its batcher (reading their body, or queued): when there
	// are none, no row can join the batch, which runs without waiting.
	arriving atomic.Int64
	qDepth   prometheus.Gauge
	bRows    prometheus.Observer
	bSecs    prometheus.Observer
	refs     sync.WaitGroup // requests holding this version
	stop     chan struct{}
	stopped  chan struct{}

	// one device batch: inputs and outputs (the batcher's alone)
	in, codes, rowErr, featErr, recon []float32
	segs                              []segment
	batch                             []*job
}

// segment is the part of a job that rides in one device batch: the job's
// rows [from, from+n) at the batch's row at.
type segment struct {
	j           *job
	from, at, n int
}

// load reads a model directory and puts it on the device as a new
// version with its batcher running.
func (s *Server) load(name, dir string) (*version, error) {
	f, err := autoencoder.ReadModelFiles(dir)
	if err != nil {
		return nil, err
	}
	th, ok, err := autoencoder.ReadThreshold(dir)
	if err != nil {
		return nil, err
	}
	kind := engine.MSE
	var tp *autoencoder.Threshold
	if ok {
		tp = &th
		if th.Metric != "" {
			if kind, err = engine.ParseLoss(th.Metric); err != nil || (kind != engine.MSE && kind != engine.MAE) {
				return nil, fmt.Errorf("%s: metric %q: want mse or mae", autoencoder.ThresholdFile, th.Metric)
			}
		}
	}
	cols, lat := f.Arch.Input(), f.Arch.LatentDim()
	mb := s.o.MaxBatch
	s.dev.Lock()
	m, err := f.Load(s.backend)
	var p *autoencoder.Predictor
	if err == nil {
		if p, err = autoencoder.NewPredictor(m, f.Config, mb); err != nil {
			m.Free()
		}
	}
	s.dev.Unlock()
	if err != nil {
		return nil, err
	}
	names := make([]string, cols)
	for j := range names {
		names[j] = fmt.Sprintf("#%d", j)
		if j < len(f.Config.Data.Columns) && f.Config.Data.Columns[j] != "" {
			names[j] = f.Config.Data.Columns[j]
		}
	}
	v := &version{s: s, name: name, id: f.Version, cfg: f.Config, files: f, model: m, pred: p, threshold: tp, kind: kind,
		cols: cols, lat: lat, names: names, loaded: time.Now(),
		queue: make(chan *job, s.o.MaxQueue), stop: make(chan struct{}), stopped: make(chan struct{}),
		in: make([]float32, mb*cols), codes: make([]float32, mb*lat), rowErr: make([]float32, mb),
		featErr: make([]float32, mb*cols), recon: make([]float32, mb*cols),
		segs: make([]segment, 0, 64), batch: make([]*job, 0, 64),
		qDepth: s.m.queue.WithLabelValues(name), bRows: s.m.batchRows.WithLabelValues(name), bSecs: s.m.batchSeconds.WithLabelValues(name)}
	go v.run()
	return v, nil
}

// retire stops v once every request holding it is answered, then frees it.
func (v *version) retire() {
	v.refs.Wait()
	close(v.stop)
	<-v.stopped
	v.s.dev.Lock()
	v.pred.Free()
	v.model.Free()
	v.s.dev.Unlock()
}

// Reload loads a new version of every model (or of the named ones); a
// model that fails to load keeps its version, and the error says why.
func (s *Server) Reload(names ...string) error {
	if len(names) == 0 {
		names = s.names
	}
	var errs []error
	for _, n := range names {
		sl, ok := s.models[n]
		if !ok {
			errs = append(errs, fmt.Errorf("reload: no model %q", n))
			continue
		}
		if err := s.reload(sl, ""); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// reload loads sl's directory as a new version and swaps it in; sum is
// the manifest's weights checksum that prompted it ("" for a signal).
func (s *Server) reload(sl *slot, sum string) error {
	sl.reloadMu.Lock()
	defer sl.reloadMu.Unlock()
	if s.closing.Load() {
		return nil
	}
	v, err := s.load(sl.name, sl.dir)
	if err != nil {
		err = fmt.Errorf("reload %s from %s: %w (the version loaded before keeps serving)", sl.name, sl.dir, err)
		sl.mu.Lock()
		sl.lastErr, sl.failed = err.Error(), sum
		sl.mu.Unlock()
		s.m.reloads.WithLabelValues(sl.name, "error").Inc()
		s.log.Error("reload failed", "model", sl.name, "dir", sl.dir, "err", err)
		return err
	}
	sl.mu.Lock()
	old := sl.cur
	if old == nil { // closed meanwhile
		sl.mu.Unlock()
		v.retire()
		return nil
	}
	// The metrics change with the swap, under the slot's lock, so that
	// whoever sees the new version (GET /v1/models) sees it in /metrics.
	s.m.version(sl.name, old.id, v.id)
	s.m.reloads.WithLabelValues(sl.name, "ok").Inc()
	sl.cur, sl.lastErr, sl.failed = v, "", ""
	sl.retiring.Add(1)
	sl.mu.Unlock()
	s.log.Info("reloaded", "model", sl.name, "version", v.id, "previous", old.id)
	go func() {
		defer sl.retiring.Done()
		old.retire()
	}()
	return nil
}

// watch reads each model's manifest every Options.Watch and reloads a
// model whose weights changed.
func (s *Server) watch() {
	defer s.wg.Done()
	t := time.NewTicker(s.o.Watch)
	defer t.Stop()
	for {
		select {
		case <-s.stopW:
			return
		case <-t.C:
		}
		for _, n := range s.names {
			sl := s.models[n]
			m, err := autoencoder.ReadManifest(sl.dir)
			if err != nil || m == nil {
				continue // being written, or a directory without manifest: SIGHUP reloads it
			}
			sum := m.Files[autoencoder.WeightsFile].SHA256
			sl.mu.RLock()
			same := sl.cur == nil || sl.cur.id == sum || sl.failed == sum
			sl.mu.RUnlock()
			if !same {
				s.reload(sl, sum)
			}
		}
	}
}

// op is what a job asks of the model.
type op uint8

const (
	opEncode op = iota
	opReconstruct
	opScore
)

var opNames = [...]string{"encode", "reconstruct", "score"}

func (o op) String() string { return opNames[o] }

// job is one request's rows and the outputs its batcher fills.
type job struct {
	ctx     context.Context
	op      op
	rows    int
	explain bool
	data    []float32 // rows × cols
	// outputs: codes (encode), rowErr and recon (reconstruct), rowErr and
	// featErr (score; featErr with explain)
	codes, rowErr, featErr, recon []float32
	err                           error
	done                          chan struct{}
}

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

var jobPool = sync.Pool{New: func() any { return &job{done: make(chan struct{}, 1)} }}

// newJob returns a job of rows rows of cols values whose output buffers
// are sized for v.
func newJob(ctx context.Context, o op, rows, cols, lat int, explain bool) *job {
	j := jobPool.Get().(*job)
	j.ctx, j.op, j.rows, j.explain, j.err = ctx, o, rows, explain, nil
	j.data = grow(j.data, rows*cols)
	switch o {
	case opEncode:
		j.codes = grow(j.codes, rows*lat)
	case opReconstruct:
		j.rowErr, j.recon = grow(j.rowErr, rows), grow(j.recon, rows*cols)
	case opScore:
		j.rowErr = grow(j.rowErr, rows)
		if explain {
			j.featErr = grow(j.featErr, rows*cols)
		}
	}
	return j
}

// free returns an answered job to the pool (never one abandoned to its
// deadline, which its batcher may still write).
func (j *job) free() {
	j.ctx = nil
	jobPool.Put(j)
}

// run is v's batcher: it gathers jobs into batches until v is stopped.
func (v *version) run() {
	defer close(v.stopped)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	mb := v.s.o.MaxBatch
	for {
		var first *job
		select {
		case first = <-v.queue:
		case <-v.stop:
			for { // nothing should be left: every holder of v has been answered
				select {
				case j := <-v.queue:
					v.qDepth.Dec()
					v.arriving.Add(-1)
					j.err = errors.New("the model version was unloaded")
					j.done <- struct{}{}
				default:
					return
				}
			}
		}
		v.qDepth.Dec()
		v.arriving.Add(-1)
		v.batch = append(v.batch[:0], first)
		rows := first.rows
		if rows < mb && v.s.o.MaxDelay > 0 && v.arriving.Load() > 0 {
			timer.Reset(v.s.o.MaxDelay)
		gather:
			for rows < mb && v.arriving.Load() > 0 {
				select {
				case j := <-v.queue:
					v.qDepth.Dec()
					v.arriving.Add(-1)
					v.batch = append(v.batch, j)
					rows += j.rows
				case <-timer.C:
					break gather
				case <-v.stop:
					break gather
				}
			}
			timer.Stop()
		}
		v.gathers.Add(1)
		v.runJobs(opEncode)
		v.runJobs(opReconstruct) // reconstruct and score share the forward pass
		for _, j := range v.batch {
			j.done <- struct{}{}
		}
		clear(v.batch)
	}
}

// runJobs runs the batch's jobs of kind o (opReconstruct: reconstruct and
// score) in device batches of at most MaxBatch rows.
func (v *version) runJobs(o op) {
	mb, cols := v.s.o.MaxBatch, v.cols
	ji, from := 0, 0
	jobs := v.batch
	take := func(j *job) bool {
		if (o == opEncode) != (j.op == opEncode) || j.err != nil {
			return false
		}
		if err := j.ctx.Err(); err != nil {
			j.err = err
			return false
		}
		return true
	}
	for ji < len(jobs) {
		segs := v.segs[:0]
		n := 0
		wantFeat, wantRecon := false, false
		for n < mb && ji < len(jobs) {
			j := jobs[ji]
			if from == 0 && !take(j) {
				ji++
				continue
			}
			k := min(j.rows-from, mb-n)
			copy(v.in[n*cols:(n+k)*cols], j.data[from*cols:(from+k)*cols])
			segs = append(segs, segment{j: j, from: from, at: n, n: k})
			wantFeat = wantFeat || j.explain
			wantRecon = wantRecon || j.op == opReconstruct
			n += k
			from += k
			if from == j.rows {
				ji, from = ji+1, 0
			}
		}
		v.segs = segs
		if n == 0 {
			break
		}
		start := time.Now()
		var err error
		v.started.Add(1)
		v.s.dev.Lock()
		if o == opEncode {
			err = v.pred.EncodeInto(v.codes[:n*v.lat], v.in[:n*cols], cols)
		} else {
			var fe, rc []float32
			if wantFeat {
				fe = v.featErr[:n*cols]
			}
			if wantRecon {
				rc = v.recon[:n*cols]
			}
			err = v.pred.ForwardInto(v.rowErr[:n], fe, rc, v.in[:n*cols], cols, v.kind)
		}
		v.s.dev.Unlock()
		v.bRows.Observe(float64(n))
		v.bSecs.Observe(time.Since(start).Seconds())
		for _, sg := range segs {
			j := sg.j
			if err != nil {
				j.err = err
				continue
			}
			a, b := sg.from, sg.from+sg.n
			switch j.op {
			case opEncode:
				copy(j.codes[a*v.lat:b*v.lat], v.codes[sg.at*v.lat:(sg.at+sg.n)*v.lat])
			case opReconstruct:
				copy(j.rowErr[a:b], v.rowErr[sg.at:sg.at+sg.n])
				copy(j.recon[a*cols:b*cols], v.recon[sg.at*cols:(sg.at+sg.n)*cols])
			case opScore:
				copy(j.rowErr[a:b], v.rowErr[sg.at:sg.at+sg.n])
				if j.explain {
					copy(j.featErr[a*cols:b*cols], v.featErr[sg.at*cols:(sg.at+sg.n)*cols])
				}
			}
		}
	}
}
