//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	t.Run("README Python", func(t *testing.T) { serveReadmePython(t, bin) })
}

// readmeBlock returns the first fenced block of language lang in the
// README section that starts with heading.
func readmeBlock(t *testing.T, heading, lang string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	i := strings.Index(readme, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("README.md has no %q section", heading)
	}
	sec := readme[i+1:]
	if j := strings.Index(sec[len(heading):], "\n## "); j >= 0 {
		sec = sec[:len(heading)+j]
	}
	_, block, ok := strings.Cut(sec, "\n```"+lang+"\n")
	block, _, closed := strings.Cut(block, "\n```\n")
	if !ok || !closed {
		t.Fatalf("README.md's %q section has no ```%s block", heading, lang)
	}
	return block + "\n"
}

// writeBCLike writes rows rows of a 30-column CSV with a header, of the
// breast-cancer table's shape: positive measurements of mixed scales
// driven by 3 factors; anomalous rows are off that structure.
func writeBCLike(t *testing.T, path string, rows int, seed uint64, anomalous bool) [][]float32 {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	var sb strings.Builder
	for j := range 30 {
		if j > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, "f%d", j)
	}
	sb.WriteByte('\n')
	var out [][]float32
	for range rows {
		f := [3]float64{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()}
		row := make([]float32, 30)
		for j := range row {
			scale := math.Pow(10, float64(j%5)-2)
			v := 3 + f[j%3] + 0.5*f[(j+1)%3] + 0.05*rng.NormFloat64()
			if anomalous && j%7 == 0 {
				v += 4 + 2*rng.Float64()
			}
			row[j] = float32(scale * math.Abs(v))
			if j > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(strconv.FormatFloat(float64(row[j]), 'g', -1, 32))
		}
		sb.WriteByte('\n')
		out = append(out, row)
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// serveReadmePython runs the README's Python example (the ```python block
// of its Serving section, as written but for the server's address) with
// /usr/bin/python3 against the binary's server, serving a model bc-ae
// trained and given a threshold as the README's Anomaly detection section
// does (fewer epochs), on a made-up table of the breast-cancer data's shape
// in data/breast-cancer/ beside it. Its answers must be the bits aegpu
// score and aegpu encode write for the same rows. Skipped without
// /usr/bin/python3 and its numpy and requests modules.
func serveReadmePython(t *testing.T, bin string) {
	const py = "/usr/bin/python3"
	if out, err := exec.Command(py, "-c", "import numpy, requests").CombinedOutput(); err != nil {
		t.Skipf("%s with numpy and requests is needed (apt-get install python3-numpy python3-requests): %v %s", py, err, bytes.TrimSpace(out))
	}
	script := readmeBlock(t, "## Serving", "python")
	dir := t.TempDir()
	bc := filepath.Join(dir, "data", "breast-cancer")
	os.MkdirAll(bc, 0o755)
	train, malignant, model := filepath.Join(bc, "benign-train.csv"), filepath.Join(bc, "malignant.csv"), filepath.Join(dir, "bc-ae")
	writeBCLike(t, train, 268, 1, false)
	bad := writeBCLike(t, malignant, 40, 2, true)
	if _, err := run(t, "train", "--data", train, "--layers", "30,16,4", "--hidden", "tanh", "--scale", "standard", "--epochs", "20",
		"--batch", "32", "--out", model, "--device", "cpu", "--quiet"); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "score", "--model", model, "--data", malignant, "--fit-on", train, "--threshold", "q0.95",
		"--out", filepath.Join(dir, "all.csv"), "--device", "cpu", "--quiet"); err != nil { // saves threshold.json
		t.Fatal(err)
	}
	// what aegpu score and aegpu encode write for the example's rows
	eight := filepath.Join(dir, "eight.npy")
	var x []float32
	for _, r := range bad[:8] {
		x = append(x, r...)
	}
	if err := dataset.WriteNPY(eight, 8, 30, x); err != nil {
		t.Fatal(err)
	}
	scores, codes := filepath.Join(dir, "scores.npy"), filepath.Join(dir, "codes.npy")
	if _, err := run(t, "score", "--model", model, "--data", eight, "--out", scores, "--device", "cpu", "--quiet"); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "encode", "--model", model, "--data", eight, "--out", codes, "--device", "cpu", "--quiet"); err != nil {
		t.Fatal(err)
	}

	url, c, proc, log := startServe(t, bin, "--model", "bc-ae="+model)
	defer func() {
		proc.Signal(syscall.SIGTERM)
		c.Wait()
	}()
	const readmeURL = "http://127.0.0.1:8080"
	if !strings.Contains(script, readmeURL) {
		t.Fatalf("the README's Python example no longer uses %s:\n%s", readmeURL, script)
	}
	script = strings.ReplaceAll(script, readmeURL, url)
	script += "\nimport json\njson.dump({'scores': ans['scores'], 'flags': ans['flags'], 'version': ans['version'], 'codes': codes.tolist()}, open('answers.json', 'w'))\n"
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "-")
	cmd.Dir, cmd.Stdin = dir, strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the README's Python example: %v\n%s\nserver log:\n%s", err, out, tail(log.String()))
	}
	var ans struct {
		Scores  []float32
		Flags   []bool
		Version string
		Codes   [][]float32
	}
	b, err := os.ReadFile(filepath.Join(dir, "answers.json"))
	if err != nil || json.Unmarshal(b, &ans) != nil {
		t.Fatalf("answers.json: %v %s", err, b)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "[") || lines[1] != "(8, 4) float32 "+ans.Version[:12] {
		t.Errorf("the example printed %q, want the flags and threshold, then (8, 4) float32 and the version", out)
	}
	ws, _ := dataset.Load(scores, dataset.LoadOptions{})
	wc, _ := dataset.Load(codes, dataset.LoadOptions{})
	if len(ans.Scores) != 8 || len(ans.Codes) != 8 || ws == nil || wc == nil {
		t.Fatalf("answers %s", b)
	}
	flagged := 0
	for i := range 8 {
		if math.Float32bits(ans.Scores[i]) != math.Float32bits(ws.Data[2*i]) || ans.Flags[i] != (ws.Data[2*i+1] == 1) {
			t.Errorf("row %d: score %v flag %v, aegpu score wrote %v %v", i, ans.Scores[i], ans.Flags[i], ws.Data[2*i], ws.Data[2*i+1])
		}
		for k, v := range ans.Codes[i] {
			if math.Float32bits(v) != math.Float32bits(wc.Data[i*4+k]) {
				t.Errorf("row %d code %d: %v, aegpu encode wrote %v", i, k, v, wc.Data[i*4+k])
			}
		}
		if ans.Flags[i] {
			flagged++
		}
	}
	t.Logf("the README's example printed %q; %d of 8 rows flagged", lines, flagged)
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
			// The server logs the reload just after the swap, and its
			// stderr reaches log through a pipe the os/exec copier
			// drains, so the line may trail the new version by a moment
			// (CI saw it missing when checked at once).
			for wait := time.Now().Add(5 * time.Second); !strings.Contains(log.String(), "msg=reloaded"); time.Sleep(10 * time.Millisecond) {
				if time.Now().After(wait) {
					t.Fatalf("version %s serves, but no reload line reached the log in 5 s:\n%s", v, tail(log.String()))
				}
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
