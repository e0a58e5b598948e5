// Package store keeps modvault's objects in a local directory or a bucket
// named by a gocloud.dev/blob URL (see [Open]). On every backend:
//
//   - Writes are atomic: a reader sees either nothing or the whole object
//     (a temporary file renamed or linked into place; an upload that the
//     service makes visible only when it completes).
//   - [Store.Create] is create-once: of concurrent Creates of one key, from
//     one process or from many sharing the bucket, exactly one succeeds.
//   - A failed write leaves nothing behind: no object and no temporary
//     file; a failed [Store.Put] keeps the object it would have replaced.
//   - Objects are streamed, never held in memory whole (except by mem://).
//   - Errors say what happened, for errors.Is and fault.Of: a missing object
//     matches fs.ErrNotExist, a refused Create [ErrExist]. A key that the
//     backend cannot hold at all holds no object: reads find nothing, and
//     writes fail with an error matching [ErrKeyRefused].
//
// A file:// directory tree is served by its own implementation, which works
// on the file system directly (file.go); every other URL by one over the
// gocloud.dev/blob bucket (blob.go). [Open] chooses once.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/azureblob" // azblob:// URLs
	_ "gocloud.dev/blob/fileblob"  // file:// URLs
	_ "gocloud.dev/blob/gcsblob"   // gs:// URLs
	_ "gocloud.dev/blob/memblob"   // mem:// URLs
	_ "gocloud.dev/blob/s3blob"    // s3:// URLs
	"gocloud.dev/gcerrors"

	"github.com/modvault/modvault/internal/fault"
	"github.com/modvault/modvault/internal/redact"
)

// ErrExist is returned by [Store.Create] when the key already holds an object.
var ErrExist = fs.ErrExist

// ErrKeyRefused is matched by the errors of operations on a key that the
// backend cannot hold at all: a name longer than the file system allows, a
// key longer than the service accepts, a name the backend refuses. (Object
// stores, memory included, refuse keys over 1024 bytes and elements over
// 255 bytes alike, before asking the service.) Such a
// key holds no object, so reads find nothing ([Store.Open], [Store.ReadAll]
// and [Store.Delete] return an error that also matches fs.ErrNotExist and
// is of fault kind NotFound; [Store.Exists] reports false; listings are
// empty), and [Store.Put] and [Store.Create] return an error of fault kind
// Invalid.
var ErrKeyRefused = errors.New("the store cannot hold this key")

// Store is a bucket of immutable objects.
type Store struct {
	b backend
}

// backend is the storage under a Store: a fileStore for a local directory
// tree, a blobStore for every other bucket. Store gives its errors context
// and meaning ([Store.wrap]); a backend returns its own errors, and says
// which of them refuse a key.
type backend interface {
	open(ctx context.Context, key string) (Object, error)
	readAll(ctx context.Context, key string) ([]byte, error)
	exists(ctx context.Context, key string) (bool, error)
	write(ctx context.Context, key string, r io.Reader, ifNotExist bool) error
	delete(ctx context.Context, key string) error
	list(ctx context.Context, prefix string, fn func(Entry) bool) error
	walk(ctx context.Context, prefix string, fn func(Entry) bool) error
	signedURL(ctx context.Context, key string, expiry time.Duration) (string, error)
	// refuses reports whether err is the backend's answer that it cannot
	// hold a key at all, with a short reason for error messages.
	refuses(err error) (reason string, ok bool)
	close() error
}

// Open opens the store named by a gocloud.dev/blob URL, which chooses the
// backend:
//
//   - file:///path: a local directory (the embedded default), created if
//     needed and kept as a plain GOPROXY=file:// tree: no metadata side
//     files, and temporary files next to their final names, so the final
//     rename never crosses file systems (the URL's own query parameters
//     take precedence).
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
	if u.Scheme != "file" {
		return &Store{b: &blobStore{bucket: b}}, nil
	}
	fb := &blobStore{bucket: b, fileblob: true}
	if dir := localDir(u); dir != "" {
		return &Store{b: &fileStore{dir: dir, blob: fb}}, nil
	}
	return &Store{b: fb}, nil // with metadata side files, or on a remote host
}

// redactedError is an error whose message has secrets removed.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// Close closes the bucket.
func (s *Store) Close() error { return s.b.close() }

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
	// As fmt.Sprintf(`"%x-%x"`, …), without its allocations: this runs
	// for every zip served.
	var buf [40]byte
	b := append(buf[:0], '"')
	b = strconv.AppendInt(b, o.size, 16)
	b = append(b, '-')
	b = strconv.AppendInt(b, o.modTime.UnixNano(), 16)
	b = append(b, '"')
	return string(b)
}

// Open opens the object at key for reading. The caller must close it. A
// missing object, or a key the backend cannot hold, is an error matching
// fs.ErrNotExist.
func (s *Store) Open(ctx context.Context, key string) (Object, error) {
	o, err := s.b.open(ctx, key)
	if err != nil {
		return Object{}, s.wrap(opRead, key, err)
	}
	return o, nil
}

// ReadAll returns the contents of the object at key, with the errors of
// [Store.Open]. Use it only for small objects.
func (s *Store) ReadAll(ctx context.Context, key string) ([]byte, error) {
	b, err := s.b.readAll(ctx, key)
	if err != nil {
		return nil, s.wrap(opRead, key, err)
	}
	return b, nil
}

// SignedURL returns a URL through which anyone may GET the object at key
// until expiry has passed (0 means one hour), without credentials, so that
// clients can be redirected to the bucket. The object need not exist yet.
// The URL is a bearer credential: log it only through redact.URL. Where the
// backend cannot sign (file:// without base_url and secret_key_path,
// mem://, gs:// without a private key or signing service account), the
// error matches errors.ErrUnsupported.
func (s *Store) SignedURL(ctx context.Context, key string, expiry time.Duration) (string, error) {
	u, err := s.b.signedURL(ctx, key, expiry)
	if err != nil {
		if gcerrors.Code(err) == gcerrors.Unimplemented {
			return "", fmt.Errorf("store: signing a URL for %s: %w (%w)", shortKey(key), errors.ErrUnsupported, err)
		}
		return "", s.wrap("signing a URL for", key, err)
	}
	return u, nil
}

// Exists reports whether key holds an object: false, with a nil error, for
// a missing object or a key the backend cannot hold. It fails only when the
// backend cannot tell.
func (s *Store) Exists(ctx context.Context, key string) (bool, error) {
	ok, err := s.b.exists(ctx, key)
	if err != nil {
		if _, refused := s.b.refuses(err); refused {
			return false, nil
		}
		return false, s.wrap("checking", key, err)
	}
	return ok, nil
}

// Put writes r to key atomically, replacing any object there: readers see
// the old object or the new one, whole. If r or the write fails, the old
// object (or none) stays and no temporary file is left. modvault uses Put
// only for objects that are not yet committed.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) error {
	if err := s.b.write(ctx, key, r, false); err != nil {
		return s.wrap(opWrite, key, err)
	}
	return nil
}

// Create writes r to key atomically if key holds no object yet. If it does,
// Create writes nothing and returns an error matching [ErrExist]. Of
// concurrent Creates of one key, through one Store or through many sharing
// the bucket, exactly one succeeds, and the object holds that writer's
// bytes: the services check the condition when they commit the upload
// (S3 If-None-Match: *, GCS ifGenerationMatch=0, Azure If-None-Match: *),
// and a file:// store links its temporary file into place, which fails if
// the name exists. (For the rare keys that fileblob must escape, a file://
// store writes through fileblob, whose check holds only within one Store.)
// If r or the write fails, no object and no temporary file is left, and
// the error wraps r's.
func (s *Store) Create(ctx context.Context, key string, r io.Reader) error {
	if err := s.b.write(ctx, key, r, true); err != nil {
		return s.wrap(opWrite, key, err)
	}
	return nil
}

// Delete removes the object at key. A missing object is an error matching
// fs.ErrNotExist.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.b.delete(ctx, key); err != nil {
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
// further "/" after it, in key order, until fn returns false. It reports no
// temporary file and never fails because one went away meanwhile. A prefix
// under which the backend can hold no key lists nothing.
func (s *Store) List(ctx context.Context, prefix string, fn func(Entry) bool) error {
	if err := s.b.list(ctx, prefix, fn); err != nil {
		if _, refused := s.b.refuses(err); refused {
			return nil
		}
		return s.wrap("listing", prefix, err)
	}
	return nil
}

// Walk calls fn for every object whose key starts with prefix, at any
// depth, in key order, until fn returns false, with the guarantees of
// [Store.List]. It streams: memory does not grow with the number of objects
// (for a file:// store, with the number of entries of one directory).
func (s *Store) Walk(ctx context.Context, prefix string, fn func(Entry) bool) error {
	if err := s.b.walk(ctx, prefix, fn); err != nil {
		if _, refused := s.b.refuses(err); refused {
			return nil
		}
		return s.wrap("walking", prefix, err)
	}
	return nil
}

// The operations of [Store.wrap] whose refused keys it treats specially.
const (
	opRead  = "opening"
	opWrite = "writing"
)

// wrap gives a backend's error context and says what it means: a missing
// object matches fs.ErrNotExist, an existing one fs.ErrExist, and a key the
// backend refuses is a *keyError (of fault kind Invalid for opWrite, else
// NotFound).
func (s *Store) wrap(op, key string, err error) error {
	if reason, ok := s.b.refuses(err); ok {
		return &keyError{op: op, key: key, reason: reason, write: op == opWrite, err: err}
	}
	switch {
	case gcerrors.Code(err) == gcerrors.NotFound, errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("store: %s %s: %w", op, shortKey(key), fs.ErrNotExist)
	case gcerrors.Code(err) == gcerrors.FailedPrecondition, errors.Is(err, fs.ErrExist):
		return fmt.Errorf("store: %s %s: %w", op, shortKey(key), fs.ErrExist)
	}
	return fmt.Errorf("store: %s %s: %w", op, shortKey(key), err)
}

// keyError is the error of an operation on a key that the backend cannot
// hold. It matches [ErrKeyRefused] and, for a read, fs.ErrNotExist; its
// message is short, naming the key (elided if long) and the reason.
type keyError struct {
	op, key string
	reason  string
	write   bool
	err     error // the backend's answer
}

func (e *keyError) Error() string {
	notFound := "not found: "
	if e.write {
		notFound = ""
	}
	return fmt.Sprintf("store: %s %s: %s%v (%s)", e.op, shortKey(e.key), notFound, ErrKeyRefused, e.reason)
}

func (e *keyError) Unwrap() error { return e.err }

func (e *keyError) Is(target error) bool {
	return target == ErrKeyRefused || !e.write && target == fs.ErrNotExist
}

// FaultKind is NotFound for a read (no object can be there) and Invalid for
// a write.
func (e *keyError) FaultKind() fault.Kind {
	if e.write {
		return fault.Invalid
	}
	return fault.NotFound
}

// shortKey returns key for an error message, with its middle elided if it
// is long: errors about keys of thousands of bytes stay readable.
func shortKey(key string) string {
	const head, tail = 80, 40
	if len(key) <= head+tail+20 {
		return key
	}
	i, j := head, len(key)-tail // cut between runes
	for i > 0 && !utf8.RuneStart(key[i]) {
		i--
	}
	for j < len(key) && !utf8.RuneStart(key[j]) {
		j++
	}
	return fmt.Sprintf("%s...%s (%d bytes)", key[:i], key[j:], len(key))
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
