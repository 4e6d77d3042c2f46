package slurmtest

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the daemon die with the test process, should the
// test be killed before it stops the cluster.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
