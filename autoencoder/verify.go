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
	m, err := ReadManifest(dir)
	if err != nil {
		r.problem("%v", err)
		return r
	}
	var content map[string][]byte
	if m == nil {
		content = r.readLegacy()
		if content[ConfigFile] == nil {
			r.problem("%s is not a model directory: %s is missing", dir, ConfigFile)
			return r
		}
	} else {
		content = r.readListed(m)
	}
	r.listOthers(m)
	r.listStaging()
	r.checkContent(m, content, b)
	return r
}

// problem records damage found beyond the checksums.
func (r *VerifyReport) problem(format string, a ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, a...))
}

// hasFile reports whether r has a FileReport for name.
func (r *VerifyReport) hasFile(name string) bool {
	return slices.ContainsFunc(r.Files, func(f FileReport) bool { return f.Name == name })
}

// readLegacy reads the checkpoint files of a directory without
// checkpoint.json (nothing to check them against) and returns their
// content.
func (r *VerifyReport) readLegacy() map[string][]byte {
	r.Legacy = true
	content := map[string][]byte{}
	for _, n := range checkpointFiles {
		b, err := os.ReadFile(filepath.Join(r.Dir, n))
		if err != nil {
			continue
		}
		content[n] = b
		r.Files = append(r.Files, FileReport{Name: n, Size: int64(len(b)), SHA256: atomicfile.BytesSHA256(b), Status: "unchecked"})
	}
	return content
}

// readListed checks each file m lists against its SHA-256 and returns the
// content of those that match.
func (r *VerifyReport) readListed(m *Manifest) map[string][]byte {
	r.Step, r.Epoch, r.Batch = m.Step, m.Epoch, m.Batch
	content := map[string][]byte{}
	for _, n := range checkpointFiles {
		want, ok := m.Files[n]
		if !ok {
			continue
		}
		fr := FileReport{Name: n, Want: want.SHA256, Size: want.Size}
		b, from, err := readVerified(r.Dir, m, n)
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
			if fi, err := os.Stat(filepath.Join(r.Dir, n)); err == nil {
				fr.Size = fi.Size()
			}
		default:
			fr.Status = "missing"
			r.problem("%s: %v", n, err)
		}
		r.Files = append(r.Files, fr)
	}
	return content
}

// listOthers sorts the directory's other files into leftovers of
// interrupted saves and files that are not aegpu's.
func (r *VerifyReport) listOthers(m *Manifest) {
	ents, _ := os.ReadDir(r.Dir)
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
}

// listStaging adds to the leftovers the staging and replaced directories
// that killed runs left beside the directory.
func (r *VerifyReport) listStaging() {
	if t, err := targetOf(r.Dir); err == nil {
		for _, pat := range []string{".new-*", ".old-*"} {
			ds, _ := filepath.Glob(filepath.Join(t.parent, "."+t.name+pat))
			for _, d := range ds {
				r.Leftovers = append(r.Leftovers, d)
			}
		}
	}
}

// checkContent checks what the verified files hold: the config parses,
// the state is valid for it, the weight files agree with the state and
// (b not nil) the weights load onto the configured architecture.
func (r *VerifyReport) checkContent(m *Manifest, content map[string][]byte, b engine.Backend) {
	cb := content[ConfigFile]
	if cb == nil {
		return
	}
	cfg, err := parseConfig(filepath.Join(r.Dir, ConfigFile), cb)
	if err != nil {
		r.problem("%v", err)
		return
	}
	r.ConfigEpochs = cfg.Train.Epochs
	st := r.checkState(m, cfg, content[StateFile])
	wf, bf := r.checkWeightFiles(content, st)
	if b != nil && wf != nil {
		r.checkLoad(b, cfg, wf, bf)
	}
}

// checkState parses the trainer state sb (nil: none) and checks it against
// cfg and the manifest m; it returns the state when it is valid.
func (r *VerifyReport) checkState(m *Manifest, cfg Config, sb []byte) *State {
	if sb == nil {
		return nil
	}
	var s State
	sp := filepath.Join(r.Dir, StateFile)
	if err := json.Unmarshal(sb, &s); err != nil {
		r.problem("read %s: %v", sp, err)
		return nil
	}
	if err := s.validate(sp, cfg, batchesFor(cfg), cfg.Data.ValRows); err != nil {
		r.problem("%v", err)
		return nil
	}
	r.State = &s
	if m != nil && m.Step != s.Step {
		r.problem("%s names step %d but %s holds step %d", ManifestFile, m.Step, StateFile, s.Step)
	}
	return &s
}

// checkWeightFiles decodes the weights, optimizer and best weights files
// and checks them against the state st (nil: none valid); it returns the
// decoded weights and best weights (nil: absent or unreadable).
func (r *VerifyReport) checkWeightFiles(content map[string][]byte, st *State) (wf, bf *safetensors.File) {
	wf = r.decode(content, WeightsFile, st)
	if content[WeightsFile] == nil && !r.hasFile(WeightsFile) {
		r.problem("%s is missing", WeightsFile)
	}
	r.decode(content, OptimizerFile, st)
	bf = r.decode(content, BestFile, st)
	if st != nil && st.BestEpoch > 0 {
		if bf == nil && content[BestFile] == nil && !r.hasFile(BestFile) {
			r.problem("%s says the best epoch is %d but there is no %s", StateFile, st.BestEpoch, BestFile)
		} else if bf != nil && bf.Metadata["aegpu_best_epoch"] != strconv.Itoa(st.BestEpoch) {
			r.problem("%s holds epoch %s, %s says %d", BestFile, bf.Metadata["aegpu_best_epoch"], StateFile, st.BestEpoch)
		}
	}
	return wf, bf
}

// decode decodes the safetensors file n of content (nil: absent or
// unreadable) and checks that it carries the step of the state st.
func (r *VerifyReport) decode(content map[string][]byte, n string, st *State) *safetensors.File {
	b := content[n]
	if b == nil {
		return nil
	}
	f, err := safetensors.Decode(b)
	if err != nil {
		r.problem("read %s: %v", filepath.Join(r.Dir, n), err)
		return nil
	}
	if st != nil && n != BestFile && f.Metadata["aegpu_step"] != strconv.FormatInt(st.Step, 10) {
		r.problem("%s is from step %s but %s from step %d", n, f.Metadata["aegpu_step"], StateFile, st.Step)
	}
	return f
}

// checkLoad loads the weights wf onto a model of cfg's architecture on b,
// and checks that the best weights bf (nil: none) are of its size.
func (r *VerifyReport) checkLoad(b engine.Backend, cfg Config, wf, bf *safetensors.File) {
	a, err := cfg.Arch()
	if err != nil {
		r.problem("%s: %v", ConfigFile, err)
		return
	}
	mdl, err := NewModel(b, a)
	if err != nil {
		r.problem("%v", err)
		return
	}
	defer mdl.Free()
	if err := mdl.SetTensors(wf.Tensors); err != nil {
		r.problem("%s: %v", WeightsFile, err)
	}
	if bf != nil && len(bf.Tensors["params"].Data) != mdl.Params.Len() {
		r.problem("%s has %d parameters, the model %d", BestFile, len(bf.Tensors["params"].Data), mdl.Params.Len())
	}
}
