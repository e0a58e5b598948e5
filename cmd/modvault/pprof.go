//go:build pprof

// Profiling for benchmarks only: a binary built with "-tags pprof" serves
// net/http/pprof on the loopback address in $MODVAULT_PPROF (for example
// 127.0.0.1:6060), apart from the module proxy. Release builds leave it out.
// bench/cold.sh PROFILE=1 and the profiles of docs/benchmarks.md use it.

package main

import (
	"log/slog"
	"net/http"
	_ "net/http/pprof" // registers on http.DefaultServeMux
	"os"
)

func init() {
	addr := os.Getenv("MODVAULT_PPROF")
	if addr == "" {
		return
	}
	go func() {
		if err := http.ListenAndServe(addr, nil); err != nil {
			slog.Error("pprof", "err", err)
		}
	}()
}
