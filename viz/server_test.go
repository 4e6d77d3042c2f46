package viz

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aegpu/aegpu/autoencoder"
	"github.com/aegpu/aegpu/dataset"
)

func TestToyData(t *testing.T) {
	a, la := ToyData(ToyRows, 1)
	b, lb := ToyData(ToyRows, 1)
	if !slices.Equal(a.Data, b.Data) || !slices.Equal(la, lb) {
		t.Fatal("the toy data differ between two calls with the same seed")
	}
	if a.Rows != ToyRows || a.Cols != ToyCols || len(a.Data) != ToyRows*ToyCols {
		t.Fatalf("toy data %d×%d with %d values", a.Rows, a.Cols, len(a.Data))
	}
	for i, v := range a.Data {
		if !(v >= 0 && v <= 1) {
			t.Fatalf("value %d is %v, want [0, 1]", i, v)
		}
	}
	count := make([]int, ToyFactors)
	for _, l := range la {
		count[l]++
	}
	for k, n := range count {
		if n < ToyRows/ToyFactors/2 {
			t.Errorf("label %d has %d rows of %d", k, n, ToyRows)
		}
	}
	c, _ := ToyData(ToyRows, 2)
	if slices.Equal(a.Data, c.Data) {
		t.Error("another seed gives the same data")
	}
}

func TestControlValidation(t *testing.T) {
	srv, ts := startServer(t, Options{})
	before := srv.State().Status
	cases := []struct {
		body string
		code int
		msg  string
	}{
		{`{"action":"fly"}`, 400, "action must be one of"},
		{`{}`, 400, "action must be one of"},
		{`{"action":"reset","lr":-1}`, 400, "lr must be a number in (0, 1]"},
		{`{"action":"reset","lr":0}`, 400, "lr must be"},
		{`{"action":"reset","lr":2}`, 400, "lr must be"},
		{`{"action":"reset","lr":"fast"}`, 400, "lr must be a number"},
		{`{"action":"reset","lr":1e999}`, 400, "lr must be a number"},
		{`{"action":"reset","latent":0}`, 400, "latent must be an integer in [1, 8]"},
		{`{"action":"reset","latent":9}`, 400, "latent must be"},
		{`{"action":"reset","latent":2.5}`, 400, "latent must be an integer"},
		{`{"action":"reset","variant":"gan"}`, 400, "variant must be one of"},
		{`{"action":"reset","variant":7}`, 400, "variant must be a string"},
		{`{"action":"reset","noise":1.5}`, 400, "noise must be a number in [0, 1]"},
		{`{"action":"reset","noise":-0.1}`, 400, "noise must be"},
		{`{"action":"reset","variant":"denoising","noise":0}`, 400, "needs noise > 0"},
		{`{"action":"select"}`, 400, "select needs sample"},
		{`{"action":"select","sample":2000}`, 400, "sample must be a data row in [0, 1999]"},
		{`{"action":"select","sample":-1}`, 400, "sample must be"},
		{`{"action":"select","sample":"3"}`, 400, "sample must be an integer"},
		{`{"action":"set"}`, 400, "set needs lr or patience"},
		{`{"action":"set","patience":-1}`, 400, "patience must be an integer in [0, 10000]"},
		{`{"action":"set","patience":10001}`, 400, "patience must be an integer in [0, 10000]"},
		{`{"action":"reset","patience":-5}`, 400, "patience must be an integer in [0, 10000]"},
		{`{"action":"start","patience":1e9}`, 400, "patience must be an integer"},
		{`{"action":"set","patience":2.5}`, 400, "patience must be an integer"},
		{`{"action":"set","patience":"3"}`, 400, "patience must be an integer"},
		{`{"action":"set","patience":null}`, 400, "set needs lr or patience"},
		{`{"action":"pause","patience":3}`, 400, "patience is not a setting of action pause"},
		{`{"action":"select","sample":1,"patience":3}`, 400, "patience is not a setting of action select"},
		{`{"action":"pause","lr":0.1}`, 400, "lr is not a setting of action pause"},
		{`{"action":"start","latent":2}`, 400, "latent is not a setting of action start"},
		{`{"action":"start","extra":1}`, 400, `unknown field "extra"; the fields are action, lr, latent, variant, noise, patience, sample`},
		{`{"action":"start"} {"action":"pause"}`, 400, "a single JSON object"},
		{`[1,2]`, 400, "must be a JSON object"},
		{``, 400, "empty"},
		{`{"action":`, 400, "cut short"},
		{`{"action":"start",}`, 400, "malformed JSON"},
		{`{"action":"start","lr":` + strings.Repeat("1", MaxControlBytes) + `}`, 413, "larger than 4096 bytes"},
	}
	for _, c := range cases {
		code, out := post(t, ts.URL, c.body)
		msg, _ := out["error"].(string)
		if code != c.code || !strings.Contains(msg, c.msg) {
			t.Errorf("POST %.60s: %d %q, want %d and a message with %q", c.body, code, msg, c.code, c.msg)
		}
	}
	after := srv.State().Status
	if after.Gen != before.Gen || after.Settings != before.Settings || after.Running {
		t.Errorf("refused requests changed the session: %+v → %+v", before, after)
	}

	// Wrong content type, method, origin.
	resp, err := http.Post(ts.URL+"/api/control", "text/plain", strings.NewReader(`{"action":"start"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain body: %d, want 415", resp.StatusCode)
	}
	resp, err = http.Get(ts.URL + "/api/control")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET /api/control: %d (Allow %q), want 405 (POST)", resp.StatusCode, resp.Header.Get("Allow"))
	}
	req, _ := http.NewRequest("POST", ts.URL+"/api/control", strings.NewReader(`{"action":"start"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "http://evil.example")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin control: %d, want 403", resp.StatusCode)
	}
	if srv.State().Status.Running {
		t.Error("a refused start started training")
	}
}

func TestState(t *testing.T) {
	_, ts := startServer(t, Options{})
	resp, err := http.Get(ts.URL + "/api/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var st State
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(st.Backend, "cpu") {
		t.Errorf("backend %q", st.Backend)
	}
	d := st.Data
	if d.Rows != ToyRows || d.Cols != ToyCols || d.Classes != ToyFactors || d.Source != ToyName || d.TrainRows != 1800 || d.ValRows != 200 {
		t.Errorf("data %+v", d)
	}
	if len(st.ShownRows) != 500 || len(st.ShownLabels) != 500 {
		t.Errorf("%d shown rows, %d labels; want 500", len(st.ShownRows), len(st.ShownLabels))
	}
	s := st.Status
	if !slices.Equal(s.Layers, []int{8, 4}) || s.Settings != (Settings{LR: 1e-3, Latent: 4, Variant: "plain"}) || s.Running || s.Step != 0 {
		t.Errorf("status %+v", s)
	}
	if s.Output != "sigmoid" || s.Params != 76 {
		t.Errorf("output %s, %d parameters; want sigmoid, 76 (8·4+4 + 4·8+8)", s.Output, s.Params)
	}
	f := st.Frame
	if f == nil || f.Sample == nil || f.Scatter == nil || f.Hist == nil {
		t.Fatalf("the state has no snapshot: %+v", f)
	}
	if len(f.Sample.Input) != 8 || len(f.Sample.Code) != 4 || len(f.Sample.Recon) != 8 || len(f.Sample.Error) != 8 {
		t.Errorf("sample view sizes %d %d %d %d", len(f.Sample.Input), len(f.Sample.Code), len(f.Sample.Recon), len(f.Sample.Error))
	}
	if len(f.Scatter.X) != 500 || f.Scatter.Axes != "pca" || len(f.Scatter.Explained) != 2 {
		t.Errorf("scatter: %d points, axes %s, explained %v", len(f.Scatter.X), f.Scatter.Axes, f.Scatter.Explained)
	}
	n := 0
	for _, c := range f.Hist.Counts {
		n += c
	}
	if n != 500 || !(f.Hist.Threshold > 0) || f.Hist.Rule != "mean+3std" {
		t.Errorf("histogram of %d errors, threshold %v (%s)", n, f.Hist.Threshold, f.Hist.Rule)
	}
	if f.VAE != nil {
		t.Error("a plain model has VAE views")
	}
}

// sse reads Server-Sent Events frames.
type sse struct {
	t    *testing.T
	body io.ReadCloser
	sc   *bufio.Scanner
}

func openEvents(t *testing.T, url string) *sse {
	t.Helper()
	resp, err := http.Get(url + "/events")
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("GET /events: %d, %q", resp.StatusCode, ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	e := &sse{t: t, body: resp.Body, sc: sc}
	t.Cleanup(func() { resp.Body.Close() })
	return e
}

// next returns the next frame (failing after 20 s).
func (e *sse) next() Frame {
	e.t.Helper()
	done := make(chan Frame, 1)
	errc := make(chan error, 1)
	go func() {
		for e.sc.Scan() {
			line := e.sc.Text()
			if msg, ok := strings.CutPrefix(line, "data: "); ok {
				var f Frame
				if err := json.Unmarshal([]byte(msg), &f); err != nil {
					errc <- err
					return
				}
				done <- f
				return
			}
		}
		errc <- io.ErrUnexpectedEOF
	}()
	select {
	case f := <-done:
		return f
	case err := <-errc:
		e.t.Fatalf("reading /events: %v", err)
	case <-time.After(20 * time.Second):
		e.t.Fatal("no frame on /events for 20 s")
	}
	return Frame{}
}

// until reads frames until ok says yes.
func (e *sse) until(what string, ok func(Frame) bool) Frame {
	e.t.Helper()
	for i := 0; i < 500; i++ {
		if f := e.next(); ok(f) {
			return f
		}
	}
	e.t.Fatalf("no frame with %s", what)
	return Frame{}
}

// Frame's Num fields decode from JSON null as well.
func (n *Num) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = Num(math.NaN())
		return nil
	}
	var f float64
	err := json.Unmarshal(b, &f)
	*n = Num(f)
	return err
}

func TestEvents(t *testing.T) {
	srv, ts := startServer(t, Options{})
	ev := openEvents(t, ts.URL)
	first := ev.next()
	if first.Sample == nil || !first.LossHistory || first.Status.Running {
		t.Fatalf("first frame: %+v", first)
	}
	if code, out := post(t, ts.URL, `{"action":"start"}`); code != 200 || out["ok"] != true {
		t.Fatalf("start: %d %v", code, out)
	}
	f := ev.until("training progress and a snapshot", func(f Frame) bool {
		return f.Status.Running && f.Status.Step > 50 && f.Sample != nil && len(f.Loss) > 0 && float64(f.Status.StepsPerSec) > 0
	})
	if f.Status.Clients != 1 {
		t.Errorf("clients %d, want 1", f.Status.Clients)
	}
	for i := 1; i < len(f.Loss); i++ {
		if f.Loss[i].Step <= f.Loss[i-1].Step {
			t.Fatalf("loss points out of order: %+v", f.Loss)
		}
	}
	if code, _ := post(t, ts.URL, `{"action":"select","sample":5}`); code != 200 {
		t.Fatalf("select: %d", code)
	}
	ev.until("sample 5", func(f Frame) bool { return f.Sample != nil && f.Sample.Index == 5 })
	if code, _ := post(t, ts.URL, `{"action":"pause"}`); code != 200 {
		t.Fatal("pause")
	}
	p := ev.until("paused", func(f Frame) bool { return !f.Status.Running })
	time.Sleep(300 * time.Millisecond)
	if st := srv.State().Status; st.Step != p.Status.Step || st.Running {
		t.Errorf("training went on after pause: step %d, then %d", p.Status.Step, st.Step)
	}
	if code, _ := post(t, ts.URL, `{"action":"start"}`); code != 200 {
		t.Fatal("start again")
	}
	f = ev.until("training continues", func(f Frame) bool { return f.Status.Step > p.Status.Step })
	if f.Status.Gen != p.Status.Gen {
		t.Error("start after pause made a new model")
	}
}

// trainFor starts training and waits until the step count passes steps.
func trainFor(t *testing.T, srv *Server, steps int64) Status {
	t.Helper()
	do(t, srv, Control{Action: "start"})
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := srv.State().Status
		if st.Step > steps {
			return st
		}
		if !st.Running || time.Now().After(deadline) {
			t.Fatalf("training did not reach step %d: %+v", steps, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// consistent checks that a frame's snapshot is of the model at its status:
// the mean reconstruction error of the shown samples is close to the
// training loss (an untrained model's is 0.2, a trained one's 0.001), and
// its loss points end at its step.
func consistent(t *testing.T, what string, f *Frame) {
	t.Helper()
	if f == nil || f.Hist == nil || f.Sample == nil {
		t.Fatalf("%s: no snapshot: %+v", what, f)
	}
	mean, loss := float64(f.Hist.Mean), float64(f.Status.Loss)
	if !(mean < 3*loss && loss < 3*mean) {
		t.Errorf("%s: the panels show a mean error of %.4g beside a training loss of %.4g at step %d: the snapshot is not of the model at that step",
			what, mean, loss, f.Status.Step)
	}
	if n := len(f.Loss); !f.LossHistory || n == 0 || f.Loss[n-1].Step > f.Status.Step {
		t.Errorf("%s: loss history (whole: %v) of %d points ending after the frame's step %d", what, f.LossHistory, n, f.Status.Step)
	}
}

// A page that connects while training runs (and no page has been watching)
// starts from a snapshot of the model as it is then, in /api/state and in
// the first frame of /events, not from the last one pushed before.
func TestFirstFrameIsCurrent(t *testing.T) {
	srv, ts := startServer(t, Options{})
	if f := srv.State().Frame; float64(f.Hist.Mean) < 0.05 {
		t.Fatalf("the untrained model's mean error is %v: the check below cannot tell it from a trained one", f.Hist.Mean)
	}
	st := trainFor(t, srv, 3000)

	resp, err := http.Get(ts.URL + "/api/state")
	if err != nil {
		t.Fatal(err)
	}
	var state State
	err = json.NewDecoder(resp.Body).Decode(&state)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if state.Frame == nil || state.Frame.Status.Step < st.Step || state.Frame.Status.Step > state.Status.Step {
		t.Fatalf("/api/state: frame at step %v, status at %d; training had reached %d", state.Frame, state.Status.Step, st.Step)
	}
	consistent(t, "/api/state", state.Frame)

	ev := openEvents(t, ts.URL)
	first := ev.next()
	if first.Status.Step < state.Status.Step || !first.Status.Running {
		t.Errorf("first frame on /events at step %d (running %v), want ≥ %d while training runs", first.Status.Step, first.Status.Running, state.Status.Step)
	}
	consistent(t, "first frame on /events", &first)

	// Server.State without a new snapshot: the frame keeps its own status.
	do(t, srv, Control{Action: "pause"})
	consistent(t, "State after pause", srv.State().Frame)
}

// Early stopping: with patience p, training stops when the validation loss
// has not improved for p epochs, with the best epoch's weights restored;
// the status names the best step; start goes on from there.
func TestEarlyStopping(t *testing.T) {
	srv, _ := startServer(t, Options{Settings: Settings{Patience: 3}})
	st := srv.State().Status
	if st.Settings.Patience != 3 || st.BestStep != 0 || !math.IsNaN(float64(st.BestVal)) {
		t.Fatalf("status before training: %+v", st)
	}
	do(t, srv, Control{Action: "start"})
	deadline := time.Now().Add(60 * time.Second)
	for st = srv.State().Status; st.Running; st = srv.State().Status {
		if time.Now().After(deadline) {
			t.Fatalf("no early stop within 60 s: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st.StopReason != "early_stopping" || st.Error != "" || st.BadEpochs != 3 || st.Epoch != st.BestEpoch+3 {
		t.Fatalf("status after stopping: %+v", st)
	}
	stepsPerEpoch := int64((len(srv.sess.train)/ToyCols + 63) / 64)
	if st.BestStep != int64(st.BestEpoch)*stepsPerEpoch || !(st.BestVal > 0) {
		t.Errorf("best step %d, epoch %d, val %v; want step = epoch × %d", st.BestStep, st.BestEpoch, st.BestVal, stepsPerEpoch)
	}
	if want := fmt.Sprintf("restored the weights of epoch %d (step %d", st.BestEpoch, st.BestStep); !strings.Contains(st.Stopped, want) {
		t.Errorf("stop message %q lacks %q", st.Stopped, want)
	}
	// The final frame follows the status (it is published just after).
	f := srv.State().Frame
	for wait := time.Now().Add(10 * time.Second); f.Status.StopReason != "early_stopping" && time.Now().Before(wait); f = srv.State().Frame {
		time.Sleep(10 * time.Millisecond)
	}
	if f.Status.StopReason != "early_stopping" {
		t.Errorf("the frame after stopping has status %+v", f.Status)
	}
	// The model has the best epoch's weights again (the session's goroutine
	// is idle once it published the final frame, which runs the model on
	// the same backend: validating before that raced with it).
	if v, err := srv.sess.tr.Validate(); err != nil || math.Abs(v-float64(st.BestVal)) > 1e-6*float64(st.BestVal) {
		t.Errorf("validation loss of the model after early stopping: %v (%v), want the best %v", v, err, st.BestVal)
	}

	// Start goes on from the best weights; a larger patience, set live,
	// holds for the rest of the run.
	st2 := do(t, srv, Control{Action: "start", Patience: ptr(1000)})
	if !st2.Running || st2.StopReason != "" || st2.Stopped != "" || st2.Settings.Patience != 1000 {
		t.Fatalf("start after early stopping: %+v", st2)
	}
	waitStep(srv, st.Step)
	st2 = do(t, srv, Control{Action: "pause"})
	if st2.Step <= st.Step || st2.BestEpoch < st.BestEpoch || st2.StopReason != "" {
		t.Errorf("after going on: %+v", st2)
	}
	if srv.sess.tr.Cfg.Patience != 1000 {
		t.Errorf("the trainer's patience is %d, want 1000", srv.sess.tr.Cfg.Patience)
	}
	st2 = do(t, srv, Control{Action: "set", Patience: ptr(0)})
	if st2.Settings.Patience != 0 || srv.sess.tr.Cfg.Patience != 0 {
		t.Errorf("set patience 0: %+v", st2.Settings)
	}
	// Reset keeps the patience unless told otherwise and forgets the best.
	st2 = do(t, srv, Control{Action: "reset", Patience: ptr(7)})
	if st2.Settings.Patience != 7 || st2.BestStep != 0 || st2.BestEpoch != 0 || srv.sess.tr.Cfg.Patience != 7 {
		t.Errorf("reset with patience 7: %+v", st2)
	}
	if _, err := New(Options{Backend: openCPU(t), Settings: Settings{Patience: -1}}); err == nil || !strings.Contains(err.Error(), "patience must be an integer in [0, 10000]") {
		t.Errorf("New with patience -1: %v", err)
	}
}

func TestResetSettings(t *testing.T) {
	srv, _ := startServer(t, Options{})
	st := do(t, srv, Control{Action: "reset", Latent: ptr(2), Variant: ptr("vae"), LR: ptr(0.01)})
	if !slices.Equal(st.Layers, []int{8, 2}) || st.Settings != (Settings{LR: 0.01, Latent: 2, Variant: "vae"}) || st.Gen != 1 || st.Running {
		t.Fatalf("after reset: %+v", st)
	}
	f := srv.State().Frame
	if f.VAE == nil || f.VAE.N != vaeSamples || len(f.VAE.Samples) != vaeSamples*8 || f.VAE.Dims != 2 || len(f.VAE.Traversal) != 2*vaeSteps*8 {
		t.Fatalf("VAE views: %+v", f.VAE)
	}
	if f.Scatter.Axes != "latent" {
		t.Errorf("a 2-D latent is shown as %s, want the latent itself", f.Scatter.Axes)
	}
	st = do(t, srv, Control{Action: "reset", Variant: ptr("denoising")})
	if st.Settings.Variant != "denoising" || st.Settings.Noise != 0.2 || st.Settings.Latent != 2 {
		t.Errorf("denoising without noise: %+v, want the default σ 0.2", st.Settings)
	}
	st = do(t, srv, Control{Action: "reset", Variant: ptr("plain"), Noise: ptr(0.1), Latent: ptr(1)})
	if st.Settings.Variant != "denoising" || st.Settings.Noise != 0.1 {
		t.Errorf("plain with noise: %+v, want denoising", st.Settings)
	}
	if a := srv.State().Frame.Scatter.Axes; a != "latent-error" {
		t.Errorf("1-D latent scatter axes %q", a)
	}
	st = do(t, srv, Control{Action: "set", LR: ptr(0.005)})
	if st.Settings.LR != 0.005 || st.Gen != 3 {
		t.Errorf("set lr: %+v (a new model: gen %d)", st.Settings, st.Gen)
	}
	do(t, srv, Control{Action: "start", LR: ptr(0.004)})
	st = do(t, srv, Control{Action: "pause"})
	if st.Settings.LR != 0.004 {
		t.Errorf("start with lr: %v", st.Settings.LR)
	}
}

// Every variant trains from the page without an error.
func TestVariantsTrain(t *testing.T) {
	srv, _ := startServer(t, Options{})
	for _, v := range autoencoder.Variants {
		st := do(t, srv, Control{Action: "reset", Variant: ptr(v), Latent: ptr(3)})
		do(t, srv, Control{Action: "start"})
		waitStep(srv, st.Step)
		st = do(t, srv, Control{Action: "pause"})
		if st.Error != "" || st.Step == 0 || st.Settings.Variant != v || !(float64(st.Loss) > 0) {
			t.Errorf("%s: %+v", v, st)
		}
		if f := srv.State().Frame; f.Sample == nil || (v == "vae") != (f.VAE != nil) {
			t.Errorf("%s: frame %+v", v, f)
		}
	}
}

func TestHostAndStatic(t *testing.T) {
	_, ts := startServer(t, Options{LoopbackOnly: true})
	get := func(path, host string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", ts.URL+path, nil)
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for _, c := range []struct {
		path, host string
		code       int
		ctype      string
	}{
		{"/", "", 200, "text/html; charset=utf-8"},
		{"/", "localhost:8080", 200, "text/html; charset=utf-8"},
		{"/", "[::1]:8080", 200, "text/html; charset=utf-8"},
		{"/", "evil.example:8080", 403, "application/json"},
		{"/api/state", "attacker.test", 403, "application/json"},
		{"/static/app.js", "", 200, "text/javascript; charset=utf-8"},
		{"/static/style.css", "", 200, "text/css; charset=utf-8"},
		{"/static/", "", 404, "application/json"},
		{"/static/nope.js", "", 404, ""},
		{"/static/..%2fserver.go", "", 404, ""},
		{"/static/../server.go", "", 404, ""},
		{"/server.go", "", 404, "application/json"},
		{"/etc/passwd", "", 404, "application/json"},
	} {
		resp, body := get(c.path, c.host)
		if resp.StatusCode != c.code || (c.ctype != "" && resp.Header.Get("Content-Type") != c.ctype) {
			t.Errorf("GET %s (Host %q): %d %q, want %d %q; %.80s", c.path, c.host, resp.StatusCode, resp.Header.Get("Content-Type"), c.code, c.ctype, body)
		}
		if resp.StatusCode == 200 && !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("GET %s: no Content-Security-Policy", c.path)
		}
	}
	_, page := get("/", "")
	for _, want := range []string{`src="/static/app.js"`, `href="/static/style.css"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if strings.Contains(page, "http://") || strings.Contains(page, "https://") {
		t.Error("the page refers to an outside URL")
	}
	req, _ := http.NewRequest("DELETE", ts.URL+"/api/state", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("DELETE /api/state: %d", resp.StatusCode)
	}
}

// No embedded asset refers to anything outside the server.
func TestAssetsSelfContained(t *testing.T) {
	entries, err := staticFiles.ReadDir("static")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := staticFiles.ReadFile("static/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(b), `"http://www.w3.org/2000/svg"`, `""`) // a namespace name, not a fetch
		for _, bad := range []string{"https://", "http://", "//cdn", "import(", "@import"} {
			if i := strings.Index(text, bad); i >= 0 {
				t.Errorf("%s:%d refers to %q", e.Name(), strings.Count(text[:i], "\n")+1, bad)
			}
		}
	}
}

func TestCheckAddr(t *testing.T) {
	for _, c := range []struct {
		addr     string
		loopback bool
		bad      bool
	}{
		{"127.0.0.1:8080", true, false},
		{"localhost:0", true, false},
		{"[::1]:8080", true, false},
		{"127.0.0.2:80", true, false},
		{"0.0.0.0:8080", false, false},
		{":8080", false, false},
		{"[::]:8080", false, false},
		{"192.168.1.5:8080", false, false},
		{"example.com:8080", false, false},
		{"8080", false, true},
		{"127.0.0.1:http", false, true},
		{"127.0.0.1:70000", false, true},
	} {
		lb, err := CheckAddr(c.addr)
		if (err != nil) != c.bad || lb != c.loopback {
			t.Errorf("CheckAddr(%q) = %v, %v; want loopback %v, error %v", c.addr, lb, err, c.loopback, c.bad)
		}
	}
}

// A client that never reads never blocks the broadcaster: it keeps only the
// latest frame.
func TestHubDropsForSlowClients(t *testing.T) {
	h := newHub(2)
	c := h.subscribe()
	if h.subscribe() == nil || h.subscribe() != nil {
		t.Fatal("the hub does not stop at its maximum of clients")
	}
	for i := range 5 {
		h.broadcast(&Frame{Seq: int64(i)})
	}
	var f Frame
	if err := json.Unmarshal(<-c.ch, &f); err != nil || f.Seq != 4 || c.dropped != 4 {
		t.Errorf("the slow client got frame %d (err %v) after dropping %d, want frame 4 after 4", f.Seq, err, c.dropped)
	}
	h.close()
	if _, ok := <-c.ch; ok {
		t.Error("close left the client's channel open")
	}
}

func TestModelDir(t *testing.T) {
	data, _ := ToyData(400, 3)
	ae, err := autoencoder.New(autoencoder.Options{Layers: []int{8, 6, 3}, Backend: openCPU(t),
		Train: autoencoder.TrainConfig{VariantConfig: autoencoder.VariantConfig{Kind: "denoising", Noise: "gaussian:0.1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := ae.Fit(context.Background(), data.Data, data.Cols); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := ae.Save(dir); err != nil {
		t.Fatal(err)
	}
	srv, _ := startServer(t, Options{Data: data, ModelDir: dir})
	st := srv.State()
	if !slices.Equal(st.Status.Layers, []int{8, 6, 3}) || st.Status.Settings.Variant != "denoising" || math.Abs(st.Status.Settings.Noise-0.1) > 1e-6 {
		t.Fatalf("status of the loaded model: %+v", st.Status)
	}
	// The loaded weights reconstruct as the model does.
	want, err := ae.Score(data.Row(0))
	if err != nil {
		t.Fatal(err)
	}
	if got := float64(st.Frame.Sample.RowError); math.Abs(got-float64(want[0])) > 1e-5 {
		t.Errorf("row 0 error %v on the page, %v from the model", got, want[0])
	}
	do(t, srv, Control{Action: "start"})
	waitStep(srv, 0)
	if st := do(t, srv, Control{Action: "pause"}); st.Step == 0 || st.Error != "" {
		t.Errorf("training the loaded model: %+v", st)
	}
	st2 := do(t, srv, Control{Action: "reset", Latent: ptr(2)})
	if !slices.Equal(st2.Layers, []int{8, 6, 2}) {
		t.Errorf("reset of a loaded model: layers %v", st2.Layers)
	}
	wide := &dataset.Table{Rows: 3, Cols: 10, Data: make([]float32, 30)}
	if _, err := New(Options{Backend: openCPU(t), ModelDir: dir, Data: wide}); err == nil || !strings.Contains(err.Error(), "takes 8 inputs but the data has 10 columns") {
		t.Errorf("a model on data of another width: %v", err)
	}
}
