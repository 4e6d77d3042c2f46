package viz

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/aegpu/aegpu/dataset"
)

// textRecorder runs in the page before its own scripts. It records the ink
// box of every text drawn on a canvas since the canvas was last cleared
// whole, in the canvas's CSS pixels; window.__vizTexts(canvas) returns
// them. The tests check what the page drew with it, whatever the page's
// code does.
const textRecorder = `(() => {
  const P = CanvasRenderingContext2D.prototype, fillText = P.fillText, clearRect = P.clearRect;
  const texts = new WeakMap();
  window.__vizTexts = (cv) => texts.get(cv) || [];
  P.clearRect = function (x, y, w, h) {
    const cv = this.canvas, t = this.getTransform();
    if (x <= 0 && y <= 0 && t.e + (x + w) * t.a >= cv.width - 1 && t.f + (y + h) * t.d >= cv.height - 1) texts.set(cv, []);
    return clearRect.apply(this, arguments);
  };
  P.fillText = function (text, x, y) {
    const cv = this.canvas, m = this.measureText(text), t = this.getTransform();
    const sx = cv.clientWidth ? cv.width / cv.clientWidth : 1, sy = cv.clientHeight ? cv.height / cv.clientHeight : 1;
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const px of [x - m.actualBoundingBoxLeft, x + m.actualBoundingBoxRight]) {
      for (const py of [y - m.actualBoundingBoxAscent, y + m.actualBoundingBoxDescent]) {
        const X = (t.a * px + t.c * py + t.e) / sx, Y = (t.b * px + t.d * py + t.f) / sy;
        x0 = Math.min(x0, X); x1 = Math.max(x1, X); y0 = Math.min(y0, Y); y1 = Math.max(y1, Y);
      }
    }
    if (!texts.has(cv)) texts.set(cv, []);
    texts.get(cv).push({ text: String(text), x0, y0, x1, y1 });
    return fillText.apply(this, arguments);
  };
})();`

// surfaceJS is a JS function that returns a canvas's recorded texts as a
// surface.
const surfaceJS = `(what, cv) => ({ id: cv.id, what, w: cv.clientWidth, h: cv.clientHeight, texts: __vizTexts(cv) })`

// pageLayoutJS returns the texts of every visible canvas, and of the
// network's SVG, as surfaces.
const pageLayoutJS = `(() => {
  const surface = ` + surfaceJS + `;
  const out = [...document.querySelectorAll("canvas.viz")].filter((cv) => cv.offsetParent !== null).map((cv) => surface("page", cv));
  for (const svg of document.querySelectorAll("svg")) {
    const r = svg.getBoundingClientRect();
    out.push({ id: svg.id, what: "page", w: r.width, h: r.height, texts: [...svg.querySelectorAll("text")].map((t) => {
      const b = t.getBoundingClientRect();
      return { text: t.textContent, x0: b.left - r.left, y0: b.top - r.top, x1: b.right - r.left, y1: b.bottom - r.top };
    }) });
  }
  return JSON.stringify(out);
})()`

// textBox is a text's ink box in its surface's CSS pixels.
type textBox struct {
	Text           string
	X0, Y0, X1, Y1 float64
}

// surface is a canvas (or SVG) and the texts drawn on it; What says which
// drawing it was.
type surface struct {
	ID    string
	What  string
	W, H  float64
	S1    float64 // the loss sweep's last step
	Texts []textBox
}

func (b textBox) String() string {
	return fmt.Sprintf("%q at x %.1f…%.1f, y %.1f…%.1f", b.Text, b.X0, b.X1, b.Y0, b.Y1)
}

// layoutProblems lists the texts that run over their surface's edges (so
// that they are clipped) and the pairs that overlap.
func layoutProblems(surfaces []surface) []string {
	const tol = 0.5 // px
	var out []string
	for _, s := range surfaces {
		where := s.ID + " (" + s.What + ")"
		for i, a := range s.Texts {
			if a.X0 < -tol || a.Y0 < -tol || a.X1 > s.W+tol || a.Y1 > s.H+tol {
				out = append(out, fmt.Sprintf("%s: %v runs over the edge of the %.0f×%.0f box: it is clipped", where, a, s.W, s.H))
			}
			for _, b := range s.Texts[i+1:] {
				if min(a.X1, b.X1)-max(a.X0, b.X0) > tol && min(a.Y1, b.Y1)-max(a.Y0, b.Y0) > tol {
					out = append(out, fmt.Sprintf("%s: %v and %v overlap", where, a, b))
				}
			}
		}
	}
	return out
}

// surfaces evaluates js (which returns surfaces as JSON).
func (p *browserPage) surfaces(js string) []surface {
	p.t.Helper()
	var out []surface
	if err := json.Unmarshal([]byte(p.eval(js)), &out); err != nil {
		p.t.Fatalf("the page's layout: %v", err)
	}
	return out
}

// checkLayout fails the test when a text on the page's canvases or its
// network diagram is clipped or overlaps another.
func (p *browserPage) checkLayout(what string) {
	p.t.Helper()
	s := p.surfaces(pageLayoutJS)
	n := 0
	for _, c := range s {
		n += len(c.Texts)
	}
	if n == 0 {
		p.t.Fatalf("%s: no texts recorded on the page", what)
	}
	reportLayout(p.t, what, s)
}

func reportLayout(t testing.TB, what string, s []surface) {
	t.Helper()
	if bad := layoutProblems(s); len(bad) > 0 {
		if len(bad) > 12 {
			bad = append(bad[:12], fmt.Sprintf("… and %d more", len(bad)-12))
		}
		t.Errorf("%s: labels clipped or overlapping:\n%s", what, strings.Join(bad, "\n"))
	}
}

// eventGate lets each /events stream send its first frame and holds every
// later one until release: the page then shows what it got on connecting.
type eventGate struct {
	release chan struct{}
	once    sync.Once
}

func newEventGate(t testing.TB) *eventGate {
	g := &eventGate{release: make(chan struct{})}
	t.Cleanup(g.open)
	return g
}

func (g *eventGate) open() { g.once.Do(func() { close(g.release) }) }

func (g *eventGate) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/events" {
			w = &gatedWriter{ResponseWriter: w, g: g, ctx: r.Context()}
		}
		h.ServeHTTP(w, r)
	})
}

type gatedWriter struct {
	http.ResponseWriter
	g      *eventGate
	ctx    context.Context
	frames int
}

func (w *gatedWriter) Write(b []byte) (int, error) {
	if bytes.HasPrefix(b, []byte("data: ")) {
		if w.frames > 0 {
			select {
			case <-w.g.release:
			case <-w.ctx.Done():
				return 0, w.ctx.Err()
			}
		}
		w.frames++
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController flush and set deadlines.
func (w *gatedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// number reads the first number in the text of element id that follows
// prefix (a regular expression).
func (p *browserPage) number(id, prefix string) float64 {
	p.t.Helper()
	text := p.eval(fmt.Sprintf(`document.getElementById(%q).textContent`, id))
	m := regexp.MustCompile(prefix + `(-?[0-9][0-9,]*(?:\.[0-9]+)?(?:e[-+]?[0-9]+)?)`).FindStringSubmatch(text)
	if m == nil {
		p.t.Fatalf("#%s says %q: no number after %q", id, text, prefix)
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(m[1], ",", ""), 64)
	if err != nil {
		p.t.Fatalf("#%s says %q: %v", id, text, err)
	}
	return v
}

// TestBrowserFirstFrame opens the page while training runs and no page has
// been watching, and lets only the first frame of the event stream through:
// what the page shows then (its header's step and loss, its panels) must be
// of one model, the current one — not the untrained model's panels beside
// a header at step 3000.
func TestBrowserFirstFrame(t *testing.T) {
	chromium(t)
	gate := newEventGate(t)
	srv, ts := startServerWith(t, Options{}, gate.wrap)
	untrained := float64(srv.State().Frame.Hist.Mean)
	st := trainFor(t, srv, 3000)
	p := openPage(t, ts.URL)
	if got := p.eval(`document.body.dataset.frames`); got != "2" {
		t.Fatalf("the page drew %s frames, want 2 (/api/state's and the first of /events)", got)
	}
	step := p.number("st-step", "")
	loss := p.number("st-loss", "")
	mean := p.number("hist-meta", "mean ")
	mse := p.number("recon-meta", "MSE ")
	t.Logf("untrained mean error %.4g; the page: step %v, loss %.4g, histogram mean %.4g, sample MSE %.4g", untrained, step, loss, mean, mse)
	if step < float64(st.Step) {
		t.Errorf("the header says step %v, training had reached %d", step, st.Step)
	}
	if !(mean < 3*loss && loss < 3*mean) {
		t.Errorf("the panels show a mean reconstruction error of %.4g (the untrained model's: %.4g) beside the header's loss %.4g at step %v: not the same model",
			mean, untrained, loss, step)
	}
	if n := p.attr("#loss-chart", "data-points"); n == "0" {
		t.Error("the loss chart is empty on connecting")
	}
	p.screenshot("first-frame.png")
	p.checkExceptions()
	gate.open()
	p.wait("frames after the first", `Number(document.body.dataset.frames) > 2`)
}

// wideData is n rows of d columns in [0, 1] from 6 latent factors.
func wideData(n, d int) *dataset.Table {
	r := rand.New(rand.NewPCG(1, 2))
	const k = 6
	w := make([]float64, k*d)
	for i := range w {
		w[i] = r.NormFloat64()
	}
	t := &dataset.Table{Rows: n, Cols: d, Data: make([]float32, n*d)}
	for i := range n {
		var z [k]float64
		for j := range z {
			z[j] = r.NormFloat64()
		}
		for c := range d {
			v := 0.0
			for j := range k {
				v += z[j] * w[j*d+c]
			}
			t.Data[i*d+c] = float32(1 / (1 + math.Exp(-v/2)))
		}
	}
	return t
}

// sweepBarsJS draws the sample panels with latent codes of many widths and
// per-feature errors of many magnitudes, and returns what each drew.
const sweepBarsJS = `(() => {
  const surface = ` + surfaceJS + `;
  const base = app.sample, out = [];
  for (const n of [1, 2, 3, 5, 8, 10, 12, 16, 20, 24, 32, 40, 48, 64, 100, 128, 256]) {
    for (const emax of [0.0011, 2.8e-4, 3.3e-6, 0.05, 0.88, 12.5, 4.2e5]) {
      const code = Array.from({ length: n }, (_, i) => emax * Math.sin(i + 1) * 3);
      const error = base.error.map((_, i) => emax * ((i % 7) + 1) / 7);
      drawSample(Object.assign({}, base, { code, error }));
      const what = "latent " + n + ", error max " + emax;
      out.push(surface(what, document.getElementById("cv-code")), surface(what, document.getElementById("cv-error")));
    }
  }
  drawSample(base);
  return JSON.stringify(out);
})()`

// sweepLossJS draws the loss chart for histories that end at many steps, on
// a logarithmic step axis (from step 1) and a linear one, and returns what
// each drew.
const sweepLossJS = `(() => {
  const surface = ` + surfaceJS + `;
  const saved = app.loss, out = [], cv = document.getElementById("loss-chart");
  const history = (from, to) => {
    const pts = [];
    for (let s = from; s < to; s = Math.max(s + 1, Math.round(s * 1.15))) pts.push({ step: s, train: 0.2 / Math.sqrt(s), val: 0.25 / Math.sqrt(s) });
    pts.push({ step: to, train: 0.2 / Math.sqrt(to), val: 0.25 / Math.sqrt(to) });
    return pts;
  };
  for (let s1 = 100; s1 <= 2e6; s1 *= 1.03) {
    const to = Math.round(s1);
    app.loss = history(1, to); drawLoss();
    out.push(Object.assign(surface("log step axis to " + to, cv), { s1: to }));
  }
  for (let s1 = 10; s1 <= 2e6; s1 *= 1.1) {
    const to = Math.round(s1);
    app.loss = history(Math.max(1, Math.ceil(to / 50)), to); drawLoss();
    out.push(Object.assign(surface("linear step axis to " + to, cv), { s1: -to }));
  }
  app.loss = saved; drawLoss();
  return JSON.stringify(out);
})()`

// TestBrowserLabels checks the labels of the page's charts on 64-column
// data with a 32-D latent code: on the live page after training, and for
// latent codes of 1 to 256 units, per-feature errors from 3e-6 to 4e5 and
// loss histories from 10 to 2e6 steps drawn by the page's own code. No
// label may overlap another (the latent bars' z0 z1 …, the loss chart's
// step ticks and its axis title) or run over its canvas's edge (the
// per-feature error axis); the latent bars keep some labels; the error
// axis's top label reads as the largest error.
func TestBrowserLabels(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the label layout browser test")
	}
	chromium(t)
	srv, ts := startServer(t, Options{Data: wideData(1500, 64), Source: "64-D test data", Layers: []int{64, 32}})
	p := openPage(t, ts.URL)
	p.checkLayout("the untrained page")
	trainFor(t, srv, 3000)
	do(t, srv, Control{Action: "pause"})
	p.wait("the page shows the paused model", `document.getElementById("status").dataset.running === "0"`)
	p.checkLayout("the page after training")
	code := p.surfaces(`JSON.stringify([(` + surfaceJS + `)("page", document.getElementById("cv-code"))])`)[0]
	var z []string
	for _, b := range code.Texts {
		if strings.HasPrefix(b.Text, "z") {
			z = append(z, b.Text)
		}
	}
	if len(z) < 4 || z[0] != "z0" {
		t.Errorf("the 32-D latent code's bars are labelled %v: want z0 and at least 3 more", z)
	}
	p.screenshot("labels-trained.png")

	bars := p.surfaces(sweepBarsJS)
	reportLayout(t, "the sample panels", bars)
	top := regexp.MustCompile(`error max ([0-9.e+-]+)$`)
	for _, s := range bars {
		m := top.FindStringSubmatch(s.What)
		if s.ID != "cv-error" || m == nil || len(s.Texts) == 0 {
			continue
		}
		emax, _ := strconv.ParseFloat(m[1], 64)
		hi := s.Texts[0]
		for _, b := range s.Texts {
			if b.Y0 < hi.Y0 {
				hi = b
			}
		}
		if v, err := strconv.ParseFloat(hi.Text, 64); err != nil || math.Abs(v-emax) > 0.1*emax {
			t.Errorf("%s: the error axis's top label is %q, want %.2g", s.What, hi.Text, emax)
		}
	}
	loss := p.surfaces(sweepLossJS)
	reportLayout(t, "the loss chart", loss)

	// A screenshot of the hardest case: the sweep's log axis whose "100"
	// tick is drawn furthest right, where the axis title is.
	best, right := 0.0, 0.0
	var title textBox
	for _, s := range loss {
		for _, b := range s.Texts {
			if b.Text == "100" && s.S1 > 0 && b.X1 > right {
				best, right = s.S1, b.X1
			}
			if b.Text == "step (log)" {
				title = b
			}
		}
	}
	if best > 0 {
		t.Logf("the \"100\" tick is drawn up to x %.1f (history to step %.0f); the axis title is %v", right, best, title)
		p.eval(fmt.Sprintf(`(() => { const pts = []; for (let s = 1; s < %[1]v; s = Math.max(s + 1, Math.round(s * 1.15))) pts.push({ step: s, train: 0.2 / Math.sqrt(s), val: 0.25 / Math.sqrt(s) });
			pts.push({ step: %[1]v, train: 0.2 / Math.sqrt(%[1]v) }); app.loss = pts; drawLoss();
			const b = app.sample; drawSample(Object.assign({}, b, { error: b.error.map((_, i) => 0.0011 * ((i %% 7) + 1) / 7) })); return ""; })()`, best))
		p.screenshot("labels-hardest.png")
	}
	p.checkExceptions()
}

// TestBrowserEarlyStopping sets the patience on the page (a bad value is
// refused with the server's message), trains until early stopping ends
// training, and checks that the page shows the best step, in the header, in
// the loss card and as a mark on the loss chart, and says that training
// stopped early with the best weights restored; Start then goes on.
func TestBrowserEarlyStopping(t *testing.T) {
	chromium(t)
	srv, ts := startServer(t, Options{})
	p := openPage(t, ts.URL)
	if got := p.eval(`document.getElementById("st-best").textContent`); got != "–" {
		t.Errorf("best before training: %q, want –", got)
	}
	setPatience := func(v string) {
		p.do("patience "+v, chromedp.SetValue(chromedp.ID("patience"), v),
			chromedp.Evaluate[chromedp.Void](`document.getElementById("patience").dispatchEvent(new Event("change"))`))
	}
	p.allowErrors("the server responded with a status of 400") // the refused values below
	setPatience("-3")
	p.wait("the page shows why -3 is refused", `document.getElementById("message").textContent.includes("patience must be an integer in [0, 10000]")`)
	setPatience("2.5")
	p.wait("the page shows why 2.5 is refused", `document.getElementById("message").textContent.includes("patience must be an integer, got number 2.5")`)
	if got := srv.State().Status.Settings.Patience; got != 0 {
		t.Fatalf("a refused patience changed it to %d", got)
	}
	setPatience("3")
	p.wait("the page shows patience 3 applied", `document.getElementById("best-meta").textContent.includes("early stopping after 3 epochs")`)
	if got := srv.State().Status.Settings.Patience; got != 3 {
		t.Fatalf("patience on the server: %d, want 3", got)
	}
	p.click("start")
	p.wait("training stops early", `document.getElementById("st-state").textContent === "stopped early"`)
	st := srv.State().Status
	if st.StopReason != "early_stopping" || st.BestStep == 0 {
		t.Fatalf("the server's status: %+v", st)
	}
	p.wait("the page has the final frame", fmt.Sprintf(`document.getElementById("best-meta").dataset.bestStep === "%d"`, st.BestStep))
	if got := p.eval(`document.getElementById("notice").textContent`); got != st.Stopped || !strings.Contains(got, fmt.Sprintf("restored the weights of epoch %d", st.BestEpoch)) {
		t.Errorf("the page's notice %q, want %q", got, st.Stopped)
	}
	if got := p.number("st-best", "@ step "); got != float64(st.BestStep) {
		t.Errorf("the header's best step is %v, want %d", got, st.BestStep)
	}
	if got := p.number("best-meta", "at step "); got != float64(st.BestStep) {
		t.Errorf("the loss card's best step is %v, want %d", got, st.BestStep)
	}
	if got := p.eval(`document.getElementById("best-meta").textContent`); !strings.Contains(got, fmt.Sprintf("(epoch %d)", st.BestEpoch)) || !strings.Contains(got, "3 epochs without a better one") {
		t.Errorf("the loss card says %q", got)
	}
	if got := p.attr("#loss-chart", "data-best-step"); got != fmt.Sprint(st.BestStep) {
		t.Errorf("the loss chart marks step %s as the best, want %d", got, st.BestStep)
	}
	p.checkLayout("the page after early stopping")
	p.screenshot("early-stopping.png")

	// Patience off first: with 3, a fast or a slow (race detector) machine
	// can stop early again before the page sees it running.
	setPatience("0")
	p.wait("the page shows patience off", `!document.getElementById("best-meta").textContent.includes("· patience")`)
	if got := srv.State().Status.Settings.Patience; got != 0 {
		t.Fatalf("patience on the server: %d, want 0", got)
	}
	p.click("start")
	p.wait("training goes on", `document.getElementById("status").dataset.running === "1" && document.getElementById("notice").textContent === ""`)
	waitStep(srv, st.Step)
	p.click("pause")
	p.wait("paused", `document.getElementById("status").dataset.running === "0"`)
	if st2 := srv.State().Status; st2.Step <= st.Step {
		t.Errorf("start after early stopping did not train: step %d, then %d", st.Step, st2.Step)
	}
	p.checkExceptions()
}
