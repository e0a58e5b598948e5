package testserver

import "os/exec"

// ownProcessGroup does nothing on Windows: the server is killed alone.
func ownProcessGroup(cmd *exec.Cmd) {}

// killProcessGroup kills the server.
func killProcessGroup(cmd *exec.Cmd) {
	_ = cmd.Process.Kill()
}
