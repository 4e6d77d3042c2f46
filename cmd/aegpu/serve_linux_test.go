//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aegpu/aegpu/dataset"
)

// startServe starts the built binary's serve on a free loopback port and
// returns its URL and its stderr (the log) once it listens.
func startServe(t *testing.T, bin string, args ...string) (url string, cmd interface{ Wait() error }, proc *os.Process, log *syncWriter) {
	t.Helper()
	c := command(t, bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--device", "cpu"}, args...)...)
	log = new(syncWriter)
	c.Stderr = log
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		c.Process.Kill()
		c.Wait()
		t.Fatalf("serve printed no address: %v\n%s", err, log)
	}
	i := strings.Index(line, "http://")
	j := strings.Index(line[i:], "/ ")
	return line[i : i+j], c, c.Process, log
}

// syncWriter is the server's log: the process writes it while the test
// reads it, both under mu.
type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// String returns what was written so far.
func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// TestServeBinary runs the real binary's server (built once).
func TestServeBinary(t *testing.T) {
	bin := buildBinary(t, t.TempDir())
	t.Run("matches the CLI", func(t *testing.T) { serveMatchesCLI(t, bin) })
	t.Run("SIGTERM under load", func(t *testing.T) { serveSIGTERMUnderLoad(t, bin) })
	t.Run("SIGHUP reloads", func(t *testing.T) { serveSIGHUP(t, bin) })
}

// serveSIGHUP: SIGHUP loads the checkpoint saved since the start as a new
// version.
func serveSIGHUP(t *testing.T, bin string) {
	dir := t.TempDir()
	train, model := filepath.Join(dir, "train.csv"), filepath.Join(dir, "m")
	writeToyCSV(t, train, 200)
	trainArgs := []string{"train", "--data", train, "--layers", "6,4,2", "--epochs", "2", "--out", model, "--device", "cpu", "--quiet"}
	if _, err := run(t, trainArgs...); err != nil {
		t.Fatal(err)
	}
	url, c, proc, log := startServe(t, bin, "--model", model)
	defer func() {
		proc.Signal(syscall.SIGTERM)
		c.Wait()
	}()
	version := func() string {
		resp, err := http.Get(url + "/v1/models/m")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m struct{ Version string }
		json.NewDecoder(resp.Body).Decode(&m)
		return m.Version
	}
	first := version()
	if _, err := run(t, append(trainArgs, "--seed", "2", "--force")...); err != nil {
		t.Fatal(err)
	}
	if v := version(); v != first {
		t.Fatalf("the version changed before SIGHUP")
	}
	proc.Signal(syscall.SIGHUP)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if v := version(); v != first && v != "" {
			if !strings.Contains(log.String(), "msg=reloaded") {
				t.Errorf("no reload line in the log:\n%s", tail(log.String()))
			}
			return
		}
	}
	t.Fatalf("SIGHUP did not load the new checkpoint:\n%s", tail(log.String()))
}

// serveMatchesCLI: the real binary's answers are the bits aegpu encode
// and aegpu score (with --per-feature) write for the same rows, and the
// token is required.
func serveMatchesCLI(t *testing.T, bin string) {
	dir := t.TempDir()
	train, model, rows := filepath.Join(dir, "train.csv"), filepath.Join(dir, "m"), filepath.Join(dir, "rows.npy")
	writeToyCSV(t, train, 300)
	if _, err := run(t, "train", "--data", train, "--layers", "6,4,2", "--hidden", "tanh", "--scale", "standard", "--epochs", "5",
		"--batch", "32", "--out", model, "--device", "cpu", "--quiet"); err != nil {
		t.Fatal(err)
	}
	tab, err := dataset.Load(train, dataset.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	x := tab.Data[:100*6]
	for i := 90; i < 100; i++ {
		x[i*6+3] += 30
	}
	if err := dataset.WriteNPY(rows, 100, 6, x); err != nil {
		t.Fatal(err)
	}
	codes, scores, pf := filepath.Join(dir, "codes.npy"), filepath.Join(dir, "s.npy"), filepath.Join(dir, "pf.npy")
	if _, err := run(t, "encode", "--model", model, "--data", rows, "--out", codes, "--device", "cpu", "--quiet"); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "score", "--model", model, "--data", rows, "--threshold", "q0.9", "--per-feature", pf, "--out", scores, "--device", "cpu", "--quiet"); err != nil {
		t.Fatal(err)
	}
	token := filepath.Join(dir, "token")
	os.WriteFile(token, []byte("tok-123\n"), 0o600)
	url, c, proc, log := startServe(t, bin, "--model", "toy="+model, "--token-file", token)
	defer func() {
		proc.Signal(syscall.SIGTERM)
		c.Wait()
	}()
	body, _ := os.ReadFile(rows)
	ask := func(op, tok string) (int, []byte) {
		req, _ := http.NewRequest("POST", url+"/v1/models/toy/"+op, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-npy")
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, b := ask("encode", ""); code != 401 {
		t.Fatalf("without the token: %d %s", code, b)
	}
	var enc struct{ Codes [][]float32 }
	code, b := ask("encode", "tok-123")
	if json.Unmarshal(b, &enc); code != 200 {
		t.Fatalf("encode: %d %s\n%s", code, b, log)
	}
	want, _ := dataset.Load(codes, dataset.LoadOptions{})
	for i, r := range enc.Codes {
		for k, v := range r {
			if math.Float32bits(v) != math.Float32bits(want.Data[i*2+k]) {
				t.Fatalf("code %d,%d: %v, aegpu encode wrote %v", i, k, v, want.Data[i*2+k])
			}
		}
	}
	var sc struct {
		Scores    []float32
		Flags     []bool
		Threshold float64
		Explain   [][]struct {
			Feature int
			Error   float32
		}
	}
	code, b = ask("score?explain=2", "tok-123")
	if json.Unmarshal(b, &sc); code != 200 {
		t.Fatalf("score: %d %s", code, b)
	}
	ws, _ := dataset.Load(scores, dataset.LoadOptions{})
	wf, _ := dataset.Load(pf, dataset.LoadOptions{})
	flagged := 0
	for i, s := range sc.Scores {
		if math.Float32bits(s) != math.Float32bits(ws.Data[2*i]) || sc.Flags[i] != (ws.Data[2*i+1] == 1) {
			t.Fatalf("row %d: score %v flag %v, aegpu score wrote %v %v", i, s, sc.Flags[i], ws.Data[2*i], ws.Data[2*i+1])
		}
		for _, f := range sc.Explain[i] {
			if math.Float32bits(f.Error) != math.Float32bits(wf.Data[i*6+f.Feature]) {
				t.Fatalf("row %d feature %d: %v, --per-feature wrote %v", i, f.Feature, f.Error, wf.Data[i*6+f.Feature])
			}
		}
		if sc.Flags[i] {
			flagged++
		}
	}
	if flagged == 0 || sc.Threshold == 0 {
		t.Errorf("threshold %v flagged %d rows", sc.Threshold, flagged)
	}
}

// serveSIGTERMUnderLoad: SIGTERM while 16 clients send requests: the
// server stops accepting, answers every request it accepted (its debug
// log has one line per request; each is a 200 a client received), and
// exits 0.
func serveSIGTERMUnderLoad(t *testing.T, bin string) {
	dir := t.TempDir()
	train, model := filepath.Join(dir, "train.csv"), filepath.Join(dir, "m")
	writeToyCSV(t, train, 200)
	if _, err := run(t, "train", "--data", train, "--layers", "6,4,2", "--epochs", "2", "--out", model, "--device", "cpu", "--quiet"); err != nil {
		t.Fatal(err)
	}
	url, c, proc, log := startServe(t, bin, "--model", model, "--log-level", "debug", "--max-delay", "5ms")
	body := []byte(`{"rows": [[1,2,3,4,5,6],[0,0,0,0,0,0]]}`)
	var ok, failed atomic.Int64
	var otherErr atomic.Value
	var wg sync.WaitGroup
	stop := time.Now().Add(10 * time.Second) // a bound, in case the server never stops
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := &http.Client{Transport: &http.Transport{}}
			for time.Now().Before(stop) {
				resp, err := cl.Post(url+"/v1/models/m/score", "application/json", bytes.NewReader(body))
				if err != nil {
					failed.Add(1) // refused or closed before an answer: the server never took it
					if errors.Is(err, syscall.ECONNREFUSED) {
						return
					}
					continue
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || !bytes.HasSuffix(b, []byte("}\n")) {
					otherErr.Store(fmt.Sprintf("%d %v %s", resp.StatusCode, err, b))
					return
				}
				ok.Add(1)
			}
		}()
	}
	for ok.Load() < 200 {
		time.Sleep(5 * time.Millisecond)
	}
	proc.Signal(syscall.SIGTERM)
	err := c.Wait()
	wg.Wait()
	if e := otherErr.Load(); e != nil {
		t.Fatalf("a request was answered badly: %v", e)
	}
	if err != nil {
		t.Fatalf("serve exited with %v\n%s", err, tail(log.String()))
	}
	logged := strings.Count(log.String(), "msg=request") - strings.Count(log.String(), "status=503")
	if int64(logged) != ok.Load() {
		t.Errorf("the server answered %d requests, the clients received %d (%d failed to connect)", logged, ok.Load(), failed.Load())
	}
	if !strings.Contains(log.String(), "every accepted request was answered") {
		t.Errorf("no drain line in the log:\n%s", tail(log.String()))
	}
	t.Logf("%d requests answered before and during the drain; %d refused after it began", ok.Load(), failed.Load())
}

func tail(s string) string {
	if len(s) > 3000 {
		return "…" + s[len(s)-3000:]
	}
	return s
}
