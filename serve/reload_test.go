package serve

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aegpu/aegpu/autoencoder"
)

// TestHotReloadUnderLoad: 8 clients score rows while the model directory
// gets a new checkpoint and the server reloads it: no request fails, each
// answer is entirely the bits of the version it names, requests begun
// after Reload returned get the new version, and the old version is
// retired once its last request is answered.
func TestHotReloadUnderLoad(t *testing.T) {
	dir := t.TempDir()
	trainModel(t, dir, 1)
	rows := planeRows(200, 5)
	refs := map[string]reference{}
	a := referenceOf(t, dir, rows)
	refs[a.version] = a
	s, hs := newTestServer(t, Options{MaxBatch: 64, MaxDelay: time.Millisecond}, dir)
	var reloaded atomic.Int64 // UnixNano when Reload returned
	var mu sync.Mutex
	counts := map[string]int{}
	var bad []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	deadline := time.Now().Add(20 * time.Second)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				select {
				case <-stop:
					return
				default:
				}
				lo := (g*31 + i*7) % 190
				n := 1 + (g+i)%10
				begun := time.Now().UnixNano()
				code, h, b := post(t, hs.Client(), hs.URL+"/v1/models/m0/score?explain=1", TypeJSON, jsonRows(rows[lo*testCols:(lo+n)*testCols]))
				ans := decodeAnswer(t, b)
				mu.Lock()
				ref, known := refs[ans.Version]
				switch {
				case code != 200:
					bad = append(bad, fmt.Sprintf("%d %s", code, b))
				case !known || h.Get(VersionHeader) != ans.Version:
					bad = append(bad, "unknown version "+ans.Version)
				case reloaded.Load() != 0 && begun > reloaded.Load() && ans.Version == a.version:
					bad = append(bad, "a request begun after the reload got the old version")
				default:
					if k, ok := sameBits(ans.Scores, ref.rowErr[lo:lo+n]); !ok {
						bad = append(bad, fmt.Sprintf("version %.8s, rows %d+%d: score %d is not that version's", ans.Version, lo, n, k))
					}
					for r, e := range ans.Explain {
						if e[0].Error != ref.featErr[(lo+r)*testCols+e[0].Feature] {
							bad = append(bad, "an explanation of another version")
						}
					}
					counts[ans.Version]++
				}
				mu.Unlock()
			}
		}()
	}
	waitFor := func(version string, n int) {
		for time.Now().Before(deadline) {
			mu.Lock()
			c := counts[version]
			mu.Unlock()
			if c >= n {
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
		t.Fatalf("fewer than %d answers of version %.8s", n, version)
	}
	waitFor(a.version, 100)
	trainModel(t, dir, 2) // a new checkpoint: the server still serves the one it loaded
	b := referenceOf(t, dir, rows)
	mu.Lock()
	refs[b.version] = b
	mu.Unlock()
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	reloaded.Store(time.Now().UnixNano())
	waitFor(b.version, 100)
	close(stop)
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("%d bad answers, e.g. %s", len(bad), bad[0])
	}
	s.models["m0"].waitRetired() // the old version's batcher stopped, its buffers freed
	t.Logf("answers by version: %d of the first, %d of the second", counts[a.version], counts[b.version])
}

// TestReloadFailureKeepsServing: a damaged checkpoint does not replace the
// version serving; Reload and /v1/models say why. Then --watch loads a
// good new checkpoint by itself.
func TestReloadFailureKeepsServing(t *testing.T) {
	dir := t.TempDir()
	trainModel(t, dir, 1)
	a := referenceOf(t, dir, planeRows(1, 1))
	s, hs := newTestServer(t, Options{Watch: 20 * time.Millisecond}, dir)
	// damage the weights: the manifest's checksum no longer matches
	w := filepath.Join(dir, autoencoder.WeightsFile)
	orig, _ := os.ReadFile(w)
	bad := append([]byte(nil), orig...)
	bad[len(bad)-1] ^= 0xff
	if err := os.WriteFile(w, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	err := s.Reload()
	if err == nil || !strings.Contains(err.Error(), "keeps serving") || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("reload of a damaged model: %v", err)
	}
	code, _, body := post(t, hs.Client(), hs.URL+"/v1/models/m0/encode", TypeJSON, jsonRows(planeRows(1, 1)))
	if ans := decodeAnswer(t, body); code != 200 || ans.Version != a.version {
		t.Fatalf("after a failed reload: %d %s", code, body)
	}
	var ms struct{ Models []ModelInfo }
	resp, _ := hs.Client().Get(hs.URL + "/v1/models")
	json.NewDecoder(resp.Body).Decode(&ms)
	resp.Body.Close()
	if !strings.Contains(ms.Models[0].ReloadError, "damaged") || ms.Models[0].Version != a.version {
		t.Errorf("/v1/models after a failed reload: %+v", ms.Models[0])
	}
	// a good new checkpoint: the watcher loads it
	if err := os.WriteFile(w, orig, 0o644); err != nil { // (saving over a damaged file would adopt it first)
		t.Fatal(err)
	}
	trainModel(t, dir, 3)
	b := referenceOf(t, dir, planeRows(1, 1))
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := s.Models()[0]; m.Version == b.version {
			if m.ReloadError != "" {
				t.Errorf("reload error kept after a good reload: %s", m.ReloadError)
			}
			resp, _ := hs.Client().Get(hs.URL + "/metrics")
			mb, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, want := range []string{`aegpu_serve_reloads_total{model="m0",result="error"} 1`, `aegpu_serve_reloads_total{model="m0",result="ok"} 1`,
				`aegpu_serve_model_version_info{model="m0",version="` + b.version + `"} 1`} {
				if !strings.Contains(string(mb), want) {
					t.Errorf("/metrics lacks %s:\n%s", want, grepLines(string(mb), "reloads"))
				}
			}
			if strings.Contains(string(mb), a.version) {
				t.Errorf("/metrics still names the old version")
			}
			return
		}
	}
	t.Fatalf("the watcher did not load the new checkpoint: %+v", s.Models()[0])
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
