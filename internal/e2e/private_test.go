package e2e

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modvault/modvault/internal/config"
	"github.com/modvault/modvault/internal/proxytest"
)

// privateRepos builds the git repositories of the private-module tests:
//
//	example.test/lib.git        v1.0.0, v1.1.0 (package lib and lib/util)
//	example.test/lib.git/v2     v2.0.0 in the same repository
//	example.test/multi.git/sub  a subdirectory module tagged sub/v1.0.0
//	example.test/untagged.git   no tags: a pseudo-version of main
//	example.test/legacy.git     v2.0.0 without go.mod: v2.0.0+incompatible
//
// It returns the repositories by name.
func privateRepos(t testing.TB, h *proxytest.GitHost) map[string]*proxytest.GitRepo {
	t.Helper()
	lib := h.Repo("lib.git")
	lib.Commit("v1.0.0", map[string]string{
		"go.mod":       proxytest.GoMod("example.test/lib.git"),
		"lib.go":       "package lib\n\nfunc Lib() string { return \"lib 1.0\" }\n",
		"util/util.go": "package util\n\nconst Util = \"util\"\n",
	})
	lib.Tag("v1.0.0")
	lib.Commit("v1.1.0", map[string]string{"lib.go": "package lib\n\nfunc Lib() string { return \"lib 1.1\" }\n"})
	lib.Tag("v1.1.0")
	lib.Commit("v2.0.0", map[string]string{
		"go.mod": proxytest.GoMod("example.test/lib.git/v2"),
		"lib.go": "package lib\n\nfunc Lib() string { return \"lib 2\" }\n",
	})
	lib.Tag("v2.0.0")

	multi := h.Repo("multi.git")
	multi.Commit("sub", map[string]string{
		"go.mod":     proxytest.GoMod("example.test/multi.git"),
		"root.go":    "package multi\n",
		"sub/go.mod": proxytest.GoMod("example.test/multi.git/sub"),
		"sub/sub.go": "package sub\n\nconst Sub = \"sub\"\n",
	})
	multi.Tag("sub/v1.0.0")

	untagged := h.Repo("untagged.git")
	untagged.Commit("only commit", map[string]string{
		"go.mod": proxytest.GoMod("example.test/untagged.git"),
		"u.go":   "package untagged\n\nconst U = \"untagged\"\n",
	})

	legacy := h.Repo("legacy.git")
	legacy.Commit("no go.mod", map[string]string{"legacy.go": "package legacy\n\nconst Legacy = \"legacy\"\n"})
	legacy.Tag("v2.0.0")
	return map[string]*proxytest.GitRepo{"lib": lib, "multi": multi, "untagged": untagged, "legacy": legacy}
}

const privateMain = `package main

import (
	"fmt"

	"example.com/a"
	"example.test/legacy.git"
	"example.test/lib.git"
	"example.test/lib.git/util"
	libv2 "example.test/lib.git/v2"
	"example.test/multi.git/sub"
	"example.test/untagged.git"
)

func main() {
	fmt.Println(a.A(), lib.Lib(), util.Util, libv2.Lib(), sub.Sub, untagged.U, legacy.Legacy)
}
`

const privateOutput = "ab1.1 lib 1.1 util lib 2 sub untagged legacy\n"

// setGitEnv puts the git host's settings in the environment of this
// process, which modvault's go commands and git inherit, as a user's git
// configuration would reach them.
func setGitEnv(t testing.TB, h *proxytest.GitHost) {
	for _, kv := range h.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// privateGo returns a go command configured as the README says for
// private modules behind modvault: GOPROXY=modvault, GONOSUMDB for the
// private paths (not GOPRIVATE, which would bypass the proxy).
func privateGo(t *testing.T, mv string, up *proxytest.Upstream) *proxytest.Go {
	g := proxytest.NewGo(t, mv, up.GOSUMDB())
	g.Env = append(g.Env, "GONOSUMDB=example.test")
	return g
}

// TestPrivateModulesFromVersionControl fetches private modules of every
// kind through modvault with the real go command, builds with them, and
// checks that no private path reached the upstream proxy or the checksum
// database; then that the versions stay the same after tags move or go,
// the branch is rewritten and a repository is deleted.
func TestPrivateModulesFromVersionControl(t *testing.T) {
	h := proxytest.NewGitHost(t)
	setGitEnv(t, h)
	repos := privateRepos(t, h)
	up := proxytest.New(t, modules()...)
	_, storage := fileStore(t)
	tmp := t.TempDir()
	mv := startModvaultWith(t, config.Serve{
		Storage:       storage,
		Upstream:      up.URL,
		SumDB:         []string{up.SumDBName},
		GOSUMDB:       []config.SumDB{{Name: up.SumDBName, Key: up.SumDBKey}},
		GOPRIVATE:     "example.test",
		GONOPROXY:     "example.test",
		GONOSUMDB:     "example.test",
		TempDir:       tmp,
		DirectTimeout: 2 * time.Minute,
	})

	g := privateGo(t, mv, up)
	g.WriteFile("main.go", privateMain)
	g.Must("get", "example.com/a@v1.0.0", "example.test/lib.git@v1.1.0", "example.test/lib.git/v2@v2.0.0",
		"example.test/multi.git/sub@v1.0.0", "example.test/untagged.git@main", "example.test/legacy.git@v2.0.0+incompatible")
	if out := g.Must("run", "."); out != privateOutput {
		t.Fatalf("go run printed %q, want %q", out, privateOutput)
	}
	goSum := readFile(t, filepath.Join(g.Dir, "go.sum"))
	pseudo := strings.Fields(g.Must("list", "-m", "example.test/untagged.git"))[1]

	// Lists, latest, queries and package paths that are prefixes.
	if out := strings.TrimSpace(g.Must("list", "-m", "-versions", "example.test/lib.git")); out != "example.test/lib.git v1.0.0 v1.1.0" {
		t.Errorf("go list -m -versions: %q", out)
	}
	if out := strings.TrimSpace(g.Must("list", "-m", "example.test/lib.git@latest")); out != "example.test/lib.git v1.1.0" {
		t.Errorf("go list -m @latest: %q", out)
	}
	if out := strings.TrimSpace(g.Must("list", "-m", "example.test/legacy.git@latest")); out != "example.test/legacy.git v2.0.0+incompatible" {
		t.Errorf("go list -m legacy@latest: %q", out)
	}
	g.Must("get", "example.test/lib.git/util@v1.0.0")
	g.Must("get", "example.test/lib.git/util@v1.1.0")
	if out, err := g.Run("mod", "download", "example.test/lib.git@v1.9.9"); err == nil || !strings.Contains(out, "unknown revision v1.9.9") {
		t.Errorf("a missing private version: %v\n%s", err, out)
	}
	if out, err := g.Run("list", "-m", "example.test/org/nothing.git@latest"); err == nil {
		t.Errorf("a private path that is no repository was found:\n%s", out)
	}

	// No private path ever reached the upstream proxy or its checksum
	// database.
	checkNoLeak := func() {
		t.Helper()
		for _, p := range up.RequestPaths() {
			if strings.Contains(p, "example.test") {
				t.Errorf("the upstream was asked for a private path: %s", p)
			}
		}
	}
	checkNoLeak()

	// A client without GONOSUMDB is refused the lookup, by modvault.
	leaky := proxytest.NewGo(t, mv, up.GOSUMDB())
	if out, err := leaky.Run("mod", "download", "example.test/lib.git@v1.1.0"); err == nil || !strings.Contains(out, "GONOSUMDB") {
		t.Errorf("a client without GONOSUMDB: %v\n%s", err, out)
	}
	checkNoLeak()

	zip := httpGet(t, mv+"/example.test/lib.git/@v/v1.1.0.zip")
	untaggedZip := httpGet(t, mv+"/example.test/untagged.git/@v/"+pseudo+".zip")

	// History changes: tags move or go, a branch is force-pushed, a
	// repository is deleted. Nothing modvault served changes.
	repos["lib"].Commit("evil", map[string]string{"lib.go": "package lib\n\nfunc Lib() string { return \"evil\" }\n"})
	repos["lib"].Tag("v1.1.0")
	repos["lib"].DeleteTag("v1.0.0")
	repos["untagged"].Rewrite("rewritten", map[string]string{
		"go.mod": proxytest.GoMod("example.test/untagged.git"),
		"u.go":   "package untagged\n\nconst U = \"rewritten\"\n",
	})
	repos["legacy"].Delete()
	repos["multi"].Delete()

	if got := httpGet(t, mv+"/example.test/lib.git/@v/v1.1.0.zip"); got != zip {
		t.Error("the zip of lib v1.1.0 changed after its tag moved")
	}
	if got := httpGet(t, mv+"/example.test/untagged.git/@v/"+pseudo+".zip"); got != untaggedZip {
		t.Error("the zip of a pseudo-version changed after its branch was rewritten")
	}
	if got := httpGet(t, mv+"/example.test/lib.git/@v/list"); !slices.Contains(strings.Fields(got), "v1.0.0") || !slices.Contains(strings.Fields(got), "v1.1.0") {
		t.Errorf("list after v1.0.0's tag was deleted: %q, want v1.0.0 and v1.1.0 still there", got)
	}
	if got := httpGet(t, mv+"/example.test/legacy.git/@v/list"); strings.TrimSpace(got) != "v2.0.0+incompatible" {
		t.Errorf("list of a deleted repository: %q, want its stored version", got)
	}

	// A new client with an empty module cache builds the same program
	// with the same hashes.
	g2 := privateGo(t, mv, up)
	g2.WriteFile("main.go", privateMain)
	g2.WriteFile("go.mod", readFile(t, filepath.Join(g.Dir, "go.mod")))
	g2.WriteFile("go.sum", goSum)
	g2.Must("mod", "download")
	if out := g2.Must("run", "."); out != privateOutput {
		t.Fatalf("after the history changed, go run printed %q, want %q", out, privateOutput)
	}
	g2.Must("mod", "verify")
	if got := readFile(t, filepath.Join(g2.Dir, "go.sum")); got != goSum {
		t.Errorf("go.sum changed:\n%s\nwant:\n%s", got, goSum)
	}
	checkNoLeak()

	// Every direct fetch has ended: no go command or git runs in modvault's
	// temporary directory.
	if procs, _ := processesUnder(t, tmp); len(procs) != 0 {
		t.Errorf("processes still run in the temporary directory: %v", procs)
	}
}

// TestDirectEntryInUpstreamList: "direct" in the upstream list fetches a
// public module from version control when the proxy before it has none.
func TestDirectEntryInUpstreamList(t *testing.T) {
	h := proxytest.NewGitHost(t)
	setGitEnv(t, h)
	pub := h.Repo("pub.git")
	pub.Commit("v1", map[string]string{
		"go.mod": proxytest.GoMod("example.test/pub.git"),
		"pub.go": "package pub\n\nconst Pub = \"pub\"\n",
	})
	pub.Tag("v1.0.0")
	up := proxytest.New(t, modules()...)
	_, storage := fileStore(t)
	mv := startModvaultWith(t, config.Serve{
		Storage:  storage,
		Upstream: up.URL + ",direct",
	})
	g := proxytest.NewGo(t, mv, "off")
	g.WriteFile("main.go", "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/a\"\n\t\"example.test/pub.git\"\n)\n\nfunc main() { fmt.Println(a.A(), pub.Pub) }\n")
	g.Must("get", "example.com/a@v1.0.0", "example.test/pub.git@v1.0.0")
	if out := g.Must("run", "."); out != "ab1.1 pub\n" {
		t.Errorf("go run printed %q", out)
	}
	// The proxy was asked first, as the list says.
	if up.Requests("/example.test/pub.git/@v/v1.0.0.info") == 0 {
		t.Error("the proxy before direct was not asked for the public module")
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

// processesUnder returns the PIDs of processes whose working directory is
// under dir.
func processesUnder(t *testing.T, dir string) ([]string, error) {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []string
	for _, e := range entries {
		if cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd")); err == nil && strings.HasPrefix(cwd, dir) {
			pids = append(pids, e.Name())
		}
	}
	return pids, nil
}

// TestCancelledRequestKillsTheFetch: a client that gives up on a private
// module whose git server hangs leaves nothing running: the go command and
// git are killed, and their temporary directory removed.
func TestCancelledRequestKillsTheFetch(t *testing.T) {
	arrived := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		<-r.Context().Done()
	}))
	defer srv.Close()
	h := proxytest.NewGitHost(t)
	setGitEnv(t, h)
	t.Setenv("GIT_CONFIG_COUNT", "2")
	t.Setenv("GIT_CONFIG_KEY_1", "url."+srv.URL+"/.insteadOf")
	t.Setenv("GIT_CONFIG_VALUE_1", "https://example.test/hang")
	tmp := t.TempDir()
	mv := startModvaultWith(t, config.Serve{
		Storage:   "mem://",
		Upstream:  "off",
		GONOPROXY: "example.test",
		GONOSUMDB: "example.test",
		TempDir:   tmp,
	})
	for _, path := range []string{"/example.test/hang.git/@v/v1.0.0.zip", "/example.test/hang.git/@v/list"} {
		ctx, cancel := context.WithCancel(context.Background())
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, mv+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		errc := make(chan error, 1)
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			errc <- err
		}()
		select {
		case <-arrived:
		case <-time.After(time.Minute):
			t.Fatal("git never reached the server")
		}
		if procs, _ := processesUnder(t, tmp); len(procs) == 0 {
			t.Error("no process runs in the temporary directory while git waits")
		}
		cancel()
		<-errc
		deadline := time.Now().Add(10 * time.Second)
		for {
			procs, _ := processesUnder(t, tmp)
			left, _ := os.ReadDir(tmp)
			if len(procs) == 0 && len(left) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: 10s after the client left: processes %v, files %v", path, procs, left)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
