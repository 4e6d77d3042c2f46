//go:build unix

package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aegpu/aegpu/dataset"
)

// mkfifo makes a named pipe.
func mkfifo(path string) error { return syscall.Mkfifo(path, 0o600) }

// feedFIFO makes a named pipe at path and writes content into it from a
// goroutine for the one reader that opens it.
func feedFIFO(t *testing.T, path string, content []byte) string {
	t.Helper()
	if err := mkfifo(path); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	go func() {
		w, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		w.Write(content) // fails when the reader stops early: fine
		w.Close()
	}()
	t.Cleanup(func() {
		// Release a writer still waiting for a reader.
		if f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	return path
}

// bounded runs f, failing the test if it takes more than d.
func bounded(t *testing.T, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("still running after %v", d)
	}
}

// TestFIFOData: train, encode, reconstruct and score read --data from a
// named pipe, named .npy or .csv or not named at all, and from "-"
// (standard input), with the results they give on the regular file; what
// must read the data more than once refuses a pipe clearly.
func TestFIFOData(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "toy.csv")
	writeToyCSV(t, csv, 60)
	tab, err := dataset.Load(csv, dataset.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	npy := filepath.Join(dir, "toy.npy")
	if err := dataset.Save(npy, nil, tab.Rows, tab.Cols, tab.Data); err != nil {
		t.Fatal(err)
	}
	csvBytes, _ := os.ReadFile(csv)
	npyBytes, _ := os.ReadFile(npy)
	model := filepath.Join(dir, "m")
	if _, err := run(t, "train", "--data", csv, "--layers", "6,4,2", "--epochs", "1", "--out", model, "--device", "cpu", "--quiet"); err != nil {
		t.Fatal(err)
	}
	codes := filepath.Join(dir, "codes.npy")
	if _, err := run(t, "encode", "--model", model, "--data", npy, "--out", codes, "--device", "cpu", "--quiet"); err != nil {
		t.Fatal(err)
	}
	want, _ := dataset.Load(codes, dataset.LoadOptions{})

	pipe := func(name string, content []byte) string {
		return feedFIFO(t, filepath.Join(t.TempDir(), name), content)
	}
	for _, c := range []struct {
		name    string
		content []byte
	}{{"p.npy", npyBytes}, {"p.csv", csvBytes}, {"pipe", npyBytes}, {"pipe", csvBytes}} {
		bounded(t, 60*time.Second, func() {
			out := filepath.Join(t.TempDir(), "c.npy")
			if _, err := run(t, "encode", "--model", model, "--data", pipe(c.name, c.content), "--out", out, "--device", "cpu", "--quiet"); err != nil {
				t.Fatalf("encode %s: %v", c.name, err)
			}
			got, err := dataset.Load(out, dataset.LoadOptions{})
			if err != nil || !reflect.DeepEqual(got.Data, want.Data) {
				t.Errorf("encode %s: %v, codes differ", c.name, err)
			}
			for _, args := range [][]string{
				{"train", "--layers", "6,4,2", "--epochs", "1", "--out", filepath.Join(t.TempDir(), "m")},
				{"reconstruct", "--model", model, "--out", filepath.Join(t.TempDir(), "r.npy")},
				{"score", "--model", model, "--out", filepath.Join(t.TempDir(), "s.csv")},
			} {
				if _, err := run(t, append(args, "--data", pipe(c.name, c.content), "--device", "cpu", "--quiet")...); err != nil {
					t.Errorf("%s %s: %v", args[0], c.name, err)
				}
			}
		})
	}

	// Standard input.
	bounded(t, 60*time.Second, func() {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		old := os.Stdin
		os.Stdin = r
		defer func() { os.Stdin = old; r.Close() }()
		go func() { w.Write(csvBytes); w.Close() }()
		out := filepath.Join(t.TempDir(), "c.npy")
		if _, err := run(t, "encode", "--model", model, "--data", "-", "--out", out, "--device", "cpu", "--quiet"); err != nil {
			t.Fatalf("encode --data -: %v", err)
		}
		if got, err := dataset.Load(out, dataset.LoadOptions{}); err != nil || !reflect.DeepEqual(got.Data, want.Data) {
			t.Errorf("encode --data -: %v, codes differ", err)
		}
	})

	// What reads the data more than once refuses a pipe, before reading it.
	bounded(t, 60*time.Second, func() {
		p := pipe("p.npy", npyBytes)
		_, err := run(t, "encode", "--model", model, "--data", p, "--out", filepath.Join(dir, "x.npy"), "--compare-pca", "--device", "cpu")
		if err == nil || !strings.Contains(err.Error(), "--compare-pca reads --data three times, and "+p+" is a pipe") {
			t.Errorf("encode --compare-pca on a pipe: %v", err)
		}
		_, err = run(t, "train", "--stream", "--data", p, "--out", filepath.Join(dir, "s"), "--device", "cpu", "--quiet")
		if err == nil || !strings.Contains(err.Error(), "--data "+p+" is a pipe") {
			t.Errorf("train --stream on a pipe: %v", err)
		}
		q := pipe("q.csv", csvBytes)
		_, err = run(t, "encode", "--model", model, "--data", q, "--shard", "0/2", "--out", filepath.Join(dir, "x.npy"), "--device", "cpu", "--quiet")
		if err == nil || !strings.Contains(err.Error(), "a shard of CSV input needs the rows counted first") {
			t.Errorf("encode --shard on a CSV pipe: %v", err)
		}
	})
}

// TestDevZeroInputs: /dev/zero given as a CSV file or as a model's
// weights fails with an error naming the file and where, in bounded time.
func TestDevZeroInputs(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	dir := t.TempDir()
	zcsv, zst := filepath.Join(dir, "zero.csv"), filepath.Join(dir, "zero.safetensors")
	os.Symlink("/dev/zero", zcsv)
	os.Symlink("/dev/zero", zst)
	model := filepath.Join(dir, "m")
	data := filepath.Join(dir, "toy.csv")
	writeToyCSV(t, data, 30)
	if _, err := run(t, "train", "--data", data, "--layers", "6,2", "--epochs", "1", "--out", model, "--device", "cpu", "--quiet"); err != nil {
		t.Fatal(err)
	}
	bounded(t, 60*time.Second, func() {
		for _, args := range [][]string{
			{"encode", "--model", model, "--data", zcsv, "--out", filepath.Join(dir, "c.npy"), "--device", "cpu"},
			{"reconstruct", "--model", model, "--data", zcsv, "--out", filepath.Join(dir, "r.npy"), "--device", "cpu"},
		} {
			_, err := run(t, append(args, "--quiet")...)
			if err == nil || !strings.Contains(err.Error(), "read "+zcsv+": line 1 (from byte 0) runs past byte 67108864 without a line end") {
				t.Errorf("%s: %v", args[0], err)
			}
		}
		_, err := run(t, "import", "--weights", zst, "--out", filepath.Join(dir, "imp"), "--quiet")
		if err == nil || !strings.Contains(err.Error(), zst) || !strings.Contains(err.Error(), "safetensors header (bytes 8–8)") {
			t.Errorf("import: %v", err)
		}
	})
	if got := listDir(t, dir); strings.Join(got, " ") != "m toy.csv zero.csv zero.safetensors" {
		t.Errorf("left behind: %q", got)
	}
}

// A model trained from a pipe records the pipe; without --data, a command
// says the pipe cannot be read again instead of waiting for a writer.
func TestModelTrainedFromPipe(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "toy.csv")
	writeToyCSV(t, csv, 60)
	content, _ := os.ReadFile(csv)
	fifo := feedFIFO(t, filepath.Join(dir, "p.csv"), content)
	model := filepath.Join(dir, "m")
	bounded(t, 60*time.Second, func() {
		if _, err := run(t, "train", "--data", fifo, "--layers", "6,4,2", "--epochs", "1", "--out", model, "--device", "cpu", "--quiet"); err != nil {
			t.Fatal(err)
		}
	})
	bounded(t, 10*time.Second, func() {
		_, err := run(t, "encode", "--model", model, "--out", filepath.Join(dir, "c.npy"), "--device", "cpu", "--quiet")
		if err == nil || !strings.Contains(err.Error(), "a pipe, which cannot be read again") {
			t.Errorf("encode without --data on a model trained from a pipe: %v", err)
		}
	})
}
