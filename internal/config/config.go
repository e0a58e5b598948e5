// Package config reads modvault's settings from flags and MODVAULT_*
// environment variables (flags win), with defaults taken from the go
// command's own environment (GOPROXY, GOSUMDB) so that modvault runs with
// nothing configured.
package config

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Serve holds the settings of "modvault serve".
type Serve struct {
	Listen          string        // address to listen on
	Storage         string        // gocloud.dev/blob URL of the store
	Upstream        string        // GOPROXY-style upstream list
	SumDB           []string      // checksum database names served under /sumdb/
	GOSUMDB         string        // the checksum database that verifies modules, as in GOSUMDB
	GONOSUMDB       string        // module path patterns not verified, as in GONOSUMDB
	ListTTL         time.Duration // how long upstream list and latest answers are reused
	FillTimeout     time.Duration // bound on one fill from the upstream
	TempDir         string        // where zips wait while they are validated
	ShutdownTimeout time.Duration // how long shutdown waits for requests and fills
	LogFormat       string        // text or json
	LogLevel        string        // debug, info, warn or error

	// Origins says where each setting came from: "flag", "env MODVAULT_X",
	// "go env" or "default".
	Origins map[string]string
}

// Env is how configuration reads the environment and the go command.
type Env struct {
	Getenv func(string) string
	// GoEnv runs "go env NAME"; nil means run the go command on PATH.
	GoEnv func(ctx context.Context, name string) (string, error)
}

// ParseServe parses the flags of "modvault serve". For -h or -help it
// returns an error matching flag.ErrHelp (print [ServeUsage] then); every
// other error is one line that names the setting.
func ParseServe(ctx context.Context, args []string, env Env) (Serve, error) {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	if env.GoEnv == nil {
		env.GoEnv = goEnv
	}
	var c Serve
	var sumdb string
	fs := serveFlags(&c, &sumdb)
	// Errors are returned, not printed with the usage: the caller prints
	// them as one line.
	fs.SetOutput(io.Discard)

	c.Origins = make(map[string]string)
	// Environment variables first, so flags given on the command line win.
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "MODVAULT_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := env.Getenv(name); v != "" {
			if err := f.Value.Set(v); err != nil && envErr == nil {
				envErr = fmt.Errorf("%s=%q: %v", name, v, err)
			}
			c.Origins[f.Name] = "env " + name
		}
	})
	if envErr != nil {
		return Serve{}, envErr
	}
	if err := fs.Parse(args); err != nil {
		return Serve{}, err
	}
	if fs.NArg() > 0 {
		return Serve{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	fs.Visit(func(f *flag.Flag) { c.Origins[f.Name] = "flag" })
	fs.VisitAll(func(f *flag.Flag) {
		if c.Origins[f.Name] == "" {
			c.Origins[f.Name] = "default"
		}
	})

	if c.Storage == "" {
		var err error
		if c.Storage, err = defaultStorage(env.Getenv); err != nil {
			return Serve{}, err
		}
	}
	if c.Upstream == "" {
		c.Upstream, c.Origins["upstream"] = fromGoEnv(ctx, env, "GOPROXY")
	}
	if c.GOSUMDB == "" {
		c.GOSUMDB, c.Origins["gosumdb"] = fromGoEnv(ctx, env, "GOSUMDB")
	}
	if c.GONOSUMDB == "" && c.Origins["gonosumdb"] == "default" {
		// As the go command: GONOSUMDB, else GOPRIVATE; "go env GONOSUMDB"
		// applies the same fallback to the go env file.
		c.GONOSUMDB, c.Origins["gonosumdb"] = fromGoEnv(ctx, env, "GONOSUMDB")
	}
	if sumdb == "" {
		c.Origins["sumdb"] = c.Origins["gosumdb"]
		for db := range strings.SplitSeq(c.GOSUMDB, ",") {
			if name := SumDBName(db); name != "" {
				c.SumDB = append(c.SumDB, name)
			}
		}
	} else {
		for n := range strings.SplitSeq(sumdb, ",") {
			if n = strings.TrimSpace(n); n != "" {
				c.SumDB = append(c.SumDB, n)
			}
		}
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return Serve{}, fmt.Errorf("%s: %q is not text or json", c.setting("log-format"), c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return Serve{}, fmt.Errorf("%s: %q is not debug, info, warn or error", c.setting("log-level"), c.LogLevel)
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{{"list-ttl", c.ListTTL}, {"fill-timeout", c.FillTimeout}, {"shutdown-timeout", c.ShutdownTimeout}} {
		if d.d <= 0 {
			return Serve{}, fmt.Errorf("%s: %v is not a positive duration", c.setting(d.name), d.d)
		}
	}
	return c, nil
}

// defaultStorage returns the file:// URL of the store under DataDir.
func defaultStorage(getenv func(string) string) (string, error) {
	dir, err := DataDir(getenv)
	if err != nil {
		return "", fmt.Errorf("storage: no --storage given and %v", err)
	}
	p := filepath.ToSlash(filepath.Join(dir, "store"))
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows path: file:///C:/…
	}
	return (&url.URL{Scheme: "file", Path: p}).String(), nil
}

// Verify holds the settings of "modvault verify".
type Verify struct {
	Storage    string   // the store to check, as for serve
	SumDBs     []string // checksum databases whose recorded hashes are compared
	Quarantine bool     // move failing versions aside
	TempDir    string   // where zips wait while they are checked
}

// ParseVerify parses the flags of "modvault verify", with the same
// defaults and MODVAULT_* variables as serve for the settings they share.
func ParseVerify(ctx context.Context, args []string, env Env) (Verify, error) {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	if env.GoEnv == nil {
		env.GoEnv = goEnv
	}
	var v Verify
	var gosumdb string
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&v.Storage, "storage", env.Getenv("MODVAULT_STORAGE"), "store URL (default: as for serve)")
	fs.StringVar(&gosumdb, "gosumdb", env.Getenv("MODVAULT_GOSUMDB"), "checksum database whose recorded hashes are compared, as in GOSUMDB (default: as for serve)")
	fs.BoolVar(&v.Quarantine, "quarantine", false, "move every object of a failing version under quarantine/ in the store, so it is fetched again")
	fs.StringVar(&v.TempDir, "temp-dir", env.Getenv("MODVAULT_TEMP_DIR"), "directory for zips being checked (default: the system's)")
	if err := fs.Parse(args); err != nil {
		return Verify{}, err
	}
	if fs.NArg() > 0 {
		return Verify{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if v.Storage == "" {
		var err error
		if v.Storage, err = defaultStorage(env.Getenv); err != nil {
			return Verify{}, err
		}
	}
	if gosumdb == "" {
		gosumdb, _ = fromGoEnv(ctx, env, "GOSUMDB")
	}
	if name := SumDBName(gosumdb); name != "" {
		v.SumDBs = []string{name}
	}
	return v, nil
}

// setting names a flag as the user set it, for error messages: "--name"
// or the environment variable.
func (c *Serve) setting(name string) string {
	if v, ok := strings.CutPrefix(c.Origins[name], "env "); ok {
		return v
	}
	return "--" + name
}

// ServeUsage writes the usage of "modvault serve", with every flag and its
// default, to w.
func ServeUsage(w io.Writer) {
	var c Serve
	var sumdb string
	fs := serveFlags(&c, &sumdb)
	fs.SetOutput(w)
	fmt.Fprint(w, "usage: modvault [serve] [flags]\n\n"+
		"Each flag can also be set with an environment variable named after it:\n"+
		"--list-ttl with MODVAULT_LIST_TTL. Flags win over the environment.\n\nFlags:\n")
	fs.PrintDefaults()
}

// serveFlags defines the flags of "modvault serve", storing into c and, for
// --sumdb, into sumdb.
func serveFlags(c *Serve, sumdb *string) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&c.Listen, "listen", ":3000", "address to listen on")
	fs.StringVar(&c.Storage, "storage", "", "store URL: file:///dir, mem://, … (default: file:// under the user's data directory)")
	fs.StringVar(&c.Upstream, "upstream", "", "upstream proxy list with GOPROXY syntax (default: $GOPROXY, else go env GOPROXY)")
	fs.StringVar(sumdb, "sumdb", "", "comma-separated checksum database names to serve under /sumdb/ (default: the name in $GOSUMDB, else go env GOSUMDB)")
	fs.StringVar(&c.GOSUMDB, "gosumdb", "", `checksum database that verifies every module before it is stored, as in GOSUMDB: "name+key [url]", a known name, or off; several separated by commas (default: $GOSUMDB, else go env GOSUMDB)`)
	fs.StringVar(&c.GONOSUMDB, "gonosumdb", "", "module path patterns that are not verified, as in GONOSUMDB (default: $GONOSUMDB, else $GOPRIVATE, else go env)")
	fs.DurationVar(&c.ListTTL, "list-ttl", time.Minute, "how long upstream list and latest answers are reused")
	fs.DurationVar(&c.FillTimeout, "fill-timeout", 10*time.Minute, "bound on one fill from the upstream")
	fs.StringVar(&c.TempDir, "temp-dir", "", "directory for zips being validated (default: the system's)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "how long shutdown waits for requests and fills in flight")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	return fs
}

// fromGoEnv reads a go command variable from the environment, else from
// "go env". It returns "" if neither has it.
func fromGoEnv(ctx context.Context, env Env, name string) (value, origin string) {
	if v := env.Getenv(name); v != "" {
		return v, "env " + name
	}
	if name == "GONOSUMDB" {
		if v := env.Getenv("GOPRIVATE"); v != "" {
			return v, "env GOPRIVATE"
		}
	}
	v, err := env.GoEnv(ctx, name)
	if err != nil || v == "" {
		return "", "default"
	}
	return v, "go env " + name
}

func goEnv(ctx context.Context, name string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "env", name).Output()
	if err != nil {
		return "", fmt.Errorf("go env %s: %w", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// SumDBName returns the database name in a GOSUMDB value ("name",
// "name+key" or "name+key url"), or "" for "off" or an empty value.
func SumDBName(gosumdb string) string {
	f := strings.Fields(gosumdb)
	if len(f) == 0 || f[0] == "off" {
		return ""
	}
	name, _, _ := strings.Cut(f[0], "+")
	return name
}

// knownKey returns the verifier key of a checksum database the go command
// knows by name (cmd/go/internal/modfetch), so that GOSUMDB may name it
// without a key.
func knownKey(name string) string {
	switch name {
	case "sum.golang.org", "sum.golang.google.cn":
		return "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
	}
	return ""
}

// SumDBKey returns the verifier key of a GOSUMDB value: the key it gives
// ("name+hash+key [url]"), or the known key of a database the go command
// knows by name; "" for off, empty or an unknown name without a key.
func SumDBKey(gosumdb string) string {
	f := strings.Fields(gosumdb)
	if len(f) == 0 || f[0] == "off" {
		return ""
	}
	if strings.Contains(f[0], "+") {
		return f[0]
	}
	return knownKey(f[0])
}

// DataDir returns modvault's directory under the user's data directory:
// $XDG_DATA_HOME/modvault or ~/.local/share/modvault on Unix,
// ~/Library/Application Support/modvault on macOS, %LocalAppData%\modvault
// on Windows.
func DataDir(getenv func(string) string) (string, error) {
	switch runtime.GOOS {
	case "windows":
		if d := getenv("LocalAppData"); d != "" {
			return filepath.Join(d, "modvault"), nil
		}
		return "", errors.New("%LocalAppData% is not set")
	case "darwin", "ios":
		if h := getenv("HOME"); h != "" {
			return filepath.Join(h, "Library", "Application Support", "modvault"), nil
		}
		return "", errors.New("$HOME is not set")
	}
	if d := getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "modvault"), nil
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".local", "share", "modvault"), nil
	}
	return "", errors.New("neither $XDG_DATA_HOME nor $HOME is set")
}
