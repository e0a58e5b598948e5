package bundle

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"sync"

	"golang.org/x/mod/module"

	"github.com/modvault/modvault/internal/prefetch"
	"github.com/modvault/modvault/internal/protocol"
	"github.com/modvault/modvault/internal/store"
)

// ModClosure returns the files of st that a build of the module gomod (a
// go.mod file) needs, for ExportOptions.Only: the .mod of every module the
// go command loads for the graph (with pruning) and the zip of every module
// in `go list -m all`. The go command reads them from st through a proxy on
// the loopback interface that serves only what st holds, with checksum
// verification off (the bundle's import verifies). env is as for
// [prefetch.Graph].
func ModClosure(ctx context.Context, st *store.Store, gomod string, env []string) (map[module.Version][]protocol.Kind, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	only := map[module.Version][]protocol.Kind{}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := protocol.Parse(r.URL.Path)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		if req.Kind == protocol.List {
			serveList(ctx, st, w, req.Module)
			return
		}
		if req.Kind != protocol.Info && req.Kind != protocol.Mod && req.Kind != protocol.Zip {
			http.NotFound(w, r)
			return
		}
		obj, err := st.Open(ctx, req.Path())
		if err != nil {
			http.Error(w, "not in the store", http.StatusNotFound)
			return
		}
		defer obj.Close()
		if req.Kind == protocol.Mod {
			mu.Lock()
			mv := module.Version{Path: req.Module, Version: req.Version}
			only[mv] = append(only[mv], protocol.Mod)
			mu.Unlock()
		}
		io.Copy(w, obj)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	env = append(env, "GOSUMDB=off", "GONOSUMDB=", "GOPRIVATE=")
	mods, err := prefetch.Graph(ctx, gomod, "http://"+ln.Addr().String(), env)
	if err != nil {
		return nil, err
	}
	mu.Lock()
	defer mu.Unlock()
	for _, mv := range mods {
		only[mv] = append(only[mv], protocol.Zip)
	}
	return only, nil
}

// serveList answers $module/@v/list with the versions st holds.
func serveList(ctx context.Context, st *store.Store, w http.ResponseWriter, mod string) {
	prefix, err := protocol.VersionsPrefix(mod)
	if err != nil {
		http.NotFound(w, nil)
		return
	}
	var b strings.Builder
	err = st.List(ctx, prefix, func(e store.Entry) bool {
		if esc, ok := strings.CutSuffix(strings.TrimPrefix(e.Key, prefix), ".info"); ok {
			if v, err := module.UnescapeVersion(esc); err == nil {
				b.WriteString(v + "\n")
			}
		}
		return true
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		http.Error(w, "listing failed", http.StatusInternalServerError)
		return
	}
	io.WriteString(w, b.String())
}
