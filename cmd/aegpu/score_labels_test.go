package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestScoreLabelErrors: labels and known anomalies that do not fit the
// data are errors that name the flag, the file and the numbers; --explain
// lists the flagged rows' largest errors up to --explain-rows.
func TestScoreLabelErrors(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "toy.csv")
	writeToyCSV(t, data, 60)
	model := filepath.Join(dir, "m")
	if _, err := run(t, "train", "--data", data, "--layers", "6,4,2", "--epochs", "1", "--batch", "16", "--device", "cpu", "--quiet", "--out", model); err != nil {
		t.Fatal(err)
	}
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	narrow := write("narrow.csv", "a,b\n1,2\n3,4\n")
	short := write("short.csv", "0\n1\n0\n")
	bad := write("bad.csv", strings.Repeat("0\n", 5)+"2\n"+strings.Repeat("1\n", 54))
	out := filepath.Join(dir, "s.csv")
	score := []string{"score", "--model", model, "--data", data, "--device", "cpu", "--out", out}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--anomalies", narrow}, "--anomalies " + narrow + " has 2 columns, --data has 6"},
		{[]string{"--labels", short}, "--labels " + short + " has 3 labels, --data has 60 rows"},
		{[]string{"--labels", bad}, "--labels " + bad + " row 5: label 2, want 0 (normal) or 1 (anomaly)"},
	} {
		if _, _, err := runBoth(t, append(score, c.args...)...); err == nil || err.Error() != c.want {
			t.Errorf("%v: got %v, want %q", c.args, err, c.want)
		}
	}
	_, stderr, err := runBoth(t, append(score, "--threshold", "q0.9", "--explain", "2", "--explain-rows", "3")...)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(stderr, "; largest errors: "); n != 3 {
		t.Errorf("%d rows explained, want 3:\n%s", n, stderr)
	}
	if !strings.Contains(stderr, "… (more flagged rows; --explain-rows raises the limit, --per-feature writes them all)\n") {
		t.Errorf("no note of more flagged rows:\n%s", stderr)
	}
}
