package config

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/modvault/modvault/internal/proxytest"
)

func TestMain(m *testing.M) {
	proxytest.BlockNonLoopback()
	os.Exit(m.Run())
}

// fakeEnv is an environment and a go command for ParseServe. It records
// which variables "go env" was asked for.
type fakeEnv struct {
	vars   map[string]string // the process environment
	goEnv  map[string]string // what "go env" prints
	goErr  error             // what "go env" fails with
	goRuns []string
}

func (f *fakeEnv) env() Env {
	return Env{
		Getenv: func(k string) string { return f.vars[k] },
		GoEnv: func(_ context.Context, name string) (string, error) {
			f.goRuns = append(f.goRuns, name)
			if f.goErr != nil {
				return "", f.goErr
			}
			return f.goEnv[name], nil
		},
	}
}

func parse(t *testing.T, f *fakeEnv, args ...string) Serve {
	t.Helper()
	c, err := ParseServe(context.Background(), args, f.env())
	if err != nil {
		t.Fatalf("ParseServe(%q): %v", args, err)
	}
	return c
}

// home is a $HOME for tests that do not care about the storage default.
func home() map[string]string {
	return map[string]string{"HOME": filepath.FromSlash("/home/u")}
}

func with(base map[string]string, kv ...string) map[string]string {
	m := make(map[string]string)
	for k, v := range base {
		m[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func TestUpstreamPrecedence(t *testing.T) {
	goEnv := map[string]string{"GOPROXY": "https://goenv.test", "GOSUMDB": "sum.goenv.test"}
	tests := []struct {
		name       string
		vars       map[string]string
		args       []string
		want       string
		wantOrigin string
		wantGoEnv  bool // whether "go env GOPROXY" may run
	}{
		{"flag over everything",
			with(home(), "MODVAULT_UPSTREAM", "https://modvault-env.test", "GOPROXY", "https://goproxy-env.test"),
			[]string{"--upstream", "https://flag.test"}, "https://flag.test", "flag", false},
		{"MODVAULT_UPSTREAM over GOPROXY",
			with(home(), "MODVAULT_UPSTREAM", "https://modvault-env.test", "GOPROXY", "https://goproxy-env.test"),
			nil, "https://modvault-env.test", "env MODVAULT_UPSTREAM", false},
		{"GOPROXY over go env",
			with(home(), "GOPROXY", "https://goproxy-env.test|https://second.test,direct"),
			nil, "https://goproxy-env.test|https://second.test,direct", "env GOPROXY", false},
		{"go env when nothing is set",
			home(), nil, "https://goenv.test", "go env GOPROXY", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeEnv{vars: tt.vars, goEnv: goEnv}
			c := parse(t, f, tt.args...)
			if c.Upstream != tt.want || c.Origins["upstream"] != tt.wantOrigin {
				t.Errorf("upstream = %q from %q, want %q from %q", c.Upstream, c.Origins["upstream"], tt.want, tt.wantOrigin)
			}
			if ran := slices.Contains(f.goRuns, "GOPROXY"); ran != tt.wantGoEnv {
				t.Errorf("go env GOPROXY ran: %v, want %v", ran, tt.wantGoEnv)
			}
		})
	}
}

func TestGoEnvFailureMeansNoUpstream(t *testing.T) {
	f := &fakeEnv{vars: home(), goErr: errors.New("go: executable file not found in $PATH")}
	c := parse(t, f)
	if c.Upstream != "" || c.Origins["upstream"] != "default" || c.SumDB != nil {
		t.Errorf("without go: upstream %q from %q, sumdb %q; want none", c.Upstream, c.Origins["upstream"], c.SumDB)
	}
}

func TestSumDBPrecedence(t *testing.T) {
	const key = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
	goEnv := map[string]string{"GOPROXY": "https://goenv.test", "GOSUMDB": "sum.goenv.test"}
	tests := []struct {
		name       string
		vars       map[string]string
		args       []string
		want       []string
		wantOrigin string
	}{
		{"flag list", with(home(), "MODVAULT_SUMDB", "env.test", "GOSUMDB", key),
			[]string{"--sumdb", " a.test, b.test ,"}, []string{"a.test", "b.test"}, "flag"},
		{"MODVAULT_SUMDB", with(home(), "MODVAULT_SUMDB", "env.test", "GOSUMDB", key),
			nil, []string{"env.test"}, "env MODVAULT_SUMDB"},
		{"GOSUMDB with key and URL", with(home(), "GOSUMDB", key+" https://sum.example.test"),
			nil, []string{"sum.golang.org"}, "env GOSUMDB"},
		{"GOSUMDB off", with(home(), "GOSUMDB", "off"),
			nil, nil, "env GOSUMDB"},
		{"go env", home(),
			nil, []string{"sum.goenv.test"}, "go env GOSUMDB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := parse(t, &fakeEnv{vars: tt.vars, goEnv: goEnv}, tt.args...)
			if !slices.Equal(c.SumDB, tt.want) || c.Origins["sumdb"] != tt.wantOrigin {
				t.Errorf("sumdb = %q from %q, want %q from %q", c.SumDB, c.Origins["sumdb"], tt.want, tt.wantOrigin)
			}
		})
	}
}

func TestEverySettingFromFlagOrEnv(t *testing.T) {
	f := &fakeEnv{vars: with(home(),
		"MODVAULT_LISTEN", "127.0.0.1:1",
		"MODVAULT_STORAGE", "mem://",
		"MODVAULT_LIST_TTL", "5s",
		"MODVAULT_FILL_TIMEOUT", "1m",
		"MODVAULT_TEMP_DIR", "/tmp/x",
		"MODVAULT_SHUTDOWN_TIMEOUT", "2s",
		"MODVAULT_LOG_FORMAT", "json",
		"MODVAULT_LOG_LEVEL", "debug",
	)}
	c := parse(t, f, "--listen=127.0.0.1:2", "--list-ttl=7s", "--log-level=warn")
	want := Serve{
		Listen: "127.0.0.1:2", Storage: "mem://", ListTTL: 7 * time.Second, FillTimeout: time.Minute,
		TempDir: "/tmp/x", ShutdownTimeout: 2 * time.Second, LogFormat: "json", LogLevel: "warn",
	}
	if c.Listen != want.Listen || c.Storage != want.Storage || c.ListTTL != want.ListTTL ||
		c.FillTimeout != want.FillTimeout || c.TempDir != want.TempDir || c.ShutdownTimeout != want.ShutdownTimeout ||
		c.LogFormat != want.LogFormat || c.LogLevel != want.LogLevel {
		t.Errorf("got %+v\nwant %+v", c, want)
	}
	for name, origin := range map[string]string{
		"listen": "flag", "list-ttl": "flag", "log-level": "flag",
		"storage": "env MODVAULT_STORAGE", "fill-timeout": "env MODVAULT_FILL_TIMEOUT", "temp-dir": "env MODVAULT_TEMP_DIR",
		"shutdown-timeout": "env MODVAULT_SHUTDOWN_TIMEOUT", "log-format": "env MODVAULT_LOG_FORMAT",
	} {
		if c.Origins[name] != origin {
			t.Errorf("origin of %s = %q, want %q", name, c.Origins[name], origin)
		}
	}
}

func TestDefaults(t *testing.T) {
	f := &fakeEnv{vars: with(home(), "GOPROXY", "https://p.test", "GOSUMDB", "sum.test")}
	c := parse(t, f)
	if c.Listen != ":3000" || c.ListTTL != time.Minute || c.FillTimeout != 10*time.Minute ||
		c.ShutdownTimeout != 30*time.Second || c.LogFormat != "text" || c.LogLevel != "info" || c.TempDir != "" {
		t.Errorf("defaults: %+v", c)
	}
	if c.Origins["listen"] != "default" || c.Origins["storage"] != "default" {
		t.Errorf("origins: %v", c.Origins)
	}
	// GOPRIVATE, GONOPROXY and GONOSUMDB are not in the environment: only
	// go env can say whether the go env file sets them.
	if !slices.Equal(f.goRuns, []string{"GOPRIVATE", "GONOPROXY", "GONOSUMDB"}) {
		t.Errorf("go env ran for %q, want GOPRIVATE, GONOPROXY and GONOSUMDB: the environment has GOPROXY and GOSUMDB", f.goRuns)
	}
	if c.DirectLimit != 4 || c.DirectTimeout != 10*time.Minute || c.DirectTokens != nil {
		t.Errorf("direct defaults: limit %d, timeout %v, tokens %v", c.DirectLimit, c.DirectTimeout, c.DirectTokens)
	}
}

// TestDefaultStorage checks that with no --storage the store is a file://
// URL under DataDir.
func TestDefaultStorage(t *testing.T) {
	vars := with(home(), "GOPROXY", "off", "GOSUMDB", "off", "LocalAppData", `C:\Users\u\AppData\Local`)
	dir, err := DataDir(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	c := parse(t, &fakeEnv{vars: vars})
	want := "file://" + filepath.ToSlash(filepath.Join(dir, "store"))
	if runtime.GOOS == "windows" {
		want = "file:///" + filepath.ToSlash(filepath.Join(dir, "store"))
	}
	if c.Storage != want {
		t.Errorf("default storage = %q, want %q", c.Storage, want)
	}
}

func TestDataDir(t *testing.T) {
	type tc struct {
		vars    map[string]string
		want    string // "" means an error
		wantErr string
	}
	var tests []tc
	switch runtime.GOOS {
	case "windows":
		tests = []tc{
			{vars: map[string]string{"LocalAppData": `C:\Users\u\AppData\Local`, "HOME": `C:\h`}, want: `C:\Users\u\AppData\Local\modvault`},
			{vars: map[string]string{"HOME": `C:\h`}, wantErr: "LocalAppData"},
		}
	case "darwin", "ios":
		tests = []tc{
			{vars: map[string]string{"HOME": "/Users/u", "XDG_DATA_HOME": "/x"}, want: "/Users/u/Library/Application Support/modvault"},
			{vars: map[string]string{}, wantErr: "$HOME"},
		}
	default:
		tests = []tc{
			{vars: map[string]string{"HOME": "/home/u"}, want: "/home/u/.local/share/modvault"},
			{vars: map[string]string{"HOME": "/home/u", "XDG_DATA_HOME": "/data"}, want: "/data/modvault"},
			// The XDG base directory spec says to ignore relative paths.
			{vars: map[string]string{"HOME": "/home/u", "XDG_DATA_HOME": "rel/data"}, want: "/home/u/.local/share/modvault"},
			{vars: map[string]string{"XDG_DATA_HOME": "/data"}, want: "/data/modvault"},
			{vars: map[string]string{}, wantErr: "$HOME"},
		}
	}
	for _, tt := range tests {
		got, err := DataDir(func(k string) string { return tt.vars[k] })
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("DataDir with %v = %q, %v; want an error about %s", tt.vars, got, err, tt.wantErr)
			}
		case err != nil || got != filepath.FromSlash(tt.want):
			t.Errorf("DataDir with %v = %q, %v; want %q", tt.vars, got, err, filepath.FromSlash(tt.want))
		}
	}
}

func TestNoDataDirIsAnError(t *testing.T) {
	_, err := ParseServe(context.Background(), nil, (&fakeEnv{vars: map[string]string{"GOPROXY": "off"}}).env())
	if err == nil || !strings.Contains(err.Error(), "--storage") {
		t.Errorf("no $HOME and no --storage: err = %v, want one that suggests --storage", err)
	}
	// With --storage, no data directory is needed.
	if _, err := ParseServe(context.Background(), []string{"--storage=mem://"}, (&fakeEnv{vars: map[string]string{"GOPROXY": "off"}}).env()); err != nil {
		t.Error(err)
	}
}

// TestBadSettings checks that every bad value is rejected with an error that
// names the setting as the user gave it.
func TestBadSettings(t *testing.T) {
	tests := []struct {
		vars  []string
		args  []string
		words []string // the error must contain each
	}{
		{args: []string{"--list-ttl=soon"}, words: []string{"-list-ttl", `"soon"`}},
		{args: []string{"--list-ttl=0"}, words: []string{"--list-ttl", "not a positive duration"}},
		{args: []string{"--fill-timeout=-5s"}, words: []string{"--fill-timeout", "-5s"}},
		{args: []string{"--shutdown-timeout=0s"}, words: []string{"--shutdown-timeout"}},
		{vars: []string{"MODVAULT_SHUTDOWN_TIMEOUT", "forever"}, words: []string{"MODVAULT_SHUTDOWN_TIMEOUT", `"forever"`}},
		{vars: []string{"MODVAULT_LIST_TTL", "-1m"}, words: []string{"MODVAULT_LIST_TTL", "not a positive duration"}},
		{args: []string{"--log-level=loud"}, words: []string{"--log-level", `"loud"`}},
		{vars: []string{"MODVAULT_LOG_LEVEL", "loud"}, words: []string{"MODVAULT_LOG_LEVEL", `"loud"`}},
		{args: []string{"--log-format=xml"}, words: []string{"--log-format", `"xml"`}},
		{args: []string{"--no-such-flag"}, words: []string{"no-such-flag"}},
		{args: []string{"--storage=mem://", "extra"}, words: []string{"unexpected arguments", "extra"}},
		{args: []string{"--direct-limit=0"}, words: []string{"--direct-limit", "0"}},
		{args: []string{"--lock=memcached://x:1"}, words: []string{"--lock", "redis://"}},
		{vars: []string{"MODVAULT_LOCK", "127.0.0.1:6379"}, words: []string{"MODVAULT_LOCK", "redis://"}},
		{args: []string{"--zip-redirect=-1m"}, words: []string{"--zip-redirect", "negative"}},
		{args: []string{"--public-url=proxy.corp.example"}, words: []string{"--public-url", "absolute http:// or https:// URL"}},
		{args: []string{"--public-url=/goproxy/"}, words: []string{"--public-url", "absolute"}},
		{vars: []string{"MODVAULT_PUBLIC_URL", "ftp://proxy.corp.example/"}, words: []string{"MODVAULT_PUBLIC_URL", "https://"}},
		{args: []string{"--public-url=https://user:pw@proxy.corp.example/"}, words: []string{"--public-url", "no credentials"}},
		{args: []string{"--direct-timeout=0s"}, words: []string{"--direct-timeout"}},
		{args: []string{"--goprivate=corp.test,[bad"}, words: []string{"--goprivate", "[bad"}},
		{vars: []string{"GOPRIVATE", "[bad"}, words: []string{"GOPRIVATE", "[bad"}},
		{vars: []string{"MODVAULT_DIRECT_TOKENS", "git.corp.test"}, words: []string{"MODVAULT_DIRECT_TOKENS", "entry 1", "host=token"}},
		{args: []string{"--direct-tokens=a.test=x,https://b.test=secret-value"}, words: []string{"--direct-tokens", "entry 2"}},
	}
	for _, tt := range tests {
		f := &fakeEnv{vars: with(home(), tt.vars...), goEnv: map[string]string{"GOPROXY": "off"}}
		_, err := ParseServe(context.Background(), tt.args, f.env())
		if err == nil {
			t.Errorf("env %q, args %q: no error", tt.vars, tt.args)
			continue
		}
		msg := err.Error()
		for _, w := range tt.words {
			if !strings.Contains(msg, w) {
				t.Errorf("env %q, args %q: error %q does not mention %s", tt.vars, tt.args, msg, w)
			}
		}
		if strings.Contains(msg, "\n") {
			t.Errorf("env %q, args %q: error is not one line: %q", tt.vars, tt.args, msg)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help"} {
		_, err := ParseServe(context.Background(), []string{arg}, (&fakeEnv{vars: home()}).env())
		if !errors.Is(err, flag.ErrHelp) {
			t.Errorf("ParseServe(%s): err = %v, want flag.ErrHelp", arg, err)
		}
	}
	var b strings.Builder
	ServeUsage(&b)
	for _, name := range []string{"-listen", "-storage", "-upstream", "-sumdb", "-list-ttl", "-fill-timeout", "-temp-dir", "-shutdown-timeout", "-log-format", "-log-level", "MODVAULT_"} {
		if !strings.Contains(b.String(), name) {
			t.Errorf("usage does not mention %s:\n%s", name, b.String())
		}
	}
}

// verifierKey returns a new checksum database key named name.
func verifierKey(t *testing.T, name string) string {
	t.Helper()
	_, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	return vkey
}

// TestParseSumDBs: a GOSUMDB value is parsed once into its databases, with
// the key of a database the go command knows by name, and a malformed key
// or URL is an error.
func TestParseSumDBs(t *testing.T) {
	k := verifierKey(t, "sum.example")
	known := knownKey("sum.golang.org")
	if !strings.HasPrefix(known, "sum.golang.org+") {
		t.Fatalf("known key of the default database = %q", known)
	}
	for _, tt := range []struct {
		in   string
		want []SumDB
	}{
		{"", nil},
		{"off", nil},
		{"  off  ", nil},
		{"sum.golang.org", []SumDB{{Name: "sum.golang.org", Key: known}}},
		{" sum.golang.org ", []SumDB{{Name: "sum.golang.org", Key: known}}},
		{known + " https://sum.example.test", []SumDB{{Name: "sum.golang.org", Key: known, URL: "https://sum.example.test"}}},
		{k, []SumDB{{Name: "sum.example", Key: k}}},
		{k + " https://db.example/sum", []SumDB{{Name: "sum.example", Key: k, URL: "https://db.example/sum"}}},
		{"unknown.example", []SumDB{{Name: "unknown.example"}}},
		{k + ", unknown.example,", []SumDB{{Name: "sum.example", Key: k}, {Name: "unknown.example"}}},
	} {
		got, err := ParseSumDBs(tt.in)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ParseSumDBs(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		for _, db := range got {
			if again, err := ParseSumDBs(db.String()); err != nil || !slices.Equal(again, []SumDB{db}) {
				t.Errorf("ParseSumDBs(%q) of %+v = %+v, %v", db.String(), db, again, err)
			}
		}
	}
	for _, in := range []string{
		"sum.example+01234567+AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=", // wrong hash
		"sum.example+zz",
		k + " ftp://db.example",
		k + " https://u:s3cret@db.example extra",
	} {
		if _, err := ParseSumDBs(in); err == nil {
			t.Errorf("ParseSumDBs(%q): no error", in)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("ParseSumDBs(%q): error shows the password: %v", in, err)
		}
	}
}

// TestMalformedSumDBKey: a GOSUMDB key that is not one stops modvault with
// an error naming the setting it came from.
func TestMalformedSumDBKey(t *testing.T) {
	const bad = "sum.example+01234567+AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
	for _, tt := range []struct {
		vars    map[string]string
		args    []string
		goEnv   map[string]string
		setting string
	}{
		{home(), []string{"--gosumdb=" + bad}, nil, "--gosumdb"},
		{with(home(), "MODVAULT_GOSUMDB", bad), nil, nil, "MODVAULT_GOSUMDB"},
		{with(home(), "GOSUMDB", bad), nil, nil, "GOSUMDB"},
		{home(), nil, map[string]string{"GOSUMDB": bad}, "go env GOSUMDB"},
	} {
		f := &fakeEnv{vars: with(tt.vars, "GOPROXY", "off"), goEnv: tt.goEnv}
		_, err := ParseServe(context.Background(), tt.args, f.env())
		if err == nil || !strings.HasPrefix(err.Error(), tt.setting+": ") || !strings.Contains(err.Error(), "key") {
			t.Errorf("%v %q: error %v, want one naming %s and the key", tt.vars, tt.args, err, tt.setting)
		}
	}
}

// TestSeveralChecksumDatabases: --gosumdb takes several GOSUMDB values
// separated by commas, and all of them are served under /sumdb/.
func TestSeveralChecksumDatabases(t *testing.T) {
	a := verifierKey(t, "sum.a.test")
	b := verifierKey(t, "sum.b.test") + " https://b.test"
	c, err := ParseServe(context.Background(), []string{"--gosumdb", a + "," + b}, Env{
		Getenv: func(k string) string {
			return map[string]string{"HOME": "/home/u", "GOPROXY": "off", "GONOSUMDB": "x"}[k]
		},
		GoEnv: func(context.Context, string) (string, error) { return "", nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.SumDB, []string{"sum.a.test", "sum.b.test"}) {
		t.Errorf("SumDB = %q, want both names", c.SumDB)
	}
	if len(c.GOSUMDB) != 2 || c.GOSUMDB[0].Key != a || c.GOSUMDB[1].URL != "https://b.test" {
		t.Errorf("GOSUMDB = %+v, want both databases", c.GOSUMDB)
	}
}

// TestPrivatePatternsLikeTheGoCommand: GONOPROXY and GONOSUMDB default to
// GOPRIVATE, from the environment, a flag or go env, and each can be set on
// its own.
func TestPrivatePatternsLikeTheGoCommand(t *testing.T) {
	base := with(home(), "GOPROXY", "off", "GOSUMDB", "off")
	tests := []struct {
		name                    string
		vars                    map[string]string
		goEnv                   map[string]string
		args                    []string
		private, noProxy, noSum string
	}{
		{"nothing", base, nil, nil, "", "", ""},
		{"GOPRIVATE", with(base, "GOPRIVATE", "corp.test"), nil, nil, "corp.test", "corp.test", "corp.test"},
		{"flag", base, nil, []string{"--goprivate=corp.test"}, "corp.test", "corp.test", "corp.test"},
		{"go env", base, map[string]string{"GOPRIVATE": "corp.test"}, nil, "corp.test", "corp.test", "corp.test"},
		{"GONOPROXY=none", with(base, "GOPRIVATE", "corp.test", "GONOPROXY", "none"), nil, nil, "corp.test", "none", "corp.test"},
		{"each", with(base, "GOPRIVATE", "a.test", "GONOPROXY", "b.test", "GONOSUMDB", "c.test"), nil, nil, "a.test", "b.test", "c.test"},
		{"flags win", with(base, "GOPRIVATE", "a.test"), nil, []string{"--gonoproxy=x.test", "--gonosumdb=y.test"}, "a.test", "x.test", "y.test"},
	}
	for _, tt := range tests {
		f := &fakeEnv{vars: tt.vars, goEnv: tt.goEnv}
		c := parse(t, f, tt.args...)
		if c.GOPRIVATE != tt.private || c.GONOPROXY != tt.noProxy || c.GONOSUMDB != tt.noSum {
			t.Errorf("%s: GOPRIVATE %q GONOPROXY %q GONOSUMDB %q, want %q %q %q", tt.name, c.GOPRIVATE, c.GONOPROXY, c.GONOSUMDB, tt.private, tt.noProxy, tt.noSum)
		}
	}
}

// TestDirectTokens: tokens parse with and without a user name, and neither
// an error nor the printed form shows the secret.
func TestDirectTokens(t *testing.T) {
	f := &fakeEnv{vars: with(home(), "GOPROXY", "off", "GOSUMDB", "off",
		"MODVAULT_DIRECT_TOKENS", "git.corp.test=s3cret-one, git.other.test:8443=ci-bot:s3cret-two")}
	c := parse(t, f)
	want := []Token{{Host: "git.corp.test", Secret: "s3cret-one"}, {Host: "git.other.test:8443", Username: "ci-bot", Secret: "s3cret-two"}}
	if !slices.Equal(c.DirectTokens, want) {
		t.Errorf("tokens %+v, want %+v", c.DirectTokens, want)
	}
	printed := fmt.Sprint(c.DirectTokens) + fmt.Sprintf("%v %s", c.DirectTokens[0], c.DirectTokens[1])
	if strings.Contains(printed, "s3cret") {
		t.Errorf("printed tokens show a secret: %s", printed)
	}
	_, err := ParseServe(context.Background(), []string{"--direct-tokens=ok.test=a,bad.test/path=s3cret-three"}, f.env())
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("bad token: error %v, want one without the secret", err)
	}
}

// writeConfig writes a TOML configuration file and returns its path.
func writeConfig(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "modvault.toml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConfigFilePrecedence: a setting comes from the flag, else the
// MODVAULT_* variable, else the config file, else the default, and the
// origin says which.
func TestConfigFilePrecedence(t *testing.T) {
	file := writeConfig(t, `
# comments are fine
listen = "127.0.0.1:4000"
list-ttl = "5m"
fill-timeout = "7m"
direct-limit = 9
sumdb = ["sum.a.test", "sum.b.test"]
log-level = "debug"
`)
	f := &fakeEnv{vars: with(home(), "GOPROXY", "off", "GOSUMDB", "off", "MODVAULT_CONFIG", file, "MODVAULT_LIST_TTL", "2m")}
	c := parse(t, f, "--fill-timeout=3m")
	if c.Listen != "127.0.0.1:4000" || c.ListTTL != 2*time.Minute || c.FillTimeout != 3*time.Minute || c.DirectLimit != 9 ||
		!slices.Equal(c.SumDB, []string{"sum.a.test", "sum.b.test"}) || c.LogLevel != "debug" || c.ShutdownTimeout != 30*time.Second {
		t.Errorf("got %+v", c)
	}
	for name, want := range map[string]string{
		"listen": "config " + file, "list-ttl": "env MODVAULT_LIST_TTL", "fill-timeout": "flag",
		"direct-limit": "config " + file, "shutdown-timeout": "default",
	} {
		if c.Origins[name] != want {
			t.Errorf("origin of %s = %q, want %q", name, c.Origins[name], want)
		}
	}
	// --config on the command line works as well as MODVAULT_CONFIG.
	f2 := &fakeEnv{vars: with(home(), "GOPROXY", "off", "GOSUMDB", "off")}
	if c := parse(t, f2, "--config", file); c.Listen != "127.0.0.1:4000" {
		t.Errorf("--config FILE: listen = %q", c.Listen)
	}
}

// TestConfigFileErrors: a broken file, an unknown key or a bad value stop
// with one line naming the file and the setting.
func TestConfigFileErrors(t *testing.T) {
	for _, tt := range []struct {
		content string
		words   []string
	}{
		{`listen = `, []string{"line 1"}},
		{`list_ttl = "5m"`, []string{"unknown setting", `"list_ttl"`}},
		{`listt-ttl = "5m"`, []string{"unknown setting"}},
		{`list-ttl = "soon"`, []string{"list-ttl", `"soon"`}},
		{`list-ttl = "-1m"`, []string{": list-ttl", "not a positive duration"}},
		{"[server]\nlisten = \":1\"", []string{"unknown setting", `"server"`}},
		{`direct-limit = 1.5`, []string{"direct-limit"}},
		{`public-url = "https://"`, []string{": public-url", "absolute"}},
	} {
		file := writeConfig(t, tt.content)
		f := &fakeEnv{vars: with(home(), "GOPROXY", "off", "GOSUMDB", "off")}
		_, err := ParseServe(context.Background(), []string{"--config=" + file}, f.env())
		if err == nil {
			t.Errorf("%q: no error", tt.content)
			continue
		}
		for _, w := range append(tt.words, file) {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q does not mention %s", tt.content, err, w)
			}
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: error is not one line: %q", tt.content, err)
		}
	}
	f := &fakeEnv{vars: with(home(), "GOPROXY", "off", "GOSUMDB", "off")}
	if _, err := ParseServe(context.Background(), []string{"--config=/nonexistent/modvault.toml"}, f.env()); err == nil || !strings.Contains(err.Error(), "/nonexistent/modvault.toml") {
		t.Errorf("missing file: %v", err)
	}
}

// TestSettingsRedactSecrets: "modvault config" shows every setting with
// its origin, and no secret from a URL, a token or a query parameter.
func TestSettingsRedactSecrets(t *testing.T) {
	file := writeConfig(t, `direct-tokens = "git.corp.test=s3cret-file-token"`+"\n"+`lock = "redis://:s3cret-redis@127.0.0.1:6379/0"`+"\n")
	f := &fakeEnv{vars: with(home(), "GOSUMDB", verifierKey(t, "sum.corp.test")+" https://u:s3cret-sumdb@sum.corp.test",
		"GOPROXY", "https://user:s3cret-proxy@proxy.corp.test|https://s3cret-tokenuser@other.test,direct",
		"MODVAULT_STORAGE", "s3://bucket?endpoint=http://u:s3cret-endpoint@minio.test&sas_token=s3cret-sas&region=x",
		"MODVAULT_CONFIG", file)}
	c := parse(t, f)
	settings := c.Settings()
	var all strings.Builder
	names := map[string]Setting{}
	for _, s := range settings {
		fmt.Fprintf(&all, "%s = %q # %s\n", s.Name, s.Value, s.Origin)
		names[s.Name] = s
	}
	if strings.Contains(all.String(), "s3cret") {
		t.Errorf("a secret shows:\n%s", all.String())
	}
	for name, origin := range map[string]string{"upstream": "env GOPROXY", "storage": "env MODVAULT_STORAGE", "direct-tokens": "config " + file, "listen": "default"} {
		if names[name].Origin != origin {
			t.Errorf("%s: origin %q, want %q", name, names[name].Origin, origin)
		}
	}
	if v := names["direct-tokens"].Value; v != "git.corp.test=***" {
		t.Errorf("direct-tokens shown as %q", v)
	}
	if v := names["gosumdb"].Value; !strings.HasPrefix(v, "sum.corp.test+") || !strings.HasSuffix(v, " https://***@sum.corp.test") {
		t.Errorf("gosumdb shown as %q", v)
	}
	if v := names["upstream"].Value; !strings.Contains(v, "proxy.corp.test") || !strings.Contains(v, ",direct") {
		t.Errorf("upstream shown as %q: the redaction lost the list", v)
	}
	if _, ok := names["config"]; ok {
		t.Error("the config file itself is listed as a setting")
	}
	if len(settings) < 20 {
		t.Errorf("only %d settings listed", len(settings))
	}
}

// TestAuthAndTLSSettings: auth rules come from [[auth-rule]] tables of the
// config file; the certificate and key go together.
func TestAuthAndTLSSettings(t *testing.T) {
	file := writeConfig(t, `
auth-users = "/etc/modvault/htpasswd"
tls-cert = "/etc/modvault/cert.pem"
tls-key = "/etc/modvault/key.pem"

[[auth-rule]]
pattern = "*"
allow = ["anyone"]

[[auth-rule]]
pattern = "git.corp.test"
allow = ["alice", "token:ci"]
`)
	f := &fakeEnv{vars: with(home(), "GOPROXY", "off", "GOSUMDB", "off")}
	c := parse(t, f, "--config", file)
	want := []AuthRule{{"*", []string{"anyone"}}, {"git.corp.test", []string{"alice", "token:ci"}}}
	if len(c.AuthRules) != 2 || c.AuthRules[1].Pattern != want[1].Pattern || !slices.Equal(c.AuthRules[1].Allow, want[1].Allow) {
		t.Errorf("rules %+v, want %+v", c.AuthRules, want)
	}
	if c.AuthUsers != "/etc/modvault/htpasswd" || c.TLSCert != "/etc/modvault/cert.pem" || c.TLSKey != "/etc/modvault/key.pem" {
		t.Errorf("got %+v", c)
	}
	for _, tt := range []struct {
		content string
		args    []string
		words   []string
	}{
		{"", []string{"--tls-cert=c.pem"}, []string{"--tls-cert", "--tls-key", "both"}},
		{"[[auth-rule]]\npattern = \"x.test\"\nallow = [\"bob\"]\n", nil, []string{"auth-rule", "x.test", "--auth-users"}},
		{"[[auth-rule]]\npattern = \"x.test\"\nalow = [\"bob\"]\n", nil, []string{"auth-rule", "alow"}},
	} {
		file := writeConfig(t, tt.content)
		_, err := ParseServe(context.Background(), append([]string{"--config", file}, tt.args...), f.env())
		if err == nil {
			t.Errorf("%q %q: no error", tt.content, tt.args)
			continue
		}
		for _, w := range tt.words {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q %q: error %q lacks %q", tt.content, tt.args, err, w)
			}
		}
	}
}

// TestPublicURL: --public-url is read from the config file (and the flag
// wins over it), and "modvault config" shows it with its origin.
func TestPublicURL(t *testing.T) {
	file := writeConfig(t, `public-url = "https://proxy.corp.example/goproxy/"`)
	f := &fakeEnv{vars: with(home(), "GOPROXY", "off", "GOSUMDB", "off")}
	c := parse(t, f, "--config", file)
	if c.PublicURL != "https://proxy.corp.example/goproxy/" || c.Origins["public-url"] != "config "+file {
		t.Errorf("from the file: %q from %q", c.PublicURL, c.Origins["public-url"])
	}
	if !slices.Contains(c.Settings(), Setting{Name: "public-url", Value: "https://proxy.corp.example/goproxy/", Origin: "config " + file}) {
		t.Errorf("settings lack public-url: %+v", c.Settings())
	}
	if c := parse(t, f, "--config", file, "--public-url=http://10.0.0.5:3000"); c.PublicURL != "http://10.0.0.5:3000" || c.Origins["public-url"] != "flag" {
		t.Errorf("the flag over the file: %q from %q", c.PublicURL, c.Origins["public-url"])
	}
	if c := parse(t, f); c.PublicURL != "" || c.Origins["public-url"] != "default" {
		t.Errorf("default: %q from %q", c.PublicURL, c.Origins["public-url"])
	}
}
