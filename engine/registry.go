package engine

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Driver makes a kind of backend available. Backend packages register one
// from init; the binary's import list decides which are linked in.
type Driver interface {
	// Probe reports the devices this driver can open, or why it can open
	// none (no library, no device, built without cgo…).
	Probe() ([]DeviceInfo, error)
	// Open opens device index.
	Open(index int) (Backend, error)
}

var (
	regMu   sync.Mutex
	drivers = map[string]Driver{}
)

// Register makes a driver available under name ("cpu", "cuda"). It panics if
// name is registered twice, a programming error.
func Register(name string, d Driver) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := drivers[name]; dup {
		panic("engine: Register called twice for " + name)
	}
	drivers[name] = d
}

// Drivers lists the registered driver names, sorted.
func Drivers() []string {
	regMu.Lock()
	defer regMu.Unlock()
	names := make([]string, 0, len(drivers))
	for n := range drivers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func driver(name string) (Driver, bool) {
	regMu.Lock()
	defer regMu.Unlock()
	d, ok := drivers[name]
	return d, ok
}

// ErrNoCUDA matches (errors.Is) every error saying why no CUDA backend can
// be used.
var ErrNoCUDA = errors.New("cuda not available")

// Unavailable says why a CUDA device cannot be opened: Why in full, Brief
// in a few words for a one-line notice ("no NVIDIA driver found").
type Unavailable struct{ Why, Brief string }

func (u *Unavailable) Error() string        { return u.Why }
func (u *Unavailable) Is(target error) bool { return target == ErrNoCUDA }

// Status is what Probe found for one registered driver.
type Status struct {
	Driver  string
	Devices []DeviceInfo
	Err     error // why no device is usable, when Devices is empty
}

// Probe asks every registered driver (and cuda, even when it is not linked
// in) what it can open.
func Probe() []Status {
	names := Drivers()
	hasCUDA := false
	var out []Status
	for _, n := range names {
		if n == "cuda" {
			hasCUDA = true
		}
		d, _ := driver(n)
		devs, err := d.Probe()
		out = append(out, Status{Driver: n, Devices: devs, Err: err})
	}
	if !hasCUDA {
		out = append(out, Status{Driver: "cuda", Err: errCUDANotLinked})
	}
	return out
}

var errCUDANotLinked = &Unavailable{Why: "this aegpu binary was built without the CUDA backend", Brief: "built without the CUDA backend"}

// BriefReason is err's short form for a one-line notice: an Unavailable's
// Brief when it has one, else the whole message.
func BriefReason(err error) string {
	var u *Unavailable
	if errors.As(err, &u) && u.Brief != "" {
		return u.Brief
	}
	return err.Error()
}

// Open returns the backend named by spec:
//
//	"auto"    CUDA device 0 when a driver and a device answer, else the CPU
//	"cpu"     the pure-Go CPU backend
//	"cuda"    CUDA device 0, an error when there is none
//	"cuda:N"  CUDA device N
//
// note is one line saying which device was chosen and, for "auto" falling
// back to the CPU, in a few words why CUDA was not used (Probe, or
// Open("cuda"), gives the full reason).
func Open(spec string) (b Backend, note string, err error) {
	spec = strings.TrimSpace(strings.ToLower(spec))
	switch {
	case spec == "" || spec == "auto":
		b, err := openCUDA(0)
		if err == nil {
			return b, "using " + b.Info().String(), nil
		}
		cpu, err2 := openNamed("cpu", 0)
		if err2 != nil {
			return nil, "", fmt.Errorf("no backend available: %v; cpu: %w", err, err2)
		}
		return cpu, fmt.Sprintf("using %s: %s", cpu.Info(), BriefReason(err)), nil
	case spec == "cpu":
		b, err := openNamed("cpu", 0)
		if err != nil {
			return nil, "", err
		}
		return b, "using " + b.Info().String(), nil
	case spec == "cuda" || strings.HasPrefix(spec, "cuda:"):
		idx := 0
		if rest, ok := strings.CutPrefix(spec, "cuda:"); ok {
			n, perr := strconv.Atoi(rest)
			if perr != nil || n < 0 {
				return nil, "", fmt.Errorf("bad device %q: want cuda:N with N a device index ≥ 0", spec)
			}
			idx = n
		}
		b, err := openCUDA(idx)
		if err != nil {
			return nil, "", fmt.Errorf("device %s: %w", spec, err)
		}
		return b, "using " + b.Info().String(), nil
	}
	return nil, "", fmt.Errorf("unknown device %q: want auto, cpu, cuda or cuda:N", spec)
}

func openCUDA(idx int) (Backend, error) {
	d, ok := driver("cuda")
	if !ok {
		return nil, errCUDANotLinked
	}
	devs, err := d.Probe()
	if err != nil {
		var u *Unavailable
		if errors.As(err, &u) {
			return nil, err
		}
		return nil, &Unavailable{Why: err.Error()}
	}
	if idx >= len(devs) {
		why := fmt.Sprintf("device cuda:%d requested but %d device(s) found", idx, len(devs))
		return nil, &Unavailable{Why: why, Brief: why}
	}
	return d.Open(idx)
}

func openNamed(name string, idx int) (Backend, error) {
	d, ok := driver(name)
	if !ok {
		return nil, fmt.Errorf("backend %q is not linked into this binary (import github.com/aegpu/aegpu/backends)", name)
	}
	return d.Open(idx)
}
