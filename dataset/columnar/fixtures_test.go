package columnar

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestColumnarFixturesReproduce runs testdata/columnar/gen.mjs, where node
// and its packages are installed (.ci/run installs them), and requires the
// very files committed beside it: the fixtures are what the script says.
func TestColumnarFixturesReproduce(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the committed fixtures are used as they are")
	}
	dir := filepath.Join("..", "testdata", "columnar")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "parquet-wasm")); err != nil {
		t.Skip("the fixture writers are not installed: run npm install in dataset/testdata/columnar")
	}
	out := t.TempDir()
	cmd := exec.Command(node, "gen.mjs", out)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gen.mjs: %v\n%s", err, b)
	}
	made, err := os.ReadDir(out)
	must(t, err)
	if len(made) == 0 {
		t.Fatal("gen.mjs wrote nothing")
	}
	for _, e := range made {
		want, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Errorf("gen.mjs writes %s, which is not committed", e.Name())
			continue
		}
		got, err := os.ReadFile(filepath.Join(out, e.Name()))
		must(t, err)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: gen.mjs writes other bytes than the committed file: regenerate the fixtures", e.Name())
		}
	}
}
