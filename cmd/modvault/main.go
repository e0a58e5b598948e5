// Command modvault is a caching Go module proxy that keeps every module
// version it serves.
//
// Usage:
//
//	modvault [serve] [flags]   run the proxy (the default)
//	modvault verify [flags]    re-check every stored version; exit 1 on problems
//	modvault reindex [flags]   rebuild the metadata index from the store
//	modvault version           print the version
//	modvault prefetch, export, import, keygen: carry modules across an air gap (README, Air-gapped networks)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/modvault/modvault/internal/app"
	"github.com/modvault/modvault/internal/audit"
	"github.com/modvault/modvault/internal/config"
	"github.com/modvault/modvault/internal/logwrite"
	"github.com/modvault/modvault/internal/reqlog"
	"github.com/modvault/modvault/internal/store"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// isCommand reports whether s names a subcommand; anything else is serve's
// flags.
func isCommand(s string) bool {
	switch s {
	case "serve", "verify", "reindex", "version", "help", "config", "prefetch", "export", "import", "keygen":
		return true
	}
	return false
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && isCommand(args[0]) {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "version":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "verify":
		return verify(args, stdout, stderr)
	case "config":
		return printConfig(args, stdout, stderr)
	case "reindex":
		return reindex(args, stdout, stderr)
	case "prefetch":
		return prefetchCmd(args, stdout, stderr)
	case "export":
		return export(args, stdout, stderr)
	case "import":
		return importBundle(args, stdout, stderr)
	case "keygen":
		return keygen(args, stdout, stderr)
	case "help":
		config.ServeUsage(stdout)
		fmt.Fprintln(stdout, "\nmodvault config [flags] prints the effective configuration, secrets redacted.")
		fmt.Fprintln(stdout, "modvault verify [flags] re-checks every stored version.")
		fmt.Fprintln(stdout, "modvault prefetch|export|import|keygen carry modules and their checksum proofs across an air gap (README, Air-gapped networks).")
		fmt.Fprintln(stdout, "modvault reindex [flags] rebuilds the metadata index (--database) from the store.")
		fmt.Fprintln(stdout, "modvault version prints the version.")
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, code, ok := parseServe(ctx, "modvault", args, stdout, stderr)
	if !ok {
		return code
	}
	// The request log is buffered (flushed every 100 ms): a line per
	// request then costs no write(2) of its own.
	logOut := logwrite.New(stderr, 0, 0)
	defer logOut.Close()
	log := newLogger(logOut, cfg)
	// go-redis logs through a logger of its own; send it to ours.
	redis.SetLogger(redisLogger{log})
	a, err := app.New(ctx, cfg, log, shortVersion())
	if err != nil {
		log.Error("starting", "err", err)
		return 1
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		a.Close()
		log.Error("listening", "addr", cfg.Listen, "err", err)
		return 1
	}
	if err := a.Serve(ctx, ln); err != nil {
		log.Error("stopped", "err", err)
		return 1
	}
	return 0
}

// printConfig runs "modvault config": it reads the settings as "modvault
// serve" would and prints them as a TOML file, each with its origin as a
// comment, secrets redacted.
func printConfig(args []string, stdout, stderr io.Writer) int {
	cfg, err := config.ParseServe(context.Background(), args, config.Env{})
	if errors.Is(err, flag.ErrHelp) {
		config.ServeUsage(stdout)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "modvault: %v\n", err)
		return 2
	}
	fmt.Fprintln(stdout, "# modvault's effective configuration: usable as a --config file (secrets redacted)")
	if cfg.Config != "" {
		fmt.Fprintf(stdout, "# read from %s\n", cfg.Config)
	}
	for _, s := range cfg.Settings() {
		if s.Name == "auth-rule" || s.Name == "policy-rule" {
			continue // printed as tables below
		}
		fmt.Fprintf(stdout, "%s = %s # %s\n", s.Name, strconv.Quote(s.Value), s.Origin)
	}
	for _, r := range cfg.AuthRules {
		var allow []string
		for _, a := range r.Allow {
			allow = append(allow, strconv.Quote(a))
		}
		fmt.Fprintf(stdout, "\n[[auth-rule]] # %s\npattern = %s\nallow = [%s]\n", cfg.Origins["auth-rule"], strconv.Quote(r.Pattern), strings.Join(allow, ", "))
	}
	for _, r := range cfg.Policy.Rules {
		fmt.Fprintf(stdout, "\n[[policy-rule]] # %s: %s\nmodule = %s\n", cfg.Origins["policy-rule"], r, strconv.Quote(r.Module))
		if r.Versions != "" {
			fmt.Fprintf(stdout, "versions = %s\n", strconv.Quote(r.Versions))
		}
		fmt.Fprintf(stdout, "action = %s\n", strconv.Quote(r.Action))
		if r.Reason != "" {
			fmt.Fprintf(stdout, "reason = %s\n", strconv.Quote(r.Reason))
		}
	}
	return 0
}

// verify runs "modvault verify": it reports every stored version that is
// partial, missing a file or changed, and exits 1 if there is any.
func verify(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := config.ParseVerify(ctx, args, config.Env{})
	if err != nil {
		fmt.Fprintf(stderr, "modvault verify: %v\n", err)
		return 2
	}
	st, err := store.Open(ctx, cfg.Storage)
	if err != nil {
		fmt.Fprintf(stderr, "modvault verify: %v\n", err)
		return 2
	}
	defer st.Close()
	res, err := audit.Run(ctx, st, audit.Options{SumDBs: cfg.SumDBs, Quarantine: cfg.Quarantine, TempDir: cfg.TempDir, Report: stdout})
	fmt.Fprintf(stdout, "%d versions, %d zips checked; %d hashes matched the checksum database; %d problems; %d objects quarantined\n",
		res.Versions, res.Zips, res.Verified, res.Problems, res.Quarantined)
	if err != nil {
		fmt.Fprintf(stderr, "modvault verify: %v\n", err)
		return 2
	}
	if res.Problems > 0 {
		return 1
	}
	return 0
}

// reindex runs "modvault reindex" with the flags of serve: it rebuilds
// the metadata index from a walk of the store, with a progress line on
// stderr per batch. Exit 2 for bad flags, 1 if the reindex fails.
func reindex(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, code, ok := parseServe(ctx, "modvault reindex", args, stdout, stderr)
	if !ok {
		return code
	}
	res, err := app.Reindex(ctx, cfg, newLogger(stderr, cfg), stderr)
	if err != nil {
		fmt.Fprintf(stderr, "modvault reindex: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%d versions indexed; %d no longer stored removed\n", res.Versions, res.Removed)
	return 0
}

// redisLogger sends go-redis's messages (failed dials and the like) to
// the log at debug level: the lock reports Redis trouble itself, once.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis client", "msg", fmt.Sprintf(format, v...))
}

func newLogger(w io.Writer, cfg config.Serve) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	return slog.New(reqlog.NewHandler(w, cfg.LogFormat == "json", &slog.HandlerOptions{Level: level}))
}

func shortVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

func versionString() string {
	s := "modvault " + shortVersion()
	if bi, ok := debug.ReadBuildInfo(); ok {
		vcs := map[string]string{}
		for _, kv := range bi.Settings {
			vcs[kv.Key] = kv.Value
		}
		if rev := vcs["vcs.revision"]; rev != "" {
			s += " commit " + rev
			if t := vcs["vcs.time"]; t != "" {
				s += " (" + t + ")"
			}
			if vcs["vcs.modified"] == "true" {
				s += " modified"
			}
		}
	}
	return s + " " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
}

// parseServe parses serve's flags for the command named name. Unless ok,
// the command exits with code: 0 after --help, 2 for bad flags (with the
// reason on stderr).
func parseServe(ctx context.Context, name string, args []string, stdout, stderr io.Writer) (cfg config.Serve, code int, ok bool) {
	cfg, err := config.ParseServe(ctx, args, config.Env{})
	if errors.Is(err, flag.ErrHelp) {
		config.ServeUsage(stdout)
		return cfg, 0, false
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return cfg, 2, false
	}
	return cfg, 0, true
}
