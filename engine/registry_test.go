package engine

import (
	"errors"
	"strings"
	"testing"
)

func TestOpenErrors(t *testing.T) {
	for _, spec := range []string{"tpu", "cuda:x", "cuda:-1"} {
		if _, _, err := Open(spec); err == nil {
			t.Errorf("Open(%q) succeeded, want an error", spec)
		}
	}
	if _, ok := driver("cuda"); !ok {
		_, _, err := Open("cuda")
		if !errors.Is(err, ErrNoCUDA) || !strings.Contains(err.Error(), "without the CUDA backend") {
			t.Errorf("Open(cuda) without a cuda driver: %v", err)
		}
	}
}

// The fallback note is one short line: the brief reason, not the driver's
// whole message (Probe and Open("cuda") give that).
func TestAutoNoteIsBrief(t *testing.T) {
	if got := BriefReason(&Unavailable{Why: "long reason", Brief: "short"}); got != "short" {
		t.Errorf("BriefReason = %q, want short", got)
	}
	if got := BriefReason(errors.New("plain")); got != "plain" {
		t.Errorf("BriefReason(plain) = %q", got)
	}
	if _, ok := driver("cpu"); !ok {
		t.Skip("no cpu driver linked into this test binary (the cuda and cmd tests check the note)")
	}
	_, note, err := Open("auto")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := driver("cuda"); !ok && note != "" {
		if !strings.HasSuffix(note, ": built without the CUDA backend") {
			t.Errorf("note %q, want it to end in the brief reason", note)
		}
	}
	if strings.Contains(note, "shared object") || strings.Contains(note, "\n") {
		t.Errorf("note %q carries the full driver message", note)
	}
}

func TestParseNames(t *testing.T) {
	for a := Linear; a <= GELU; a++ {
		if got, err := ParseAct(a.String()); err != nil || got != a {
			t.Errorf("ParseAct(%q) = %v, %v", a, got, err)
		}
	}
	if _, err := ParseAct("swish"); err == nil {
		t.Error("ParseAct(swish) should fail")
	}
	for o := SGD; o <= AdamW; o++ {
		if got, err := ParseOpt(o.String()); err != nil || got != o {
			t.Errorf("ParseOpt(%q) = %v, %v", o, got, err)
		}
	}
}
