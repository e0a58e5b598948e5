package testserver

import "os/exec"

// ownProcessGroup does nothing on Windows: the server is killed alone.
func ownProcessGroup(cmd *exec.Cmd) {}

// killProcessGroup kills the server.
func killProcessGroup(cmd *exec.Cmd) {
	_ = cmd.Process.Kill()
}

// runAs does nothing on Windows, where tests do not run as root.
func runAs(cmd *exec.Cmd, uid, gid uint32) {}
