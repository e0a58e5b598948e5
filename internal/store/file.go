package store

import (
	"cmp"
	"context"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// fileStore is the backend of a file:// store whose directory is a plain
// GOPROXY=file:// tree: the object at a key is the regular file at the
// key's path under dir, and nothing else is there but temporary files
// (NAME.RANDOM.tmp, as fileblob names its own). It reads, lists and writes
// the file system itself. The few keys that fileblob stores under an
// escaped name (those with "__0x", a backslash, or that are not valid
// fs.ValidPath paths) go through blob, fileblob on the same directory, so
// that both agree on where every key lives; so do signed URLs.
type fileStore struct {
	dir  string
	blob *blobStore // fileblob on dir
	// commits serializes, per key, the check that a file does not exist
	// and the rename after it, where the file system cannot link.
	commits keyLocks
}

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

// path returns the file of key, or "" if fileblob stores key under an
// escaped name: never for the keys modvault writes (validated module
// paths), except around a literal "__0x".
func (f *fileStore) path(key string) string {
	if !fs.ValidPath(key) || strings.Contains(key, "__0x") || strings.ContainsRune(key, '\\') {
		return ""
	}
	return filepath.Join(f.dir, filepath.FromSlash(key))
}

// open opens the file of key with one open and one fstat. A directory is
// not an object: it is fs.ErrNotExist.
func (f *fileStore) open(ctx context.Context, key string) (Object, error) {
	p := f.path(key)
	if p == "" {
		return f.blob.open(ctx, key)
	}
	file, err := os.Open(p)
	if err != nil {
		return Object{}, err
	}
	fi, err := file.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		file.Close()
		return Object{}, cmp.Or(err, fs.ErrNotExist)
	}
	return Object{r: file, c: file, size: fi.Size(), modTime: fi.ModTime()}, nil
}

// readAll reads the file of key whole.
func (f *fileStore) readAll(ctx context.Context, key string) ([]byte, error) {
	o, err := f.open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer o.Close()
	return io.ReadAll(o)
}

// exists reports whether key's file is a regular file.
func (f *fileStore) exists(ctx context.Context, key string) (bool, error) {
	p := f.path(key)
	if p == "" {
		return f.blob.exists(ctx, key)
	}
	fi, err := os.Stat(p)
	if err == nil {
		return fi.Mode().IsRegular(), nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, err
}

// write writes r to key's file p: into a temporary file next to it, which
// is synced and then renamed (replacing p) or, if ifNotExist, hard-linked
// to p, which fails if p exists, even if another process made it
// meanwhile. Where the file system cannot link, it renames after checking
// that p does not exist, which is atomic only within this Store. The
// directory is synced after, so the new name is durable before anything
// written later (the .info after the .mod) can be. On failure the
// temporary file is removed; directories made for p stay.
func (f *fileStore) write(ctx context.Context, key string, r io.Reader, ifNotExist bool) error {
	p := f.path(key)
	if p == "" {
		return f.blob.write(ctx, key, r, ifNotExist)
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	file, err := createTemp(p)
	if err != nil {
		return err
	}
	tmp := file.Name()
	defer os.Remove(tmp) // after a link, the second name; after a rename, nothing
	if _, err := io.Copy(file, r); err != nil {
		file.Close()
		return err
	}
	// The bytes reach the disk before the name makes them visible, so a
	// power loss cannot leave a whole-looking but empty object.
	if err := file.Sync(); err != nil {
		file.Close()
		return err
	}
	if err := file.Close(); err != nil {
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
			err = f.renameIfAbsent(key, tmp, p)
		}
	}
	if err != nil {
		return err
	}
	return syncDir(dir)
}

// renameIfAbsent renames tmp to p unless p exists.
func (f *fileStore) renameIfAbsent(key, tmp, p string) error {
	defer f.commits.lock(key)()
	if _, err := os.Lstat(p); err == nil {
		return fs.ErrExist
	}
	return os.Rename(tmp, p)
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

// isTemp reports whether a file name is that of a temporary file of
// fileStore.write or fileblob: NAME.RANDOM.tmp, RANDOM in [0-9a-z].
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

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// delete removes the object through fileblob, which finds every key.
func (f *fileStore) delete(ctx context.Context, key string) error {
	return f.blob.delete(ctx, key)
}

// list lists the direct children of prefix with one directory read,
// skipping temporary files (fileblob's own listing reports them, and fails
// when one is renamed away before it looks at it). Where the directory
// holds names fileblob escaped, or prefix's directory is one, fileblob
// lists.
func (f *fileStore) list(ctx context.Context, prefix string, fn func(Entry) bool) error {
	entries, ok, err := f.listDir(prefix)
	if !ok {
		return f.blob.list(ctx, prefix, fn)
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !fn(e) {
			break
		}
	}
	return nil
}

// listDir returns the direct children of prefix in key order (the order
// of os.ReadDir), or ok false where fileblob must list.
func (f *fileStore) listDir(prefix string) (entries []Entry, ok bool, err error) {
	dirKey, namePrefix := "", prefix
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		dirKey, namePrefix = prefix[:i], prefix[i+1:]
	}
	dir := f.dir
	if dirKey != "" {
		if dir = f.path(dirKey); dir == "" {
			return nil, false, nil
		}
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

// walk walks the objects under prefix, reading the directories itself, for
// the reasons given at list. It starts in the deepest directory that holds
// every key under prefix and has a name fileblob does not escape.
func (f *fileStore) walk(ctx context.Context, prefix string, fn func(Entry) bool) error {
	dir, dirKey := f.dir, ""
	for k := prefix; ; {
		i := strings.LastIndex(k, "/")
		if i < 0 {
			break
		}
		k = k[:i]
		if p := f.path(k); p != "" {
			dir, dirKey = p, k+"/"
			break
		}
	}
	_, err := walkDir(ctx, dir, dirKey, prefix, fn)
	return err
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

// signedURL signs through fileblob (with base_url and secret_key_path).
func (f *fileStore) signedURL(ctx context.Context, key string, expiry time.Duration) (string, error) {
	return f.blob.signedURL(ctx, key, expiry)
}

// refuses reports whether err is the file system's, or fileblob's, answer
// that no file can have key's name.
func (f *fileStore) refuses(err error) (string, bool) {
	if reason, ok := nameRefused(err); ok {
		return reason, true
	}
	return f.blob.refuses(err)
}

func (f *fileStore) close() error { return f.blob.close() }

// nameRefused reports whether err is the operating system's answer that no
// file can have the name asked for: a name or path longer than it allows
// (ENAMETOOLONG), or bytes the file system does not take in a name
// (EILSEQ, or EINVAL from a call that takes a name). ENOTDIR is not such an
// answer: it is also what a store whose directory was replaced by a file
// gets, which must fail, not look empty.
func nameRefused(err error) (reason string, ok bool) {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return "", false
	}
	switch errno {
	case syscall.ENAMETOOLONG:
		return "it, or a name in it, is longer than the file system allows", true
	case syscall.EILSEQ:
		return "the file system refuses a name in it", true
	case syscall.EINVAL:
		var pe *fs.PathError
		var le *os.LinkError
		if errors.As(err, &le) || errors.As(err, &pe) && slices.Contains([]string{"open", "stat", "lstat", "mkdir"}, pe.Op) {
			return "the file system refuses a name in it", true
		}
	}
	return "", false
}
