// Package store keeps modvault's objects in a bucket opened from a URL with
// gocloud.dev/blob: file:// (the embedded default), mem:// (tests) and any
// other driver linked into the program.
//
// Every write is atomic: a reader sees either nothing or the whole object.
// Not-found errors match fs.ErrNotExist, so callers use errors.Is.
package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/fileblob" // file:// URLs
	_ "gocloud.dev/blob/memblob"  // mem:// URLs
	"gocloud.dev/gcerrors"
)

// ErrExist is returned by [Store.Create] when the key already holds an object.
var ErrExist = fs.ErrExist

// Store is a bucket of immutable objects.
type Store struct {
	bucket *blob.Bucket
	url    string
	// dir is the directory of a file:// store whose metadata is skipped,
	// read directly (without the blob layer's per-call cost) by Open and
	// Exists; "" for other stores.
	dir string
	// commits serializes the final step of the Creates of one key: some
	// drivers (fileblob) check IfNotExist and then rename, which lets two
	// concurrent Creates both succeed.
	commits keyLocks
}

// Open opens the bucket named by a gocloud.dev/blob URL. For file:// URLs it
// creates the directory if needed, writes temporary files next to their final
// names (so the final rename never crosses file systems) and writes no
// metadata side files, so the directory stays a plain GOPROXY=file:// tree;
// the URL's own query parameters take precedence.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("parsing storage URL %q: %w", rawURL, err)
	}
	if u.Scheme == "file" {
		q := u.Query()
		for k, v := range map[string]string{"create_dir": "1", "no_tmp_dir": "1", "metadata": "skip"} {
			if !q.Has(k) {
				q.Set(k, v)
			}
		}
		u.RawQuery = q.Encode()
	}
	b, err := blob.OpenBucket(ctx, u.String())
	if err != nil {
		// The driver's error may quote the URL with its secrets.
		msg := strings.NewReplacer(rawURL, Redact(rawURL), u.String(), Redact(u.String())).Replace(err.Error())
		return nil, fmt.Errorf("opening storage %q: %w", Redact(rawURL), &redactedError{msg: msg, err: err})
	}
	return &Store{bucket: b, url: rawURL, dir: localDir(u)}, nil
}

// redactedError is an error whose message has secrets removed.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// localDir returns the directory of a file:// store URL as fileblob reads
// it, or "" if the store is not a plain local directory tree.
func localDir(u *url.URL) string {
	if u.Scheme != "file" || u.Query().Get("metadata") != "skip" {
		return ""
	}
	p := u.Path
	switch {
	case u.Host == ".":
		p = strings.TrimPrefix(p, "/")
	case u.Host != "" && u.Host != "localhost":
		return ""
	}
	if runtime.GOOS == "windows" {
		p = strings.TrimPrefix(p, "/")
	}
	dir, err := filepath.Abs(filepath.FromSlash(p))
	if err != nil {
		return ""
	}
	return dir
}

// localPath returns the file of key in a file:// store, or "" where the
// blob layer must be used. fileblob stores a key as the same relative path
// unless it must escape something: never for the keys modvault writes
// (validated module paths), except around a literal "__0x".
func (s *Store) localPath(key string) string {
	if s.dir == "" || !fs.ValidPath(key) || strings.Contains(key, "__0x") || strings.ContainsRune(key, '\\') {
		return ""
	}
	return filepath.Join(s.dir, filepath.FromSlash(key))
}

// Redact returns the storage URL with any password or secret-looking query
// parameter replaced, for logs.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(invalid URL)"
	}
	q := u.Query()
	for k := range q {
		lk := strings.ToLower(k)
		if strings.Contains(lk, "secret") || strings.Contains(lk, "key") || strings.Contains(lk, "token") || strings.Contains(lk, "password") {
			q.Set(k, "REDACTED")
		}
	}
	u.RawQuery = q.Encode()
	return u.Redacted()
}

// Close closes the bucket.
func (s *Store) Close() error { return s.bucket.Close() }

// Object is an open stored object. It is an io.ReadSeeker, so it can be
// served with http.ServeContent, which handles Range and conditional
// requests. The zero Object is closed.
type Object struct {
	r       io.ReadSeeker // *os.File for file:// stores, else *blob.Reader
	c       io.Closer
	size    int64
	modTime time.Time
}

// Read reads from the object.
func (o Object) Read(p []byte) (int, error) { return o.r.Read(p) }

// Seek sets the offset of the next Read.
func (o Object) Seek(offset int64, whence int) (int64, error) { return o.r.Seek(offset, whence) }

// Close releases the object.
func (o Object) Close() error {
	if o.c == nil {
		return nil
	}
	return o.c.Close()
}

// Size returns the object's size in bytes.
func (o Object) Size() int64 { return o.size }

// ModTime returns when the object was written.
func (o Object) ModTime() time.Time { return o.modTime }

// Content returns the object's bytes as an io.ReadSeeker: for a file://
// store the open *os.File itself, which lets net/http send it with
// sendfile(2) instead of copying it through user space.
func (o Object) Content() io.ReadSeeker { return o.r }

// ETag returns a strong entity tag for the object. Stored objects are never
// replaced, so size and modification time identify their bytes.
func (o Object) ETag() string {
	return fmt.Sprintf(`"%x-%x"`, o.size, o.modTime.UnixNano())
}

// Open opens the object at key for reading. The caller must close it.
func (s *Store) Open(ctx context.Context, key string) (Object, error) {
	if p := s.localPath(key); p != "" {
		f, err := os.Open(p)
		if err != nil {
			return Object{}, s.wrap("opening", key, err)
		}
		fi, err := f.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			f.Close()
			return Object{}, s.wrap("opening", key, cmp.Or(err, fs.ErrNotExist))
		}
		return Object{r: f, c: f, size: fi.Size(), modTime: fi.ModTime()}, nil
	}
	var f *os.File
	r, err := s.bucket.NewReader(ctx, key, &blob.ReaderOptions{
		BeforeRead: func(as func(any) bool) error {
			as(&f) // fileblob hands out its *os.File; other drivers do not
			return nil
		},
	})
	if err != nil {
		return Object{}, s.wrap("opening", key, err)
	}
	o := Object{r: r, c: r, size: r.Size(), modTime: r.ModTime()}
	if f != nil {
		o.r = f // read from the file directly; closing r closes it
	}
	return o, nil
}

// ReadAll returns the contents of the object at key. Use it only for small
// objects.
func (s *Store) ReadAll(ctx context.Context, key string) ([]byte, error) {
	b, err := s.bucket.ReadAll(ctx, key)
	if err != nil {
		return nil, s.wrap("reading", key, err)
	}
	return b, nil
}

// Exists reports whether key holds an object.
func (s *Store) Exists(ctx context.Context, key string) (bool, error) {
	if p := s.localPath(key); p != "" {
		fi, err := os.Stat(p)
		if err == nil {
			return fi.Mode().IsRegular(), nil
		}
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, s.wrap("checking", key, err)
	}
	ok, err := s.bucket.Exists(ctx, key)
	if err != nil {
		return false, s.wrap("checking", key, err)
	}
	return ok, nil
}

// Put writes r to key atomically, replacing any object there. modvault uses
// it only for objects that are not yet committed.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) error {
	return s.write(ctx, key, r, false)
}

// Create writes r to key atomically if key holds no object yet. If it does,
// Create writes nothing and returns an error matching [ErrExist]. Of
// concurrent Creates of one key through one Store, exactly one succeeds;
// across processes that holds only where the driver's IfNotExist is atomic
// (memblob and the cloud services, not fileblob).
func (s *Store) Create(ctx context.Context, key string, r io.Reader) error {
	return s.write(ctx, key, r, true)
}

func (s *Store) write(ctx context.Context, key string, r io.Reader, ifNotExist bool) error {
	// The writer is cancelled (and the object discarded) unless Close
	// succeeds after a complete copy.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var f *os.File // the temporary file, for file:// stores
	w, err := s.bucket.NewWriter(wctx, key, &blob.WriterOptions{
		IfNotExist:  ifNotExist,
		ContentType: contentType(key),
		BeforeWrite: func(as func(any) bool) error {
			as(&f)
			return nil
		},
	})
	if err != nil {
		return s.wrap("writing", key, err)
	}
	if _, err := io.Copy(w, r); err != nil {
		cancel()
		_ = w.Close()
		return s.wrap("writing", key, err)
	}
	if f != nil {
		// The bytes reach the disk before the rename makes them visible,
		// so a power loss cannot leave a whole-looking but empty object.
		if err := f.Sync(); err != nil {
			cancel()
			_ = w.Close()
			return s.wrap("syncing", key, err)
		}
	}
	if ifNotExist {
		defer s.commits.lock(key)()
	}
	if err := w.Close(); err != nil {
		return s.wrap("writing", key, err)
	}
	if f != nil {
		// Make the rename durable before anything written later (the .info
		// after the .mod) can be.
		if err := syncDir(filepath.Dir(f.Name())); err != nil {
			return s.wrap("syncing directory of", key, err)
		}
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// keyLocks holds one mutex per key in use. The zero value is ready to use.
type keyLocks struct {
	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	sync.Mutex
	users int
}

// lock locks key and returns the function that unlocks it.
func (k *keyLocks) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = make(map[string]*keyLock)
	}
	l := k.locks[key]
	if l == nil {
		l = new(keyLock)
		k.locks[key] = l
	}
	l.users++
	k.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		if l.users--; l.users == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}

// Delete removes the object at key.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.bucket.Delete(ctx, key); err != nil {
		return s.wrap("deleting", key, err)
	}
	return nil
}

// Entry is one object found by [Store.List].
type Entry struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// List calls fn for every object whose key starts with prefix and has no
// further "/" after it, in key order, until fn returns false.
func (s *Store) List(ctx context.Context, prefix string, fn func(Entry) bool) error {
	if entries, ok, err := s.listLocal(prefix); ok {
		if err != nil {
			return s.wrap("listing", prefix, err)
		}
		for _, e := range entries {
			if !fn(e) {
				break
			}
		}
		return nil
	}
	it := s.bucket.List(&blob.ListOptions{Prefix: prefix, Delimiter: "/"})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return s.wrap("listing", prefix, err)
		}
		if obj.IsDir {
			continue
		}
		if !fn(Entry{Key: obj.Key, Size: obj.Size, ModTime: obj.ModTime}) {
			return nil
		}
	}
}

// Walk calls fn for every object whose key starts with prefix, at any
// depth, in key order, until fn returns false. It streams: memory does not
// grow with the number of objects.
func (s *Store) Walk(ctx context.Context, prefix string, fn func(Entry) bool) error {
	it := s.bucket.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return s.wrap("walking", prefix, err)
		}
		if !fn(Entry{Key: obj.Key, Size: obj.Size, ModTime: obj.ModTime}) {
			return nil
		}
	}
}

// listLocal lists the direct children of prefix in a file:// store with
// one directory read. fileblob's own listing fails when a file it saw goes
// away before it looks at it, as a temporary file does when a write
// commits; here such a file is skipped. ok is false where the blob layer
// must list (not a local store, or names fileblob escapes).
func (s *Store) listLocal(prefix string) (entries []Entry, ok bool, err error) {
	dirKey, namePrefix := "", prefix
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		dirKey, namePrefix = prefix[:i], prefix[i+1:]
	}
	dir := s.dir
	if dirKey != "" {
		if dir = s.localPath(dirKey); dir == "" {
			return nil, false, nil
		}
	} else if dir == "" {
		return nil, false, nil
	}
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, true, nil
	}
	if err != nil {
		return nil, true, err
	}
	for _, de := range des {
		name := de.Name()
		if strings.Contains(name, "__0x") {
			return nil, false, nil
		}
		if de.IsDir() || !strings.HasPrefix(name, namePrefix) || strings.HasSuffix(name, ".attrs") {
			continue
		}
		fi, err := de.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // a temporary file renamed away meanwhile
		}
		if err != nil {
			return nil, true, err
		}
		key := name
		if dirKey != "" {
			key = dirKey + "/" + name
		}
		entries = append(entries, Entry{Key: key, Size: fi.Size(), ModTime: fi.ModTime()})
	}
	return entries, true, nil
}

// wrap gives err context and maps the bucket's not-found and
// already-exists errors to fs.ErrNotExist and fs.ErrExist.
func (s *Store) wrap(op, key string, err error) error {
	switch {
	case gcerrors.Code(err) == gcerrors.NotFound, errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("store: %s %s: %w", op, key, fs.ErrNotExist)
	case gcerrors.Code(err) == gcerrors.FailedPrecondition:
		return fmt.Errorf("store: %s %s: %w", op, key, fs.ErrExist)
	}
	return fmt.Errorf("store: %s %s: %w", op, key, err)
}

func contentType(key string) string {
	switch {
	case strings.HasSuffix(key, ".info"):
		return "application/json"
	case strings.HasSuffix(key, ".zip"):
		return "application/zip"
	}
	return "text/plain; charset=utf-8"
}
