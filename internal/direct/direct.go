// Package direct fetches modules straight from version control by running
// the go command with GOPROXY=direct, as the "direct" entry of a GOPROXY list
// does, for private modules and for the "direct" entry of modvault's own
// upstream list.
//
// Every go command runs in a new, throwaway GOPATH and module cache under the
// temporary directory, with the go command's own variables set so that
// nothing reaches a proxy or a checksum database: GOPROXY=direct,
// GOSUMDB=off, GOTOOLCHAIN=local, GOENV=off. Its zips and .info and .mod
// files are the go command's own, so every version control system and corner
// case the go command handles (subdirectory modules, major-version suffixes,
// gopkg.in, +incompatible, pseudo-versions, branch and commit queries) works
// here too. Each command runs in its own process group, which is killed as a
// whole when the request is cancelled or times out.
package direct

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
	"golang.org/x/sync/singleflight"

	"github.com/modvault/modvault/internal/protocol"
	"github.com/modvault/modvault/internal/redact"
	"github.com/modvault/modvault/internal/upstream"
)

// Credential is a secret for one version control host, given to the go
// command as a .netrc entry and to git as a credential helper's answer.
type Credential struct {
	Host     string // host name, with ":port" if not the default
	Username string // "oauth2" if empty, as token-based git hosts accept
	Password string // the token or password
}

// Options configures a [Fetcher].
type Options struct {
	// Go is the go command to run; "" means "go" on PATH.
	Go string
	// TempDir holds the throwaway GOPATHs; "" means os.TempDir().
	TempDir string
	// Concurrency bounds the go commands running at once; 0 means 4.
	Concurrency int
	// Timeout bounds one go command; 0 means ten minutes.
	Timeout time.Duration
	// Private is the GOPRIVATE value given to the go command, which lets it
	// use every version control system for those modules (GOVCS).
	Private string
	// Credentials are added to the user's own .netrc and git credentials.
	Credentials []Credential
	// Env holds extra environment variables ("NAME=value") for the go
	// command and git, such as GIT_CONFIG_* settings; they win over the
	// process environment but not over the go command's variables that
	// direct sets itself.
	Env []string
	// Logger receives one debug line per go command; nil means
	// slog.Default().
	Logger *slog.Logger
	// Observe, if not nil, is called after every go command with its kind
	// ([CommandList], [CommandQuery] or [CommandDownload]), how long it ran
	// and its error, as the Fetcher returns it (nil, a not-found
	// [*upstream.Error], a wrapped context.DeadlineExceeded on timeout,
	// context.Canceled when nobody waits any longer, or another failure).
	// It must be safe for concurrent use.
	Observe func(command string, d time.Duration, err error)
}

// The kinds of go command a Fetcher runs, as given to Options.Observe.
const (
	CommandList     = "list"     // go list -m -versions: a module's versions
	CommandQuery    = "query"    // go list -m mod@query: latest, a branch, a commit
	CommandDownload = "download" // go mod download: a version's files
)

// stashTTL is how long the files of a downloaded version wait for the
// request that fetches its zip.
const stashTTL = 10 * time.Minute

// maxStash bounds the number of downloaded versions kept at once.
const maxStash = 64

// Output limits of a go command.
const (
	maxStdout = 16 << 20
	maxStderr = 64 << 10
)

// Fetcher fetches module proxy paths from version control. It implements
// upstream.Fetcher.
type Fetcher struct {
	goBin   string
	tempDir string
	timeout time.Duration
	sem     *semaphore.Weighted
	env     []string
	secrets []string
	credDir string
	log     *slog.Logger
	observe func(string, time.Duration, error)
	running atomic.Int64 // go commands running now

	downloads singleflight.Group

	mu    sync.Mutex
	stash map[string]*download // by module@version
}

// download is the result of one "go mod download" of a version: the
// throwaway GOPATH that holds its files.
type download struct {
	dir       string
	info, mod string // contents
	zip       string // file name
	size      int64
	expires   time.Time
}

// New returns a Fetcher. It fails if the go command cannot be found or the
// credential files cannot be written.
func New(opts Options) (*Fetcher, error) {
	goBin := opts.Go
	if goBin == "" {
		goBin = "go"
	}
	path, err := exec.LookPath(goBin)
	if err != nil {
		return nil, fmt.Errorf("fetching from version control needs the go command: %w", err)
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	tempDir := opts.TempDir
	if tempDir == "" {
		tempDir = os.TempDir()
	}
	f := &Fetcher{
		goBin:   path,
		tempDir: tempDir,
		timeout: opts.Timeout,
		sem:     semaphore.NewWeighted(int64(opts.Concurrency)),
		log:     opts.Logger,
		observe: opts.Observe,
		stash:   make(map[string]*download),
	}
	env := mergeEnv(os.Environ(), opts.Env)
	if len(opts.Credentials) > 0 {
		if env, err = f.writeCredentials(env, opts.Credentials); err != nil {
			f.Close() // what was written of the credentials
			return nil, err
		}
	}
	// The go command fetches straight from version control, checks nothing
	// against a checksum database (modvault does that), reads no go env
	// file, and never switches to another toolchain.
	f.env = setEnv(env,
		"GOPROXY=direct",
		"GOSUMDB=off",
		"GONOSUMDB=",
		"GONOSUMCHECK=",
		"GONOPROXY=",
		"GOPRIVATE="+opts.Private,
		"GOENV=off",
		"GOFLAGS=-modcacherw",
		"GOTOOLCHAIN=local",
		"GOWORK=off",
		"GO111MODULE=on",
		"GOTELEMETRY=off",
		"GIT_TERMINAL_PROMPT=0",
		"GCM_INTERACTIVE=never",
	)
	return f, nil
}

// Close removes the downloads waiting for their zip requests and the
// credential files.
func (f *Fetcher) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	for k, d := range f.stash {
		errs = append(errs, os.RemoveAll(d.dir))
		delete(f.stash, k)
	}
	if f.credDir != "" {
		errs = append(errs, os.RemoveAll(f.credDir))
	}
	return errors.Join(errs...)
}

// Running returns the number of go commands running now (not those waiting
// for a slot).
func (f *Fetcher) Running() int { return int(f.running.Load()) }

// Fetch answers a module proxy path (as protocol.Key returns it) from
// version control. A module or version that does not exist, or that the go
// command cannot fetch, is an [*upstream.Error] with status 404 and the go
// command's message; a timeout wraps context.DeadlineExceeded.
func (f *Fetcher) Fetch(ctx context.Context, path string) (io.ReadCloser, int64, error) {
	req, err := protocol.Parse(path)
	if err != nil {
		return nil, 0, notFound(err.Error())
	}
	f.sweep()
	var body []byte
	switch {
	case req.Kind == protocol.List:
		body, err = f.list(ctx, req.Module)
	case req.Kind == protocol.Latest:
		body, err = f.query(ctx, req.Module, "latest")
	case req.Kind == protocol.Info && !req.Canonical():
		body, err = f.query(ctx, req.Module, req.Version)
	case req.Canonical():
		return f.file(ctx, req)
	default:
		return nil, 0, notFound(fmt.Sprintf("%s@%s: %s needs a canonical version", req.Module, req.Version, req.Kind))
	}
	if err != nil {
		return nil, 0, err
	}
	return io.NopCloser(bytes.NewReader(body)), int64(len(body)), nil
}

// list runs "go list -m -versions" and returns the list of tagged versions.
func (f *Fetcher) list(ctx context.Context, mod string) ([]byte, error) {
	out, err := f.run(ctx, nil, "list", "-m", "-json", "-versions", mod)
	if err != nil {
		return nil, err
	}
	var m struct{ Versions []string }
	if err := json.Unmarshal(out, &m); err != nil {
		return nil, fmt.Errorf("%w: go list -m -versions %s: %v", upstream.ErrBadResponse, mod, err)
	}
	var b bytes.Buffer
	for _, v := range m.Versions {
		b.WriteString(v + "\n")
	}
	return b.Bytes(), nil
}

// query resolves a version query ("latest", a branch, a commit, "v1.2")
// with "go list -m" and returns the .info document of its answer.
func (f *Fetcher) query(ctx context.Context, mod, query string) ([]byte, error) {
	out, err := f.run(ctx, nil, "list", "-m", "-json", mod+"@"+query)
	if err != nil {
		return nil, err
	}
	var m struct {
		Version string
		Time    *time.Time      `json:",omitempty"`
		Origin  json.RawMessage `json:",omitempty"`
	}
	if err := json.Unmarshal(out, &m); err != nil {
		return nil, fmt.Errorf("%w: go list -m %s@%s: %v", upstream.ErrBadResponse, mod, query, err)
	}
	return json.Marshal(m)
}

// file returns the .info, .mod or .zip of a canonical version. The first
// request for a version downloads all three with "go mod download" (one
// clone); the files wait in the stash for the zip's request, which the
// proxy protocol sends separately.
func (f *Fetcher) file(ctx context.Context, req protocol.Request) (io.ReadCloser, int64, error) {
	key := req.Module + "@" + req.Version
	d, ok := f.stashed(key)
	if !ok {
		ch := f.downloads.DoChan(key, func() (any, error) {
			if d, ok := f.stashed(key); ok {
				return d, nil
			}
			d, err := f.download(ctx, req.Module, req.Version)
			if err != nil {
				return nil, err
			}
			f.keep(key, d)
			return d, nil
		})
		select {
		case r := <-ch:
			if r.Err != nil {
				return nil, 0, r.Err
			}
			d = r.Val.(*download)
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}
	switch req.Kind {
	case protocol.Info:
		return io.NopCloser(strings.NewReader(d.info)), int64(len(d.info)), nil
	case protocol.Mod:
		return io.NopCloser(strings.NewReader(d.mod)), int64(len(d.mod)), nil
	}
	zf, err := os.Open(d.zip)
	if err != nil {
		return nil, 0, fmt.Errorf("opening downloaded zip of %s: %w", key, err)
	}
	// The zip is asked for once (the vault stores it): the download has
	// served its purpose once the zip is read.
	f.drop(key, d)
	return &removeOnClose{File: zf, dir: d.dir}, d.size, nil
}

// removeOnClose is a downloaded zip whose throwaway GOPATH is removed when
// it is closed.
type removeOnClose struct {
	*os.File
	dir string
}

func (r *removeOnClose) Close() error {
	err := r.File.Close()
	return errors.Join(err, os.RemoveAll(r.dir))
}

// download runs "go mod download" for mod@version in a new GOPATH, which it
// returns; it removes the GOPATH on failure.
func (f *Fetcher) download(ctx context.Context, mod, version string) (d *download, err error) {
	dir, err := os.MkdirTemp(f.tempDir, "modvault-direct-*")
	if err != nil {
		return nil, fmt.Errorf("creating a GOPATH for %s@%s: %v", mod, version, err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	out, err := f.run(ctx, &dir, "mod", "download", "-json", mod+"@"+version)
	if err != nil {
		return nil, err
	}
	var m struct {
		Version, Info, GoMod, Zip string
	}
	if err := json.Unmarshal(out, &m); err != nil {
		return nil, fmt.Errorf("%w: go mod download %s@%s: %v", upstream.ErrBadResponse, mod, version, err)
	}
	if m.Version != version {
		// The go command resolved a canonical version to another one:
		// not this version.
		return nil, notFound(fmt.Sprintf("%s@%s: version control answers with %s", mod, version, m.Version))
	}
	d = &download{dir: dir, zip: m.Zip}
	info, err := os.ReadFile(m.Info)
	if err != nil {
		return nil, fmt.Errorf("reading downloaded .info of %s@%s: %w", mod, version, err)
	}
	gomod, err := os.ReadFile(m.GoMod)
	if err != nil {
		return nil, fmt.Errorf("reading downloaded .mod of %s@%s: %w", mod, version, err)
	}
	fi, err := os.Stat(m.Zip)
	if err != nil {
		return nil, fmt.Errorf("reading downloaded .zip of %s@%s: %w", mod, version, err)
	}
	d.info, d.mod, d.size = string(info), string(gomod), fi.Size()
	return d, nil
}

// stashed returns the unexpired download of key.
func (f *Fetcher) stashed(key string) (*download, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.stash[key]
	return d, ok && time.Now().Before(d.expires)
}

// sweep removes the expired downloads.
func (f *Fetcher) sweep() {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	for k, d := range f.stash {
		if now.After(d.expires) {
			os.RemoveAll(d.dir)
			delete(f.stash, k)
		}
	}
}

// keep stashes a download, dropping the oldest if the stash is full.
func (f *Fetcher) keep(key string, d *download) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d.expires = time.Now().Add(stashTTL)
	if len(f.stash) >= maxStash {
		var oldest string
		for k, e := range f.stash {
			if oldest == "" || e.expires.Before(f.stash[oldest].expires) {
				oldest = k
			}
		}
		os.RemoveAll(f.stash[oldest].dir)
		delete(f.stash, oldest)
	}
	if old, ok := f.stash[key]; ok && old != d {
		os.RemoveAll(old.dir)
	}
	f.stash[key] = d
}

// drop removes a download from the stash, leaving its files to the caller.
func (f *Fetcher) drop(key string, d *download) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stash[key] == d {
		delete(f.stash, key)
	}
}

// run runs the go command with args in a GOPATH: *dir if dir is not nil, or
// else a new one removed before run returns. It waits for a free slot,
// kills the command's whole process group when ctx ends or the timeout
// passes, and returns its standard output, or an error that carries the go
// command's message with secrets removed.
func (f *Fetcher) run(ctx context.Context, dir *string, args ...string) (_ []byte, err error) {
	if err := f.sem.Acquire(ctx, 1); err != nil {
		return nil, err
	}
	defer f.sem.Release(1)
	if dir == nil {
		d, err := os.MkdirTemp(f.tempDir, "modvault-direct-*")
		if err != nil {
			return nil, fmt.Errorf("creating a GOPATH for go %s: %v", strings.Join(args, " "), err)
		}
		defer os.RemoveAll(d)
		dir = &d
	}
	rctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	cmd := exec.CommandContext(rctx, f.goBin, args...)
	cmd.Dir = *dir
	// A new slice: f.env is shared by concurrent runs.
	cmd.Env = slices.Concat(f.env, []string{
		"GOPATH=" + filepath.Join(*dir, "gopath"),
		"GOMODCACHE=" + filepath.Join(*dir, "gopath", "pkg", "mod"),
		"GOCACHE=" + filepath.Join(*dir, "gocache"),
	})
	stdout := &limitedBuffer{max: maxStdout}
	stderr := &limitedBuffer{max: maxStderr}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	ownProcessGroup(cmd)
	cmd.Cancel = func() error { return killProcessGroup(cmd) }
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	f.running.Add(1)
	defer func() {
		f.running.Add(-1)
		if f.observe != nil {
			f.observe(commandKind(args), time.Since(start), err)
		}
	}()
	err = cmd.Run()
	// Whatever the go command left behind (git, ssh) goes with it.
	killProcessGroup(cmd)
	f.log.Debug("go command", "args", args, "duration", time.Since(start), "err", err)
	if err == nil {
		if stdout.truncated {
			return nil, fmt.Errorf("%w: go %s: more than %d bytes of output", upstream.ErrBadResponse, strings.Join(args, " "), maxStdout)
		}
		return stdout.Bytes(), nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if rctx.Err() != nil {
		return nil, fmt.Errorf("go %s: %w after %v", strings.Join(args, " "), context.DeadlineExceeded, f.timeout)
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		return nil, fmt.Errorf("running go %s: %w", strings.Join(args, " "), err)
	}
	return nil, notFound(redact.Text(goError(stdout.Bytes(), stderr.Bytes()), f.secrets...))
}

// commandKind names the go command run with args for Options.Observe.
func commandKind(args []string) string {
	switch {
	case len(args) > 0 && args[0] == "mod":
		return CommandDownload
	case slices.Contains(args, "-versions"):
		return CommandList
	}
	return CommandQuery
}

// goError returns the go command's error message: the Error field of its
// JSON output, or else its standard error.
func goError(stdout, stderr []byte) string {
	var m struct{ Error string }
	if json.Unmarshal(stdout, &m) == nil && m.Error != "" {
		return m.Error
	}
	s := strings.TrimSpace(string(stderr))
	s = strings.TrimPrefix(s, "go: ")
	if s == "" {
		return "the go command failed without a message"
	}
	return strings.Join(strings.Fields(s), " ")
}

// notFound is the error for what version control does not have.
func notFound(text string) error {
	return &upstream.Error{URL: "direct", Status: http.StatusNotFound, Text: text}
}

// writeCredentials writes a .netrc file holding the user's own entries and
// creds for the go command, and one file per host for a git credential
// helper, in a new directory only the current user can read. It returns env
// with NETRC and the git settings added.
func (f *Fetcher) writeCredentials(env []string, creds []Credential) ([]string, error) {
	dir, err := os.MkdirTemp(f.tempDir, "modvault-credentials-*")
	if err != nil {
		return nil, fmt.Errorf("creating credentials directory: %v", err)
	}
	f.credDir = dir
	var netrc bytes.Buffer
	if own := userNetrc(env); own != "" {
		if b, err := os.ReadFile(own); err == nil {
			netrc.Write(b)
			netrc.WriteString("\n")
		}
	}
	n := 0
	if v, ok := lookupEnv(env, "GIT_CONFIG_COUNT"); ok {
		n, _ = strconv.Atoi(v)
	}
	for i, c := range creds {
		user := c.Username
		if user == "" {
			user = "oauth2"
		}
		if c.Password != "" {
			f.secrets = append(f.secrets, c.Password)
		}
		fmt.Fprintf(&netrc, "machine %s login %s password %s\n", hostName(c.Host), user, c.Password)
		helperFile := filepath.Join(dir, fmt.Sprintf("git-%d", i))
		if err := os.WriteFile(helperFile, fmt.Appendf(nil, "username=%s\npassword=%s\n", user, c.Password), 0o600); err != nil {
			return nil, fmt.Errorf("writing credentials: %v", err)
		}
		// Asked only by git's "get"; "store" and "erase" are ignored.
		helper := fmt.Sprintf(`!f() { test "$1" = get && cat '%s'; }; f`, helperFile)
		for _, scheme := range []string{"https", "http"} {
			env = append(env,
				fmt.Sprintf("GIT_CONFIG_KEY_%d=credential.%s://%s.helper", n, scheme, c.Host),
				fmt.Sprintf("GIT_CONFIG_VALUE_%d=%s", n, helper))
			n++
		}
	}
	netrcFile := filepath.Join(dir, "netrc")
	if err := os.WriteFile(netrcFile, netrc.Bytes(), 0o600); err != nil {
		return nil, fmt.Errorf("writing credentials: %v", err)
	}
	return setEnv(env, "NETRC="+netrcFile, "GIT_CONFIG_COUNT="+strconv.Itoa(n)), nil
}

// hostName returns host without its port, as .netrc files name machines.
func hostName(host string) string {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		return host[:i]
	}
	return host
}

// userNetrc returns the .netrc file the go command would read.
func userNetrc(env []string) string {
	if v, ok := lookupEnv(env, "NETRC"); ok {
		return v
	}
	if home, ok := lookupEnv(env, "HOME"); ok && home != "" {
		return filepath.Join(home, ".netrc")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".netrc")
}

// keptGoVars are the go command's variables passed on from the
// environment: they say how to reach version control, not where.
var keptGoVars = map[string]bool{"GOINSECURE": true, "GOVCS": true, "GOAUTH": true, "GOROOT": true}

// mergeEnv returns base without the go command's variables (other than
// keptGoVars), with extra added or replacing variables of the same name.
func mergeEnv(base, extra []string) []string {
	var env []string
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "GO") || keptGoVars[name] {
			env = append(env, kv)
		}
	}
	return setEnv(env, extra...)
}

// setEnv returns env with each "NAME=value" of kvs replacing the variable
// of that name or added.
func setEnv(env []string, kvs ...string) []string {
	env = slices.Clone(env)
	for _, kv := range kvs {
		name, _, _ := strings.Cut(kv, "=")
		i := slices.IndexFunc(env, func(e string) bool { return strings.HasPrefix(e, name+"=") })
		if i >= 0 {
			env[i] = kv
		} else {
			env = append(env, kv)
		}
	}
	return env
}

func lookupEnv(env []string, name string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	bytes.Buffer
	max       int
	truncated bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); len(p) > room {
		b.truncated = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}
