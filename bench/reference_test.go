package bench

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// fakePython writes an executable shell script standing in for an
// interpreter.
func fakePython(t *testing.T, name, script string) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("fake interpreters are shell scripts")
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckPython(t *testing.T) {
	noTorch := fakePython(t, "python-no-torch", `echo /opt/py/bin/python3.12; echo 3.12.1
echo 'Traceback (most recent call last):' >&2
echo '  File "<string>", line 4, in <module>' >&2
echo "ModuleNotFoundError: No module named 'torch'" >&2
exit 1
`)
	withTorch := fakePython(t, "python-torch", "echo /opt/py/bin/python3.12; echo 3.12.1; echo 2.5.1+cu124\n")
	notPython := fakePython(t, "not-python", "echo 'unknown option -c' >&2; exit 2\n")
	hang := fakePython(t, "python-hangs", "exec sleep 30\n")

	for _, c := range []struct {
		name, python string
		timeout      time.Duration
		want         []string // in the error; none: no error
	}{
		{"no torch", noTorch, time.Minute, []string{"--python " + noTorch, noTorch + " → /opt/py/bin/python3.12", "Python 3.12.1", "cannot import torch", "ModuleNotFoundError: No module named 'torch'", "point --python at"}},
		{"torch", withTorch, time.Minute, nil},
		{"not python", notPython, time.Minute, []string{notPython, "does not run as a Python interpreter", "exit status 2", "unknown option -c", "point --python at"}},
		{"missing", "no-such-python-for-aegpu", time.Minute, []string{"--python no-such-python-for-aegpu: no such executable", "point --python at"}},
		{"hangs", hang, 300 * time.Millisecond, []string{hang, "did not finish importing torch within 300ms", "point --python at"}},
	} {
		start := time.Now()
		info, err := CheckPython(c.python, c.timeout)
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("%s: the probe took %s", c.name, took)
		}
		if c.want == nil {
			if err != nil || info.Torch != "2.5.1+cu124" || info.Version != "3.12.1" || info.Path != c.python || info.Executable != "/opt/py/bin/python3.12" {
				t.Errorf("%s: %+v, %v", c.name, info, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: no error (%+v)", c.name, info)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: the error lacks %q:\n%v", c.name, w, err)
			}
		}
		if strings.Count(err.Error(), "\n") > 0 {
			t.Errorf("%s: the error is not one line:\n%v", c.name, err)
		}
	}
}

// TestCheckPythonReal probes the python3 on PATH, whichever it is: the
// answer must agree with whether it imports torch.
func TestCheckPythonReal(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3 on PATH")
	}
	if exec.Command(py, "-c", "import sys").Run() != nil {
		t.Skipf("%s does not run", py)
	}
	hasTorch := exec.Command(py, "-c", "import torch").Run() == nil
	info, err := CheckPython("python3", PythonProbeTimeout)
	switch {
	case hasTorch && err != nil:
		t.Errorf("%s imports torch, CheckPython says: %v", py, err)
	case !hasTorch && (err == nil || !strings.Contains(err.Error(), "cannot import torch") || !strings.Contains(err.Error(), py)):
		t.Errorf("%s lacks torch, CheckPython says: %+v, %v", py, info, err)
	}
	t.Logf("python3: %+v, %v", info, err)
}

// TestReferenceScriptWithoutTorch: the script itself, run by a Python
// without torch, ends in one line that names the interpreter, not a
// traceback.
func TestReferenceScriptWithoutTorch(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil || exec.Command(py, "-c", "import sys; assert sys.version_info >= (3, 6)").Run() != nil {
		t.Skip("no python3 ≥ 3.6 on PATH")
	}
	if exec.Command(py, "-c", "import torch").Run() == nil {
		t.Skipf("%s has torch", py)
	}
	_, err = RunReference(py, []string{"toy"}, 1, "")
	if err == nil || !strings.Contains(err.Error(), "cannot import torch") || strings.Contains(err.Error(), "Traceback") {
		t.Errorf("reference script without torch: %v", err)
	}
}

// RunReference passes --precision to the script, and the script's rows say
// which precision they ran.
func TestReferencePrecisionArgument(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	fake := filepath.Join(t.TempDir(), "python")
	// Prints one row whose precision is the argument after --precision.
	script := `#!/bin/sh
p=none
while [ $# -gt 0 ]; do [ "$1" = --precision ] && p=$2; shift; done
echo '{"model":"toy","batch":256,"mode":"eager","samples_per_sec":1,"kind":"cuda","precision":"'$p'"}'
`
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"tf32", "bf16"} {
		rs, err := RunReference(fake, []string{"toy"}, 1, p)
		if err != nil || len(rs) != 1 || rs[0].Precision != p {
			t.Errorf("precision %s: %+v, %v", p, rs, err)
		}
	}
	if rs, err := RunReference(fake, []string{"toy"}, 1, ""); err != nil || rs[0].Precision != "none" {
		t.Errorf("no precision: %+v, %v (want no --precision argument)", rs, err)
	}
}

// The real script, where a Python with torch is at hand (CPU: bf16 is
// refused as the CPU's precision and reported as fp32).
func TestReferenceScriptRuns(t *testing.T) {
	var py string
	for _, c := range []string{"python3", "/usr/bin/python3"} {
		if p, err := exec.LookPath(c); err == nil && exec.Command(p, "-c", "import torch").Run() == nil {
			py = p
			break
		}
	}
	if py == "" || testing.Short() {
		t.Skip("no python3 with torch (or -short)")
	}
	rs, err := RunReference(py, []string{"toy"}, 1, "bf16")
	if err != nil || len(rs) == 0 {
		t.Fatalf("%s: %v %v", py, rs, err)
	}
	for _, r := range rs {
		if r.SamplesPerSec <= 0 || (r.Kind == "cpu" && r.Precision != "fp32") || (r.Kind == "cuda" && r.Precision != "bf16") {
			t.Errorf("row %+v", r)
		}
	}
}
