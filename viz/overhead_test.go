package viz

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/aegpu/aegpu/dataset"
)

// BenchmarkPageOverhead measures what a connected page costs training:
// optimizer steps per second with no page, with an in-process client that
// reads /events and parses every frame as the page does, and (when Chromium
// is installed) with the real page open in headless Chromium, which draws
// every frame. Training windows of AEGPU_VIZ_WINDOW (default 1s) alternate
// between the modes, AEGPU_VIZ_ROUNDS times (default 5); it reports the
// median speed of each mode and the median over the rounds of each mode's
// slowdown against the no-page window of the same round (robust to a machine
// whose load changes).
//
//	go test -run '^$' -bench PageOverhead -benchtime 1x ./viz
func BenchmarkPageOverhead(b *testing.B) {
	window := time.Second
	if s := os.Getenv("AEGPU_VIZ_WINDOW"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatal(err)
		}
		window = d
	}
	rounds := 5
	if s := os.Getenv("AEGPU_VIZ_ROUNDS"); s != "" {
		if _, err := fmt.Sscan(s, &rounds); err != nil || rounds < 1 {
			b.Fatalf("AEGPU_VIZ_ROUNDS=%q: want a positive integer", s)
		}
	}
	mnist := func() Options {
		t, labels, err := dataset.Builtin()
		if err != nil {
			b.Fatal(err)
		}
		return Options{Data: t, Source: dataset.BuiltinName, Labels: labels, Layers: []int{784, 128, 16}}
	}
	for _, c := range []struct {
		name string
		opts func() Options
	}{
		{"toy", func() Options { return Options{} }},
		{"mnist", mnist},
	} {
		b.Run(c.name, func(b *testing.B) {
			srv, ts := startServer(b, c.opts())
			modes := []string{"none", "client"}
			var page *browserPage
			if _, ok := chromiumPath(); ok {
				modes = append(modes, "chromium")
				page = openPage(b, ts.URL)
				page.do("leave the page", chromedp.Navigate("about:blank"))
				waitClients(b, srv, 0)
			}
			rates := map[string][]float64{}
			slowdown := map[string][]float64{}
			for r := range b.N * rounds {
				// Each round starts with another mode, so that no mode
				// always follows the same one.
				round := map[string]float64{}
				for i := range modes {
					m := modes[(r+i)%len(modes)]
					round[m] = trainWindow(b, srv, ts, page, m, window)
					rates[m] = append(rates[m], round[m])
				}
				for _, m := range modes[1:] {
					slowdown[m] = append(slowdown[m], 100*(1-round[m]/round["none"]))
				}
			}
			base := median(rates["none"])
			b.ReportMetric(base, "steps/s-no-page")
			summary := []string{fmt.Sprintf("no page %.0f steps/s", base)}
			for _, m := range modes[1:] {
				r, o := median(rates[m]), median(slowdown[m])
				b.ReportMetric(r, "steps/s-"+m)
				b.ReportMetric(o, "%slower-"+m)
				summary = append(summary, fmt.Sprintf("%s %.0f steps/s (%.1f%% slower, rounds %.1f)", m, r, o, slowdown[m]))
			}
			st := srv.State().Status
			b.Logf("%s: %s; snapshot %.1f ms every ≥ %.0f ms", c.name, strings.Join(summary, "; "), float64(st.SnapshotMs), float64(st.IntervalMs))
		})
	}
}

// newEventReader returns a func that reads the next event's data from an
// event stream.
func newEventReader(r io.Reader) func() ([]byte, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	return func() ([]byte, error) {
		for sc.Scan() {
			if msg, ok := bytes.CutPrefix(sc.Bytes(), []byte("data: ")); ok {
				return msg, nil
			}
		}
		if err := sc.Err(); err != nil {
			return nil, err
		}
		return nil, io.EOF
	}
}

// trainWindow trains for d with the given kind of page connected and
// returns the optimizer steps per second.
func trainWindow(tb testing.TB, srv *Server, ts *httptest.Server, page *browserPage, mode string, d time.Duration) float64 {
	tb.Helper()
	switch mode {
	case "client":
		ctx, cancel := context.WithCancel(context.Background())
		defer func() {
			cancel()
			waitClients(tb, srv, 0)
		}()
		req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/events", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			tb.Fatal(err)
		}
		go func() {
			defer resp.Body.Close()
			dec := newEventReader(resp.Body)
			for {
				msg, err := dec()
				if err != nil {
					return
				}
				var v any
				if json.Unmarshal(msg, &v) != nil {
					return
				}
			}
		}()
		waitClients(tb, srv, 1)
	case "chromium":
		page.do("open the page", chromedp.Navigate(ts.URL))
		page.wait("the page is connected", `document.getElementById("status").dataset.ready === "1"`)
		defer func() {
			page.do("leave the page", chromedp.Navigate("about:blank"))
			waitClients(tb, srv, 0)
		}()
	}
	st0 := do(tb, srv, Control{Action: "start"})
	t0 := time.Now()
	time.Sleep(d)
	st1 := do(tb, srv, Control{Action: "pause"})
	return float64(st1.Step-st0.Step) / time.Since(t0).Seconds()
}

func waitClients(tb testing.TB, srv *Server, n int) {
	tb.Helper()
	for i := 0; srv.hub.count() != n; i++ {
		if i > 1000 {
			tb.Fatalf("%d pages connected, want %d", srv.hub.count(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}
