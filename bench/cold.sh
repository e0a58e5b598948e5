#!/usr/bin/env bash
# bench/cold.sh: cold fill of a large real dependency graph through modvault
# against the direct download from the upstream (issue 16, point 3).
#
# Each run is a "go mod download" of GRAPH (default bench/coldbig: every
# module of its go.mod, 166 module zips, about 176 MB) with a fresh module
# cache: A through a freshly started modvault with an empty file:// store
# and verification on (modvault looks every .mod and zip up in the
# upstream's checksum database, GOSUMDB from "go env GOSUMDB"), B straight
# from the upstream. A and B alternate (A B, B A, …) after one uncounted B
# run; the script prints each run's wall time, the medians and A/B.
# While modvault fills, its anonymous RSS (RssAnon in /proc/PID/status) is
# sampled every 100 ms; the script reports the idle value and the peak.
#
# The upstream is the first entry of "go env GOPROXY", read at run time.
# Everything modvault serves listens on 127.0.0.1. All processes the script
# starts and its temporary directory are removed on exit.
#
# Settings (environment variables):
#   RUNS      counted runs per side                         (default 3)
#   GRAPH     directory with go.mod, go.sum, main.go        (default bench/coldbig)
#   UPSTREAM  upstream proxy URL    (default: first entry of go env GOPROXY)
#   REV       build modvault from this git revision (git archive) instead of
#             the working tree, e.g. REV=HEAD~3
#   PROFILE=1 build with -tags pprof and write a CPU profile and an
#             execution trace of the first modvault fill to PROFILE_DIR
#             (default: the temporary directory, kept)
#   KEEP=1    keep the temporary directory (its path is printed)
#   RESULTS   also write the summary (markdown) to this file
set -euo pipefail
export LC_ALL=C

RUNS=${RUNS:-3}
KEEP=${KEEP:-0}
PROFILE=${PROFILE:-0}
RESULTS=${RESULTS:-}
REV=${REV:-}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_NAME=bench/cold.sh
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
GRAPH=${GRAPH:-$ROOT/bench/coldbig}

command -v go >/dev/null || die "go not found"
command -v curl >/dev/null || die "curl not found; apt-get install -y curl"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS=$RUNS: want a positive integer"
[[ -f $GRAPH/go.mod && -f $GRAPH/go.sum ]] || die "$GRAPH: no go.mod and go.sum"

if [[ -z ${UPSTREAM:-} ]]; then
	UPSTREAM=$(go env GOPROXY)
	UPSTREAM=${UPSTREAM%%,*}
	UPSTREAM=${UPSTREAM%%|*}
fi
[[ $UPSTREAM =~ ^https?:// ]] || die "upstream $UPSTREAM is not an http(s) proxy URL; set UPSTREAM"
UPSTREAM=${UPSTREAM%/}
GOSUMDB_VALUE=$(go env GOSUMDB)
[[ -n $GOSUMDB_VALUE && $GOSUMDB_VALUE != off ]] || die "go env GOSUMDB is off: the benchmark needs verification on"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/modvault-cold.XXXXXX")
[[ $PROFILE == 1 ]] && KEEP=1
PROFILE_DIR=${PROFILE_DIR:-$WORK}
PIDS=()
cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [[ $KEEP == 1 ]]; then
		log "kept $WORK"
	else
		chmod -R u+w "$WORK" 2>/dev/null || true
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM


MV_PID=0 MV_URL="" PPROF_ADDR=""
# start_modvault STORE LOG: a modvault in front of the upstream, verifying
# with the checksum databases of go env GOSUMDB (its default).
start_modvault() {
	local store=$1 logf=$2 port
	mkdir -p "$store" "$store.tmp"
	port=$(free_port)
	PPROF_ADDR=127.0.0.1:$(free_port)
	MODVAULT_PPROF=$PPROF_ADDR "$WORK/modvault" serve -listen "127.0.0.1:$port" -storage "file://$store" \
		-upstream "$UPSTREAM" -gosumdb "$GOSUMDB_VALUE" -temp-dir "$store.tmp" >"$logf" 2>&1 &
	MV_PID=$!
	PIDS+=("$MV_PID")
	MV_URL="http://127.0.0.1:$port"
	wait_http "$MV_URL/healthz" || {
		tail -20 "$logf" >&2
		die "modvault did not start"
	}
}

# sample_rss PID OUT: appends RssAnon (KiB) of PID to OUT every 100 ms
# while PID lives; runs in the background.
sample_rss() {
	while kill -0 "$1" 2>/dev/null; do
		rss_anon_kb "$1" >>"$2"
		sleep 0.1
	done
}

NZIPS=$(awk '/^require \(/ { r = 1; next } r && /^\)/ { r = 0 } r && NF >= 2 { n++ } /^require [^(]/ { n++ } END { print n }' "$GRAPH/go.mod")

# download PROXY DIR: a cold "go mod download" of GRAPH with an empty
# module cache under DIR; prints its wall time in seconds.
download() {
	local proxy=$1 dir=$2 s e zips
	mkdir -p "$dir"
	cp "$GRAPH/go.mod" "$GRAPH/go.sum" "$dir/"
	[[ -f $GRAPH/main.go ]] && cp "$GRAPH/main.go" "$dir/"
	s=$(now)
	(
		cd "$dir"
		env GOENV=off GOPROXY="$proxy" GOSUMDB="$GOSUMDB_VALUE" GONOSUMDB= GONOPROXY= GOPRIVATE= \
			GOINSECURE= GOFLAGS=-mod=mod GOWORK=off GOTOOLCHAIN=local \
			GOMODCACHE="$dir/modcache" GOPATH="$dir/gopath" \
			timeout 900 go mod download
	) >"$dir/download.log" 2>&1 || {
		tail -20 "$dir/download.log" >&2
		die "go mod download via $proxy failed"
	}
	e=$(now)
	zips=$(find "$dir/modcache/cache/download" -name '*.zip' | wc -l)
	[[ $zips == "$NZIPS" ]] || die "go mod download via $proxy fetched $zips zips, want $NZIPS"
	chmod -R u+w "$dir"
	rm -rf "$dir"
	elapsed "$s" "$e"
}

cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem_total=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
machine="$(nproc) CPUs ($cpu_model), $mem_total RAM, kernel $(uname -r), $(go version | cut -d' ' -f3-)"
started=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
if [[ -n $REV ]]; then
	rev=$(git -C "$ROOT" rev-parse --short "$REV^{commit}") || die "REV=$REV is not a git revision"
else
	rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
	if [[ -n $(git -C "$ROOT" status --porcelain -- cmd internal go.mod go.sum 2>/dev/null) ]]; then
		rev="$rev+dirty"
	fi
fi
log "machine: $machine; work dir $WORK"
log "building modvault ($rev)"
src=$ROOT
if [[ -n $REV ]]; then
	src=$WORK/src
	mkdir -p "$src"
	git -C "$ROOT" archive --format=tar "$rev" | tar -x -C "$src"
	# The pprof hook may be newer than REV.
	[[ -f $src/cmd/modvault/pprof.go ]] || cp "$ROOT/cmd/modvault/pprof.go" "$src/cmd/modvault/"
fi
tags=()
[[ $PROFILE == 1 ]] && tags=(-tags pprof)
(cd "$src" && go build "${tags[@]}" -o "$WORK/modvault" ./cmd/modvault)

log "warm-up download from the upstream (not counted; $NZIPS modules)"
download "$UPSTREAM" "$WORK/dl" >/dev/null
cold_a=() cold_b=() rss_peak=() rss_idle=() cpu_a=()
for ((i = 1; i <= RUNS; i++)); do
	for side in $( ((i % 2)) && echo A B || echo B A); do
		if [[ $side == B ]]; then
			t=$(download "$UPSTREAM" "$WORK/dl")
			cold_b+=("$t")
			log "run $i: upstream ${t}s"
			continue
		fi
		rm -rf "$WORK/store" "$WORK/store.tmp"
		start_modvault "$WORK/store" "$WORK/modvault-$i.log"
		sleep 1
		idle=$(rss_anon_kb "$MV_PID")
		: >"$WORK/rss-$i"
		sample_rss "$MV_PID" "$WORK/rss-$i" &
		sampler=$!
		prof=()
		if [[ $PROFILE == 1 && $i == 1 ]]; then
			curl -sf -o "$PROFILE_DIR/cold.cpu" "http://$PPROF_ADDR/debug/pprof/profile?seconds=${PROFILE_SECONDS:-15}" &
			prof+=($!)
			curl -sf -o "$PROFILE_DIR/cold.trace" "http://$PPROF_ADDR/debug/pprof/trace?seconds=${PROFILE_SECONDS:-15}" &
			prof+=($!)
		fi
		t=$(download "$MV_URL" "$WORK/dl")
		for p in "${prof[@]}"; do wait "$p" || log "warning: profile download failed"; done
		peak=$(sort -n "$WORK/rss-$i" | tail -1)
		cpu=$(cpu_seconds "$MV_PID")
		stop "$MV_PID"
		wait "$sampler" 2>/dev/null || true
		[[ -z $(find "$WORK/store.tmp" -type f) ]] || log "warning: leftover files in modvault's temp dir"
		grep -q 'verification failed' "$WORK/modvault-$i.log" && die "modvault logged a verification failure"
		cold_a+=("$t") rss_peak+=("$peak") rss_idle+=("$idle") cpu_a+=("$cpu")
		log "run $i: modvault ${t}s, CPU ${cpu}s, RssAnon idle $((idle / 1024)) MiB, peak $((peak / 1024)) MiB ($(wc -l <"$WORK/rss-$i") samples)"
	done
done

ca=$(printf '%s\n' "${cold_a[@]}" | median)
cb=$(printf '%s\n' "${cold_b[@]}" | median)
pmax=$(printf '%s\n' "${rss_peak[@]}" | sort -n | tail -1)
{
	echo "### bench/cold.sh results"
	echo
	echo "- started: $started, finished: $(date -u '+%H:%M:%S UTC'); modvault $rev"
	echo "- load average (1, 5, 15 min) at start: $load_start; at end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- machine: $machine"
	echo "- graph: ${GRAPH#"$ROOT"/}, $NZIPS module zips; verification on (GOSUMDB from go env)"
	echo
	echo "| A = modvault, empty store | B = upstream directly | A/B | runs A (s) | runs B (s) |"
	echo "|---:|---:|---:|---|---|"
	echo "| $ca | $cb | **$(ratio "$ca" "$cb")** | ${cold_a[*]} | ${cold_b[*]} |"
	echo
	echo "- modvault CPU time (user + system) for the whole fill: median $(printf '%s\n' "${cpu_a[@]}" | median) s (runs: ${cpu_a[*]})"
	echo "- modvault RssAnon (sampled every 100 ms): idle $(printf '%s\n' "${rss_idle[@]}" | median) KiB; peak during the fill max $((pmax / 1024)) MiB (runs, KiB: ${rss_peak[*]})"
} | tee "${RESULTS:-/dev/null}"
