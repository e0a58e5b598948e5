package main

// The air-gap commands: keygen, export and import (see the README, Air-gapped networks).

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/term"

	"github.com/modvault/modvault/internal/bundle"
	"github.com/modvault/modvault/internal/config"
	"github.com/modvault/modvault/internal/prefetch"
	"github.com/modvault/modvault/internal/protocol"
	"github.com/modvault/modvault/internal/store"
)

// goEnv returns `go env name`, or "" if the go command cannot say.
func goEnv(ctx context.Context, name string) string {
	out, err := exec.CommandContext(ctx, "go", "env", name).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// sumdbFlags are the checksum database settings export and import share.
type sumdbFlags struct {
	gosumdb, gonosumdb string
}

func (f *sumdbFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.gosumdb, "gosumdb", os.Getenv("MODVAULT_GOSUMDB"), "checksum database, as in GOSUMDB (default: go env GOSUMDB)")
	fs.StringVar(&f.gonosumdb, "gonosumdb", os.Getenv("MODVAULT_GONOSUMDB"), "patterns of private modules, which travel with their manifest hash only (default: go env GONOSUMDB, else GOPRIVATE)")
}

func (f *sumdbFlags) resolve(ctx context.Context) ([]config.SumDB, func(string) bool, error) {
	if f.gosumdb == "" {
		f.gosumdb = goEnv(ctx, "GOSUMDB")
	}
	dbs, err := config.ParseSumDBs(f.gosumdb)
	if err != nil {
		return nil, nil, fmt.Errorf("gosumdb: %v", err)
	}
	if f.gonosumdb == "" {
		if f.gonosumdb = goEnv(ctx, "GONOSUMDB"); f.gonosumdb == "" {
			f.gonosumdb = goEnv(ctx, "GOPRIVATE")
		}
	}
	patterns := f.gonosumdb
	return dbs, func(mod string) bool { return patterns != "" && module.MatchPrefixPatterns(patterns, mod) }, nil
}

// keygen runs "modvault keygen NAME": it writes NAME.key (the signer key,
// mode 0600) and NAME.pub (the verifier key, for import --trust).
func keygen(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: modvault keygen NAME   (writes NAME.key and NAME.pub)")
		return 2
	}
	name := fs.Arg(0)
	skey, vkey, err := bundle.GenerateKey(name)
	if err != nil {
		fmt.Fprintf(stderr, "modvault keygen: %v\n", err)
		return 1
	}
	if err := writeNew(name+".key", skey+"\n", 0o600); err != nil {
		fmt.Fprintf(stderr, "modvault keygen: %v\n", err)
		return 1
	}
	if err := writeNew(name+".pub", vkey+"\n", 0o644); err != nil {
		fmt.Fprintf(stderr, "modvault keygen: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s.key (keep it secret; export --sign %s.key) and %s.pub (import --trust %s.pub):\n%s\n", name, name, name, name, vkey)
	return 0
}

// writeNew writes a file that must not exist yet.
func writeNew(name, content string, mode os.FileMode) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readKey returns a key given as itself or as the name of a file holding
// it.
func readKey(s string) string {
	if b, err := os.ReadFile(s); err == nil {
		return strings.TrimSpace(string(b))
	}
	return strings.TrimSpace(s)
}

// parseSince reads --since: an RFC 3339 time, a date, or a duration back
// from now ("24h").
func parseSince(s string) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--since %q: want an RFC 3339 time, a date (2006-01-02) or a duration (24h)", s)
}

// readGoSum returns the files a go.sum lists, by version.
func readGoSum(file string) (map[module.Version][]protocol.Kind, error) {
	lines, err := protocol.ReadGoSum(file)
	if err != nil {
		return nil, err
	}
	only := map[module.Version][]protocol.Kind{}
	for _, l := range lines {
		only[l.Version] = append(only[l.Version], l.Kind)
	}
	return only, nil
}

// export runs "modvault export": it writes a bundle of the store.
func export(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var storage, output, since, sumFile, modFile, signKey string
	var db sumdbFlags
	var quiet bool
	fs.StringVar(&storage, "storage", os.Getenv("MODVAULT_STORAGE"), "store URL (required)")
	fs.StringVar(&output, "output", "", "bundle file to write: .tar, .tar.zst (zstd) or .tar.gz (gzip) (required)")
	fs.StringVar(&since, "since", "", "only versions stored after this time (RFC 3339, date, or a duration back from now like 24h)")
	fs.StringVar(&sumFile, "sum", "", "only the .mod files and zips this go.sum lists")
	fs.StringVar(&modFile, "mod", "", "only what a build of this go.mod needs (its graph's .mod files, its modules' zips), resolved by the go command")
	fs.StringVar(&signKey, "sign", "", "sign the manifest with this note signer key file (modvault keygen)")
	fs.BoolVar(&quiet, "quiet", false, "no progress lines")
	db.register(fs)
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || storage == "" || output == "" {
		if err == nil {
			fmt.Fprintln(stderr, "usage: modvault export --storage URL --output FILE [--since TIME | --sum go.sum | --mod go.mod] [--sign KEYFILE]")
		}
		return 2
	}
	var opts bundle.ExportOptions
	var err error
	if opts.SumDBs, opts.Private, err = db.resolve(ctx); err != nil {
		fmt.Fprintf(stderr, "modvault export: %v\n", err)
		return 2
	}
	if since != "" {
		if opts.Since, err = parseSince(since); err != nil {
			fmt.Fprintf(stderr, "modvault export: %v\n", err)
			return 2
		}
	}
	if sumFile != "" {
		if opts.Only, err = readGoSum(sumFile); err != nil {
			fmt.Fprintf(stderr, "modvault export: %v\n", err)
			return 2
		}
	}
	if modFile != "" && sumFile != "" {
		fmt.Fprintln(stderr, "modvault export: --sum and --mod exclude each other")
		return 2
	}
	if signKey != "" {
		if opts.Signer, err = note.NewSigner(readKey(signKey)); err != nil {
			fmt.Fprintf(stderr, "modvault export: --sign: %v\n", err)
			return 2
		}
	}
	if !quiet {
		opts.Progress = stderr
	}
	st, err := store.Open(ctx, storage)
	if err != nil {
		fmt.Fprintf(stderr, "modvault export: %v\n", err)
		return 2
	}
	defer st.Close()
	if modFile != "" {
		if opts.Only, err = bundle.ModClosure(ctx, st, modFile, nil); err != nil {
			fmt.Fprintf(stderr, "modvault export: --mod: %v\n", err)
			return 1
		}
	}
	tmp := output + ".partial"
	f, err := os.Create(tmp)
	if err != nil {
		fmt.Fprintf(stderr, "modvault export: %v\n", err)
		return 1
	}
	w := bufio.NewWriterSize(f, 1<<20)
	res, err := bundle.Export(ctx, st, w, output, opts)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, output)
	}
	if err != nil {
		os.Remove(tmp)
		fmt.Fprintf(stderr, "modvault export: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s: %d versions, %d files (%d bytes), %d lookups, %d tiles, %d vulnerability entries\n", output, res.Versions, res.Files, res.Bytes, res.Lookups, res.Tiles, res.VulnEntries)
	return 0
}

// importBundle runs "modvault import": it verifies a bundle and stores it.
func importBundle(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var storage, tempDir string
	var trust multiFlag
	var db sumdbFlags
	fs.StringVar(&storage, "storage", os.Getenv("MODVAULT_STORAGE"), "store URL (required)")
	fs.Var(&trust, "trust", "verifier key (or a file holding one) that must have signed the manifest; repeatable")
	fs.StringVar(&tempDir, "temp-dir", os.Getenv("MODVAULT_TEMP_DIR"), "directory to stage the bundle in (default: the system's)")
	db.register(fs)
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 || storage == "" {
		if err == nil {
			fmt.Fprintln(stderr, "usage: modvault import --storage URL [--trust VERIFIERKEY] FILE")
		}
		return 2
	}
	opts := bundle.ImportOptions{TempDir: tempDir, Name: fs.Arg(0)}
	var err error
	if opts.SumDBs, opts.Private, err = db.resolve(ctx); err != nil {
		fmt.Fprintf(stderr, "modvault import: %v\n", err)
		return 2
	}
	for _, k := range trust {
		v, err := note.NewVerifier(readKey(k))
		if err != nil {
			fmt.Fprintf(stderr, "modvault import: --trust: %v\n", err)
			return 2
		}
		opts.Trust = append(opts.Trust, v)
	}
	st, err := store.Open(ctx, storage)
	if err != nil {
		fmt.Fprintf(stderr, "modvault import: %v\n", err)
		return 2
	}
	defer st.Close()
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "modvault import: %v\n", err)
		return 2
	}
	defer f.Close()
	res, err := bundle.Import(ctx, st, f, opts)
	if err != nil {
		fmt.Fprintf(stderr, "modvault import: %v\n", err)
		if errors.Is(err, bundle.ErrRefused) {
			fmt.Fprintln(stderr, "modvault import: nothing was stored")
		}
		return 1
	}
	fmt.Fprintf(stdout, "imported %s: %d versions; %d objects stored, %d already there", fs.Arg(0), res.Versions, res.Stored, res.Present)
	for name, n := range res.Head {
		fmt.Fprintf(stdout, "; %s tree head %d records", name, n)
	}
	if !res.VulnDB.IsZero() {
		fmt.Fprintf(stdout, "; vulnerability database of %s", res.VulnDB.UTC().Format(time.RFC3339))
	}
	fmt.Fprintln(stdout)
	return 0
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

// prefetchCmd runs "modvault prefetch": it fills a running modvault with
// what the arguments need, and exits 1 listing what failed.
func prefetchCmd(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fs := flag.NewFlagSet("prefetch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opts prefetch.Options
	var quiet bool
	fs.StringVar(&opts.Proxy, "proxy", "", "base URL of the modvault to fill (required)")
	fs.IntVar(&opts.Concurrency, "concurrency", 8, "requests in flight")
	fs.BoolVar(&quiet, "quiet", false, "no progress lines")
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 || opts.Proxy == "" {
		if err == nil {
			fmt.Fprintln(stderr, "usage: modvault prefetch --proxy URL [--concurrency N] go.mod|go.sum|module@version...")
		}
		return 2
	}
	switch f, ok := stderr.(*os.File); {
	case quiet:
	case ok && term.IsTerminal(int(f.Fd())):
		var bar *progressbar.ProgressBar
		opts.OnFile = func(done, total int, what string, err error) {
			if bar == nil {
				bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(stderr),
					progressbar.OptionSetDescription("prefetch"), progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
			}
			bar.Describe(what)
			bar.Add(1)
		}
	default:
		opts.Progress = stderr // plain lines when not on a terminal
	}
	res, err := prefetch.Run(ctx, fs.Args(), opts)
	fmt.Fprintf(stdout, "prefetched %d files; %d failed\n", res.Fetched, len(res.Failures))
	for _, f := range res.Failures {
		fmt.Fprintf(stdout, "FAILED %s: %v\n", f.What, f.Err)
	}
	if err != nil {
		fmt.Fprintf(stderr, "modvault prefetch: %v\n", err)
		return 2
	}
	if len(res.Failures) > 0 {
		return 1
	}
	return 0
}
