// Package store keeps modvault's objects in a bucket opened from a
// gocloud.dev/blob URL, which chooses the backend:
//
//   - file:///path: a local directory (the embedded default), kept as a
//     plain GOPROXY=file:// tree; reads, existence checks, listings and
//     writes of ordinary keys go to the file system directly.
//   - mem://: memory, for tests.
//   - s3://BUCKET?region=R: Amazon S3, or an S3-compatible store (MinIO,
//     Cloudflare R2, Ceph...) with endpoint=URL and use_path_style=true;
//     credentials come from the AWS SDK's usual sources (AWS_ACCESS_KEY_ID
//     and AWS_SECRET_ACCESS_KEY, shared files, instance roles).
//   - gs://BUCKET: Google Cloud Storage, with Application Default
//     Credentials, or an emulator named by STORAGE_EMULATOR_HOST.
//   - azblob://CONTAINER: Azure Blob Storage, with AZURE_STORAGE_ACCOUNT and
//     AZURE_STORAGE_KEY, AZURE_STORAGE_CONNECTION_STRING or Azure identity;
//     domain=HOST:PORT&protocol=http reaches an emulator such as Azurite.
//     The container must exist.
//
// Every write is atomic: a reader sees either nothing or the whole object,
// on every backend (a temporary file renamed or linked into place; an
// object that the service makes visible only when its upload completes).
// [Store.Create] is create-once: of concurrent Creates of one key, from
// one process or from many sharing the bucket, exactly one succeeds. Large
// objects are streamed, never held in memory whole (except by mem://).
// Not-found errors match fs.ErrNotExist and refused Creates fs.ErrExist,
// so callers use errors.Is.
package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/azureblob" // azblob:// URLs
	_ "gocloud.dev/blob/fileblob"  // file:// URLs
	_ "gocloud.dev/blob/gcsblob"   // gs:// URLs
	_ "gocloud.dev/blob/memblob"   // mem:// URLs
	_ "gocloud.dev/blob/s3blob"    // s3:// URLs
	"gocloud.dev/gcerrors"

	"github.com/modvault/modvault/internal/redact"
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
	// fileblob reports whether the bucket is a file:// one.
	fileblob bool
	// commits serializes the final step of the Creates of one key where
	// they check that the file does not exist and then rename.
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
		// A *url.Error quotes the URL, secrets included.
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = redact.URL(ue.URL)
		}
		return nil, fmt.Errorf("parsing storage URL %q: %w", redact.URL(rawURL), err)
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
		msg := strings.NewReplacer(rawURL, redact.URL(rawURL), u.String(), redact.URL(u.String())).Replace(err.Error())
		return nil, fmt.Errorf("opening storage %q: %w", redact.URL(rawURL), &redactedError{msg: redact.Text(msg), err: err})
	}
	return &Store{bucket: b, url: rawURL, dir: localDir(u), fileblob: u.Scheme == "file"}, nil
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

// SignedURL returns a URL through which anyone may GET the object at key
// until expiry has passed (0 means one hour), without credentials, so that
// clients can be redirected to the bucket. The object need not exist yet.
// The URL is a bearer credential: log it only through [Redact]. Where the
// backend cannot sign (file:// without base_url and secret_key_path,
// mem://, gs:// without a private key or signing service account), the
// error matches errors.ErrUnsupported.
func (s *Store) SignedURL(ctx context.Context, key string, expiry time.Duration) (string, error) {
	u, err := s.bucket.SignedURL(ctx, key, &blob.SignedURLOptions{Expiry: expiry, Method: http.MethodGet})
	if err != nil {
		if gcerrors.Code(err) == gcerrors.Unimplemented {
			return "", fmt.Errorf("store: signing a URL for %s: %w (%w)", key, errors.ErrUnsupported, err)
		}
		return "", s.wrap("signing a URL for", key, err)
	}
	return u, nil
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
// concurrent Creates of one key, through one Store or through many sharing
// the bucket, exactly one succeeds, and the object holds that writer's
// bytes: the services check the condition when they commit the upload
// (S3 If-None-Match: *, GCS ifGenerationMatch=0, Azure If-None-Match: *),
// and a file:// store links its temporary file into place, which fails if
// the name exists. (For the rare keys that fileblob must escape, a file://
// store falls back to fileblob, whose check holds only within one Store.)
func (s *Store) Create(ctx context.Context, key string, r io.Reader) error {
	return s.write(ctx, key, r, true)
}

func (s *Store) write(ctx context.Context, key string, r io.Reader, ifNotExist bool) error {
	if p := s.localPath(key); p != "" {
		if err := s.writeLocal(ctx, key, p, r, ifNotExist); err != nil {
			return s.wrap("writing", key, err)
		}
		return nil
	}
	// The write is cancelled, and the object discarded, when the source
	// fails: some drivers would otherwise commit what they got.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	src := &source{r: r, cancel: cancel}
	opts := &blob.WriterOptions{IfNotExist: ifNotExist, ContentType: contentType(key)}
	var err error
	if s.fileblob {
		err = s.writeFileblob(wctx, key, src, opts)
	} else {
		// Upload lets the driver read src itself. (Writing to a
		// blob.Writer instead makes azureblob v0.47.0 panic when the
		// upload fails, as a refused Create does.)
		err = s.bucket.Upload(wctx, key, src, opts)
	}
	if src.err != nil {
		return s.wrap("writing", key, src.err)
	}
	if err != nil {
		return s.wrap("writing", key, err)
	}
	return nil
}

// source is the reader of a write. It records the first error other than
// io.EOF, and cancels the write then.
type source struct {
	r      io.Reader
	cancel context.CancelFunc
	err    error
}

func (s *source) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
		s.cancel()
	}
	return n, err
}

// writeFileblob writes src through fileblob, for the keys of a file://
// store that fileblob escapes, or a file:// store with metadata.
func (s *Store) writeFileblob(ctx context.Context, key string, src io.Reader, opts *blob.WriterOptions) error {
	// The writer is cancelled (and the object discarded) unless Close
	// succeeds after a complete copy.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var f *os.File // the temporary file
	opts.BeforeWrite = func(as func(any) bool) error {
		as(&f)
		return nil
	}
	w, err := s.bucket.NewWriter(ctx, key, opts)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, src); err != nil {
		cancel()
		_ = w.Close()
		return err
	}
	if f != nil {
		// The bytes reach the disk before the rename makes them visible,
		// so a power loss cannot leave a whole-looking but empty object.
		if err := f.Sync(); err != nil {
			cancel()
			_ = w.Close()
			return fmt.Errorf("syncing: %w", err)
		}
	}
	if opts.IfNotExist {
		defer s.commits.lock(key)()
	}
	if err := w.Close(); err != nil {
		return err
	}
	if f != nil {
		// Make the rename durable before anything written later (the .info
		// after the .mod) can be.
		if err := syncDir(filepath.Dir(f.Name())); err != nil {
			return fmt.Errorf("syncing directory: %w", err)
		}
	}
	return nil
}

// writeLocal writes r to p, the file of key in a file:// store: into a
// temporary file next to it, which is synced and then renamed (replacing
// p) or, if ifNotExist, hard-linked to p, which fails if p exists, even if
// another process made it meanwhile. Where the file system cannot link, it
// renames after checking that p does not exist, which is atomic only
// within this Store. Temporary names end in ".tmp", as fileblob's do.
func (s *Store) writeLocal(ctx context.Context, key, p string, r io.Reader, ifNotExist bool) error {
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	f, err := createTemp(p)
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a link, the second name; after a rename, nothing
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	// The bytes reach the disk before the name makes them visible, so a
	// power loss cannot leave a whole-looking but empty object.
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	switch {
	case !ifNotExist:
		err = os.Rename(tmp, p)
	default:
		err = os.Link(tmp, p)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			// No hard links here (some network and FUSE file systems).
			err = s.renameIfAbsent(key, tmp, p)
		}
	}
	if err != nil {
		return err
	}
	// Make the new name durable before anything written later (the .info
	// after the .mod) can be.
	return syncDir(dir)
}

// renameIfAbsent renames tmp to p unless p exists.
func (s *Store) renameIfAbsent(key, tmp, p string) error {
	defer s.commits.lock(key)()
	if _, err := os.Lstat(p); err == nil {
		return fs.ErrExist
	}
	return os.Rename(tmp, p)
}

// isTemp reports whether a file name is that of a temporary file of
// writeLocal or fileblob: NAME.RANDOM.tmp, RANDOM in [0-9a-z].
func isTemp(name string) bool {
	rest, ok := strings.CutSuffix(name, ".tmp")
	i := strings.LastIndexByte(rest, '.')
	if !ok || i <= 0 || i == len(rest)-1 {
		return false
	}
	for _, c := range rest[i+1:] {
		if (c < '0' || c > '9') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

// createTemp creates a new file named p.RANDOM.tmp, readable as the umask
// allows (os.CreateTemp would make it private to its owner).
func createTemp(p string) (*os.File, error) {
	for {
		name := p + "." + strconv.FormatUint(rand.Uint64(), 36) + ".tmp"
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
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
// grow with the number of objects (for a file:// store, with the number
// of entries of one directory).
func (s *Store) Walk(ctx context.Context, prefix string, fn func(Entry) bool) error {
	if ok, err := s.walkLocal(ctx, prefix, fn); ok {
		if err != nil {
			return s.wrap("walking", prefix, err)
		}
		return nil
	}
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

// walkLocal walks the objects under prefix in a file:// store, reading
// the directories itself: fileblob's listing reports temporary files, and
// fails when one goes away before it looks at it, as it does when a write
// commits. ok is false where the blob layer must walk (not a local store).
func (s *Store) walkLocal(ctx context.Context, prefix string, fn func(Entry) bool) (ok bool, err error) {
	if s.dir == "" {
		return false, nil
	}
	// Start in the deepest directory that holds every key under prefix
	// and has a name fileblob does not escape.
	dir, dirKey := s.dir, ""
	for k := prefix; ; {
		i := strings.LastIndex(k, "/")
		if i < 0 {
			break
		}
		k = k[:i]
		if p := s.localPath(k); p != "" {
			dir, dirKey = p, k+"/"
			break
		}
	}
	_, err = walkDir(ctx, dir, dirKey, prefix, fn)
	return true, err
}

// walkDir calls fn, in key order, for the files under dir whose keys
// start with prefix; dirKey is the key of dir with a trailing "/", or ""
// for the root. It skips temporary files and tolerates entries that
// vanish meanwhile. It returns false when fn asked to stop.
func walkDir(ctx context.Context, dir, dirKey, prefix string, fn func(Entry) bool) (more bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	type entry struct {
		key string // for a directory, with a trailing "/": its place in key order
		de  fs.DirEntry
	}
	var entries []entry
	for _, de := range des {
		if isTemp(de.Name()) {
			continue
		}
		key := dirKey + unescapeName(de.Name())
		if de.IsDir() {
			key += "/"
			if !strings.HasPrefix(key, prefix) && !strings.HasPrefix(prefix, key) {
				continue
			}
		} else if !strings.HasPrefix(key, prefix) {
			continue
		}
		entries = append(entries, entry{key, de})
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	for _, e := range entries {
		p := filepath.Join(dir, e.de.Name())
		if e.de.IsDir() {
			if more, err := walkDir(ctx, p, e.key, prefix, fn); !more || err != nil {
				return false, err
			}
			continue
		}
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return false, err
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		if !fn(Entry{Key: e.key, Size: fi.Size(), ModTime: fi.ModTime()}) {
			return false, nil
		}
	}
	return true, nil
}

// unescapeName reverses fileblob's escaping of a file name: each
// "__0xHEX__" stands for the rune HEX.
func unescapeName(name string) string {
	var b strings.Builder
	rest := name
	for {
		i := strings.Index(rest, "__0x")
		if i < 0 {
			break
		}
		hexDigits, after, ok := strings.Cut(rest[i+len("__0x"):], "__")
		r, err := strconv.ParseInt(hexDigits, 16, 32)
		if !ok || err != nil || strings.Contains(hexDigits, "_") {
			b.WriteString(rest[:i+1])
			rest = rest[i+1:]
			continue
		}
		b.WriteString(rest[:i])
		b.WriteRune(rune(r))
		rest = after
	}
	if b.Len() == 0 {
		return name
	}
	b.WriteString(rest)
	return b.String()
}

// listLocal lists the direct children of prefix in a file:// store with
// one directory read. fileblob's own listing reports temporary files, and
// fails when a file it saw goes away before it looks at it, as a temporary
// file does when a write commits; here temporary files are skipped. ok is
// false where the blob layer must list (not a local store, or names
// fileblob escapes).
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
		if de.IsDir() || !strings.HasPrefix(name, namePrefix) || strings.HasSuffix(name, ".attrs") || isTemp(name) {
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
	case gcerrors.Code(err) == gcerrors.FailedPrecondition, errors.Is(err, fs.ErrExist):
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
