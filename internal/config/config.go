// Package config reads modvault's settings from flags, MODVAULT_*
// environment variables and a TOML configuration file, in that order of
// precedence, with defaults taken from the go command's own environment
// (GOPROXY, GOSUMDB, GOPRIVATE, GONOPROXY, GONOSUMDB) so that modvault runs
// with nothing configured. Every setting has the same name in all three: the
// flag --list-ttl, the variable MODVAULT_LIST_TTL, the file key list-ttl.
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
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/modvault/modvault/internal/policy"
	"github.com/modvault/modvault/internal/redact"
)

// Serve holds the settings of "modvault serve".
type Serve struct {
	Config          string        // the TOML configuration file read, if any
	Listen          string        // address to listen on
	PublicURL       string        // http(s) URL clients reach this server at, shown by the web UI; "" for each request's own
	Storage         string        // gocloud.dev/blob URL of the store
	Upstream        string        // GOPROXY-style upstream list
	SumDB           []string      // checksum database names served under /sumdb/
	GOSUMDB         []SumDB       // the checksum databases that verify modules, from GOSUMDB; none for off
	GONOSUMDB       string        // module path patterns not verified, as in GONOSUMDB
	GOPRIVATE       string        // private module path patterns, as in GOPRIVATE
	GONOPROXY       string        // module path patterns fetched from version control only, as in GONOPROXY
	DirectLimit     int           // bound on go commands fetching from version control at once
	DirectTimeout   time.Duration // bound on one such go command
	DirectTokens    []Token       // per-host credentials for version control
	Lock            string        // redis:// URL of the lock shared by replicas; "" for none
	LockLease       time.Duration // how long a lease outlives a replica that died holding it
	Database        string        // data source name of the metadata index; "" for the SQLite file in IndexDir; DatabaseOff for none
	IndexDir        string        // where the default SQLite index lives: beside a file:// store, else the data directory; "" for a temporary one
	EventRetention  time.Duration // how long events are kept; 0 keeps them forever
	Replica         string        // this replica's name in events; the host name by default
	ZipRedirect     time.Duration // answer stored zips with a redirect to a signed URL valid this long; 0 for off
	OTLPEndpoint    string        // OTLP/HTTP collector that receives traces; "" for no tracing
	TLSCert         string        // certificate file (PEM) for HTTPS; "" for plain HTTP
	TLSKey          string        // key file (PEM) of TLSCert
	AuthUsers       string        // htpasswd file (bcrypt) of users; "" for none
	AuthTokens      string        // file of named, SHA-256-hashed bearer tokens; "" for none
	AuthRules       []AuthRule    // who may fetch which modules; only in the config file
	ListTTL         time.Duration // how long upstream list and latest answers are reused
	FillTimeout     time.Duration // bound on one fill from the upstream
	StallTimeout    time.Duration // an upstream body that sends nothing this long fails
	SumDBRefresh    time.Duration // how often the checksum databases' tree heads are followed
	TempDir         string        // where zips wait while they are validated
	ShutdownTimeout time.Duration // how long shutdown waits for requests and fills
	LogFormat       string        // text or json
	LogLevel        string        // debug, info, warn or error
	VulnDB          string        // http(s) or file URL of the Go vulnerability database mirrored into the store; "" for none
	VulnDBRefresh   time.Duration // how often the vulnerability database is mirrored again
	Policy          policy.Config // what may enter: the policy-rule tables, vuln-action, license-allow, license-action, min-age, policy-mode

	// Origins says where each setting came from: "flag", "env MODVAULT_X",
	// "go env" or "default".
	Origins map[string]string
}

// AuthRule says who may fetch the modules matching Pattern (GOPRIVATE
// syntax): "anyone", "authenticated", user names and "token:NAME".
type AuthRule struct {
	Pattern string   `toml:"pattern"`
	Allow   []string `toml:"allow"`
}

// Token is a credential for one version control host.
type Token struct {
	Host     string // host, with ":port" if not the default
	Username string // "" for the default
	Secret   string
}

// String returns the token with its secret redacted.
func (t Token) String() string { return redact.Token(t.Host, t.Username) }

// parseTokens parses "host=token" and "host=user:token" entries separated
// by commas. Its errors never contain a secret.
func parseTokens(s string) ([]Token, error) {
	var tokens []Token
	for i, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		host, cred, ok := strings.Cut(entry, "=")
		var t Token
		t.Host = strings.TrimSpace(host)
		if user, secret, ok := strings.Cut(cred, ":"); ok {
			t.Username, t.Secret = user, secret
		} else {
			t.Secret = cred
		}
		if !ok || t.Host == "" || strings.ContainsAny(t.Host, "/@ \t") || t.Secret == "" || strings.ContainsAny(t.Username+t.Secret, " \t\n") {
			return nil, fmt.Errorf("entry %d: want host=token or host=user:token (host without scheme or path; no spaces)", i+1)
		}
		tokens = append(tokens, t)
	}
	return tokens, nil
}

// Env is how configuration reads the environment and the go command.
type Env struct {
	Getenv func(string) string
	// GoEnv runs "go env NAME"; nil means run the go command on PATH.
	GoEnv func(ctx context.Context, name string) (string, error)
}

// orDefaults returns env with the process environment and the go command
// on PATH where it has nothing.
func (env Env) orDefaults() Env {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	if env.GoEnv == nil {
		env.GoEnv = goEnv
	}
	return env
}

// rawFlags holds the flags parsed after all of them are read, into the
// fields of [Serve] that have their own types.
type rawFlags struct {
	sumdb   string // --sumdb: comma-separated names
	gosumdb string // --gosumdb: a GOSUMDB value
	tokens  string // --direct-tokens: host=token entries
	license string // --license-allow: comma-separated SPDX IDs
}

// ParseServe parses the flags of "modvault serve". For -h or -help it
// returns an error matching flag.ErrHelp (print [ServeUsage] then); every
// other error is one line that names the setting.
func ParseServe(ctx context.Context, args []string, env Env) (Serve, error) {
	env = env.orDefaults()
	c := Serve{Origins: make(map[string]string)}
	var raw rawFlags
	fs := serveFlags(&c, &raw)
	if err := c.read(fs, args, env); err != nil {
		return Serve{}, err
	}
	if err := c.goEnvDefaults(ctx, env, &raw); err != nil {
		return Serve{}, err
	}
	for _, parse := range []func() error{
		c.checkPatterns,
		func() error { return c.parseDirect(raw.tokens) },
		func() error { return c.parseSumDBs(raw.gosumdb, raw.sumdb) },
		c.checkEndpoints,
		c.checkAccess,
		c.checkLog,
		c.checkDurations,
		func() error { return c.parsePolicy(raw.license) },
	} {
		if err := parse(); err != nil {
			return Serve{}, err
		}
	}
	return c, nil
}

// read sets the flags of fs from the configuration file, then the
// MODVAULT_* variables, then args: each wins over the one before. It
// records where each setting came from in c.Origins.
func (c *Serve) read(fs *flag.FlagSet, args []string, env Env) error {
	// Errors are returned, not printed with the usage: the caller prints
	// them as one line.
	fs.SetOutput(io.Discard)
	file, err := configFile(args, env)
	if err != nil {
		return err
	}
	if file != "" {
		if err := applyFile(fs, file, c.Origins, &c.AuthRules, &c.Policy.Rules); err != nil {
			return err
		}
	}
	if err := applyEnv(fs, env, c.Origins); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	fs.Visit(func(f *flag.Flag) { c.Origins[f.Name] = "flag" })
	fs.VisitAll(func(f *flag.Flag) {
		if c.Origins[f.Name] == "" {
			c.Origins[f.Name] = "default"
		}
	})
	return nil
}

// configFile returns the configuration file named by --config in args,
// else by MODVAULT_CONFIG; "" for none.
func configFile(args []string, env Env) (string, error) {
	var c Serve
	var raw rawFlags
	fs := serveFlags(&c, &raw)
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if c.Config != "" {
		return c.Config, nil
	}
	return env.Getenv("MODVAULT_CONFIG"), nil
}

// applyEnv sets every flag of fs whose MODVAULT_* variable is set.
func applyEnv(fs *flag.FlagSet, env Env, origins map[string]string) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := "MODVAULT_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := env.Getenv(name); v != "" {
			if serr := f.Value.Set(v); serr != nil && err == nil {
				err = fmt.Errorf("%s=%q: %v", name, v, serr)
			}
			origins[f.Name] = "env " + name
		}
	})
	return err
}

// goEnvDefaults fills the settings that default to the go command's own:
// the upstream (GOPROXY), the checksum database (GOSUMDB) and the private
// module patterns, and the store under the data directory.
func (c *Serve) goEnvDefaults(ctx context.Context, env Env, raw *rawFlags) error {
	if c.Storage == "" {
		var err error
		if c.Storage, err = defaultStorage(env.Getenv); err != nil {
			return err
		}
	}
	if err := c.indexDefaults(env.Getenv); err != nil {
		return err
	}
	if c.Upstream == "" {
		c.Upstream, c.Origins["upstream"] = fromGoEnv(ctx, env, "GOPROXY")
	}
	if raw.gosumdb == "" {
		raw.gosumdb, c.Origins["gosumdb"] = fromGoEnv(ctx, env, "GOSUMDB")
	}
	if c.GOPRIVATE == "" && c.Origins["goprivate"] == "default" {
		c.GOPRIVATE, c.Origins["goprivate"] = fromGoEnv(ctx, env, "GOPRIVATE")
	}
	// As the go command: GONOPROXY and GONOSUMDB default to GOPRIVATE.
	for _, v := range []struct {
		name  string
		value *string
	}{{"GONOPROXY", &c.GONOPROXY}, {"GONOSUMDB", &c.GONOSUMDB}} {
		flagName := strings.ToLower(v.name)
		if *v.value != "" || c.Origins[flagName] != "default" {
			continue
		}
		if e := env.Getenv(v.name); e != "" {
			*v.value, c.Origins[flagName] = e, "env "+v.name
		} else if c.GOPRIVATE != "" {
			*v.value, c.Origins[flagName] = c.GOPRIVATE, "goprivate ("+c.Origins["goprivate"]+")"
		} else {
			*v.value, c.Origins[flagName] = fromGoEnv(ctx, env, v.name)
		}
	}
	return nil
}

// checkPatterns checks the private module path patterns.
func (c *Serve) checkPatterns() error {
	for _, v := range []struct{ name, value string }{{"goprivate", c.GOPRIVATE}, {"gonoproxy", c.GONOPROXY}, {"gonosumdb", c.GONOSUMDB}} {
		if err := checkPatterns(v.value); err != nil {
			return fmt.Errorf("%s: %v", c.setting(v.name), err)
		}
	}
	return nil
}

// parseDirect checks the bound on go commands and parses the version
// control credentials.
func (c *Serve) parseDirect(tokens string) error {
	if c.DirectLimit <= 0 {
		return fmt.Errorf("%s: %d is not a positive number", c.setting("direct-limit"), c.DirectLimit)
	}
	var err error
	if c.DirectTokens, err = parseTokens(tokens); err != nil {
		return fmt.Errorf("%s: %v", c.setting("direct-tokens"), err)
	}
	return nil
}

// parseSumDBs parses the checksum databases that verify modules and the
// names served under /sumdb/, which default to theirs.
func (c *Serve) parseSumDBs(gosumdb, names string) error {
	var err error
	if c.GOSUMDB, err = ParseSumDBs(gosumdb); err != nil {
		return fmt.Errorf("%s: %v", c.setting("gosumdb"), err)
	}
	if names == "" {
		c.Origins["sumdb"] = c.Origins["gosumdb"]
		for _, db := range c.GOSUMDB {
			c.SumDB = append(c.SumDB, db.Name)
		}
		return nil
	}
	for n := range strings.SplitSeq(names, ",") {
		if n = strings.TrimSpace(n); n != "" {
			c.SumDB = append(c.SumDB, n)
		}
	}
	return nil
}

// checkEndpoints checks the URLs of the lock, the trace collector and
// this server.
func (c *Serve) checkEndpoints() error {
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("%s: want an absolute http:// or https:// URL such as https://proxy.corp.example/ (no credentials, query or fragment)", c.setting("public-url"))
		}
	}
	if c.Lock != "" {
		u, err := url.Parse(c.Lock)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			return fmt.Errorf("%s: want redis://[user:password@]host:port[/db] or rediss://…", c.setting("lock"))
		}
	}
	if c.OTLPEndpoint != "" {
		u, err := url.Parse(c.OTLPEndpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%s: want http:// or https://host:port of an OTLP/HTTP collector", c.setting("otlp-endpoint"))
		}
	}
	return nil
}

// checkAccess checks that TLS has both its files and that the access rules
// name only who can sign in.
func (c *Serve) checkAccess() error {
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("%s and %s: give both the certificate and its key, or neither", c.setting("tls-cert"), c.setting("tls-key"))
	}
	if c.AuthUsers != "" || c.AuthTokens != "" {
		return nil
	}
	for _, r := range c.AuthRules {
		for _, a := range r.Allow {
			if a != "anyone" {
				return fmt.Errorf("auth-rule %q allows %q, but neither --auth-users nor --auth-tokens is set", r.Pattern, a)
			}
		}
	}
	return nil
}

// checkLog checks the log format and level.
func (c *Serve) checkLog() error {
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("%s: %q is not text or json", c.setting("log-format"), c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("%s: %q is not debug, info, warn or error", c.setting("log-level"), c.LogLevel)
	}
	return nil
}

// checkDurations checks that every timeout and lifetime is positive, and
// the zip redirect's not negative.
func (c *Serve) checkDurations() error {
	if c.ZipRedirect < 0 {
		return fmt.Errorf("%s: %v is negative", c.setting("zip-redirect"), c.ZipRedirect)
	}
	if c.EventRetention < 0 {
		return fmt.Errorf("%s: %v is negative", c.setting("event-retention"), c.EventRetention)
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{{"list-ttl", c.ListTTL}, {"fill-timeout", c.FillTimeout}, {"stall-timeout", c.StallTimeout}, {"sumdb-refresh", c.SumDBRefresh}, {"shutdown-timeout", c.ShutdownTimeout}, {"direct-timeout", c.DirectTimeout}, {"lock-lease", c.LockLease}} {
		if d.d <= 0 {
			return fmt.Errorf("%s: %v is not a positive duration", c.setting(d.name), d.d)
		}
	}
	return nil
}

// parsePolicy checks the settings of the policy and its rules, and parses
// the license allow-list.
func (c *Serve) parsePolicy(licenses string) error {
	p := &c.Policy
	for n := range strings.SplitSeq(licenses, ",") {
		if n = strings.TrimSpace(n); n != "" {
			p.LicenseAllow = append(p.LicenseAllow, n)
		}
	}
	for _, v := range []struct{ name, value string }{{"vuln-action", p.VulnAction}, {"license-action", p.LicenseAction}} {
		if v.value != policy.Warn && v.value != policy.Deny {
			return fmt.Errorf("%s: %q is not %s or %s", c.setting(v.name), v.value, policy.Warn, policy.Deny)
		}
	}
	if p.Mode != policy.Enforce && p.Mode != policy.Report {
		return fmt.Errorf("%s: %q is not %s or %s", c.setting("policy-mode"), p.Mode, policy.Enforce, policy.Report)
	}
	if p.MinAge < 0 {
		return fmt.Errorf("%s: %v is negative", c.setting("min-age"), p.MinAge)
	}
	if c.Database == DatabaseOff {
		for _, v := range []struct {
			name string
			on   bool
		}{{"license-allow", len(p.LicenseAllow) > 0}, {"min-age", p.MinAge > 0}} {
			if v.on {
				return fmt.Errorf("%s needs the metadata index, which records licenses and first-seen times; %s keeps none", c.setting(v.name), c.setting("database")+" off")
			}
		}
	}
	if c.VulnDBRefresh <= 0 {
		return fmt.Errorf("%s: %v is not a positive duration", c.setting("vulndb-refresh"), c.VulnDBRefresh)
	}
	if c.VulnDB != "" {
		u, err := url.Parse(c.VulnDB)
		if err != nil || !(u.Scheme == "file" && u.Path != "" || (u.Scheme == "http" || u.Scheme == "https") && u.Host != "") {
			return fmt.Errorf("%s: want the http://, https:// or file:/// URL of a Go vulnerability database (its index/db.json is under it)", c.setting("vulndb"))
		}
	}
	if _, err := policy.ParseRules(p.Rules); err != nil {
		where := "config"
		if file, ok := strings.CutPrefix(c.Origins["policy-rule"], "config "); ok {
			where = "config " + file
		}
		return fmt.Errorf("%s: %s", where, strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return nil
}

// PolicyOn reports whether any setting of the policy asks for a check:
// a rule, a vulnerability database, a license allow-list or a minimum age.
func (c Serve) PolicyOn() bool {
	p := c.Policy
	return len(p.Rules) > 0 || c.VulnDB != "" || len(p.LicenseAllow) > 0 || p.MinAge > 0
}

// DatabaseOff is the --database value that keeps no metadata index.
const DatabaseOff = "off"

// indexDefaults sets the replica's name to the host name, and, without
// --database, IndexDir: the directory that holds a file:// store's
// directory, none for a mem:// store (the index is temporary too), else the
// data directory.
func (c *Serve) indexDefaults(getenv func(string) string) error {
	if c.Replica == "" {
		c.Replica, _ = os.Hostname()
	}
	if c.Database != "" { // a DSN, or "off"
		return nil
	}
	if dir := fileStoreDir(c.Storage); dir != "" {
		c.IndexDir = filepath.Dir(dir)
		return nil
	}
	if strings.HasPrefix(c.Storage, "mem://") {
		return nil // a temporary index, lost on exit like the store
	}
	dir, err := DataDir(getenv)
	if err != nil {
		return fmt.Errorf("database: no --database given and %v", err)
	}
	c.IndexDir = dir
	return nil
}

// fileStoreDir returns the directory of a file:// store URL, absolute, or
// "" if storage is not one.
func fileStoreDir(storage string) string {
	u, err := url.Parse(storage)
	if err != nil || u.Scheme != "file" || u.Path == "" || (u.Host != "" && u.Host != "localhost" && u.Host != ".") {
		return ""
	}
	p := u.Path
	if u.Host == "." || runtime.GOOS == "windows" {
		p = strings.TrimPrefix(p, "/")
	}
	dir, err := filepath.Abs(filepath.FromSlash(p))
	if err != nil {
		return ""
	}
	return filepath.Clean(dir)
}

// FileStore reports whether storage is a file:// store URL.
func FileStore(storage string) bool { return fileStoreDir(storage) != "" }

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
	env = env.orDefaults()
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
	dbs, err := ParseSumDBs(gosumdb)
	if err != nil {
		return Verify{}, fmt.Errorf("gosumdb: %v", err)
	}
	for _, db := range dbs {
		v.SumDBs = append(v.SumDBs, db.Name)
	}
	return v, nil
}

// setting names a flag as the user set it, for error messages: "--name",
// the environment variable, "FILE: name" or "go env NAME".
func (c *Serve) setting(name string) string {
	if v, ok := strings.CutPrefix(c.Origins[name], "env "); ok {
		return v
	}
	if strings.HasPrefix(c.Origins[name], "go env ") {
		return c.Origins[name]
	}
	if file, ok := strings.CutPrefix(c.Origins[name], "config "); ok {
		return file + ": " + name
	}
	return "--" + name
}

// ServeUsage writes the usage of "modvault serve", with every flag and its
// default, to w.
func ServeUsage(w io.Writer) {
	var c Serve
	var raw rawFlags
	fs := serveFlags(&c, &raw)
	fs.SetOutput(w)
	fmt.Fprint(w, "usage: modvault [serve] [flags]\n\n"+
		"Each flag can also be set with an environment variable named after it\n"+
		"(--list-ttl with MODVAULT_LIST_TTL) and in the --config file (list-ttl = \"5m\").\n"+
		"Flags win over the environment, which wins over the file.\n\nFlags:\n")
	fs.PrintDefaults()
}

// serveFlags defines the flags of "modvault serve", storing into c and, for
// the settings parsed once all are read, into raw.
func serveFlags(c *Serve, raw *rawFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&c.Config, "config", "", "TOML file of settings, keyed by flag name (list-ttl = \"5m\"); flags and MODVAULT_* variables win over it")
	fs.StringVar(&c.Listen, "listen", ":3000", "address to listen on")
	fs.StringVar(&c.PublicURL, "public-url", "", "the http(s) URL clients reach modvault at (https://proxy.corp.example/), which the web UI tells them to set GOPROXY to: for a modvault behind a TLS-terminating proxy (default: each request's scheme and Host)")
	fs.StringVar(&c.Storage, "storage", "", "store URL: file:///dir, mem://, … (default: file:// under the user's data directory)")
	fs.StringVar(&c.Upstream, "upstream", "", "upstream proxy list with GOPROXY syntax (default: $GOPROXY, else go env GOPROXY)")
	fs.StringVar(&raw.sumdb, "sumdb", "", "comma-separated checksum database names to serve under /sumdb/ (default: the name in $GOSUMDB, else go env GOSUMDB)")
	fs.StringVar(&raw.gosumdb, "gosumdb", "", `checksum database that verifies every module before it is stored, as in GOSUMDB: "name+key [url]", a known name, or off; several separated by commas (default: $GOSUMDB, else go env GOSUMDB)`)
	fs.StringVar(&c.GONOSUMDB, "gonosumdb", "", "module path patterns that are not verified and never looked up in a checksum database, as in GONOSUMDB (default: $GONOSUMDB, else --goprivate, else go env)")
	fs.StringVar(&c.GOPRIVATE, "goprivate", "", "private module path patterns, as in GOPRIVATE: the default of --gonoproxy and --gonosumdb (default: $GOPRIVATE, else go env)")
	fs.StringVar(&c.GONOPROXY, "gonoproxy", "", "module path patterns fetched from version control only, never from an upstream proxy, as in GONOPROXY (default: $GONOPROXY, else --goprivate, else go env)")
	fs.IntVar(&c.DirectLimit, "direct-limit", 4, "how many go commands may fetch from version control at once")
	fs.DurationVar(&c.DirectTimeout, "direct-timeout", 10*time.Minute, "bound on one go command fetching from version control")
	fs.StringVar(&raw.tokens, "direct-tokens", "", "credentials for version control hosts: host=token or host=user:token, separated by commas (prefer MODVAULT_DIRECT_TOKENS: flags show in ps)")
	fs.StringVar(&c.Lock, "lock", "", "redis://host:port URL of a Redis shared by the replicas of one store, so that a cold file is fetched once, not once per replica (default: none)")
	fs.DurationVar(&c.LockLease, "lock-lease", 30*time.Second, "how long a lock lease lasts without renewal: how long other replicas wait before taking over the fill of a replica that died")
	fs.StringVar(&c.Database, "database", "", "metadata index: postgres://… shared by replicas, an SQLite file path, or off (default: index.sqlite beside a file:// store, else in the data directory)")
	fs.DurationVar(&c.EventRetention, "event-retention", 90*24*time.Hour, "how long the audit trail's events and hit counters are kept; 0 keeps them forever")
	fs.StringVar(&c.Replica, "replica", "", "this replica's name, recorded in its events (default: the host name)")
	fs.DurationVar(&c.ZipRedirect, "zip-redirect", 0, "answer stored zips with a redirect to a signed URL of the object store, valid this long (s3://, gs://, azblob://); 0 serves them through modvault")
	fs.StringVar(&c.OTLPEndpoint, "otlp-endpoint", "", "OpenTelemetry: send traces of requests and upstream fetches to this OTLP/HTTP collector (http://collector:4318); none by default")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "serve HTTPS with this certificate file (PEM, with its chain), reloaded when it changes")
	fs.StringVar(&c.TLSKey, "tls-key", "", "the private key file (PEM) of --tls-cert")
	fs.StringVar(&c.AuthUsers, "auth-users", "", "htpasswd file of users (bcrypt only: htpasswd -B); turns access control on, with the auth-rule tables of the config file")
	fs.StringVar(&c.AuthTokens, "auth-tokens", "", "file of bearer tokens, one \"name:sha256:HEX\" line each; turns access control on, with the auth-rule tables of the config file")
	fs.DurationVar(&c.ListTTL, "list-ttl", time.Minute, "how long upstream list and latest answers are reused")
	fs.DurationVar(&c.FillTimeout, "fill-timeout", 10*time.Minute, "bound on one fill from the upstream")
	fs.DurationVar(&c.StallTimeout, "stall-timeout", 30*time.Second, "an upstream answer whose body sends nothing for this long fails (504, or the next entry after |)")
	fs.DurationVar(&c.SumDBRefresh, "sumdb-refresh", time.Hour, "how often the verified checksum databases' latest tree heads are fetched, proved and stored")
	fs.StringVar(&c.TempDir, "temp-dir", "", "directory for zips being validated (default: the system's)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "how long shutdown waits for requests and fills in flight")
	fs.StringVar(&c.VulnDB, "vulndb", "", "policy: http(s):// or file:/// URL of a Go vulnerability database (v1 layout), mirrored into the store and served at /vulndb/ (default: none; a mirror already in the store is still used)")
	fs.DurationVar(&c.VulnDBRefresh, "vulndb-refresh", time.Hour, "policy: how often the vulnerability database is mirrored again")
	fs.StringVar(&c.Policy.VulnAction, "vuln-action", policy.Warn, "policy: what a known vulnerability does to a version: warn (serve, with a Modvault-Policy header and an event) or deny (403)")
	fs.StringVar(&raw.license, "license-allow", "", "policy: comma-separated SPDX license IDs allowed (MIT,BSD-3-Clause,Apache-2.0); UNKNOWN never is (default: no license check; needs the metadata index)")
	fs.StringVar(&c.Policy.LicenseAction, "license-action", policy.Warn, "policy: what licenses outside --license-allow do: warn or deny")
	fs.DurationVar(&c.Policy.MinAge, "min-age", 0, "policy: hold back versions that modvault first saw less than this long ago (72h); 0 for none (needs the metadata index)")
	fs.StringVar(&c.Policy.Mode, "policy-mode", policy.Enforce, "policy: enforce, or report (deny nothing, record what would have been denied or warned)")
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

// checkPatterns checks a GOPRIVATE-style list of path patterns.
func checkPatterns(list string) error {
	for p := range strings.SplitSeq(list, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("pattern %q: %v", p, err)
		}
	}
	return nil
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
