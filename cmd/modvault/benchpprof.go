//go:build benchpprof

package main

import (
	"log/slog"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof/ on http.DefaultServeMux
	"os"
)

// With the build tag benchpprof (bench/cold.sh PROFILE=1), modvault serves
// net/http/pprof on the loopback address in MODVAULT_BENCH_PPROF, such as
// 127.0.0.1:6060. Release builds have no such listener.
func init() {
	addr := os.Getenv("MODVAULT_BENCH_PPROF")
	if addr == "" {
		return
	}
	go func() {
		if err := http.ListenAndServe(addr, nil); err != nil {
			slog.Error("benchpprof listener", "err", err)
		}
	}()
}
