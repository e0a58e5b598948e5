// Package prefetch fills a running modvault with what builds need, by
// asking it for every file: the connected side of an air-gapped transfer.
package prefetch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"golang.org/x/mod/module"
	"golang.org/x/sync/errgroup"

	"github.com/modvault/modvault/internal/protocol"
	"github.com/modvault/modvault/internal/redact"
)

// Options configure Run.
type Options struct {
	// Proxy is the modvault's base URL.
	Proxy string
	// Concurrency bounds the requests in flight (at least 1).
	Concurrency int
	// Env is the environment of the go command that resolves go.mod
	// files (GOSUMDB, GONOSUMDB, ...); GOPROXY, GOMODCACHE, GOFLAGS and
	// GOWORK are set by Run.
	Env []string
	// Progress, if not nil, gets a line per file fetched or failed.
	Progress io.Writer
	// OnFile, if not nil, is called after each file, one call at a time,
	// with the count of files done and the total (for a progress bar).
	OnFile func(done, total int, what string, err error)
	// Client is the HTTP client (nil for http.DefaultClient).
	Client *http.Client
}

// Failure is one file that could not be fetched.
type Failure struct {
	What string
	Err  error
}

// Result tells what Run did.
type Result struct {
	Fetched  int
	Failures []Failure
}

// file is one proxy file to fetch.
type file struct {
	mv   module.Version
	kind protocol.Kind
}

// Run fetches from the proxy everything args name: a go.mod file (the
// modules of its whole graph, as `go mod download all` needs them: the
// real go command, pointed at the proxy, loads the graph with pruning,
// which fetches every .mod it needs, and lists the modules whose .info,
// .mod and zip are then fetched), a go.sum file (exactly the .mod files
// and zips it lists), or module@version (its .info, .mod and zip). Files
// that fail are in Result.Failures; the error is for arguments that
// cannot be read or resolved.
func Run(ctx context.Context, args []string, opts Options) (Result, error) {
	var res Result
	if opts.Concurrency < 1 {
		opts.Concurrency = 1
	}
	if opts.Client == nil {
		opts.Client = http.DefaultClient
	}
	seen := map[file]bool{}
	var files []file
	add := func(mv module.Version, kinds ...protocol.Kind) {
		for _, k := range kinds {
			f := file{mv, k}
			if !seen[f] {
				seen[f] = true
				files = append(files, f)
			}
		}
	}
	for _, arg := range args {
		switch {
		case filepath.Base(arg) == "go.mod":
			mods, err := Graph(ctx, arg, opts.Proxy, opts.Env)
			if err != nil {
				return res, err
			}
			for _, mv := range mods {
				add(mv, protocol.Info, protocol.Mod, protocol.Zip)
			}
		case filepath.Base(arg) == "go.sum":
			lines, err := readGoSum(arg)
			if err != nil {
				return res, err
			}
			for _, f := range lines {
				add(f.mv, f.kind)
			}
		default:
			path, vers, ok := strings.Cut(arg, "@")
			if !ok {
				return res, fmt.Errorf("%q: want a go.mod, a go.sum or module@version", arg)
			}
			if err := module.Check(path, vers); err != nil {
				return res, fmt.Errorf("%q: %v", arg, err)
			}
			add(module.Version{Path: path, Version: vers}, protocol.Info, protocol.Mod, protocol.Zip)
		}
	}
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(opts.Concurrency)
	for _, f := range files {
		g.Go(func() error {
			err := fetch(ctx, opts, f)
			mu.Lock()
			defer mu.Unlock()
			what := f.mv.String() + f.kind.Ext()
			if err != nil {
				res.Failures = append(res.Failures, Failure{What: what, Err: err})
			} else {
				res.Fetched++
			}
			if opts.OnFile != nil {
				opts.OnFile(res.Fetched+len(res.Failures), len(files), what, err)
			}
			if opts.Progress != nil {
				status := "ok"
				if err != nil {
					status = "FAILED: " + err.Error()
				}
				fmt.Fprintf(opts.Progress, "[%d/%d] %s %s\n", res.Fetched+len(res.Failures), len(files), what, status)
			}
			return nil
		})
	}
	g.Wait()
	sort.Slice(res.Failures, func(i, j int) bool { return res.Failures[i].What < res.Failures[j].What })
	return res, ctx.Err()
}

// fetch asks the proxy for one file and reads it whole (to nowhere): the
// proxy stores it on the way.
func fetch(ctx context.Context, opts Options, f file) error {
	key, err := protocol.Key(f.mv.Path, f.mv.Version, f.kind)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(opts.Proxy, "/")+"/"+key, nil)
	if err != nil {
		return err
	}
	resp, err := opts.Client.Do(req)
	if err != nil {
		return fmt.Errorf("%s", redact.Text(err.Error()))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// Graph lists the modules of gomod's graph (`go list -m all`, with
// pruning) with the go command pointed at proxy, in a scratch copy of the
// module (so the user's go.mod and go.sum are left alone) and an empty
// module cache (so every .mod the graph needs is fetched through the
// proxy). env is the go command's environment (nil for this process's);
// GOPROXY, GOMODCACHE, GOFLAGS and GOWORK are set here.
func Graph(ctx context.Context, gomod, proxy string, env []string) ([]module.Version, error) {
	data, err := os.ReadFile(gomod)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "modvault-prefetch-")
	if err != nil {
		return nil, err
	}
	defer func() {
		exec.Command("chmod", "-R", "u+w", tmp).Run() // the module cache is read-only
		os.RemoveAll(tmp)
	}()
	dir := filepath.Join(tmp, "m")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), data, 0o666); err != nil {
		return nil, err
	}
	if sum, err := os.ReadFile(filepath.Join(filepath.Dir(gomod), "go.sum")); err == nil {
		if err := os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o666); err != nil {
			return nil, err
		}
	}
	if env == nil {
		env = os.Environ()
	}
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-json", "all")
	cmd.Dir = dir
	cmd.Env = append(env, "GOPROXY="+proxy, "GOMODCACHE="+filepath.Join(tmp, "modcache"), "GOFLAGS=-mod=mod", "GOWORK=off", "GOTOOLCHAIN=local")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: go list -m all: %v\n%s", gomod, err, redact.Text(stderr.String()))
	}
	var mods []module.Version
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var m struct {
			Path, Version string
			Main          bool
			Replace       *struct{ Path, Version string }
		}
		if err := dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("%s: reading go list: %v", gomod, err)
		}
		if m.Main {
			continue
		}
		if m.Replace != nil {
			if m.Replace.Version == "" {
				continue // a directory replacement: nothing to fetch
			}
			m.Path, m.Version = m.Replace.Path, m.Replace.Version
		}
		if m.Version != "" {
			mods = append(mods, module.Version{Path: m.Path, Version: m.Version})
		}
	}
	return mods, nil
}

// readGoSum returns the files a go.sum lists.
func readGoSum(name string) ([]file, error) {
	lines, err := protocol.ReadGoSum(name)
	if err != nil {
		return nil, err
	}
	files := make([]file, len(lines))
	for i, l := range lines {
		files[i] = file{l.Version, l.Kind}
	}
	return files, nil
}
