package viz

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/aegpu/aegpu/dataset"
)

// chromiumPath finds Debian's Chromium (AEGPU_CHROMIUM overrides it).
func chromiumPath() (string, bool) {
	if p := os.Getenv("AEGPU_CHROMIUM"); p != "" {
		return p, true
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, true
		}
	}
	return "", false
}

// chromium returns Chromium's path, or skips the test when there is none.
func chromium(t testing.TB) string {
	t.Helper()
	p, ok := chromiumPath()
	if !ok && os.Getenv("AEGPU_REQUIRE_BROWSER") == "1" {
		t.Fatal("AEGPU_REQUIRE_BROWSER=1 but no Chromium here (Debian: apt-get install chromium chromium-driver)")
	}
	if !ok {
		t.Skip("no Chromium here: install it (Debian: apt-get install chromium chromium-driver; .ci/run does) to run the browser test")
	}
	return p
}

// browserPage is a headless Chromium tab on a page, with the checks the
// tests use.
type browserPage struct {
	t   testing.TB
	ctx context.Context

	mu         sync.Mutex
	exceptions []string
	allowed    []string // console errors that contain one of these are expected
}

// allowErrors makes checkExceptions pass over console errors that contain
// substr (a refused request, say).
func (p *browserPage) allowErrors(substr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.allowed = append(p.allowed, substr)
}

// openPage starts Chromium with the flags that work in CI and loads url.
// Uncaught exceptions and console errors on the page fail the test.
func openPage(t testing.TB, url string) *browserPage {
	exe := chromium(t)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 1180),
	)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	p := &browserPage{t: t, ctx: ctx}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == "error" {
				p.mu.Lock()
				p.exceptions = append(p.exceptions, m.String())
				p.mu.Unlock()
			}
		}
	}()
	// The first action starts the browser: no timeout on it (that would
	// stop the browser later), one on every later action.
	addRecorder := chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: textRecorder})
		return err
	})
	if err := chromedp.Do(ctx, addRecorder, chromedp.Navigate(url)); err != nil {
		t.Fatalf("load the page: %v", err)
	}
	p.wait("the page has its state and the event stream", `document.getElementById("status").dataset.ready === "1"`)
	return p
}

func (p *browserPage) checkExceptions() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	var bad []string
	for _, e := range p.exceptions {
		if !slices.ContainsFunc(p.allowed, func(s string) bool { return strings.Contains(e, s) }) {
			bad = append(bad, e)
		}
	}
	if len(bad) > 0 {
		p.t.Fatalf("the page logged errors:\n%s", strings.Join(bad, "\n"))
	}
}

func (p *browserPage) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	c, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(c, actions...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

func (p *browserPage) click(id string) {
	p.t.Helper()
	p.do("click #"+id, chromedp.Click(chromedp.ID(id)))
}

func (p *browserPage) eval(js string) string {
	p.t.Helper()
	c, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[string](js))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// wait polls js until it is true (60 s at most).
func (p *browserPage) wait(what, js string) {
	p.t.Helper()
	c, cancel := context.WithTimeout(p.ctx, 60*time.Second)
	defer cancel()
	if _, err := chromedp.Run(c, chromedp.Poll[bool](js, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		c2, cancel2 := context.WithTimeout(p.ctx, 5*time.Second)
		defer cancel2()
		state, _ := chromedp.Run(c2, chromedp.Evaluate[string](`"message: " + document.getElementById("message").textContent +
			"; status: " + document.getElementById("status").textContent.replace(/\s+/g, " ") +
			"; inputs: " + ["lr", "latent", "variant", "noise", "sample"].map((id) => id + "=" + document.getElementById(id).value).join(" ") +
			"; frames: " + document.body.dataset.frames`))
		p.t.Fatalf("waiting until %s (%s): %v; page: %s", what, js, err, state)
	}
}

func (p *browserPage) attr(sel, name string) string {
	p.t.Helper()
	return p.eval(fmt.Sprintf(`document.querySelector(%q).getAttribute(%q) || ""`, sel, name))
}

// pickSample types row into the sample picker.
func (p *browserPage) pickSample(row int) {
	p.t.Helper()
	p.do(fmt.Sprint("pick sample ", row),
		chromedp.SetValue(chromedp.ID("sample"), fmt.Sprint(row)),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("sample").dispatchEvent(new Event("change"))`))
}

// screenshot saves the page as name in the test's artifact directory (go
// test -artifacts …, or $AEGPU_ARTIFACTS) and, with
// AEGPU_UPDATE_SCREENSHOT=1, the README's (viz.png, viz-mnist-vae.png) in
// docs/.
func (p *browserPage) screenshot(name string) {
	p.t.Helper()
	c, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(c, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatalf("screenshot: %v", err)
	}
	dir := os.Getenv("AEGPU_ARTIFACTS")
	if dir == "" {
		dir = p.t.ArtifactDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		p.t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot: %s (%d bytes)", path, len(png))
	if os.Getenv("AEGPU_UPDATE_SCREENSHOT") == "1" && (name == "viz.png" || name == "viz-mnist-vae.png") {
		if err := os.WriteFile(filepath.Join("..", "docs", name), png, 0o644); err != nil {
			p.t.Fatal(err)
		}
		p.t.Logf("updated docs/%s", name)
	}
}

// TestBrowser drives the page in headless Chromium on the default toy data:
// the page loads, training starts, the loss curve gets new points, picking a
// sample changes the three sample panels, and the latent scatter has one
// point per shown sample. The screenshot is viz.png.
func TestBrowser(t *testing.T) {
	srv, ts := startServer(t, Options{})
	p := openPage(t, ts.URL)
	if got := p.eval(`document.getElementById("backend").textContent`); !strings.Contains(got, "cpu") {
		t.Errorf("the backend shown is %q, want the CPU", got)
	}
	if got := p.eval(`document.getElementById("arch-text").textContent`); !strings.HasPrefix(got, "8 → 4 → 8") {
		t.Errorf("the network shown is %q, want 8 → 4 → 8", got)
	}
	p.checkExceptions()
	if before := p.attr("#loss-chart", "data-points"); before != "0" {
		t.Errorf("loss points before training: %s, want 0", before)
	}

	// Training starts; the loss curve gets points.
	p.click("start")
	p.wait("training runs", `document.getElementById("status").dataset.running === "1"`)
	p.wait("the loss curve has points", `Number(document.getElementById("loss-chart").dataset.points) >= 3`)
	n := p.attr("#loss-chart", "data-points")
	p.wait("the loss curve gets new points", fmt.Sprintf(`Number(document.getElementById("loss-chart").dataset.points) > %s`, n))
	p.wait("the step count grows", `Number(document.getElementById("status").dataset.step) > 100`)

	// Pause, so that only the selection changes the panels.
	p.click("pause")
	p.wait("training is paused", `document.getElementById("status").dataset.running === "0"`)
	panels := []string{"#panel-input", "#panel-code", "#panel-recon"}
	old := map[string]string{}
	for _, sel := range panels {
		if old[sel] = p.attr(sel, "data-sig"); old[sel] == "" {
			t.Fatalf("%s has no data-sig", sel)
		}
	}
	from, to := p.attr("#panel-input", "data-sample"), 137
	p.pickSample(to)
	for _, sel := range panels {
		p.wait(sel+" shows the new sample", fmt.Sprintf(`document.querySelector(%q).dataset.sample === "%d"`, sel, to))
		if now := p.attr(sel, "data-sig"); now == old[sel] {
			t.Errorf("%s did not change when the sample changed from %s to %d (signature %s)", sel, from, to, now)
		}
	}
	if got := srv.State().Status.Selected; got != to {
		t.Errorf("the server's selected sample is %d, want %d", got, to)
	}

	// One scatter point per shown sample.
	if got, want := p.attr("#scatter", "data-points"), fmt.Sprint(len(srv.State().ShownRows)); got != want {
		t.Errorf("the latent scatter has %s points, want one per shown sample: %s", got, want)
	}
	if got := p.attr("#hist", "data-bins"); got != fmt.Sprint(histBins) {
		t.Errorf("the error histogram has %s bins, want %d", got, histBins)
	}

	// Train a little more for the screenshot.
	p.click("start")
	p.wait("training runs again", `document.getElementById("status").dataset.running === "1"`)
	time.Sleep(1500 * time.Millisecond)
	p.checkExceptions()
	p.checkLayout("the toy page")
	p.screenshot("viz.png")
}

// TestBrowserImagesVAE runs the page on MNIST digits (drawn as images),
// switches to a VAE with a 2-D latent code from the page's controls, and
// checks the generated samples and the latent traversal. The screenshot is
// viz-mnist-vae.png.
func TestBrowserImagesVAE(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the MNIST VAE browser test")
	}
	chromium(t)
	all, labels, err := dataset.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	const rows = 3000
	data := &dataset.Table{Rows: rows, Cols: all.Cols, Data: all.Data[:rows*all.Cols], Shape: []int{rows, 28, 28}}
	srv, ts := startServer(t, Options{Data: data, Source: "MNIST digits", Labels: labels[:rows], Layers: []int{784, 128, 16}})
	p := openPage(t, ts.URL)
	if p.eval(`String(document.getElementById("vae-samples-card").hidden)`) != "true" {
		t.Errorf("the VAE panels show for a plain model")
	}
	if p.eval(`String(document.getElementById("cv-input").height > 0 && document.body.classList.contains("images"))`) != "true" {
		t.Errorf("the page does not draw the rows as images")
	}
	p.do("choose vae, latent 2",
		chromedp.SetValue(chromedp.ID("variant"), "vae"),
		chromedp.SetValue(chromedp.ID("latent"), "2"),
		chromedp.SetValue(chromedp.ID("lr"), "0.002"))
	p.click("reset")
	p.wait("the model is a VAE with a 2-D code", `document.getElementById("arch-text").textContent.startsWith("784 → 128 → 2 → 128 → 784")`)
	if got := srv.State().Status.Settings; got.Variant != "vae" || got.Latent != 2 {
		t.Fatalf("settings after reset: %+v", got)
	}
	p.click("start")
	p.wait("the VAE panels show", `!document.getElementById("vae-samples-card").hidden && !document.getElementById("vae-trav-card").hidden`)
	p.wait("generated samples are drawn", fmt.Sprintf(`document.getElementById("vae-samples").dataset.samples === "%d"`, vaeSamples))
	p.wait("the traversal is drawn", fmt.Sprintf(`document.getElementById("vae-trav").dataset.cells === "%d"`, 2*vaeSteps))
	p.wait("some training", `Number(document.getElementById("status").dataset.step) > 20`)
	p.pickSample(7)
	p.wait("the sample panel shows row 7", `document.getElementById("panel-input").dataset.sample === "7"`)
	if got := p.eval(`document.getElementById("scatter-meta").textContent`); !strings.Contains(got, "the 2-D latent code") {
		t.Errorf("scatter caption %q: want the 2-D latent itself, not its PCA", got)
	}
	time.Sleep(2 * time.Second)
	p.checkExceptions()
	p.checkLayout("the MNIST VAE page")
	p.screenshot("viz-mnist-vae.png")
}
