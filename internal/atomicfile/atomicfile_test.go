package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteReplacesWholeOrNothing(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.bin")
	if err := WriteBytes(p, []byte("first")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Write(p, func(w io.Writer) error {
		w.Write([]byte("partial"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	got, _ := os.ReadFile(p)
	if string(got) != "first" {
		t.Fatalf("content after failed write = %q, want the previous %q", got, "first")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temporary files left behind: %v", ents)
	}
}

func TestWriteUnwritableDir(t *testing.T) {
	err := WriteBytes(filepath.Join(t.TempDir(), "no", "such", "dir", "f"), []byte("x"))
	if err == nil {
		t.Fatal("want an error for a missing directory")
	}
}

func TestPrepareKeepPrevAndTemps(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "model.bin")
	if err := WriteBytes(p, []byte("old")); err != nil {
		t.Fatal(err)
	}
	pend, err := Prepare(p, func(w io.Writer) error { _, err := w.Write([]byte("new")); return err })
	if err != nil {
		t.Fatal(err)
	}
	if pend.SHA256 != BytesSHA256([]byte("new")) || pend.Size != 3 {
		t.Errorf("pending %+v", pend)
	}
	if got, _ := os.ReadFile(p); string(got) != "old" {
		t.Errorf("Prepare touched the file: %q", got)
	}
	if err := KeepPrev(p, p+".prev"); err != nil {
		t.Fatal(err)
	}
	if err := pend.Commit(); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	prev, _ := os.ReadFile(p + ".prev")
	if string(got) != "new" || string(prev) != "old" {
		t.Errorf("after commit: %q, prev %q", got, prev)
	}
	if err := KeepPrev(filepath.Join(dir, "absent"), filepath.Join(dir, "absent.prev")); err != nil {
		t.Errorf("KeepPrev of a missing file: %v", err)
	}
	// A killed writer's temporary file, and someone else's look-alike.
	os.WriteFile(filepath.Join(dir, ".model.bin.tmp-123"), make([]byte, 100), 0o644)
	os.WriteFile(filepath.Join(dir, ".other.tmp-9"), nil, 0o644)
	n, b, err := RemoveTemps(dir, "model.bin")
	if err != nil || n != 1 || b != 100 {
		t.Errorf("RemoveTemps: %d files, %d bytes, %v", n, b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".other.tmp-9")); err != nil {
		t.Error("RemoveTemps removed a file of another name")
	}
}
