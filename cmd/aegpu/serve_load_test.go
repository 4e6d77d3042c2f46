package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aegpu/aegpu/dataset"
	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/serve"
)

// TestServeLoad is a closed-loop load test on loopback: 1, 16 and 256
// clients each send a request, wait for the answer, and send the next,
// with 1-row and 64-row JSON /encode requests, for a bounded time per
// cell (AEGPU_SERVE_LOAD_SECONDS, default 0.25). It reports rows/s and
// the p50/p99 latency of each cell beside `aegpu encode` on the same rows
// in the same run, and checks only that every request was answered 200.
func TestServeLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("a load test: 256 clients (run without -short)")
	}
	secs := 0.25
	if s := os.Getenv("AEGPU_SERVE_LOAD_SECONDS"); s != "" {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v <= 0 || v > 60 {
			t.Fatalf("AEGPU_SERVE_LOAD_SECONDS=%q: want seconds in (0, 60]", s)
		}
		secs = v
	}
	dir := t.TempDir()
	const cols, nRows = 32, 100000
	x := make([]float32, nRows*cols)
	engine.FillNormal(x, 1, 1, 0, 0, 1)
	data, model := filepath.Join(dir, "x.npy"), filepath.Join(dir, "m")
	if err := dataset.WriteNPY(data, nRows, cols, x); err != nil {
		t.Fatal(err)
	}
	small := filepath.Join(dir, "small.npy")
	if err := dataset.WriteNPY(small, 2000, cols, x[:2000*cols]); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "train", "--data", small, "--layers", "32,64,8", "--epochs", "1", "--out", model, "--device", "cpu", "--quiet"); err != nil {
		t.Fatal(err)
	}
	// aegpu encode on the same rows, in this run
	start := time.Now()
	if _, err := run(t, "encode", "--model", model, "--data", data, "--out", filepath.Join(dir, "codes.npy"), "--device", "cpu", "--quiet"); err != nil {
		t.Fatal(err)
	}
	encodeRate := nRows / time.Since(start).Seconds()

	s, err := serve.New(serve.Options{Device: "cpu", MaxBatch: 256, MaxDelay: 2 * time.Millisecond}, serve.Model{Name: "m", Dir: model})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
	}()
	url := "http://" + ln.Addr().String() + "/v1/models/m/encode"
	bodies := func(rows int) [][]byte { // 64 different requests of rows rows
		var out [][]byte
		for k := range 64 {
			var b strings.Builder
			b.WriteString(`{"rows":[`)
			for r := range rows {
				if r > 0 {
					b.WriteByte(',')
				}
				b.WriteByte('[')
				lo := ((k*rows + r) % nRows) * cols
				for j, v := range x[lo : lo+cols] {
					if j > 0 {
						b.WriteByte(',')
					}
					b.WriteString(strconv.FormatFloat(float64(v), 'g', -1, 32))
				}
				b.WriteByte(']')
			}
			b.WriteString("]}")
			out = append(out, []byte(b.String()))
		}
		return out
	}
	var table strings.Builder
	fmt.Fprintf(&table, "| clients | rows/request | requests | rows/s | p50 ms | p99 ms |\n|---:|---:|---:|---:|---:|---:|\n")
	for _, rows := range []int{1, 64} {
		bs := bodies(rows)
		for _, clients := range []int{1, 16, 256} {
			tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
			cl := &http.Client{Transport: tr, Timeout: 30 * time.Second}
			var mu sync.Mutex
			var lat []time.Duration
			var failures []string
			var wg sync.WaitGroup
			begin := time.Now()
			end := begin.Add(time.Duration(secs * float64(time.Second)))
			for c := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var mine []time.Duration
					for i := c; time.Now().Before(end); i++ {
						t0 := time.Now()
						resp, err := cl.Post(url, "application/json", bytes.NewReader(bs[i%len(bs)]))
						if err != nil {
							mu.Lock()
							failures = append(failures, err.Error())
							mu.Unlock()
							return
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != 200 {
							mu.Lock()
							failures = append(failures, resp.Status)
							mu.Unlock()
							return
						}
						mine = append(mine, time.Since(t0))
					}
					mu.Lock()
					lat = append(lat, mine...)
					mu.Unlock()
				}()
			}
			wg.Wait()
			elapsed := time.Since(begin)
			tr.CloseIdleConnections()
			if len(failures) > 0 {
				t.Fatalf("%d clients × %d rows: %d failures, e.g. %s", clients, rows, len(failures), failures[0])
			}
			slices.Sort(lat)
			pct := func(p float64) float64 {
				return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
			}
			fmt.Fprintf(&table, "| %d | %d | %d | %.0f | %.2f | %.2f |\n", clients, rows, len(lat),
				float64(len(lat)*rows)/elapsed.Seconds(), pct(0.50), pct(0.99))
		}
	}
	fmt.Fprintf(&table, "\n`aegpu encode` of the same %d rows (read .npy, encode, write .npy): %.0f rows/s\n", nRows, encodeRate)
	t.Logf("/encode, JSON, %d features → 64 → 8, CPU backend, max batch 256, max delay 2 ms, %.2f s per cell:\n%s", cols, secs, table.String())
}
