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

// runAs makes cmd run as the user with the given ids (the test process
// must be root).
func runAs(cmd *exec.Cmd, uid, gid uint32) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uid, Gid: gid}
}
