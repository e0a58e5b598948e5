package direct

import "os/exec"

// ownProcessGroup does nothing on Windows, which has no process groups to
// kill at once; the go command itself is killed.
func ownProcessGroup(cmd *exec.Cmd) {}

// killProcessGroup kills the go command.
func killProcessGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil || cmd.ProcessState != nil {
		return nil
	}
	return cmd.Process.Kill()
}
