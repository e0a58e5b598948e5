package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/modvault/modvault/internal/proxytest"
)

// TestTLSAndAccessControl runs the binary with a config file that turns on
// HTTPS and access control: the real go command, trusting the test CA,
// gets a private module with a .netrc and a 404 without one, gets public
// modules without credentials; the log names the user and shows no
// password; a renewed certificate is served without a restart.
func TestTLSAndAccessControl(t *testing.T) {
	const password = "alice-s3cret-pass"
	up := proxytest.New(t,
		proxytest.Module{Path: "example.com/pub", Version: "v1.0.0", Files: map[string]string{"go.mod": "module example.com/pub\n\ngo 1.22\n", "p.go": "package pub\n"}},
		proxytest.Module{Path: "corp.example/team/secret", Version: "v1.0.0", Files: map[string]string{"go.mod": "module corp.example/team/secret\n\ngo 1.22\n", "s.go": "package secret\n"}},
	)
	dir := t.TempDir()
	caFile, certFile, keyFile := proxytest.WriteTestPKI(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(users, []byte("alice:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	config := filepath.Join(dir, "modvault.toml")
	if err := os.WriteFile(config, fmt.Appendf(nil, `
listen = %q
tls-cert = %q
tls-key = %q
auth-users = %q

[[auth-rule]]
pattern = "*"
allow = ["anyone"]

[[auth-rule]]
pattern = "corp.example"
allow = ["alice"]
`, addr, certFile, keyFile, users), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(cleanEnv(t.TempDir()), "GOPROXY="+up.URL, "GOSUMDB="+up.GOSUMDB(), "MODVAULT_CONFIG="+config, "GONOSUMDB=corp.example")
	p := start(t, env)
	p.waitReady(t)
	base := "https://" + addr

	client := func(netrc string) *proxytest.Go {
		g := proxytest.NewGo(t, base, up.GOSUMDB())
		g.Env = append(g.Env, "SSL_CERT_FILE="+caFile, "GONOSUMDB=corp.example")
		if netrc != "" {
			f := filepath.Join(t.TempDir(), "netrc")
			if err := os.WriteFile(f, []byte(netrc), 0o600); err != nil {
				t.Fatal(err)
			}
			g.Env = append(g.Env, "NETRC="+f)
		} else {
			g.Env = append(g.Env, "NETRC="+filepath.Join(t.TempDir(), "none"))
		}
		return g
	}
	withCreds := client("machine " + addr + " login alice password " + password + "\n")
	withCreds.Must("mod", "download", "corp.example/team/secret@v1.0.0", "example.com/pub@v1.0.0")

	anon := client("")
	anon.Must("mod", "download", "example.com/pub@v1.0.0")
	out, err := anon.Run("mod", "download", "corp.example/team/secret@v1.0.0")
	if err == nil || !strings.Contains(out, "404 Not Found") {
		t.Errorf("private module without credentials: %v\n%s", err, out)
	}
	wrong := client("machine " + addr + " login alice password wrong-password\n")
	if out, err := wrong.Run("mod", "download", "corp.example/team/secret@v1.0.0"); err == nil || !strings.Contains(out, "404 Not Found") {
		t.Errorf("private module with a wrong password: %v\n%s", err, out)
	}

	// A renewed certificate is picked up without a restart.
	serial := func() string {
		t.Helper()
		pool := x509.NewCertPool()
		ca, err := os.ReadFile(caFile)
		if err != nil {
			t.Fatal(err)
		}
		pool.AppendCertsFromPEM(ca)
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool})
		if err != nil {
			t.Fatalf("TLS handshake: %v", err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := serial()
	renewed := t.TempDir()
	newCA, newCert, newKey := proxytest.WriteTestPKI(t, renewed)
	for _, f := range [][2]string{{newCert, certFile}, {newKey, keyFile}, {newCA, caFile}} {
		b, err := os.ReadFile(f[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f[1], b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		pool := x509.NewCertPool()
		ca, _ := os.ReadFile(caFile)
		pool.AppendCertsFromPEM(ca)
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool})
		if err == nil {
			conn.Close()
			break // the new CA verifies the served certificate: it is the new one
		}
		if time.Now().After(deadline) {
			t.Fatalf("the renewed certificate was not served within 30s (first serial %s): %v", before, err)
		}
		time.Sleep(500 * time.Millisecond)
	}

	log := p.logText()
	if strings.Contains(log, password) || strings.Contains(log, "wrong-password") {
		t.Errorf("a password appears in the log:\n%s", log)
	}
	if !strings.Contains(log, "user=alice") {
		t.Errorf("the request log does not name the user:\n%s", log)
	}
	if !strings.Contains(log, "scheme=https") {
		t.Errorf("the startup log does not say https:\n%s", log)
	}
}
