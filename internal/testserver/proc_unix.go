//go:build unix

package testserver

import (
	"os/exec"
	"syscall"
)

// killProcessGroup kills the process group that cmd leads: the server and
// anything it started.
func killProcessGroup(cmd *exec.Cmd) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}
