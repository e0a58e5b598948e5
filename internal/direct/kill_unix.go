//go:build unix

package direct

import (
	"os/exec"
	"syscall"
)

// killProcessGroup kills the process group that cmd leads: the go command
// and everything it started.
func killProcessGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}
