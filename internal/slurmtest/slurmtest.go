// Package slurmtest starts a private Slurm cluster of one node for tests:
// slurmctld and slurmd on loopback ports, with their configuration, state
// and logs in a directory of the test's, so that a test can start aegpu
// with srun as a cluster would. It needs Slurm's daemons and srun
// (Debian's slurm-wlm; libpmix-dev for srun --mpi=pmix) and root, as
// slurmd does.
//
// The daemons trust every local user (auth/none, cred/none): the cluster
// is the test's own, reached only through 127.0.0.1, and ends with it.
package slurmtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/aegpu/aegpu/internal/mpi"
)

// ErrUnavailable says why no cluster can start here (a missing program,
// not root): a test skips on it.
var ErrUnavailable = errors.New("slurmtest: no private Slurm cluster here")

// NodeName is the node's name in the cluster.
const NodeName = "aegpu-node0"

// Cluster is a running private cluster.
type Cluster struct {
	Dir     string // configuration, state and logs
	Conf    string // slurm.conf (SLURM_CONF)
	srun    string
	daemons []daemon // slurmctld, slurmd
}

// daemon is a running daemon; done is closed once it exited.
type daemon struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// Start writes the configuration under dir and starts the daemons, and
// returns once the node is idle (or an error, with the daemons stopped).
func Start(dir string) (*Cluster, error) {
	progs := map[string]string{}
	for _, p := range []string{"slurmctld", "slurmd", "srun", "sinfo"} {
		path, err := exec.LookPath(p)
		if err != nil {
			for _, d := range []string{"/usr/sbin", "/usr/local/sbin"} {
				if _, serr := os.Stat(filepath.Join(d, p)); serr == nil {
					path, err = filepath.Join(d, p), nil
					break
				}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s not found (apt-get install slurm-wlm)", ErrUnavailable, p)
		}
		progs[p] = path
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("%w: slurmd runs as root, and this is uid %d", ErrUnavailable, os.Geteuid())
	}
	host, err := os.Hostname()
	if err != nil {
		return nil, err
	}
	host, _, _ = strings.Cut(host, ".") // slurmctld checks its own short name
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, Conf: filepath.Join(dir, "slurm.conf"), srun: progs["srun"]}
	for _, d := range []string{"state", "spool", "log"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	conf := fmt.Sprintf(`# a private one-node cluster for aegpu's tests (internal/slurmtest)
ClusterName=aegputest
SlurmctldHost=%[1]s(127.0.0.1)
SlurmctldPort=%[2]d
SlurmdPort=%[3]d
AuthType=auth/none
CredType=cred/none
SlurmUser=root
SlurmdUser=root
StateSaveLocation=%[4]s/state
SlurmdSpoolDir=%[4]s/spool
SlurmctldPidFile=%[4]s/slurmctld.pid
SlurmdPidFile=%[4]s/slurmd.pid
SlurmctldLogFile=%[4]s/log/slurmctld.log
SlurmdLogFile=%[4]s/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
# A step's tasks get SIGTERM, then SIGKILL this many seconds later (30 by
# default), when srun ends the step (--kill-on-bad-exit, scancel).
KillWait=5
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
NodeName=%[5]s NodeAddr=127.0.0.1 NodeHostname=%[1]s CPUs=%[6]d RealMemory=1000 State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:8
`, host, ports[0], ports[1], dir, NodeName, runtime.NumCPU())
	if err := os.WriteFile(c.Conf, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	env := append(os.Environ(), "SLURM_CONF="+c.Conf)
	for _, argv := range [][]string{{progs["slurmctld"], "-D", "-i", "-f", c.Conf}, {progs["slurmd"], "-D", "-f", c.Conf, "-N", NodeName}} {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env, cmd.Dir = env, dir
		dieWithParent(cmd)
		if err := cmd.Start(); err != nil {
			c.Close()
			return nil, err
		}
		d := daemon{cmd, make(chan struct{})}
		go func() { cmd.Wait(); close(d.done) }()
		c.daemons = append(c.daemons, d)
	}
	// Up when sinfo sees the node idle; a daemon that exits or 30 s
	// without it end the start.
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _ := c.command(progs["sinfo"], "-h", "-n", NodeName, "-o", "%T").Output()
		if strings.TrimSpace(string(out)) == "idle" {
			return c, nil
		}
		for _, d := range c.daemons {
			select {
			case <-d.done:
				err := fmt.Errorf("slurmtest: %s exited at start:\n%s", filepath.Base(d.cmd.Path), c.Logs())
				c.Close()
				return nil, err
			default:
			}
		}
		if time.Now().After(deadline) {
			err := fmt.Errorf("slurmtest: the node is not idle after 30 s (sinfo says %q):\n%s", strings.TrimSpace(string(out)), c.Logs())
			c.Close()
			return nil, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// command is a Slurm command with the cluster's configuration.
func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "SLURM_CONF="+c.Conf)
	return cmd
}

// MPITypes lists the PMIs srun can give a step (srun --mpi=list): "pmi2",
// "pmix", …
func (c *Cluster) MPITypes() []string {
	out, _ := c.command(c.srun, "--mpi=list").CombinedOutput()
	var types []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 1 && !strings.HasSuffix(f[0], ":") && f[0] != "none" {
			types = append(types, f[0])
		}
	}
	return types
}

// Launcher is srun with a PMI (--mpi=pmi2 or pmix) for aegpu's tests, as
// mpi.Launcher: its command sets SLURM_CONF (through env(1)), overcommits
// the node (-O), so that a step may have more tasks than CPUs, and ends
// the step when a task dies (--kill-on-bad-exit=1; without it srun waits
// for the others, which under MPICH wait in their all-reduce). lib is the
// MPI library the ranks load with that PMI.
func (c *Cluster) Launcher(pmi, lib string) mpi.Launcher {
	return mpi.Launcher{Name: "Slurm " + pmi, Path: c.srun, Lib: lib,
		Env: []string{"SLURM_CONF=" + c.Conf}, Flags: []string{"--mpi=" + pmi, "-O", "--kill-on-bad-exit=1"}}
}

// Logs returns the daemons' logs (for a failure's message).
func (c *Cluster) Logs() string {
	var b bytes.Buffer
	for _, n := range []string{"slurmctld", "slurmd"} {
		l, _ := os.ReadFile(filepath.Join(c.Dir, "log", n+".log"))
		if len(l) > 4000 {
			l = l[len(l)-4000:]
		}
		fmt.Fprintf(&b, "== %s.log\n%s", n, l)
	}
	return b.String()
}

// Close stops the daemons, slurmd first: SIGTERM, then SIGKILL after 10 s.
func (c *Cluster) Close() error {
	for i := len(c.daemons) - 1; i >= 0; i-- {
		d := c.daemons[i]
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(10 * time.Second):
			d.cmd.Process.Kill()
			<-d.done
		}
	}
	c.daemons = nil
	return nil
}

// freePorts returns n TCP ports of 127.0.0.1 that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
