package bundle_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/modvault/modvault/internal/app"
	"github.com/modvault/modvault/internal/bundle"
	"github.com/modvault/modvault/internal/config"
	"github.com/modvault/modvault/internal/prefetch"
	"github.com/modvault/modvault/internal/proxytest"
	"github.com/modvault/modvault/internal/store"
)

func TestMain(m *testing.M) {
	proxytest.BlockNonLoopback()
	os.Exit(m.Run())
}

// modules is a small graph: a needs b v1.1.0, c needs b v1.0.0 (pruned
// out of the graph), and a module with an uppercase path.
func modules() []proxytest.Module {
	return []proxytest.Module{
		{Path: "example.com/a", Version: "v1.0.0", Files: map[string]string{
			"go.mod": "module example.com/a\n\ngo 1.22\n\nrequire example.com/b v1.1.0\n",
			"a.go":   "package a\n\nimport \"example.com/b\"\n\nfunc A() string { return \"a\" + b.B() }\n",
		}},
		{Path: "example.com/b", Version: "v1.0.0", Files: map[string]string{
			"go.mod": "module example.com/b\n\ngo 1.22\n",
			"b.go":   "package b\n\nfunc B() string { return \"b1.0\" }\n",
		}},
		{Path: "example.com/b", Version: "v1.1.0", Files: map[string]string{
			"go.mod": "module example.com/b\n\ngo 1.22\n",
			"b.go":   "package b\n\nfunc B() string { return \"b1.1\" }\n",
		}},
		{Path: "example.com/c", Version: "v1.0.0", Files: map[string]string{
			"go.mod": "module example.com/c\n\ngo 1.22\n\nrequire example.com/b v1.0.0\n",
			"c.go":   "package c\n\nconst C = \"c\"\n",
		}},
		{Path: "example.com/Upper", Version: "v1.0.0-RC1", Files: map[string]string{
			"go.mod": "module example.com/Upper\n\ngo 1.22\n",
			"u.go":   "package upper\n\nconst U = \"U\"\n",
		}},
	}
}

const mainGo = `package main

import (
	"fmt"

	"example.com/a"
	"example.com/c"
	upper "example.com/Upper"
)

func main() { fmt.Println(a.A(), c.C, upper.U) }
`

const goMod = "module example.com/prog\n\ngo 1.22\n\nrequire (\n\texample.com/a v1.0.0\n\texample.com/c v1.0.0\n\texample.com/Upper v1.0.0-RC1\n)\n"

func fileStore(t *testing.T) (dir, storageURL string) {
	dir = t.TempDir()
	return dir, (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String()
}

// startModvault runs modvault over storage with upstream ("off" for none)
// and the upstream's checksum database, and returns its URL.
func startModvault(t *testing.T, upstream string, dbs []config.SumDB, storage string) string {
	t.Helper()
	cfg := config.Serve{
		Storage:         storage,
		Upstream:        upstream,
		SumDB:           []string{dbs[0].Name},
		GOSUMDB:         dbs,
		ListTTL:         time.Millisecond,
		FillTimeout:     time.Minute,
		ShutdownTimeout: time.Second,
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	a, err := app.New(context.Background(), cfg, log, "test")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(func() { srv.Close(); a.Close() })
	return srv.URL
}

func openStore(t *testing.T, storage string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), storage)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// connected is the connected side: an upstream with its checksum
// database, and a modvault in front of it filled by a go command.
type connected struct {
	up      *proxytest.Upstream
	dbs     []config.SumDB
	dir     string
	storage string
	url     string
}

func newConnected(t *testing.T) *connected {
	t.Helper()
	c := &connected{up: proxytest.New(t, modules()...)}
	var err error
	if c.dbs, err = config.ParseSumDBs(c.up.GOSUMDB()); err != nil {
		t.Fatal(err)
	}
	c.dir, c.storage = fileStore(t)
	c.url = startModvault(t, c.up.URL, c.dbs, c.storage)
	// modvault prefetch go.mod: the go command resolves the graph
	// through modvault, then every module's files are fetched.
	proj := t.TempDir()
	if err := os.WriteFile(filepath.Join(proj, "go.mod"), []byte(goMod), 0o666); err != nil {
		t.Fatal(err)
	}
	res, err := prefetch.Run(context.Background(), []string{filepath.Join(proj, "go.mod")}, prefetch.Options{
		Proxy: c.url, Concurrency: 4, Env: proxytest.NewGo(t, c.url, c.up.GOSUMDB()).Env,
	})
	if err != nil || len(res.Failures) > 0 || res.Fetched == 0 {
		t.Fatalf("prefetch: %+v, %v", res, err)
	}
	return c
}

// referenceGoSum is what go mod tidy writes on the connected side.
func (c *connected) referenceGoSum(t *testing.T) string {
	t.Helper()
	g := proxytest.NewGo(t, c.url, c.up.GOSUMDB())
	g.WriteFile("go.mod", goMod)
	g.WriteFile("main.go", mainGo)
	g.Must("mod", "tidy")
	b, err := os.ReadFile(filepath.Join(g.Dir, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (c *connected) export(t *testing.T, name string, opts bundle.ExportOptions) []byte {
	t.Helper()
	if opts.SumDBs == nil {
		opts.SumDBs = c.dbs
	}
	var buf bytes.Buffer
	if _, err := bundle.Export(context.Background(), openStore(t, c.storage), &buf, name, opts); err != nil {
		t.Fatalf("export: %v", err)
	}
	return buf.Bytes()
}

func importBundle(st *store.Store, dbs []config.SumDB, name string, b []byte, opts bundle.ImportOptions) (bundle.ImportResult, error) {
	opts.SumDBs, opts.Name = dbs, name
	return bundle.Import(context.Background(), st, bytes.NewReader(b), opts)
}

// TestAirGapRoundTrip: a modvault filled by prefetch of a go.mod exports a bundle;
// an empty store imports it; modvault serves it with no upstream, and a
// fresh go command with GOSUMDB on and an empty module cache downloads the
// whole graph, builds, and writes the same go.sum from an empty one.
func TestAirGapRoundTrip(t *testing.T) {
	c := newConnected(t)
	skey, vkey, err := bundle.GenerateKey("bundles.example")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	b := c.export(t, "b.tar.zst", bundle.ExportOptions{Signer: signer})
	wantSum := c.referenceGoSum(t)

	dir, storage := fileStore(t)
	st := openStore(t, storage)
	verifier, _ := note.NewVerifier(vkey)
	res, err := importBundle(st, c.dbs, "b.tar.zst", b, bundle.ImportOptions{Trust: []note.Verifier{verifier}})
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	// a, b v1.1.0, c and Upper: b v1.0.0 is pruned out of the graph.
	if res.Versions != 4 || res.Stored == 0 {
		t.Errorf("import: %+v, want the 4 versions of the graph stored; bundle: %v", res, tarNames(t, mustDecompress(t, b)))
	}
	before := proxytest.TreeFiles(t, dir)
	// Importing again changes nothing.
	res, err = importBundle(st, c.dbs, "b.tar.zst", b, bundle.ImportOptions{Trust: []note.Verifier{verifier}})
	if err != nil || res.Stored != 0 {
		t.Fatalf("second import: %+v, %v; want nothing stored", res, err)
	}
	assertSame(t, before, proxytest.TreeFiles(t, dir))

	c.up.Close() // the isolated side has no upstream anyway
	mv := startModvault(t, "off", c.dbs, storage)
	g := proxytest.NewGo(t, mv, c.up.GOSUMDB())
	g.WriteFile("go.mod", goMod)
	g.WriteFile("main.go", mainGo)
	g.Must("mod", "tidy")
	got, err := os.ReadFile(filepath.Join(g.Dir, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != wantSum {
		t.Errorf("go.sum on the isolated side:\n%s\nwant, as on the connected side:\n%s", got, wantSum)
	}
	g.Must("mod", "download", "all")
	g.Must("build", "-o", filepath.Join(t.TempDir(), "prog"), ".")
	if out := g.Must("run", "."); strings.TrimSpace(out) != "ab1.1 c U" {
		t.Errorf("program printed %q", out)
	}
}

// TestDailyBundleExtends: a second bundle exported with --since after
// the database grew carries only the new version and a newer head, which
// the isolated side proves consistent with the one it has.
func TestDailyBundleExtends(t *testing.T) {
	c := newConnected(t)
	first := c.export(t, "1.tar", bundle.ExportOptions{})
	_, storage := fileStore(t)
	st := openStore(t, storage)
	r1, err := importBundle(st, c.dbs, "1.tar", first, bundle.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	since := time.Now()
	time.Sleep(10 * time.Millisecond)
	c.up.Add(proxytest.Module{Path: "example.com/d", Version: "v1.0.0", Files: map[string]string{"go.mod": "module example.com/d\n", "d.go": "package d\n"}})
	for i := range 300 { // the database grows by more than a tile
		p := fmt.Sprintf("example.com/fill/m%d", i)
		c.up.Add(proxytest.Module{Path: p, Version: "v1.0.0", Files: map[string]string{"go.mod": "module " + p + "\n"}})
		resp, err := http.Get(c.up.URL + "/sumdb/" + c.up.SumDBName + "/lookup/" + p + "@v1.0.0")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	proxytest.NewGo(t, c.url, c.up.GOSUMDB()).Must("mod", "download", "example.com/d@v1.0.0")
	second := c.export(t, "2.tar", bundle.ExportOptions{Since: since})
	names := tarNames(t, second)
	if !names["example.com/d/@v/v1.0.0.zip"] || names["example.com/a/@v/v1.0.0.zip"] {
		t.Errorf("the --since bundle holds %v, want example.com/d only", names)
	}
	r2, err := importBundle(st, c.dbs, "2.tar", second, bundle.ImportOptions{})
	if err != nil {
		t.Fatalf("import of the daily bundle: %v", err)
	}
	if r2.Head[c.up.SumDBName] <= r1.Head[c.up.SumDBName] {
		t.Errorf("tree head after the daily bundle: %d, before: %d", r2.Head[c.up.SumDBName], r1.Head[c.up.SumDBName])
	}
	mv := startModvault(t, "off", c.dbs, storage)
	// A go command proves each lookup's tree against the newest it saw
	// and each record in that tree, in whatever order it meets them.
	for _, order := range [][]string{{"example.com/a@v1.0.0", "example.com/d@v1.0.0"}, {"example.com/d@v1.0.0", "example.com/a@v1.0.0"}} {
		g := proxytest.NewGo(t, mv, c.up.GOSUMDB())
		for _, m := range order {
			g.Must("mod", "download", m)
		}
	}
}

func assertSame(t *testing.T, want, got map[string]string) {
	t.Helper()
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("store: %s changed or removed", k)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("store: %s added", k)
		}
	}
}

func mustDecompress(t *testing.T, b []byte) []byte {
	t.Helper()
	d, err := zstd.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	out, err := io.ReadAll(d)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func tarNames(t *testing.T, b []byte) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names[h.Name] = true
	}
}

// rewrite returns the plain tar b with its entries passed through edit
// (which may change the name or body, or drop the entry by returning
// ok=false) and extra entries added before the manifest, and the manifest
// rewritten to match (unsigned).
func rewrite(t *testing.T, b []byte, edit func(name string, body []byte) (string, []byte, bool), extra map[string][]byte) []byte {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	var manifest strings.Builder
	manifest.WriteString("modvault bundle 1\n")
	put := func(name string, body []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Size: int64(len(body)), Mode: 0o644, Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
		sum := sha256.Sum256(body)
		fmt.Fprintf(&manifest, "%s %d %s\n", hex.EncodeToString(sum[:]), len(body), name)
	}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		if h.Name == bundle.ManifestName {
			continue
		}
		name, body, ok := edit(h.Name, body)
		if ok {
			put(name, body)
		}
	}
	for name, body := range extra {
		put(name, body)
	}
	m := manifest.String()
	tw.WriteHeader(&tar.Header{Name: bundle.ManifestName, Size: int64(len(m)), Mode: 0o644, Typeflag: tar.TypeReg})
	tw.Write([]byte(m))
	tw.Close()
	return out.Bytes()
}

func keep(name string, body []byte) (string, []byte, bool) { return name, body, true }

// TestImportRefuses: every damaged bundle is refused with a message
// naming the file and the reason, and the store is left unchanged.
func TestImportRefuses(t *testing.T) {
	c := newConnected(t)
	good := c.export(t, "b.tar", bundle.ExportOptions{})
	db := "sumdb/" + c.up.SumDBName + "/"
	zipName := "example.com/a/@v/v1.0.0.zip"
	lookupName := db + "lookup/example.com/a@v1.0.0"

	otherSkey, _, _ := bundle.GenerateKey(c.up.SumDBName)
	signer, _ := note.NewSigner(c.up.SumDBSignerKey)
	forge := func(s note.Signer, tree tlog.Tree) []byte {
		msg, err := note.Sign(&note.Note{Text: string(tlog.FormatTree(tree))}, s)
		if err != nil {
			t.Fatal(err)
		}
		return msg
	}
	headTree := func() tlog.Tree {
		var msg []byte
		rewrite(t, good, func(n string, b []byte) (string, []byte, bool) {
			if n == db+"latest" {
				msg = b
			}
			return n, b, true
		}, nil)
		v, _ := note.NewVerifier(c.up.SumDBKey)
		n, err := note.Open(msg, note.VerifierList(v))
		if err != nil {
			t.Fatal(err)
		}
		tree, _ := tlog.ParseTree([]byte(n.Text))
		return tree
	}()

	flip := func(b []byte) []byte { b = bytes.Clone(b); b[len(b)/2] ^= 1; return b }
	tests := []struct {
		name   string
		bundle func() []byte
		setup  func(t *testing.T, st *store.Store) // prepares the store
		want   []string                            // in the error
	}{
		{"zip byte flipped, manifest not updated", func() []byte {
			var zip []byte
			rewrite(t, good, func(n string, b []byte) (string, []byte, bool) {
				if n == zipName {
					zip = b
				}
				return n, b, true
			}, nil)
			i := bytes.Index(good, zip)
			b := bytes.Clone(good)
			b[i+len(zip)/2] ^= 1
			return b
		}, nil, []string{zipName, "differs from the manifest"}},
		{"zip byte flipped, manifest updated", func() []byte {
			return rewrite(t, good, func(n string, b []byte) (string, []byte, bool) {
				if n == zipName {
					return n, flip(b), true
				}
				return n, b, true
			}, nil)
		}, nil, []string{zipName}},
		{"altered lookup", func() []byte {
			return rewrite(t, good, func(n string, b []byte) (string, []byte, bool) {
				if n == lookupName {
					i := bytes.Index(b, []byte("h1:"))
					b = bytes.Clone(b)
					b[i+5] ^= 1
				}
				return n, b, true
			}, nil)
		}, nil, []string{lookupName}},
		{"missing tile", func() []byte {
			dropped := false
			return rewrite(t, good, func(n string, b []byte) (string, []byte, bool) {
				if strings.HasPrefix(n, db+"tile/") && !dropped {
					dropped = true
					return n, b, false
				}
				return n, b, true
			}, nil)
		}, nil, []string{"tile", "missing"}},
		{"head signed by another key", func() []byte {
			s, _ := note.NewSigner(otherSkey)
			return rewrite(t, good, func(n string, b []byte) (string, []byte, bool) {
				if n == db+"latest" {
					return n, forge(s, headTree), true
				}
				return n, b, true
			}, nil)
		}, nil, []string{db + "latest", "not signed"}},
		{"head inconsistent with the stored one", func() []byte { return good }, func(t *testing.T, st *store.Store) {
			older := tlog.Tree{N: headTree.N - 1, Hash: tlog.Hash{1, 2, 3}}
			if err := st.Put(context.Background(), db+"latest", bytes.NewReader(forge(signer, older))); err != nil {
				t.Fatal(err)
			}
		}, []string{db + "latest", "inconsistent with the stored tree head"}},
		{"truncated tar", func() []byte { return good[:len(good)/2] }, nil, []string{"truncated"}},
		{"path escaping the tree", func() []byte {
			return rewrite(t, good, keep, map[string][]byte{"../escape/@v/v1.0.0.mod": []byte("module x\n")})
		}, nil, []string{"../escape/@v/v1.0.0.mod", "not a clean relative path"}},
		{"object stored with other bytes", func() []byte { return good }, func(t *testing.T, st *store.Store) {
			if err := st.Create(context.Background(), "example.com/b/@v/v1.1.0.info", strings.NewReader(`{"Version":"v1.1.0","Time":"2020-01-01T00:00:00Z"}`)); err != nil {
				t.Fatal(err)
			}
		}, []string{"example.com/b/@v/v1.1.0.info", "other bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, storage := fileStore(t)
			st := openStore(t, storage)
			if tt.setup != nil {
				tt.setup(t, st)
			}
			before := proxytest.TreeFiles(t, dir)
			_, err := importBundle(st, c.dbs, "b.tar", tt.bundle(), bundle.ImportOptions{})
			if tt.want == nil {
				if err != nil {
					t.Fatalf("import: %v", err)
				}
				return
			}
			if !errors.Is(err, bundle.ErrRefused) {
				t.Fatalf("import: %v, want a refusal", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			assertSame(t, before, proxytest.TreeFiles(t, dir))
		})
	}
}

// TestSignedManifest: with --trust, an unsigned bundle or one signed by
// another key is refused.
func TestSignedManifest(t *testing.T) {
	c := newConnected(t)
	skey, _, _ := bundle.GenerateKey("a.example")
	_, vkey, _ := bundle.GenerateKey("a.example")
	signer, _ := note.NewSigner(skey)
	trusted, _ := note.NewVerifier(vkey)
	for name, b := range map[string][]byte{
		"unsigned":     c.export(t, "b.tar", bundle.ExportOptions{}),
		"other signer": c.export(t, "b.tar", bundle.ExportOptions{Signer: signer}),
	} {
		_, storage := fileStore(t)
		_, err := importBundle(openStore(t, storage), c.dbs, "b.tar", b, bundle.ImportOptions{Trust: []note.Verifier{trusted}})
		if !errors.Is(err, bundle.ErrRefused) || !strings.Contains(err.Error(), "manifest") {
			t.Errorf("%s: %v, want the manifest refused", name, err)
		}
	}
}

// TestPrivateTravelsWithManifestHash: a version of a GONOSUMDB module
// travels without a lookup and is imported on its manifest hash.
func TestPrivateTravelsWithManifestHash(t *testing.T) {
	c := newConnected(t)
	private := func(mod string) bool { return module.MatchPrefixPatterns("example.com/c", mod) }
	// Drop c's lookup from the connected store, as if it were never
	// looked up (GONOSUMDB on the connected side).
	key := c.dir + "/sumdb/" + c.up.SumDBName + "/lookup/example.com/c@v1.0.0"
	if err := os.Remove(filepath.FromSlash(key)); err != nil {
		t.Fatal(err)
	}
	b := c.export(t, "b.tar", bundle.ExportOptions{Private: private})
	if tarNames(t, b)["sumdb/"+c.up.SumDBName+"/lookup/example.com/c@v1.0.0"] {
		t.Error("the bundle carries a lookup of the private module")
	}
	_, storage := fileStore(t)
	if _, err := importBundle(openStore(t, storage), c.dbs, "b.tar", b, bundle.ImportOptions{Private: private}); err != nil {
		t.Fatalf("import with the module private: %v", err)
	}
	_, storage = fileStore(t)
	_, err := importBundle(openStore(t, storage), c.dbs, "b.tar", b, bundle.ImportOptions{})
	if !errors.Is(err, bundle.ErrRefused) || !strings.Contains(err.Error(), "example.com/c") {
		t.Errorf("import with the module public: %v, want it refused for lack of a lookup", err)
	}
}

// TestMemoryStaysFlat: export and import of a bundle with a 160 MiB zip
// keep the heap far below the zip's size: files stream through.
func TestMemoryStaysFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("writes several hundred MiB")
	}
	const size = 160 << 20
	up := proxytest.New(t, proxytest.Module{Path: "example.com/big", Version: "v1.0.0", Large: size})
	dbs, _ := config.ParseSumDBs(up.GOSUMDB())
	_, storageA := fileStore(t)
	url := startModvault(t, up.URL, dbs, storageA)
	res, err := prefetch.Run(context.Background(), []string{"example.com/big@v1.0.0"}, prefetch.Options{Proxy: url})
	if err != nil || len(res.Failures) > 0 {
		t.Fatalf("prefetch: %+v, %v", res, err)
	}
	file := filepath.Join(t.TempDir(), "big.tar.zst")
	var peak uint64
	measure := func(f func()) uint64 {
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		done := make(chan struct{})
		result := make(chan uint64)
		go func() {
			var max uint64
			for {
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > max {
					max = ms.HeapInuse
				}
				select {
				case <-done:
					result <- max
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		}()
		f()
		close(done)
		max := <-result
		if max < base.HeapInuse {
			return 0
		}
		return max - base.HeapInuse
	}
	grew := measure(func() {
		f, err := os.Create(file)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := bundle.Export(context.Background(), openStore(t, storageA), f, file, bundle.ExportOptions{SumDBs: dbs}); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("export of a %d MiB zip: heap grew by %.1f MiB", size>>20, float64(grew)/(1<<20))
	peak = max(peak, grew)
	_, storageB := fileStore(t)
	grew = measure(func() {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := bundle.Import(context.Background(), openStore(t, storageB), f, bundle.ImportOptions{SumDBs: dbs, Name: file}); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("import of a %d MiB zip: heap grew by %.1f MiB", size>>20, float64(grew)/(1<<20))
	peak = max(peak, grew)
	if peak > size/4 {
		t.Errorf("heap grew by %d MiB for a %d MiB zip: not streaming", peak>>20, size>>20)
	}
}

// TestExportModClosure: --mod exports what a build of a go.mod needs and
// nothing else the store holds; the isolated side builds from it.
func TestExportModClosure(t *testing.T) {
	c := newConnected(t)
	extra, err := prefetch.Run(context.Background(), []string{"example.com/b@v1.0.0"}, prefetch.Options{Proxy: c.url})
	if err != nil || len(extra.Failures) > 0 {
		t.Fatalf("prefetch: %+v, %v", extra, err)
	}
	proj := t.TempDir()
	gomod := filepath.Join(proj, "go.mod")
	os.WriteFile(gomod, []byte(goMod), 0o666)
	st := openStore(t, c.storage)
	only, err := bundle.ModClosure(context.Background(), st, gomod, proxytest.NewGo(t, c.url, c.up.GOSUMDB()).Env)
	if err != nil {
		t.Fatal(err)
	}
	b := c.export(t, "b.tar", bundle.ExportOptions{Only: only})
	names := tarNames(t, b)
	for _, want := range []string{"example.com/a/@v/v1.0.0.zip", "example.com/b/@v/v1.1.0.zip", "example.com/c/@v/v1.0.0.zip", "example.com/!upper/@v/v1.0.0-!r!c1.zip"} {
		if !names[want] {
			t.Errorf("the bundle lacks %s", want)
		}
	}
	if names["example.com/b/@v/v1.0.0.zip"] {
		t.Error("the bundle holds example.com/b@v1.0.0's zip, which the go.mod's build does not need")
	}
	_, storage := fileStore(t)
	if _, err := importBundle(openStore(t, storage), c.dbs, "b.tar", b, bundle.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	mv := startModvault(t, "off", c.dbs, storage)
	g := proxytest.NewGo(t, mv, c.up.GOSUMDB())
	g.WriteFile("go.mod", goMod)
	g.WriteFile("main.go", mainGo)
	g.Must("mod", "tidy")
	g.Must("mod", "download", "all")
	g.Must("build", "-o", filepath.Join(t.TempDir(), "prog"), ".")
}
