package autoencoder

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/aegpu/aegpu/engine"
	"github.com/aegpu/aegpu/internal/atomicfile"
	"github.com/aegpu/aegpu/internal/safetensors"
)

// VerifyReport is what Verify found in a model directory.
type VerifyReport struct {
	Dir string
	// Legacy: the directory has no checkpoint.json (an earlier aegpu wrote
	// it): there are no checksums, only the files' structure is checked.
	Legacy             bool
	Step               int64
	Epoch, Batch       int
	Files              []FileReport
	Leftovers          []string // of interrupted saves and killed runs; the next run that takes the directory removes them
	Other              []string // files that are not part of the checkpoint
	Problems           []string // damage found beyond the checksums
	State              *State   // the trainer state, when there is one and it is valid
	ConfigEpochs       int
	InterruptedSaveFix bool // some files are the .prev versions: a save was interrupted
}

// FileReport is one file of a checkpoint.
type FileReport struct {
	Name   string
	Size   int64
	SHA256 string // as found (the recorded one when Status is "ok")
	Want   string // as recorded in the manifest
	// Status: "ok", "ok (.prev)" (the checkpoint's version is NAME.prev: a
	// save was interrupted; the next run puts it back), "damaged",
	// "missing", or "unchecked" (a directory without checkpoint.json).
	Status string
}

// Damaged reports whether a file of the checkpoint is damaged or missing,
// or its content is inconsistent.
func (r *VerifyReport) Damaged() bool {
	for _, f := range r.Files {
		if f.Status == "damaged" || f.Status == "missing" {
			return true
		}
	}
	return len(r.Problems) > 0
}

// Verify checks every file of the model directory dir: against the
// SHA-256 its checkpoint.json records, then their content: config.json and
// state.json parse, the state is valid for the configuration, the weight
// files carry the state's step, and (when b is not nil) the weights load
// onto a model of the configured architecture.
func Verify(dir string, b engine.Backend) *VerifyReport {
	r := &VerifyReport{Dir: dir}
	problem := func(format string, a ...any) { r.Problems = append(r.Problems, fmt.Sprintf(format, a...)) }
	m, err := ReadManifest(dir)
	if err != nil {
		problem("%v", err)
		return r
	}
	content := map[string][]byte{}
	if m == nil {
		r.Legacy = true
		for _, n := range checkpointFiles {
			b, err := os.ReadFile(filepath.Join(dir, n))
			if err != nil {
				continue
			}
			content[n] = b
			r.Files = append(r.Files, FileReport{Name: n, Size: int64(len(b)), SHA256: atomicfile.BytesSHA256(b), Status: "unchecked"})
		}
		if content[ConfigFile] == nil {
			problem("%s is not a model directory: %s is missing", dir, ConfigFile)
			return r
		}
	} else {
		r.Step, r.Epoch, r.Batch = m.Step, m.Epoch, m.Batch
		for _, n := range checkpointFiles {
			want, ok := m.Files[n]
			if !ok {
				continue
			}
			fr := FileReport{Name: n, Want: want.SHA256, Size: want.Size}
			b, from, err := readVerified(dir, m, n)
			var de *DamagedError
			switch {
			case err == nil:
				fr.SHA256, fr.Status = want.SHA256, "ok"
				if strings.HasSuffix(from, PrevSuffix) {
					fr.Status, r.InterruptedSaveFix = "ok (.prev)", true
				}
				content[n] = b
			case errors.As(err, &de) && de.Got == "":
				fr.Status = "missing"
			case errors.As(err, &de):
				fr.Status, fr.SHA256 = "damaged", de.Got
				if fi, err := os.Stat(filepath.Join(dir, n)); err == nil {
					fr.Size = fi.Size()
				}
			default:
				fr.Status = "missing"
				problem("%s: %v", n, err)
			}
			r.Files = append(r.Files, fr)
		}
	}
	// What else is there.
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		n := e.Name()
		switch {
		case n == ManifestFile:
		case slices.Contains(checkpointFiles, n):
			if m != nil {
				if _, ok := m.Files[n]; !ok {
					r.Leftovers = append(r.Leftovers, n)
				}
			}
		case strings.HasSuffix(n, PrevSuffix) && slices.Contains(checkpointFiles, strings.TrimSuffix(n, PrevSuffix)):
			name := strings.TrimSuffix(n, PrevSuffix)
			used := false
			for _, f := range r.Files {
				used = used || (f.Name == name && f.Status == "ok (.prev)")
			}
			if !used {
				r.Leftovers = append(r.Leftovers, n)
			}
		case ownFile(n) && n != ThresholdFile:
			r.Leftovers = append(r.Leftovers, n)
		default:
			r.Other = append(r.Other, n)
		}
	}
	if t, err := targetOf(dir); err == nil {
		for _, pat := range []string{".new-*", ".old-*"} {
			ds, _ := filepath.Glob(filepath.Join(t.parent, "."+t.name+pat))
			for _, d := range ds {
				r.Leftovers = append(r.Leftovers, d)
			}
		}
	}
	// The content.
	cb := content[ConfigFile]
	if cb == nil {
		return r
	}
	cfg, err := parseConfig(filepath.Join(dir, ConfigFile), cb)
	if err != nil {
		problem("%v", err)
		return r
	}
	r.ConfigEpochs = cfg.Train.Epochs
	var st *State
	if sb := content[StateFile]; sb != nil {
		var s State
		sp := filepath.Join(dir, StateFile)
		if err := json.Unmarshal(sb, &s); err != nil {
			problem("read %s: %v", sp, err)
		} else if err := s.validate(sp, cfg, batchesFor(cfg), cfg.Data.ValRows); err != nil {
			problem("%v", err)
		} else {
			st, r.State = &s, &s
			if m != nil && m.Step != s.Step {
				problem("%s names step %d but %s holds step %d", ManifestFile, m.Step, StateFile, s.Step)
			}
		}
	}
	decode := func(n string) *safetensors.File {
		b := content[n]
		if b == nil {
			return nil
		}
		f, err := safetensors.Decode(b)
		if err != nil {
			problem("read %s: %v", filepath.Join(dir, n), err)
			return nil
		}
		if st != nil && n != BestFile && f.Metadata["aegpu_step"] != strconv.FormatInt(st.Step, 10) {
			problem("%s is from step %s but %s from step %d", n, f.Metadata["aegpu_step"], StateFile, st.Step)
		}
		return f
	}
	wf := decode(WeightsFile)
	if content[WeightsFile] == nil && !slices.ContainsFunc(r.Files, func(f FileReport) bool { return f.Name == WeightsFile }) {
		problem("%s is missing", WeightsFile)
	}
	decode(OptimizerFile)
	bf := decode(BestFile)
	if st != nil && st.BestEpoch > 0 {
		if bf == nil && content[BestFile] == nil && !slices.ContainsFunc(r.Files, func(f FileReport) bool { return f.Name == BestFile }) {
			problem("%s says the best epoch is %d but there is no %s", StateFile, st.BestEpoch, BestFile)
		} else if bf != nil && bf.Metadata["aegpu_best_epoch"] != strconv.Itoa(st.BestEpoch) {
			problem("%s holds epoch %s, %s says %d", BestFile, bf.Metadata["aegpu_best_epoch"], StateFile, st.BestEpoch)
		}
	}
	if b != nil && wf != nil {
		a, err := cfg.Arch()
		if err != nil {
			problem("%s: %v", ConfigFile, err)
			return r
		}
		mdl, err := NewModel(b, a)
		if err != nil {
			problem("%v", err)
			return r
		}
		defer mdl.Free()
		if err := mdl.SetTensors(wf.Tensors); err != nil {
			problem("%s: %v", WeightsFile, err)
		}
		if bf != nil && len(bf.Tensors["params"].Data) != mdl.Params.Len() {
			problem("%s has %d parameters, the model %d", BestFile, len(bf.Tensors["params"].Data), mdl.Params.Len())
		}
	}
	return r
}
