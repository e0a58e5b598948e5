package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/modvault/modvault/internal/proxytest"
	"github.com/modvault/modvault/internal/store"
)

func TestMain(m *testing.M) {
	proxytest.BlockNonLoopback()
	os.Exit(m.Run())
}

func fileURL(dir string) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String()
}

func openStore(t *testing.T, rawURL string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), rawURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func mustCreate(t *testing.T, st *store.Store, key string, data []byte) {
	t.Helper()
	if err := st.Create(context.Background(), key, bytes.NewReader(data)); err != nil {
		t.Fatalf("Create(%q): %v", key, err)
	}
}

// readObject reads key through Open and through ReadAll and checks both
// give the same bytes.
func readObject(t *testing.T, st *store.Store, key string) []byte {
	t.Helper()
	ctx := context.Background()
	obj, err := st.Open(ctx, key)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	defer obj.Close()
	viaOpen, err := io.ReadAll(obj)
	if err != nil {
		t.Fatalf("reading %q: %v", key, err)
	}
	if obj.Size() != int64(len(viaOpen)) {
		t.Errorf("Open(%q).Size() = %d, but it reads %d bytes", key, obj.Size(), len(viaOpen))
	}
	viaReadAll, err := st.ReadAll(ctx, key)
	if err != nil {
		t.Fatalf("ReadAll(%q): %v", key, err)
	}
	if !bytes.Equal(viaOpen, viaReadAll) {
		t.Fatalf("%q: Open reads %d bytes, ReadAll %d different bytes", key, len(viaOpen), len(viaReadAll))
	}
	return viaOpen
}

// listKeys returns the keys List reports under prefix.
func listKeys(t *testing.T, st *store.Store, prefix string) []string {
	t.Helper()
	var keys []string
	err := st.List(context.Background(), prefix, func(e store.Entry) bool {
		keys = append(keys, e.Key)
		return true
	})
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return keys
}

func testCreateRefusesToOverwrite(t *testing.T, st *store.Store, dir string) {
	const key = "example.com/m/@v/v1.0.0.mod"
	old := []byte("module example.com/m\n")
	mustCreate(t, st, key, old)

	err := st.Create(context.Background(), key, strings.NewReader("module example.com/evil\n"))
	if !errors.Is(err, fs.ErrExist) || !errors.Is(err, store.ErrExist) {
		t.Fatalf("second Create(%q) = %v, want an error matching fs.ErrExist", key, err)
	}
	if got := readObject(t, st, key); !bytes.Equal(got, old) {
		t.Errorf("after a refused Create, %q holds %q, want the old %q", key, got, old)
	}
	// The refused write leaves nothing behind.
	if keys := listKeys(t, st, "example.com/m/@v/"); !slices.Equal(keys, []string{key}) {
		t.Errorf("List after a refused Create = %q, want only %q", keys, key)
	}
	if dir != "" {
		if files := proxytest.TreeFiles(t, dir); len(files) != 1 {
			t.Errorf("file store holds %d files after a refused Create, want 1: %v", len(files), keysOf(files))
		}
	}
}

// testConcurrentCreateHasOneWinner checks that Create's "only if absent" holds
// when writers race for the same key: exactly one succeeds, the others get
// fs.ErrExist, and the object holds the winner's bytes, whole.
func testConcurrentCreateHasOneWinner(t *testing.T, st *store.Store, dir string) {
	const writers = 8
	for round := range 5 {
		key := fmt.Sprintf("example.com/m/@v/v1.0.%d.zip", round)
		contents := make([][]byte, writers)
		for i := range contents {
			contents[i] = bytes.Repeat([]byte{byte('a' + i)}, 64<<10)
		}
		errs := make([]error, writers)
		var start, wg sync.WaitGroup
		start.Add(1)
		for i := range writers {
			wg.Go(func() {
				start.Wait()
				errs[i] = st.Create(context.Background(), key, bytes.NewReader(contents[i]))
			})
		}
		start.Done()
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("round %d: Create by writers %d and %d both succeeded on %q", round, winner, i, key)
			case err == nil:
				winner = i
			case !errors.Is(err, fs.ErrExist):
				t.Fatalf("round %d: writer %d: %v", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no Create succeeded", round)
		}
		if got := readObject(t, st, key); !bytes.Equal(got, contents[winner]) {
			t.Fatalf("round %d: %q does not hold the bytes of the one successful writer", round, key)
		}
	}
}

func testMissingKeyIsNotExist(t *testing.T, st *store.Store, dir string) {
	ctx := context.Background()
	mustCreate(t, st, "example.com/m/@v/v1.0.0.info", []byte(`{"Version":"v1.0.0"}`))
	// A missing object, and a "directory" that only prefixes one.
	for _, key := range []string{"example.com/m/@v/v1.1.0.info", "example.com/m/@v", "example.com/m"} {
		if _, err := st.Open(ctx, key); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(%q) = %v, want an error matching fs.ErrNotExist", key, err)
		}
		if _, err := st.ReadAll(ctx, key); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("ReadAll(%q) = %v, want an error matching fs.ErrNotExist", key, err)
		}
		if ok, err := st.Exists(ctx, key); ok || err != nil {
			t.Errorf("Exists(%q) = %v, %v, want false, nil", key, ok, err)
		}
	}
	if ok, err := st.Exists(ctx, "example.com/m/@v/v1.0.0.info"); !ok || err != nil {
		t.Errorf("Exists of a stored key = %v, %v, want true, nil", ok, err)
	}
}

var errBoom = errors.New("boom: source failed")

// failingReader yields n bytes, then fails.
type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errBoom
	}
	p = p[:min(len(p), r.n)]
	for i := range p {
		p[i] = 'x'
	}
	r.n -= len(p)
	return len(p), nil
}

func testFailedWriteLeavesNothing(t *testing.T, st *store.Store, dir string) {
	ctx := context.Background()
	const prefix = "example.com/m/@v/"
	for _, size := range []int{0, 1000, 3 << 20} {
		key := fmt.Sprintf("%sv1.0.%d.zip", prefix, size)
		if err := st.Create(ctx, key, &failingReader{n: size}); !errors.Is(err, errBoom) {
			t.Fatalf("Create from a reader failing after %d bytes = %v, want an error wrapping the reader's", size, err)
		}
		if _, err := st.Open(ctx, key); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("after a failed Create of %d bytes, Open(%q) = %v, want fs.ErrNotExist", size, key, err)
		}
	}
	if keys := listKeys(t, st, prefix); len(keys) != 0 {
		t.Errorf("after failed writes, List(%q) = %q, want nothing", prefix, keys)
	}
	if dir != "" {
		if files := proxytest.TreeFiles(t, dir); len(files) != 0 {
			t.Errorf("after failed writes, the file store holds %v, want no file", keysOf(files))
		}
	}

	// A failed Put keeps the object it would have replaced.
	key := prefix + "v1.0.0.mod"
	old := []byte("module example.com/m\n")
	mustCreate(t, st, key, old)
	if err := st.Put(ctx, key, &failingReader{n: 5000}); !errors.Is(err, errBoom) {
		t.Fatalf("Put from a failing reader = %v, want an error wrapping the reader's", err)
	}
	if got := readObject(t, st, key); !bytes.Equal(got, old) {
		t.Errorf("after a failed Put, %q holds %d bytes starting %q, want the old %q", key, len(got), got[:min(len(got), 40)], old)
	}
	if keys := listKeys(t, st, prefix); !slices.Equal(keys, []string{key}) {
		t.Errorf("after a failed Put, List(%q) = %q, want only %q", prefix, keys, key)
	}
}

func testPutReplaces(t *testing.T, st *store.Store, dir string) {
	const key = "example.com/m/@v/v1.0.0.mod"
	mustCreate(t, st, key, []byte("module example.com/m // old\n"))
	if err := st.Put(context.Background(), key, strings.NewReader("module example.com/m\n")); err != nil {
		t.Fatal(err)
	}
	if got := readObject(t, st, key); string(got) != "module example.com/m\n" {
		t.Errorf("after Put, %q holds %q", key, got)
	}
}

func testListDirectChildren(t *testing.T, st *store.Store, dir string) {
	ctx := context.Background()
	for _, key := range []string{
		"example.com/m/@v/v1.0.0.info",
		"example.com/m/@v/v1.0.0.mod",
		"example.com/m/@v/v1.1.0.info",
		"example.com/m/@v/sub/deeper.info", // not a direct child
		"example.com/m/sub/@v/v1.0.0.info", // another module
		"example.com/m/@vx",                // a sibling, not under the prefix
		"example.com/mm/@v/v1.0.0.info",    // another module sharing a string prefix
		"example.com/n/@v/v1.0.0.info",
	} {
		mustCreate(t, st, key, []byte(key))
	}
	want := []string{"example.com/m/@v/v1.0.0.info", "example.com/m/@v/v1.0.0.mod", "example.com/m/@v/v1.1.0.info"}
	var got []string
	err := st.List(ctx, "example.com/m/@v/", func(e store.Entry) bool {
		got = append(got, e.Key)
		if e.Size != int64(len(e.Key)) {
			t.Errorf("List entry %q has size %d, want %d", e.Key, e.Size, len(e.Key))
		}
		if e.ModTime.IsZero() {
			t.Errorf("List entry %q has no modification time", e.Key)
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("List(example.com/m/@v/) = %q, want %q", got, want)
	}
	if got := listKeys(t, st, "example.com/none/@v/"); len(got) != 0 {
		t.Errorf("List of an absent prefix = %q, want nothing", got)
	}

	// fn returning false stops the listing.
	n := 0
	if err := st.List(ctx, "example.com/m/@v/", func(store.Entry) bool { n++; return false }); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("List called fn %d times after it returned false, want 1", n)
	}
}

// testReadersSeeWholeObjects reads a key over and over while it is being
// written: every successful read sees the whole object.
func testReadersSeeWholeObjects(t *testing.T, st *store.Store, dir string) {
	ctx := context.Background()
	const key = "example.com/m/@v/v1.0.0.zip"
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	done := make(chan struct{})
	var reads, partial int
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			b, err := st.ReadAll(ctx, key)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				t.Errorf("ReadAll during the write: %v", err)
				return
			}
			reads++
			if !bytes.Equal(b, data) {
				partial++
			}
		}
	})
	stop := sync.OnceFunc(func() { close(done); wg.Wait() })
	defer stop() // the reader must not outlive the test
	// Write slowly, in small pieces.
	err := st.Create(ctx, key, &slowReader{r: bytes.NewReader(data), chunk: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // the reader also sees the finished object
		if _, err := st.ReadAll(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	stop()
	if partial > 0 {
		t.Errorf("%d of %d reads during the write saw a partial object", partial, reads)
	}
}

// slowReader returns at most chunk bytes per Read and yields the processor
// between reads, so readers get to look at the object while it is written.
type slowReader struct {
	r     io.Reader
	chunk int
}

func (s *slowReader) Read(p []byte) (int, error) {
	if len(p) > s.chunk {
		p = p[:s.chunk]
	}
	n, err := s.r.Read(p)
	for range 20 {
		runtime.Gosched()
	}
	return n, err
}

// TestFileStoreIsPlainTree checks that a file store holds exactly one file per
// key, at the key's path, with the object's bytes: no metadata side files and
// no temporary files, so the directory is a GOPROXY=file:// tree. It also
// checks that a store opened again on the same directory sees the objects.
func TestFileStoreIsPlainTree(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tree")
	st := openStore(t, fileURL(dir))
	ctx := context.Background()
	want := map[string]string{
		"example.com/!upper/@v/v1.0.0-!r!c1.info":       `{"Version":"v1.0.0-RC1"}`,
		"example.com/!upper/@v/v1.0.0-!r!c1.mod":        "module example.com/Upper\n",
		"example.com/!upper/@v/v1.0.0-!r!c1.zip":        "PK zip bytes",
		"example.com/old/@v/v2.0.0+incompatible.info":   `{"Version":"v2.0.0+incompatible"}`,
		"sumdb/sum.example/lookup/example.com/m@v1.0.0": "1\nexample.com/m v1.0.0 h1:x\n",
	}
	for key, data := range want {
		mustCreate(t, st, key, []byte(data))
	}
	// A replaced object stays one file too.
	if err := st.Put(ctx, "example.com/old/@v/v2.0.0+incompatible.info", strings.NewReader(want["example.com/old/@v/v2.0.0+incompatible.info"])); err != nil {
		t.Fatal(err)
	}
	got := proxytest.TreeFiles(t, dir)
	for name, data := range got {
		if w, ok := want[name]; !ok {
			t.Errorf("file store holds an extra file %q (%d bytes)", name, len(data))
		} else if data != w {
			t.Errorf("file %q holds %q, want %q", name, data, w)
		}
	}
	for name := range want {
		if _, ok := got[name]; !ok {
			t.Errorf("file store lacks the file %q", name)
		}
	}

	again := openStore(t, fileURL(dir))
	for key, data := range want {
		if b := readObject(t, again, key); string(b) != data {
			t.Errorf("reopened store: %q holds %q, want %q", key, b, data)
		}
	}
}

// TestOpenRejectsBadURL checks that an unknown scheme or a URL that does not
// parse is an error that names the URL without its secrets.
func TestOpenRejectsBadURL(t *testing.T) {
	for _, rawURL := range []string{
		"nosuchscheme://bucket?secret_key=hunter2",
		"s3://AKIAEXAMPLE:hunter2@bucket%zz?region=us-east-1", // does not parse
	} {
		_, err := store.Open(context.Background(), rawURL)
		if err == nil {
			t.Fatalf("Open(%q) succeeded", rawURL)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error reveals a secret: %v", err)
		}
	}
}

func keysOf(m map[string]string) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// testEveryKeyReadsBack writes keys of every shape modvault uses, including
// ones the file driver must escape ("__0x", uppercase escapes, "+", "~"),
// and reads each back through Open, ReadAll and Exists: the file store's
// direct reads and the blob layer must agree on where a key lives.
func testEveryKeyReadsBack(t *testing.T, st *store.Store, dir string) {
	keys := []string{
		"example.com/m/@v/v1.0.0.info",
		"example.com/!upper/@v/v1.0.0-!r!c1.mod",
		"example.com/old/@v/v2.0.0+incompatible.zip",
		"example.com/a__0x41__b/@v/v1.0.0.info",
		"example.com/tilde~x/@v/v1.0.0.mod",
	}
	ctx := context.Background()
	for i, key := range keys {
		data := []byte(fmt.Sprintf("object %d", i))
		mustCreate(t, st, key, data)
		if got := readObject(t, st, key); !bytes.Equal(got, data) {
			t.Errorf("%q reads back as %q, want %q", key, got, data)
		}
		if ok, err := st.Exists(ctx, key); err != nil || !ok {
			t.Errorf("Exists(%q) = %v, %v after Create", key, ok, err)
		}
		if ok, err := st.Exists(ctx, key+".x"); err != nil || ok {
			t.Errorf("Exists(%q) = %v, %v for a key never written", key+".x", ok, err)
		}
	}
}

// testListDuringWrites lists and walks a directory while objects are
// written into it: a listing never fails because a temporary file went
// away meanwhile, reports no temporary file, and every object it reports
// is whole.
func testListDuringWrites(t *testing.T, st *store.Store, dir string) {
	ctx := context.Background()
	data := bytes.Repeat([]byte("x"), 64<<10)
	key := func(i int) string { return fmt.Sprintf("example.com/m/@v/v1.0.%d.zip", i) }
	written := make(map[string]bool)
	for i := range 100 {
		written[key(i)] = true
	}
	done := make(chan struct{})
	defer func() { <-done }() // the writer must not outlive the test
	go func() {
		defer close(done)
		for i := range 100 {
			if err := st.Create(ctx, key(i), bytes.NewReader(data)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	check := func(e store.Entry) bool {
		if !written[e.Key] {
			t.Errorf("listed %s, which is not a key written", e.Key)
		} else if e.Size != int64(len(data)) {
			t.Errorf("listed %s with %d bytes, want %d", e.Key, e.Size, len(data))
		}
		return true
	}
	for {
		select {
		case <-done:
			return
		default:
		}
		if err := st.List(ctx, "example.com/m/@v/", check); err != nil {
			t.Fatalf("List during writes: %v (%#v)", err, errors.Unwrap(err))
		}
		if err := st.Walk(ctx, "example.com/", check); err != nil {
			t.Fatalf("Walk during writes: %v (%#v)", err, errors.Unwrap(err))
		}
	}
}
