package direct_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/modvault/modvault/internal/direct"
	"github.com/modvault/modvault/internal/protocol"
	"github.com/modvault/modvault/internal/proxytest"
)

// gitServer serves the bare repositories of a GitHost with git's smart HTTP
// protocol (git http-backend run as a CGI program) to clients that send the
// right HTTP basic auth credentials, and answers 401 to every other.
type gitServer struct {
	*httptest.Server
	// Host is the server's "127.0.0.1:port".
	Host string

	user, password string
	remoteError    string
	home           string

	mu         sync.Mutex
	authorized int      // requests with the right credentials
	sent       []string // "user:password" of every request with basic auth
	refs       int      // authorized info/refs requests
}

// newGitServer starts a gitServer for h that accepts user and password. If
// remoteError is not "", every authorized info/refs request but the first
// is answered with a git "ERR" packet holding it, which git prints as
// "fatal: remote error: ..." and the go command passes on in its message.
func newGitServer(t *testing.T, h *proxytest.GitHost, user, password, remoteError string) *gitServer {
	t.Helper()
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatalf("git --exec-path: %v", err)
	}
	backend := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(out)), "git-http-backend"),
		Env: []string{
			"GIT_PROJECT_ROOT=" + h.Dir,
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_NOSYSTEM=1",
			"GIT_CONFIG_GLOBAL=/dev/null",
		},
	}
	if _, err := os.Stat(backend.Path); err != nil {
		t.Fatalf("git http-backend: %v", err)
	}
	s := &gitServer{user: user, password: password, remoteError: remoteError, home: t.TempDir()}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		good := ok && u == s.user && p == s.password
		isRefs := strings.HasSuffix(r.URL.Path, "/info/refs")
		s.mu.Lock()
		if ok {
			s.sent = append(s.sent, u+":"+p)
		}
		if good {
			s.authorized++
			if isRefs {
				s.refs++
			}
		}
		refs := s.refs
		s.mu.Unlock()
		if !good {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if s.remoteError != "" && isRefs && refs > 1 {
			w.Header().Set("Content-Type", "application/x-git-upload-pack-advertisement")
			w.Header().Set("Cache-Control", "no-cache")
			body := pktLine("# service=git-upload-pack\n") + "0000" + pktLine("ERR "+s.remoteError+"\n")
			w.Write([]byte(body))
			return
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	s.Host = strings.TrimPrefix(s.URL, "http://")
	return s
}

// pktLine returns s as a git pkt-line.
func pktLine(s string) string { return fmt.Sprintf("%04x%s", len(s)+4, s) }

// env returns the git settings that send the go command's git requests for
// example.test/private.git to base (the server's URL, possibly with
// userinfo), and an empty HOME, so that the user's own ~/.netrc plays no
// part. The go command asks git for https://example.test/private (the
// repository URL without ".git"); this rule is longer than the GitHost's
// file:// rule for https://example.test/, so git picks it.
func (s *gitServer) env(base string) []string {
	return []string{
		"HOME=" + s.home,
		"GIT_CONFIG_COUNT=2",
		"GIT_CONFIG_KEY_1=url." + base + "/private.git.insteadOf",
		"GIT_CONFIG_VALUE_1=https://example.test/private",
	}
}

// stats returns the number of requests with the right credentials and the
// "user:password" pairs sent so far.
func (s *gitServer) stats() (authorized int, sent []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authorized, slices.Clone(s.sent)
}

// privateRepo returns a git host with the repository example.test/private.git
// tagged v1.0.0, and its module path.
func privateRepo(t *testing.T) (*proxytest.GitHost, string) {
	t.Helper()
	h := proxytest.NewGitHost(t)
	r := h.Repo("private.git")
	r.Commit("v1", map[string]string{"go.mod": proxytest.GoMod(r.Module()), "private.go": "package private\n"})
	r.Tag("v1.0.0")
	return h, r.Module()
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newLoggingFetcher is newFetcher with a debug-level text logger writing to
// log.
func newLoggingFetcher(t *testing.T, h *proxytest.GitHost, opts direct.Options, log *syncBuffer) *direct.Fetcher {
	t.Helper()
	opts.TempDir = t.TempDir()
	opts.Env = append(h.Env(), opts.Env...)
	opts.Private = "example.test"
	opts.Logger = slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f, err := direct.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestCredentialsReachGit: a Credential for the server's host and port lets
// git authenticate to a server that demands HTTP basic auth, for the list,
// the .info and the .zip of a version; without it the same fetches are not
// found and the server saw no right credentials.
func TestCredentialsReachGit(t *testing.T) {
	h, mod := privateRepo(t)
	const password = "s3cret-token-7f3a9c"
	s := newGitServer(t, h, "u", password, "")

	f, _ := newFetcher(t, h, direct.Options{
		Env:         s.env(s.URL),
		Credentials: []direct.Credential{{Host: s.Host, Username: "u", Password: password}},
	})
	if got := string(mustFetch(t, f, path(t, mod, "", protocol.List))); got != "v1.0.0\n" {
		t.Errorf("list = %q, want v1.0.0", got)
	}
	if got := infoVersion(t, mustFetch(t, f, path(t, mod, "v1.0.0", protocol.Info))); got != "v1.0.0" {
		t.Errorf(".info names %s, want v1.0.0", got)
	}
	checkZip(t, mod, "v1.0.0", mustFetch(t, f, path(t, mod, "v1.0.0", protocol.Zip)), map[string]string{"private.go": ""})
	authorized, sent := s.stats()
	if authorized == 0 {
		t.Errorf("the server saw no request with the right credentials (credentials sent: %q)", sent)
	}
	for _, c := range sent {
		if c != "u:"+password {
			t.Errorf("git sent credentials %q, want only the configured ones", c)
		}
	}

	// Without credentials, git is refused: not found, and the server saw
	// no right credentials from this fetcher.
	without, _ := newFetcher(t, h, direct.Options{Env: s.env(s.URL)})
	for _, p := range []string{
		path(t, mod, "", protocol.List),
		path(t, mod, "v1.0.0", protocol.Info),
		path(t, mod, "v1.0.0", protocol.Zip),
	} {
		_, err := fetch(t, without, p)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("without credentials, %s: %v, want not found", p, err)
		} else if strings.Contains(err.Error(), password) {
			t.Errorf("without credentials, %s: error holds the password: %v", p, err)
		}
	}
	if after, sent := s.stats(); after != authorized {
		t.Errorf("without credentials, the server saw %d more requests with the right credentials (sent: %q)", after-authorized, sent)
	}
}

// TestCredentialWithoutUsernameIsOAuth2: a Credential with no Username
// reaches git with the user name "oauth2".
func TestCredentialWithoutUsernameIsOAuth2(t *testing.T) {
	h, mod := privateRepo(t)
	const password = "tok-2b8e01d4"
	s := newGitServer(t, h, "oauth2", password, "")
	f, _ := newFetcher(t, h, direct.Options{
		Env:         s.env(s.URL),
		Credentials: []direct.Credential{{Host: s.Host, Password: password}},
	})
	if got := string(mustFetch(t, f, path(t, mod, "", protocol.List))); got != "v1.0.0\n" {
		t.Errorf("list = %q, want v1.0.0", got)
	}
	authorized, sent := s.stats()
	if authorized == 0 || len(sent) == 0 {
		t.Fatalf("the server saw no request with credentials oauth2:%s (sent: %q)", password, sent)
	}
	for _, c := range sent {
		if c != "oauth2:"+password {
			t.Errorf("git sent credentials %q, want user name oauth2", c)
		}
	}
}

// TestSecretsNeverInErrors: whatever makes git fail, neither the configured
// passwords nor URL credentials appear in the errors Fetch returns or in
// the fetcher's debug log.
func TestSecretsNeverInErrors(t *testing.T) {
	h, mod := privateRepo(t)
	var log syncBuffer
	var secrets []string

	t.Run("wrong password", func(t *testing.T) {
		const wrong = "wrong-secret-91c4e7"
		secrets = append(secrets, wrong)
		s := newGitServer(t, h, "u", "right-password-5d2f", "")
		f := newLoggingFetcher(t, h, direct.Options{
			Env:         s.env(s.URL),
			Credentials: []direct.Credential{{Host: s.Host, Username: "u", Password: wrong}},
		}, &log)
		for _, p := range []string{path(t, mod, "", protocol.List), path(t, mod, "v1.0.0", protocol.Info)} {
			_, err := fetch(t, f, p)
			if !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s: %v, want not found", p, err)
			} else if strings.Contains(err.Error(), wrong) {
				t.Errorf("%s: error holds the password: %v", p, err)
			}
		}
		// The secret was in play: git sent it and was refused.
		if _, sent := s.stats(); !slices.Contains(sent, "u:"+wrong) {
			t.Errorf("git never sent the configured (wrong) password; sent: %q", sent)
		}
	})

	t.Run("password in the URL git uses", func(t *testing.T) {
		const secret = "url-secret-6a0b33"
		secrets = append(secrets, secret)
		s := newGitServer(t, h, "u", "right-password-5d2f", "")
		f := newLoggingFetcher(t, h, direct.Options{
			Env:         s.env("http://u:" + secret + "@" + s.Host),
			Credentials: []direct.Credential{{Host: s.Host, Username: "u", Password: secret}},
		}, &log)
		for _, p := range []string{path(t, mod, "", protocol.List), path(t, mod, "v1.0.0", protocol.Info)} {
			_, err := fetch(t, f, p)
			if !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s: %v, want not found", p, err)
			} else if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: error holds the password: %v", p, err)
			}
		}
		if _, sent := s.stats(); !slices.Contains(sent, "u:"+secret) {
			t.Errorf("git never sent the password of its URL; sent: %q", sent)
		}
	})

	// The server's own message, which git prints and the go command passes
	// on, holds the configured password and a URL with credentials nobody
	// configured: both are removed, the rest of the message is kept.
	t.Run("server echoes secrets", func(t *testing.T) {
		const password = "echoed-secret-c17d55"
		const other = "unconfigured-pw-44e1"
		secrets = append(secrets, password, other)
		msg := "token " + password + " may not read this, ask http://alice:" + other + "@git.example.test/admin"
		s := newGitServer(t, h, "u", password, msg)
		f := newLoggingFetcher(t, h, direct.Options{
			Env:         s.env(s.URL),
			Credentials: []direct.Credential{{Host: s.Host, Username: "u", Password: password}},
		}, &log)
		_, err := fetch(t, f, path(t, mod, "v1.0.0", protocol.Info))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Fetch: %v, want not found", err)
		}
		text := err.Error()
		// Without the server's message in the error, this test proves
		// nothing.
		if !strings.Contains(text, "may not read this") {
			t.Fatalf("the error does not carry the server's message: %v", err)
		}
		for _, secret := range []string{password, other} {
			if strings.Contains(text, secret) {
				t.Errorf("error holds %q: %v", secret, err)
			}
		}
		if !strings.Contains(text, "token *** may not") || !strings.Contains(text, "http://***@git.example.test/admin") {
			t.Errorf("error does not show where secrets were removed: %v", err)
		}
		t.Logf("error: %v", err)
	})

	if !strings.Contains(log.String(), "go command") {
		t.Fatalf("the fetchers logged no go command at debug level:\n%s", log.String())
	}
	for _, secret := range secrets {
		if strings.Contains(log.String(), secret) {
			t.Errorf("the debug log holds %q:\n%s", secret, log.String())
		}
	}
}

// TestUsersOwnNetrcIsKept: configured credentials do not hide the user's
// own netrc. git (libcurl) reads $HOME/.netrc, which keeps working with
// credentials for other hosts configured; the go command reads $NETRC,
// which direct replaces with a private file holding the user's entries and
// the configured ones.
func TestUsersOwnNetrcIsKept(t *testing.T) {
	h, mod := privateRepo(t)
	const password = "netrc-secret-3e9d0a"
	s := newGitServer(t, h, "u", password, "")

	for _, tt := range []struct {
		name  string
		creds []direct.Credential
	}{
		{"no credentials", nil},
		{"credentials for another host", []direct.Credential{{Host: "other.example.test", Username: "x", Password: "other-secret"}}},
	} {
		t.Run("git reads HOME/.netrc with "+tt.name, func(t *testing.T) {
			home := t.TempDir()
			if err := os.WriteFile(filepath.Join(home, ".netrc"), []byte("machine 127.0.0.1 login u password "+password+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			before, _ := s.stats()
			f, _ := newFetcher(t, h, direct.Options{
				Env:         append(s.env(s.URL), "HOME="+home),
				Credentials: tt.creds,
			})
			if got := string(mustFetch(t, f, path(t, mod, "", protocol.List))); got != "v1.0.0\n" {
				t.Errorf("list = %q, want v1.0.0", got)
			}
			if after, sent := s.stats(); after == before {
				t.Errorf("the server saw no request with the credentials of HOME/.netrc (sent: %q)", sent)
			}
		})
	}

	t.Run("the go command's NETRC holds the user's entries", func(t *testing.T) {
		if runtime.GOOS == "windows" {
			t.Skip("uses a shell script as the go command")
		}
		goBin, err := exec.LookPath("go")
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		// A go command that records the netrc file it is given.
		wrapper := filepath.Join(dir, "go")
		script := "#!/bin/sh\ncat \"$NETRC\" > \"$NETRC_SEEN\" || exit 99\necho \"$NETRC\" > \"$NETRC_SEEN.name\"\nexec '" + goBin + "' \"$@\"\n"
		if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		own := filepath.Join(dir, "netrc")
		const ownEntry = "machine own.example.test login me password own-password"
		if err := os.WriteFile(own, []byte(ownEntry+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		seen := filepath.Join(dir, "seen")
		f, _ := newFetcher(t, h, direct.Options{
			Go:          wrapper,
			Env:         append(s.env(s.URL), "NETRC="+own, "NETRC_SEEN="+seen),
			Credentials: []direct.Credential{{Host: s.Host, Username: "u", Password: password}},
		})
		if got := string(mustFetch(t, f, path(t, mod, "", protocol.List))); got != "v1.0.0\n" {
			t.Errorf("list = %q, want v1.0.0", got)
		}
		netrc, err := os.ReadFile(seen)
		if err != nil {
			t.Fatalf("the go command was not run through the wrapper: %v", err)
		}
		for _, want := range []string{ownEntry, "machine 127.0.0.1 login u password " + password} {
			if !strings.Contains(string(netrc), want) {
				t.Errorf("the go command's netrc lacks %q:\n%s", want, netrc)
			}
		}
		name, _ := os.ReadFile(seen + ".name")
		if strings.TrimSpace(string(name)) == own {
			t.Errorf("the go command was given the user's own netrc %s, want a private copy", own)
		}
		if b, _ := os.ReadFile(own); string(b) != ownEntry+"\n" {
			t.Errorf("the user's netrc was changed to:\n%s", b)
		}
	})
}

// TestRedactionKeepsMessagesReadable: a credential without a password does
// not turn every message into asterisks, and a secret that contains another
// is removed whole, not with its tail left.
func TestRedactionKeepsMessagesReadable(t *testing.T) {
	h, mod := privateRepo(t)
	s := newGitServer(t, h, "u", "pw", "")
	f, _ := newFetcher(t, h, direct.Options{Env: s.env(s.URL), Credentials: []direct.Credential{{Host: s.Host, Username: "u"}}})
	if _, err := fetch(t, f, path(t, mod, "", protocol.List)); err == nil || !strings.Contains(err.Error(), "no secure protocol found") {
		t.Errorf("with an empty password, error = %v, want the go command's message intact", err)
	}

	const long = "tok-and-the-rest-of-it"
	s2 := newGitServer(t, h, "u", long, "token "+long+" denied")
	f2, _ := newFetcher(t, h, direct.Options{Env: s2.env(s2.URL), Credentials: []direct.Credential{
		{Host: "a.example.test", Password: "tok"},
		{Host: s2.Host, Username: "u", Password: long},
	}})
	var err error
	for _, kind := range []protocol.Kind{protocol.List, protocol.Info} {
		// The server answers its first authorized request normally.
		if _, err = fetch(t, f2, path(t, mod, "v1.0.0", kind)); err != nil {
			break
		}
	}
	if err == nil || !strings.Contains(err.Error(), "denied") {
		t.Fatalf("the server's error was not passed on: %v", err)
	}
	if strings.Contains(err.Error(), "-and-the-rest-of-it") {
		t.Errorf("error shows the tail of a secret: %v", err)
	}
}

// TestNetrcFromHomeInEnv: with HOME set for the go command (Options.Env)
// and no NETRC, the netrc the go command gets holds the entries of that
// HOME's .netrc, the one it would read itself.
func TestNetrcFromHomeInEnv(t *testing.T) {
	h, mod := privateRepo(t)
	s := newGitServer(t, h, "u", "pw", "")
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	wrapper := filepath.Join(dir, "go")
	script := "#!/bin/sh\ncat \"$NETRC\" > \"$NETRC_SEEN\" || exit 99\nexec '" + goBin + "' \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	const ownEntry = "machine own.example.test login me password own-password"
	if err := os.WriteFile(filepath.Join(home, ".netrc"), []byte(ownEntry+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	seen := filepath.Join(dir, "seen")
	f, _ := newFetcher(t, h, direct.Options{
		Go:          wrapper,
		Env:         append(s.env(s.URL), "HOME="+home, "NETRC_SEEN="+seen),
		Credentials: []direct.Credential{{Host: s.Host, Username: "u", Password: "pw"}},
	})
	mustFetch(t, f, path(t, mod, "", protocol.List))
	netrc, err := os.ReadFile(seen)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(netrc), ownEntry) {
		t.Errorf("the go command's netrc lacks the entry of $HOME/.netrc:\n%s", netrc)
	}
}
