package proxytest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// GitHost is a set of local bare git repositories that the go command
// fetches as https://example.test/NAME.git: git rewrites those URLs to the
// repositories with url.insteadOf (see [GitHost.Env]). No server runs.
type GitHost struct {
	t testing.TB
	// Dir holds the bare repositories, one per name.
	Dir string
	// Prefix is the module path prefix of the repositories: "example.test".
	Prefix string
}

// NewGitHost returns an empty GitHost in a temporary directory.
func NewGitHost(t testing.TB) *GitHost {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("git is needed (apt-get install git): %v", err)
	}
	dir := filepath.Join(t.TempDir(), "repos")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return &GitHost{t: t, Dir: dir, Prefix: "example.test"}
}

// Env returns the environment variables that make git fetch
// https://example.test/NAME from the bare repository Dir/NAME, and ignore
// the system's and the user's git configuration.
func (h *GitHost) Env() []string {
	return []string{
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_CONFIG_COUNT=1",
		"GIT_CONFIG_KEY_0=url.file://" + filepath.ToSlash(h.Dir) + "/.insteadOf",
		"GIT_CONFIG_VALUE_0=https://" + h.Prefix + "/",
	}
}

// GitRepo is a repository of a GitHost: a working clone whose changes are
// pushed to the bare repository at once.
type GitRepo struct {
	h    *GitHost
	Name string // "foo.git"
	work string
	bare string
}

// Repo creates the repository name (ending in ".git") with an empty main
// branch.
func (h *GitHost) Repo(name string) *GitRepo {
	h.t.Helper()
	r := &GitRepo{h: h, Name: name, work: filepath.Join(h.t.TempDir(), "work"), bare: filepath.Join(h.Dir, name)}
	h.git("", "init", "-q", "--bare", "-b", "main", r.bare)
	h.git("", "init", "-q", "-b", "main", r.work)
	h.git(r.work, "remote", "add", "origin", r.bare)
	return r
}

// Module returns the module path of the repository's root: "example.test/foo.git".
func (r *GitRepo) Module() string { return r.h.Prefix + "/" + r.Name }

// Commit writes files (a file with content "" is deleted), commits them and
// pushes main. It returns the commit hash.
func (r *GitRepo) Commit(msg string, files map[string]string) string {
	r.h.t.Helper()
	for name, content := range files {
		p := filepath.Join(r.work, filepath.FromSlash(name))
		if content == "" {
			if err := os.Remove(p); err != nil {
				r.h.t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
			r.h.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o666); err != nil {
			r.h.t.Fatal(err)
		}
	}
	r.h.git(r.work, "add", "-A")
	r.h.git(r.work, "commit", "-q", "--allow-empty", "-m", msg)
	r.h.git(r.work, "push", "-q", "--force", "origin", "HEAD:refs/heads/main")
	return strings.TrimSpace(r.h.git(r.work, "rev-parse", "HEAD"))
}

// Tag tags the last commit (moving the tag if it exists) and pushes it.
func (r *GitRepo) Tag(tag string) {
	r.h.t.Helper()
	r.h.git(r.work, "tag", "-f", tag)
	r.h.git(r.work, "push", "-q", "--force", "origin", "refs/tags/"+tag)
}

// DeleteTag deletes a tag from the repository.
func (r *GitRepo) DeleteTag(tag string) {
	r.h.t.Helper()
	r.h.git(r.work, "push", "-q", "origin", ":refs/tags/"+tag)
	r.h.git(r.work, "tag", "-d", tag)
}

// Rewrite replaces the history of main with a single new commit of files
// (a force push) and returns its hash.
func (r *GitRepo) Rewrite(msg string, files map[string]string) string {
	r.h.t.Helper()
	r.h.git(r.work, "checkout", "-q", "--orphan", "rewritten")
	r.h.git(r.work, "rm", "-q", "-r", "--cached", "--ignore-unmatch", ".")
	r.h.git(r.work, "clean", "-q", "-f", "-d", "-x")
	hash := r.Commit(msg, files)
	r.h.git(r.work, "branch", "-q", "-M", "main")
	return hash
}

// Delete removes the bare repository, as when a repository is deleted from
// its host.
func (r *GitRepo) Delete() {
	r.h.t.Helper()
	if err := os.RemoveAll(r.bare); err != nil {
		r.h.t.Fatal(err)
	}
}

func (h *GitHost) git(dir string, args ...string) string {
	h.t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=modvault test", "-c", "user.email=test@modvault.test", "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		h.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// GoMod returns a go.mod file for module path mod.
func GoMod(mod string) string { return fmt.Sprintf("module %s\n\ngo 1.22\n", mod) }
