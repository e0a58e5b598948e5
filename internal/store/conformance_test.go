package store_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modvault/modvault/internal/fault"
	"github.com/modvault/modvault/internal/proxytest"
	"github.com/modvault/modvault/internal/redact"
	"github.com/modvault/modvault/internal/store"
	"github.com/modvault/modvault/internal/testserver"
)

// backend is a kind of storage the conformance suite runs against.
type backend struct {
	name string
	// newBucket returns the URL of a new, empty bucket, and for a file
	// store its directory.
	newBucket func(t *testing.T) (rawURL, dir string)
	// shared reports whether Stores opened on one URL share their objects,
	// as replicas of modvault do; mem:// buckets are private to their Store.
	shared bool
	// signer returns the URL of a Store on the bucket at rawURL that can
	// sign URLs, or "" if the backend cannot sign; and, for a server that
	// does not check signatures itself, a function that checks one.
	signer func(t *testing.T, rawURL string) (signing string, check func(t *testing.T, signed string))
	// fetchable returns the URL by which the test fetches a signed URL.
	fetchable func(signed string) string
}

// fixture is one conformance case's new, empty store.
type fixture struct {
	b   *backend
	st  *store.Store
	url string
	dir string // the file store's directory, or ""
}

// replica returns another Store on the fixture's bucket, as another
// modvault process would open it; for a mem:// store, which cannot be
// shared, the fixture's Store itself.
func (f *fixture) replica(t *testing.T) *store.Store {
	if !f.b.shared {
		return f.st
	}
	return openStore(t, f.url)
}

// TestConformance runs the storage conformance suite against every
// backend: file:// and mem:// in this process, and s3://, gs:// and
// azblob:// against real servers (MinIO, fake-gcs-server, Azurite) that it
// starts. Each case gets a new, empty bucket.
func TestConformance(t *testing.T) {
	backends := startBackends(t)
	cases := []struct {
		name string
		run  func(t *testing.T, f *fixture)
	}{
		{"CreateRefusesToOverwrite", plain(testCreateRefusesToOverwrite)},
		{"ConcurrentCreateHasOneWinner", plain(testConcurrentCreateHasOneWinner)},
		{"ConcurrentCreateAcrossReplicas", testConcurrentCreateAcrossReplicas},
		{"MissingKeyIsNotExist", plain(testMissingKeyIsNotExist)},
		{"FailedWriteLeavesNothing", plain(testFailedWriteLeavesNothing)},
		{"PutReplaces", plain(testPutReplaces)},
		{"ListDirectChildren", plain(testListDirectChildren)},
		{"WalkPrefixes", testWalkPrefixes},
		{"DeleteAndExists", testDeleteAndExists},
		{"ReadersSeeWholeObjects", plain(testReadersSeeWholeObjects)},
		{"LargeObjectStreamsAndAppearsWhole", testLargeObject},
		{"OpenSeeksAndServesRanges", testOpenSeeks},
		{"EveryKeyReadsBack", plain(testEveryKeyReadsBack)},
		{"ListDuringWrites", plain(testListDuringWrites)},
		{"SignedURL", testSignedURL},
		{"UnholdableKeys", plain(testUnholdableKeys)},
	}
	var ran []string
	for _, b := range backends {
		ok := t.Run(b.name, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					rawURL, dir := b.newBucket(t)
					c.run(t, &fixture{b: b, st: openStore(t, rawURL), url: rawURL, dir: dir})
				})
			}
		})
		ran = append(ran, fmt.Sprintf("%s (passed: %v)", b.name, ok))
	}
	t.Logf("storage conformance ran against: %s", strings.Join(ran, ", "))
}

func plain(test func(t *testing.T, st *store.Store, dir string)) func(t *testing.T, f *fixture) {
	return func(t *testing.T, f *fixture) { test(t, f.st, f.dir) }
}

// startBackends starts the servers and applies their environment to this
// process, for the gocloud.dev URL openers.
func startBackends(t *testing.T) []*backend {
	s3 := testserver.MinIO(t)
	gcs := testserver.FakeGCS(t)
	az := testserver.Azurite(t)
	testserver.SetEnv(t, s3.Env())
	testserver.SetEnv(t, gcs.Env())
	testserver.SetEnv(t, az.Env())
	t.Logf("MinIO at %s, fake-gcs-server at %s, Azurite at %s", s3.Endpoint, gcs.Host, az.Host)

	unsigned := func(*testing.T, string) (string, func(*testing.T, string)) { return "", nil }
	signs := func(_ *testing.T, u string) (string, func(*testing.T, string)) { return u, nil }
	same := func(u string) string { return u }
	return []*backend{
		{
			name: "file",
			newBucket: func(t *testing.T) (string, string) {
				dir := filepath.Join(t.TempDir(), "store") // Open creates it
				return fileURL(dir), dir
			},
			shared: true,
			signer: unsigned,
		},
		{
			name:      "mem",
			newBucket: func(*testing.T) (string, string) { return "mem://", "" },
			signer:    unsigned,
		},
		{
			name:      "s3",
			newBucket: func(t *testing.T) (string, string) { return s3.NewBucket(t), "" },
			shared:    true,
			signer:    signs,
			fetchable: same,
		},
		{
			name:      "gs",
			newBucket: func(t *testing.T) (string, string) { return gcs.NewBucket(t), "" },
			shared:    true,
			signer:    gcsSigner,
			// gcsblob signs https URLs; the emulator speaks http.
			fetchable: func(u string) string { return strings.Replace(u, "https://", "http://", 1) },
		},
		{
			name:      "azblob",
			newBucket: func(t *testing.T) (string, string) { return az.NewContainer(t), "" },
			shared:    true,
			signer:    signs,
			fetchable: same,
		},
	}
}

// gcsTestAccount is the service account the gs:// signing test names.
const gcsTestAccount = "modvault-test@modvault-test.iam.gserviceaccount.com"

// gcsSigner returns the URL of the bucket with a new private key that
// gcsblob signs with (as a service account's key would be given), and a
// check of V2 signatures against its public key: fake-gcs-server serves
// objects to any request at its public host and verifies no signature.
func gcsSigner(t *testing.T, rawURL string) (string, func(*testing.T, string)) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("access_id", gcsTestAccount)
	q.Set("private_key_path", keyPath)
	u.RawQuery = q.Encode()
	check := func(t *testing.T, signed string) {
		t.Helper()
		su, err := url.Parse(signed)
		if err != nil {
			t.Fatal(err)
		}
		sq := su.Query()
		if got := sq.Get("GoogleAccessId"); got != gcsTestAccount {
			t.Errorf("signed URL names account %q, want %q", got, gcsTestAccount)
		}
		sig, err := base64.StdEncoding.DecodeString(sq.Get("Signature"))
		if err != nil {
			t.Fatalf("signed URL's Signature: %v", err)
		}
		// The V2 string to sign of a GET: method, MD5, type, expiry, resource.
		sum := sha256.Sum256([]byte("GET\n\n\n" + sq.Get("Expires") + "\n" + su.EscapedPath()))
		if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
			t.Errorf("the signature of %s does not verify with the signing key: %v", redact.URL(signed), err)
		}
	}
	return u.String(), check
}

// pattern yields n pseudo-random bytes determined by seed, without ever
// holding them all.
type pattern struct {
	rng *mrand.ChaCha8
	n   int64
	// atEOF, if set, is called once when the last byte has been read.
	atEOF func()
}

func newPattern(seed byte, n int64) *pattern {
	var s [32]byte
	s[0] = seed
	return &pattern{rng: mrand.NewChaCha8(s), n: n}
}

func (p *pattern) Read(b []byte) (int, error) {
	if p.n == 0 {
		if p.atEOF != nil {
			p.atEOF()
			p.atEOF = nil
		}
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n)]
	_, _ = p.rng.Read(b)
	p.n -= int64(len(b))
	return len(b), nil
}

// patternSum returns the SHA-256 of newPattern(seed, n)'s bytes.
func patternSum(seed byte, n int64) [sha256.Size]byte {
	h := sha256.New()
	if _, err := io.Copy(h, newPattern(seed, n)); err != nil {
		panic(err)
	}
	return [sha256.Size]byte(h.Sum(nil))
}

// objectSum reads the object at key through Open and returns its size and
// SHA-256, streaming.
func objectSum(t *testing.T, st *store.Store, key string) (int64, [sha256.Size]byte) {
	t.Helper()
	obj, err := st.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	defer obj.Close()
	h := sha256.New()
	n, err := io.Copy(h, obj)
	if err != nil {
		t.Fatalf("reading %q: %v", key, err)
	}
	if n != obj.Size() {
		t.Errorf("Open(%q).Size() = %d, but it reads %d bytes", key, obj.Size(), n)
	}
	return n, [sha256.Size]byte(h.Sum(nil))
}

// liveHeap returns the bytes of live heap objects, after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// testConcurrentCreateAcrossReplicas races Creates of one key from
// separate Stores on one bucket, as replicas of modvault would: exactly
// one succeeds, the others get fs.ErrExist, and the object holds the
// winner's bytes, whole. Objects small enough for one request, and large
// enough for S3 multipart uploads, GCS resumable uploads in several chunks
// and Azure block lists.
func testConcurrentCreateAcrossReplicas(t *testing.T, f *fixture) {
	for _, tc := range []struct {
		writers, rounds int
		size            int64
	}{
		{writers: 8, rounds: 8, size: 64 << 10},
		{writers: 3, rounds: 1, size: 20 << 20},
	} {
		stores := make([]*store.Store, tc.writers)
		for i := range stores {
			stores[i] = f.replica(t)
		}
		for round := range tc.rounds {
			key := fmt.Sprintf("example.com/m/@v/v1.%d.%d.zip", tc.size, round)
			errs := make([]error, tc.writers)
			var start, wg sync.WaitGroup
			start.Add(1)
			for i := range tc.writers {
				wg.Go(func() {
					start.Wait()
					errs[i] = stores[i].Create(context.Background(), key, newPattern(byte(i), tc.size))
				})
			}
			start.Done()
			wg.Wait()
			winner := -1
			for i, err := range errs {
				switch {
				case err == nil && winner >= 0:
					t.Fatalf("%d bytes, round %d: Creates by replicas %d and %d both succeeded on %q", tc.size, round, winner, i, key)
				case err == nil:
					winner = i
				case !errors.Is(err, fs.ErrExist):
					t.Fatalf("%d bytes, round %d: replica %d: %v", tc.size, round, i, err)
				}
			}
			if winner < 0 {
				t.Fatalf("%d bytes, round %d: no Create succeeded", tc.size, round)
			}
			for i, st := range stores {
				n, sum := objectSum(t, st, key)
				if n != tc.size || sum != patternSum(byte(winner), tc.size) {
					t.Fatalf("%d bytes, round %d: replica %d reads %d bytes that are not the winner's", tc.size, round, i, n)
				}
			}
		}
	}
}

// testLargeObject writes a 64 MiB object from a reader and reads it back,
// comparing hashes: neither the store nor the test holds it in memory
// (except mem://, which is memory). While it is written, another replica
// keeps looking at the key: it sees nothing or the whole object.
func testLargeObject(t *testing.T, f *fixture) {
	const size = 64 << 20
	const key = "example.com/big/@v/v1.0.0.zip"
	ctx := context.Background()
	want := patternSum(7, size)
	reader := f.replica(t)

	var polls, absent, whole atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		checked := false
		for {
			select {
			case <-done:
				return
			default:
			}
			polls.Add(1)
			ok, err := reader.Exists(ctx, key)
			if err != nil {
				t.Errorf("Exists during the write: %v", err)
				return
			}
			obj, err := reader.Open(ctx, key)
			if errors.Is(err, fs.ErrNotExist) {
				if ok {
					t.Errorf("Exists reported the object, then Open did not find it")
				}
				absent.Add(1)
				continue
			}
			if err != nil {
				t.Errorf("Open during the write: %v", err)
				return
			}
			if obj.Size() != size {
				t.Errorf("Open during the write found an object of %d bytes, want nothing or %d", obj.Size(), size)
			}
			if !checked { // read it whole once
				checked = true
				h := sha256.New()
				if n, err := io.Copy(h, obj); err != nil || n != size || [sha256.Size]byte(h.Sum(nil)) != want {
					t.Errorf("reading the object as soon as it appeared: %d bytes, %v, or not the bytes written", n, err)
				}
			}
			obj.Close()
			whole.Add(1)
		}
	})

	src := newPattern(7, size)
	before := liveHeap()
	var atEOF uint64
	src.atEOF = func() { atEOF = liveHeap() }
	start := time.Now()
	err := f.st.Create(ctx, key, src)
	elapsed := time.Since(start)
	close(done)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	writeGrowth := int64(atEOF) - int64(before)

	// Read it back, measuring the live heap halfway.
	obj, err := f.st.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	before = liveHeap()
	var halfway uint64
	h := sha256.New()
	n, err := io.Copy(h, io.MultiReader(
		io.LimitReader(obj, size/2),
		readerFunc(func([]byte) (int, error) { halfway = liveHeap(); return 0, io.EOF }),
		obj))
	if err != nil || n != size || obj.Size() != size || [sha256.Size]byte(h.Sum(nil)) != want {
		t.Fatalf("the %d-byte object reads back as %d bytes (Size %d), %v, or with another hash", size, n, obj.Size(), err)
	}
	readGrowth := int64(halfway) - int64(before)

	t.Logf("%d MiB written in %v, live heap %+d MiB at the end of the source, %+d MiB halfway through reading it back; reads during the write: %d, %d found nothing, %d the whole object",
		size>>20, elapsed.Round(time.Millisecond), writeGrowth>>20, readGrowth>>20, polls.Load(), absent.Load(), whole.Load())
	if f.b.name == "mem" {
		return // a memory store holds its objects in memory
	}
	// Uploads buffer a bounded amount: the S3 driver up to six 8 MiB parts
	// after a first 16 MiB read, so up to 64 MiB in the worst case; Azure
	// five 8 MiB blocks; GCS one 16 MiB chunk. A store that held the
	// object would also keep its copy, or a buffer grown by doubling.
	if writeGrowth >= size+size/4 {
		t.Errorf("live heap grew by %d MiB while writing a %d MiB object: the store holds it in memory", writeGrowth>>20, size>>20)
	}
	if readGrowth >= 16<<20 {
		t.Errorf("live heap grew by %d MiB halfway through reading a %d MiB object: the store does not stream it", readGrowth>>20, size>>20)
	}
}

// readerFunc is a function that is an io.Reader.
type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// testOpenSeeks checks that an opened object seeks and serves Range
// requests through http.ServeContent.
func testOpenSeeks(t *testing.T, f *fixture) {
	ctx := context.Background()
	const key = "example.com/m/@v/v1.0.0.zip"
	data := make([]byte, 3<<20+123)
	_, _ = newPattern(3, int64(len(data))).Read(data)
	mustCreate(t, f.st, key, data)

	obj, err := f.st.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	for _, s := range []struct {
		offset int64
		whence int
		at     int64
	}{
		{1 << 20, io.SeekStart, 1 << 20},
		{-1000, io.SeekEnd, int64(len(data)) - 1000},
		{0, io.SeekStart, 0},
		{2<<20 + 7, io.SeekCurrent, 2<<20 + 7},
	} {
		at, err := obj.Seek(s.offset, s.whence)
		if err != nil || at != s.at {
			t.Fatalf("Seek(%d, %d) = %d, %v, want %d", s.offset, s.whence, at, err, s.at)
		}
		got := make([]byte, min(4096, int64(len(data))-at))
		if _, err := io.ReadFull(obj, got); err != nil {
			t.Fatalf("reading after Seek(%d, %d): %v", s.offset, s.whence, err)
		}
		if !bytes.Equal(got, data[at:at+int64(len(got))]) {
			t.Fatalf("bytes after Seek(%d, %d) differ from the object's at %d", s.offset, s.whence, at)
		}
		if _, err := obj.Seek(at, io.SeekStart); err != nil { // back where it was, for SeekCurrent
			t.Fatal(err)
		}
	}

	for _, r := range []struct {
		header     string
		start, end int // of the part served, end exclusive
	}{
		{"bytes=0-99", 0, 100},
		{"bytes=1048576-2097151", 1 << 20, 2 << 20},
		{"bytes=-500", len(data) - 500, len(data)},
	} {
		obj, err := f.st.Open(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodGet, "/"+key, nil)
		req.Header.Set("Range", r.header)
		rec := httptest.NewRecorder()
		http.ServeContent(rec, req, key, obj.ModTime(), obj.Content())
		obj.Close()
		if rec.Code != http.StatusPartialContent || !bytes.Equal(rec.Body.Bytes(), data[r.start:r.end]) {
			t.Errorf("Range %s: %d with %d bytes, want 206 with bytes %d-%d", r.header, rec.Code, rec.Body.Len(), r.start, r.end-1)
		}
	}
}

// testWalkPrefixes checks that Walk reports every object under a prefix,
// at any depth, in key order, and stops when asked.
func testWalkPrefixes(t *testing.T, f *fixture) {
	ctx := context.Background()
	keys := []string{ // in key order
		"example.com/a__0x41__b/@v/v1.0.0.info", // escaped by fileblob
		"example.com/m.x/@v/v1.0.0.info",        // "." sorts before "/"
		"example.com/m/@v/v1.0.0.info",
		"example.com/m/@v/v1.0.0.mod",
		"example.com/m/sub/@v/v0.1.0.info",
		"example.com/m0/@v/v1.0.0.info", // "0" sorts after "/"
		"example.com/mm/@v/v1.0.0.info",
		"example.com/n/@v/v1.0.0.info",
		"golang.org/x/mod/@v/v0.1.0.info",
		"sumdb/sum.example/lookup/example.com/m@v1.0.0",
	}
	if !slices.IsSorted(keys) {
		t.Fatal("the test's keys are not sorted")
	}
	for _, k := range keys {
		mustCreate(t, f.st, k, []byte(k))
	}
	walk := func(prefix string, limit int) []string {
		t.Helper()
		var got []string
		err := f.st.Walk(ctx, prefix, func(e store.Entry) bool {
			got = append(got, e.Key)
			if e.Size != int64(len(e.Key)) {
				t.Errorf("Walk entry %q has size %d, want %d", e.Key, e.Size, len(e.Key))
			}
			if e.ModTime.IsZero() {
				t.Errorf("Walk entry %q has no modification time", e.Key)
			}
			return len(got) < limit
		})
		if err != nil {
			t.Fatalf("Walk(%q): %v", prefix, err)
		}
		return got
	}
	for _, prefix := range []string{"", "example.com/", "example.com/m/", "example.com/m", "example.com/m/@v/v1.0.0.", "sumdb/", "nothing/", "example.com/a__0x41__b/"} {
		var want []string
		for _, k := range keys {
			if strings.HasPrefix(k, prefix) {
				want = append(want, k)
			}
		}
		if got := walk(prefix, 1000); !slices.Equal(got, want) {
			t.Errorf("Walk(%q) = %q, want %q", prefix, got, want)
		}
	}
	if got := walk("example.com/", 3); !slices.Equal(got, keys[:3]) {
		t.Errorf("Walk stopped after 3 = %q, want %q", got, keys[:3])
	}
}

// testDeleteAndExists checks Delete and Exists, and that deleting a
// missing object is fs.ErrNotExist.
func testDeleteAndExists(t *testing.T, f *fixture) {
	ctx := context.Background()
	const key = "example.com/m/@v/v1.0.0.mod"
	mustCreate(t, f.st, key, []byte("module example.com/m\n"))
	if ok, err := f.st.Exists(ctx, key); !ok || err != nil {
		t.Fatalf("Exists after Create = %v, %v", ok, err)
	}
	if err := f.st.Delete(ctx, key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if ok, err := f.st.Exists(ctx, key); ok || err != nil {
		t.Errorf("Exists after Delete = %v, %v, want false, nil", ok, err)
	}
	if _, err := f.st.Open(ctx, key); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open after Delete = %v, want fs.ErrNotExist", err)
	}
	if err := f.st.Delete(ctx, key); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Delete of a missing object = %v, want fs.ErrNotExist", err)
	}
	// The key can be created again.
	mustCreate(t, f.st, key, []byte("module example.com/m // again\n"))
	if got := readObject(t, f.st, key); string(got) != "module example.com/m // again\n" {
		t.Errorf("after Delete and Create, %q holds %q", key, got)
	}
}

// testSignedURL checks that a signed URL serves the object without
// credentials and, where the server checks signatures, that a tampered
// one is refused; and that a backend that cannot sign says so with
// errors.ErrUnsupported.
func testSignedURL(t *testing.T, f *fixture) {
	ctx := context.Background()
	const key = "example.com/!upper/@v/v1.0.0+incompatible.zip"
	signingURL, check := f.b.signer(t, f.url)
	if signingURL == "" {
		_, err := f.st.SignedURL(ctx, key, time.Minute)
		if !errors.Is(err, errors.ErrUnsupported) {
			t.Fatalf("SignedURL on %s = %v, want an error matching errors.ErrUnsupported", f.b.name, err)
		}
		t.Logf("%s cannot sign: %v", f.b.name, err)
		return
	}
	if signingURL != f.url {
		// The store as opened cannot sign; the signing URL adds a key.
		if _, err := f.st.SignedURL(ctx, key, time.Minute); !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("SignedURL without a signing key = %v, want an error matching errors.ErrUnsupported", err)
		}
	}
	data := make([]byte, 100<<10)
	_, _ = newPattern(5, int64(len(data))).Read(data)
	mustCreate(t, f.st, key, data)
	signer := openStore(t, signingURL)
	signed, err := signer.SignedURL(ctx, key, 10*time.Minute)
	if err != nil {
		t.Fatalf("SignedURL: %v", err)
	}
	t.Logf("signed URL: %s", redact.URL(signed))
	if _, sig := signature(t, signed); strings.Contains(redact.URL(signed), url.QueryEscape(sig)) {
		t.Errorf("redact.URL(%q) keeps the signature", signed)
	}

	status, body := fetch(t, f.b.fetchable(signed))
	if status != http.StatusOK || !bytes.Equal(body, data) {
		t.Fatalf("GET of the signed URL: %d with %d bytes, want 200 with the object's %d", status, len(body), len(data))
	}

	tampered := tamper(t, signed)
	status, _ = fetch(t, f.b.fetchable(tampered))
	if check != nil {
		check(t, signed)
		t.Logf("%s served a URL with a wrong signature: %d (the test checked the signature itself)", f.b.name, status)
		return
	}
	if status != http.StatusForbidden {
		t.Errorf("GET of the signed URL with a wrong signature: %d, want 403", status)
	}
	// Unsigned, the object is not public.
	unsigned, _, _ := strings.Cut(f.b.fetchable(signed), "?")
	if status, _ := fetch(t, unsigned); status == http.StatusOK {
		t.Errorf("GET of the object without a signature succeeded")
	}
}

// signature returns the name and value of a signed URL's signature.
func signature(t *testing.T, signed string) (name, value string) {
	t.Helper()
	u, err := url.Parse(signed)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"X-Amz-Signature", "sig", "Signature"} {
		if v := u.Query().Get(name); v != "" {
			return name, v
		}
	}
	t.Fatalf("no signature found in %s", redact.URL(signed))
	return "", ""
}

// tamper changes the signature of a signed URL.
func tamper(t *testing.T, signed string) string {
	t.Helper()
	name, sig := signature(t, signed)
	b := []byte(sig)
	if b[0] == 'A' {
		b[0] = 'B'
	} else {
		b[0] = 'A'
	}
	u, err := url.Parse(signed)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(name, string(b))
	u.RawQuery = q.Encode()
	return u.String()
}

// fetch GETs rawURL with a client that has no credentials.
func fetch(t *testing.T, rawURL string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", redact.URL(rawURL), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", redact.URL(rawURL), err)
	}
	return resp.StatusCode, body
}

// testUnholdableKeys checks keys that a backend may be unable to hold: every
// read finds nothing, with a short error that matches fs.ErrNotExist; a
// write either stores the object whole or is refused with a short error
// matching store.ErrKeyRefused, of fault kind Invalid, and leaves nothing
// behind. No backend holds an element longer than file systems allow (255
// bytes) or a key longer than the operating system takes in a path (4096
// bytes); a 2000-byte key fits a file store, but not the object services.
func testUnholdableKeys(t *testing.T, st *store.Store, dir string) {
	ctx := context.Background()
	const maxErrLen = 300 // an error message a person can read
	for _, tc := range []struct {
		name, mod string
		refused   bool // on every backend
	}{
		{"300-byte element", "example.com/" + strings.Repeat("x", 300), true},
		{"2000-byte key", "example.com/" + strings.Repeat("abcdefghi/", 198) + "m", false},
		{"5000-byte key", "example.com/" + strings.Repeat("abcdefghi/", 498) + "m", true},
	} {
		prefix := tc.mod + "/@v/"
		key := prefix + "v1.0.0.info"
		checkRead := func(what string, err error) {
			t.Helper()
			switch {
			case !errors.Is(err, fs.ErrNotExist):
				t.Errorf("%s: %s = %v, want an error matching fs.ErrNotExist", tc.name, what, err)
			case fault.Of(err) != fault.NotFound:
				t.Errorf("%s: %s: fault kind %v, want NotFound: %v", tc.name, what, fault.Of(err), err)
			case len(err.Error()) > maxErrLen:
				t.Errorf("%s: %s: error of %d bytes, want at most %d: %v", tc.name, what, len(err.Error()), maxErrLen, err)
			}
		}
		checkAbsent := func() {
			t.Helper()
			_, err := st.Open(ctx, key)
			checkRead("Open", err)
			_, err = st.ReadAll(ctx, key)
			checkRead("ReadAll", err)
			checkRead("Delete", st.Delete(ctx, key))
			if ok, err := st.Exists(ctx, key); ok || err != nil {
				t.Errorf("%s: Exists = %v, %v, want false, nil", tc.name, ok, err)
			}
			for _, p := range []string{prefix, tc.mod, tc.mod + "/"} {
				if got := listKeys(t, st, p); len(got) != 0 {
					t.Errorf("%s: List(%.40q...) = %q, want nothing", tc.name, p, got)
				}
				var walked []string
				if err := st.Walk(ctx, p, func(e store.Entry) bool { walked = append(walked, e.Key); return true }); err != nil || len(walked) != 0 {
					t.Errorf("%s: Walk(%.40q...) = %q, %v, want nothing", tc.name, p, walked, err)
				}
			}
		}
		checkAbsent()

		data := []byte(`{"Version":"v1.0.0"}`)
		err := st.Create(ctx, key, bytes.NewReader(data))
		if err != nil {
			switch {
			case !errors.Is(err, store.ErrKeyRefused) || errors.Is(err, fs.ErrExist) || errors.Is(err, fs.ErrNotExist):
				t.Errorf("%s: Create = %v, want an error matching store.ErrKeyRefused only", tc.name, err)
			case fault.Of(err) != fault.Invalid:
				t.Errorf("%s: Create: fault kind %v, want Invalid: %v", tc.name, fault.Of(err), err)
			case len(err.Error()) > maxErrLen:
				t.Errorf("%s: Create: error of %d bytes, want at most %d: %v", tc.name, len(err.Error()), maxErrLen, err)
			}
			if err := st.Put(ctx, key, bytes.NewReader(data)); !errors.Is(err, store.ErrKeyRefused) || fault.Of(err) != fault.Invalid {
				t.Errorf("%s: Create was refused, Put = %v (fault kind %v), want refused too", tc.name, err, fault.Of(err))
			}
			t.Logf("%s: refused: %v", tc.name, err)
			checkAbsent()
			continue
		}
		t.Logf("%s: held", tc.name)
		if tc.refused {
			t.Errorf("%s: Create succeeded, want it refused", tc.name)
		}
		if got := readObject(t, st, key); !bytes.Equal(got, data) {
			t.Errorf("%s: reads back as %q, want %q", tc.name, got, data)
		}
		if got := listKeys(t, st, prefix); !slices.Equal(got, []string{key}) {
			t.Errorf("%s: List of its prefix = %d keys, want the one created", tc.name, len(got))
		}
		if err := st.Delete(ctx, key); err != nil {
			t.Errorf("%s: Delete: %v", tc.name, err)
		}
	}
	if dir != "" {
		if files := proxytest.TreeFiles(t, dir); len(files) != 0 {
			t.Errorf("the file store holds %d files, want none: %.200q", len(files), keysOf(files))
		}
	}
}
