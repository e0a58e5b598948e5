// Command modvault is a caching Go module proxy that keeps every module
// version it serves.
//
// Usage:
//
//	modvault [serve] [flags]   run the proxy (the default)
//	modvault version           print the version
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
	"syscall"

	"github.com/modvault/modvault/internal/app"
	"github.com/modvault/modvault/internal/config"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && (args[0] == "serve" || args[0] == "version" || args[0] == "help") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "version":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help":
		config.ServeUsage(stdout)
		fmt.Fprintln(stdout, "\nmodvault version prints the version.")
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := config.ParseServe(ctx, args, config.Env{})
	if errors.Is(err, flag.ErrHelp) {
		config.ServeUsage(stdout)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "modvault: %v\n", err)
		return 2
	}
	log := newLogger(stderr, cfg)
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

func newLogger(w io.Writer, cfg config.Serve) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
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
		for _, kv := range bi.Settings {
			if kv.Key == "vcs.revision" {
				s += " " + kv.Value
			}
		}
	}
	return s + " " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
}
