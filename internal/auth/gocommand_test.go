package auth_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/modvault/modvault/internal/app"
	"github.com/modvault/modvault/internal/auth"
	"github.com/modvault/modvault/internal/config"
	"github.com/modvault/modvault/internal/proxytest"
	"github.com/modvault/modvault/internal/tlsfiles"
)

func TestMain(m *testing.M) {
	proxytest.BlockNonLoopback()
	os.Exit(m.Run())
}

// server is modvault over TLS with access control, as the go command sees
// it.
type server struct {
	URL      string // https://127.0.0.1:PORT
	HostPort string
	caFile   string
	gosumdb  string
}

const (
	alicePassword = "alice-correct-horse"
	ciToken       = "ci-token-8c1f0e9a7d6b5c4a"
	publicMod     = "example.com/pub"
	privateMod    = "corp.example/team/secret"
	missingMod    = "corp.example/team/nothere"
)

// startServer runs the real modvault (app.New) in front of a fake upstream
// with a public and a private module, behind auth.Handler, over TLS from a
// tlsfiles.Reloader. The private module is for alice and the ci token;
// everything else is open.
func startServer(t *testing.T) *server {
	t.Helper()
	up := proxytest.New(t,
		proxytest.Module{Path: publicMod, Version: "v1.0.0", Files: map[string]string{
			"go.mod": "module " + publicMod + "\n\ngo 1.22\n",
			"p.go":   "package pub\n\nconst P = 1\n",
		}},
		proxytest.Module{Path: privateMod, Version: "v1.0.0", Files: map[string]string{
			"go.mod": "module " + privateMod + "\n\ngo 1.22\n",
			"s.go":   "package secret\n\nconst S = 2\n",
		}},
	)
	dir := t.TempDir()
	caFile, certFile, keyFile := proxytest.WriteTestPKI(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte(alicePassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users, tokens := filepath.Join(dir, "users"), filepath.Join(dir, "tokens")
	if err := os.WriteFile(users, []byte("alice:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tokens, []byte("ci:"+auth.HashToken(ciToken)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	a, err := app.New(context.Background(), config.Serve{
		Storage:         "mem://",
		Upstream:        up.URL,
		SumDB:           []string{up.SumDBName},
		GOSUMDB:         []config.SumDB{{Name: up.SumDBName, Key: up.SumDBKey}},
		ListTTL:         time.Millisecond,
		FillTimeout:     time.Minute,
		ShutdownTimeout: time.Second,
	}, log, "test")
	if err != nil {
		t.Fatal(err)
	}
	guard, err := auth.New(auth.Config{
		Users:  users,
		Tokens: tokens,
		Rules: []auth.Rule{
			{Pattern: "*", Allow: []string{auth.Anyone}},
			{Pattern: "corp.example/team", Allow: []string{"alice", "token:ci"}},
		},
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := tlsfiles.New(certFile, keyFile, log)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:   guard.Handler(a.Handler),
		TLSConfig: certs.TLSConfig(),
		ErrorLog:  slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
		a.Close()
	})
	return &server{URL: "https://" + ln.Addr().String(), HostPort: ln.Addr().String(), caFile: caFile, gosumdb: up.GOSUMDB()}
}

// goCmd returns a go command using s as its GOPROXY (and for the checksum
// database), trusting its CA, with the .netrc content netrc ("" for none)
// and the extra environment.
func (s *server) goCmd(t *testing.T, netrc string, env ...string) *proxytest.Go {
	t.Helper()
	g := proxytest.NewGo(t, s.URL, s.gosumdb)
	netrcFile := filepath.Join(t.TempDir(), "netrc")
	if netrc != "" {
		if err := os.WriteFile(netrcFile, []byte(netrc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	g.Env = append(g.Env, "SSL_CERT_FILE="+s.caFile, "NETRC="+netrcFile)
	g.Env = append(g.Env, env...)
	return g
}

// serverResponse returns the go command's report of the server's answer
// for a module: the lines from "reading https://" on, with the module path
// and port replaced, so that answers for different modules compare.
func serverResponse(out, mod, hostPort string) string {
	out = strings.ReplaceAll(out, mod, "MODULE")
	out = strings.ReplaceAll(out, hostPort, "HOST")
	m := regexp.MustCompile(`(?s)reading https://.*`).FindString(out)
	return strings.TrimSpace(m)
}

// TestGoCommand runs the real go command against modvault over TLS with
// access control: a public module needs no credentials; the private one
// downloads with the right .netrc entry, a token in .netrc, or a bearer
// token from a GOAUTH command; without credentials or with wrong ones the
// go command reports a plain 404 "not found", the same as for a private
// module that does not exist.
func TestGoCommand(t *testing.T) {
	s := startServer(t)
	machine := "machine " + s.HostPort // the go command matches host:port (see below)

	t.Run("public module, no credentials", func(t *testing.T) {
		s.goCmd(t, "").Must("mod", "download", "-json", publicMod+"@v1.0.0")
	})

	t.Run("private module, right password in .netrc", func(t *testing.T) {
		out := s.goCmd(t, machine+" login alice password "+alicePassword+"\n").Must("mod", "download", "-x", "-json", privateMod+"@v1.0.0")
		if !strings.Contains(out, `"Version": "v1.0.0"`) {
			t.Errorf("go mod download printed:\n%s", out)
		}
		// The go command verified the module with the checksum database
		// through modvault: a lookup of the private path, with the
		// credentials.
		lookup := regexp.MustCompile(`# get https://\S+/sumdb/\S+/lookup/` + regexp.QuoteMeta(privateMod) + `@v1.0.0: 200 OK`)
		if !lookup.MatchString(out) {
			t.Errorf("no successful checksum-database lookup of the private module:\n%s", out)
		}
	})

	t.Run("private module, token as .netrc password", func(t *testing.T) {
		s.goCmd(t, machine+" login "+auth.TokenUser+" password "+ciToken+"\n").Must("mod", "download", "-json", privateMod+"@v1.0.0")
	})

	t.Run("private module, user and password in GOPROXY", func(t *testing.T) {
		proxy := "GOPROXY=https://alice:" + alicePassword + "@" + s.HostPort
		s.goCmd(t, "", proxy).Must("mod", "download", "-json", privateMod+"@v1.0.0")
	})

	t.Run("private module, bearer token from GOAUTH command", func(t *testing.T) {
		script := filepath.Join(t.TempDir(), "goauth")
		body := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n\\n%%s\\n\\n' '%s' 'Authorization: Bearer %s'\n", s.URL, ciToken)
		if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
			t.Fatal(err)
		}
		s.goCmd(t, "", "GOAUTH="+script).Must("mod", "download", "-json", privateMod+"@v1.0.0")
	})

	// The go command's report of the denial of the private module,
	// without credentials, is the reference.
	out, err := s.goCmd(t, "").Run("mod", "download", privateMod+"@v1.0.0")
	if err == nil {
		t.Fatalf("private module downloaded without credentials:\n%s", out)
	}
	want := serverResponse(out, privateMod, s.HostPort)
	t.Logf("the go command's report without credentials:\n%s", want)
	if !strings.Contains(want, "404 Not Found") || !strings.Contains(want, "server response: not found") {
		t.Fatalf("the go command's report is not a plain 404 not found:\n%s", out)
	}

	for _, tt := range []struct {
		name  string
		mod   string
		netrc string
		env   []string
	}{
		{"private module that does not exist, no credentials", missingMod, "", nil},
		{"private module that does not exist, right password", missingMod, machine + " login alice password " + alicePassword + "\n", nil},
		{"wrong password", privateMod, machine + " login alice password wrong\n", nil},
		{"unknown user", privateMod, machine + " login mallory password " + alicePassword + "\n", nil},
		{"wrong token", privateMod, machine + " login " + auth.TokenUser + " password wrong\n", nil},
		// The go command looks credentials up by host and port: an entry
		// for the host alone is not sent to a server on another port
		// than 443.
		{".netrc entry without the port", privateMod, "machine 127.0.0.1 login alice password " + alicePassword + "\n", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := s.goCmd(t, tt.netrc, tt.env...).Run("mod", "download", tt.mod+"@v1.0.0")
			if err == nil {
				if tt.mod == missingMod {
					t.Fatalf("a module that does not exist was downloaded:\n%s", out)
				}
				t.Fatalf("private module downloaded:\n%s", out)
			}
			if tt.mod == missingMod && strings.Contains(tt.netrc, alicePassword) {
				// Allowed: the go command gets modvault's own answer for
				// a missing module, which may say more, but is a 404 too.
				if !strings.Contains(out, "404 Not Found") {
					t.Errorf("missing module, allowed user: not a 404:\n%s", out)
				}
				return
			}
			if got := serverResponse(out, tt.mod, s.HostPort); got != want {
				t.Errorf("the go command's report differs from the one without credentials:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestServeTLSWiring checks the TLS wiring the lead will use
// (http.Server.ServeTLS with TLSConfig and no certificate files) with a
// plain client: it gets the Reloader's certificate, and a public path
// answers without credentials while /metrics (no "@metrics" rule) is
// denied.
func TestServeTLSWiring(t *testing.T) {
	s := startServer(t)
	pem, err := os.ReadFile(s.caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig.RootCAs = pool
	tr.ForceAttemptHTTP2 = true
	client := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	get := func(path string) (int, string, string) {
		res, err := client.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b), res.Proto
	}
	if code, _, proto := get("/healthz"); code != http.StatusOK || proto != "HTTP/2.0" {
		t.Errorf("healthz: %d over %s, want 200 over HTTP/2.0", code, proto)
	}
	if code, body, _ := get("/metrics"); code != http.StatusNotFound || body != auth.NotFound {
		t.Errorf("metrics without an @metrics rule: %d %q, want the denial", code, body)
	}
	if code, body, _ := get("/" + privateMod + "/@v/list"); code != http.StatusNotFound || body != auth.NotFound {
		t.Errorf("private list, anonymous: %d %q, want the denial", code, body)
	}
	if code, body, _ := get("/" + publicMod + "/@v/list"); code != http.StatusOK || body != "v1.0.0\n" {
		t.Errorf("public list: %d %q", code, body)
	}
}
