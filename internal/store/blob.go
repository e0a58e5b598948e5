package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// blobStore is the backend of a gocloud.dev/blob bucket: an object store
// (S3, GCS, Azure), memory, or fileblob (for the keys a fileStore leaves to
// it, and for file:// stores that are not plain trees). The services make
// an upload visible only when it completes, and check Create's condition
// when they commit it; fileblob writes a temporary file and renames it.
type blobStore struct {
	bucket *blob.Bucket
	// fileblob reports whether the bucket is a file:// one, written through
	// writeFileblob.
	fileblob bool
	// commits serializes fileblob's check that a key is absent and its
	// rename, per key.
	commits keyLocks
}

// open opens key; for fileblob, the Object reads the driver's *os.File
// directly.
func (b *blobStore) open(ctx context.Context, key string) (Object, error) {
	if err := b.checkKey(key); err != nil {
		return Object{}, err
	}
	var f *os.File
	r, err := b.bucket.NewReader(ctx, key, &blob.ReaderOptions{
		BeforeRead: func(as func(any) bool) error {
			as(&f) // fileblob hands out its *os.File; other drivers do not
			return nil
		},
	})
	if err != nil {
		return Object{}, err
	}
	o := Object{r: r, c: r, size: r.Size(), modTime: r.ModTime()}
	if f != nil {
		o.r = f // read from the file directly; closing r closes it
	}
	return o, nil
}

func (b *blobStore) readAll(ctx context.Context, key string) ([]byte, error) {
	if err := b.checkKey(key); err != nil {
		return nil, err
	}
	return b.bucket.ReadAll(ctx, key)
}

func (b *blobStore) exists(ctx context.Context, key string) (bool, error) {
	if err := b.checkKey(key); err != nil {
		return false, err
	}
	return b.bucket.Exists(ctx, key)
}

// write uploads r to key. The upload is cancelled, and the object
// discarded, as soon as r fails (some drivers would otherwise commit what
// they got); r's error is returned then, rather than the upload's.
func (b *blobStore) write(ctx context.Context, key string, r io.Reader, ifNotExist bool) error {
	if err := b.checkKey(key); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	src := &source{r: r, cancel: cancel}
	opts := &blob.WriterOptions{IfNotExist: ifNotExist, ContentType: contentType(key)}
	var err error
	if b.fileblob {
		err = b.writeFileblob(ctx, key, src, opts)
	} else {
		// Upload lets the driver read src itself. (Writing to a
		// blob.Writer instead makes azureblob v0.47.0 panic when the
		// upload fails, as a refused Create does.)
		err = b.bucket.Upload(ctx, key, src, opts)
	}
	if src.err != nil {
		return src.err
	}
	return err
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

// writeFileblob writes src through fileblob's writer, whose temporary file
// it syncs before fileblob renames it into place, and whose directory it
// syncs after. fileblob checks IfNotExist before renaming, so the check
// and the rename are serialized per key (atomic within this Store only).
// Unless the copy and Close succeed, the writer is cancelled and fileblob
// removes its temporary file.
func (b *blobStore) writeFileblob(ctx context.Context, key string, src io.Reader, opts *blob.WriterOptions) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var f *os.File // the temporary file
	opts.BeforeWrite = func(as func(any) bool) error {
		as(&f)
		return nil
	}
	w, err := b.bucket.NewWriter(ctx, key, opts)
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
		defer b.commits.lock(key)()
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

func (b *blobStore) delete(ctx context.Context, key string) error {
	if err := b.checkKey(key); err != nil {
		return err
	}
	return b.bucket.Delete(ctx, key)
}

// list lists prefix with the delimiter "/", skipping the common prefixes.
func (b *blobStore) list(ctx context.Context, prefix string, fn func(Entry) bool) error {
	if err := b.checkKey(prefix); err != nil {
		return err
	}
	it := b.bucket.List(&blob.ListOptions{Prefix: prefix, Delimiter: "/"})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if obj.IsDir {
			continue
		}
		if !fn(Entry{Key: obj.Key, Size: obj.Size, ModTime: obj.ModTime}) {
			return nil
		}
	}
}

// walk lists prefix without a delimiter: every key under it, page by page.
func (b *blobStore) walk(ctx context.Context, prefix string, fn func(Entry) bool) error {
	if err := b.checkKey(prefix); err != nil {
		return err
	}
	it := b.bucket.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if !fn(Entry{Key: obj.Key, Size: obj.Size, ModTime: obj.ModTime}) {
			return nil
		}
	}
}

func (b *blobStore) signedURL(ctx context.Context, key string, expiry time.Duration) (string, error) {
	if err := b.checkKey(key); err != nil {
		return "", err
	}
	return b.bucket.SignedURL(ctx, key, &blob.SignedURLOptions{Expiry: expiry, Method: http.MethodGet})
}

// refuses reports whether err is the bucket's answer that it cannot hold a
// key: a key over the limits every object service shares (checkKey), the
// blob layer's refusal of a key that is not UTF-8, fileblob's file system
// refusing the name, or a service refusing the name (S3's and MinIO's
// KeyTooLongError and XMinioInvalidObjectName, Azure's
// InvalidResourceName).
func (b *blobStore) refuses(err error) (string, bool) {
	var le *limitError
	var ae interface{ ErrorCode() string } // smithy.APIError, for S3
	var re *azcore.ResponseError
	switch {
	case errors.As(err, &le):
		return le.reason, true
	case gcerrors.Code(err) == gcerrors.InvalidArgument:
		return "not a valid key", true
	case b.fileblob:
		return nameRefused(err)
	case errors.As(err, &ae) && slices.Contains([]string{"KeyTooLongError", "XMinioInvalidObjectName"}, ae.ErrorCode()),
		errors.As(err, &re) && re.ErrorCode == "InvalidResourceName":
		return "refused by the service", true
	}
	return "", false
}

// The limits of the keys that every object service takes, which a
// blobStore other than fileblob applies itself, so that a key is refused
// alike everywhere, before any request: S3, GCS and Azure take keys of up
// to 1024 bytes, and MinIO, like a file system, elements of up to 255
// bytes (answering a HEAD of a longer key with a bare 400). No go command
// could use a module with a longer element: its module cache is a file
// system.
const (
	maxKeyBytes  = 1024
	maxElemBytes = 255
)

// limitError is checkKey's refusal of a key.
type limitError struct{ reason string }

func (e *limitError) Error() string { return e.reason }

// checkKey returns a *limitError if key, or a key starting with the prefix
// key, is over the limits of object services (none for fileblob).
func (b *blobStore) checkKey(key string) error {
	if b.fileblob {
		return nil
	}
	if len(key) > maxKeyBytes {
		return &limitError{fmt.Sprintf("longer than the %d bytes object stores take", maxKeyBytes)}
	}
	for elem := range strings.SplitSeq(key, "/") {
		if len(elem) > maxElemBytes {
			return &limitError{fmt.Sprintf("an element of it is longer than %d bytes", maxElemBytes)}
		}
	}
	return nil
}

func (b *blobStore) close() error { return b.bucket.Close() }
