#!/usr/bin/env bash
# bench/memory.sh: what modvault costs in memory, measured from
# /proc/PID/status: anonymous RSS (RssAnon: heap, stacks, runtime; what the
# process itself allocated) apart from file-backed RSS (RssFile: pages of
# the binary and of files it maps, shared and reclaimable), at idle, under
# while it sends a 500 MB zip (it must stream it, never hold it), and then
# under zip load (wrk). Also the binary's size, and that of a build without the cloud
# storage backends, for comparison.
#
# It starts modvault with its defaults (embedded SQLite index, audit events,
# request log at the default level, to a file) on a file:// store in a
# temporary directory that holds made-up stored versions (files written in
# place: stored objects are served as they are), with the upstream off, so
# nothing is fetched. Everything listens on 127.0.0.1; all it starts and its
# temporary directory are removed on exit. Needs go, wrk and curl.
#
# Settings (environment variables):
#   BIN       a modvault binary to measure (default: build the working tree)
#   BIG_MB    size of the large zip, MB                       (default 500)
#   DURATION  length of the wrk run                            (default 10s)
#   RESULTS   also write the summary (markdown) to this file
set -euo pipefail
export LC_ALL=C

BIG_MB=${BIG_MB:-500}
DURATION=${DURATION:-10s}
RESULTS=${RESULTS:-}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

die() {
	printf 'bench/memory.sh: %s\n' "$*" >&2
	exit 1
}
log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
for c in go wrk curl; do
	command -v "$c" >/dev/null || die "$c not found"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/modvault-memory.XXXXXX")
PID=0 SAMPLER=0
cleanup() {
	local rc=$?
	for p in "$SAMPLER" "$PID"; do
		if ((p > 0)) && kill -0 "$p" 2>/dev/null; then
			kill "$p" 2>/dev/null || true
			wait "$p" 2>/dev/null || true
		fi
	done
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

kib() { awk -v k="$1" '/^'"$1"':/ { print $2 }' "/proc/$PID/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# sample FILE: writes the largest RssAnon (KiB) of modvault seen every
# 50 ms to FILE until killed.
sample() {
	local max=0 v
	while :; do
		v=$(kib RssAnon 2>/dev/null || echo 0)
		if ((v > max)); then
			max=$v
			echo "$max" >"$1"
		fi
		sleep 0.05
	done
}
start_sampler() {
	echo 0 >"$1"
	sample "$1" &
	SAMPLER=$!
	while [[ $(cat "$1") == 0 ]]; do sleep 0.01; done # the first sample is in
}
stop_sampler() {
	kill "$SAMPLER" 2>/dev/null || true
	wait "$SAMPLER" 2>/dev/null || true
	SAMPLER=0
}

BIN=${BIN:-}
if [[ -z $BIN ]]; then
	log "building modvault"
	BIN=$WORK/modvault
	(cd "$ROOT" && go build -o "$BIN" ./cmd/modvault)
fi
bin_size=$(stat -c %s "$BIN")

# A stored version: its .info, .mod and a zip of SIZE bytes (not a real
# zip: stored objects are served as stored).
STORE=$WORK/store
put_version() {
	local mod=$1 size=$2 dir=$STORE/$1/@v
	mkdir -p "$dir"
	printf '{"Version":"v1.0.0","Time":"2026-01-01T00:00:00Z"}' >"$dir/v1.0.0.info"
	printf 'module %s\n' "$mod" >"$dir/v1.0.0.mod"
	head -c "$size" /dev/urandom >"$dir/v1.0.0.zip"
}
put_version example.com/small $((32 << 10))
log "writing a $BIG_MB MB zip"
put_version example.com/big $((BIG_MB << 20))
mkdir -p "$WORK/tmp"

port=$((20000 + RANDOM % 40000))
URL=http://127.0.0.1:$port
"$BIN" serve -listen "127.0.0.1:$port" -storage "file://$STORE" -upstream off \
	-temp-dir "$WORK/tmp" >"$WORK/modvault.log" 2>&1 &
PID=$!
for ((i = 0; i < 300; i++)); do
	curl -sf -o /dev/null --max-time 1 "$URL/healthz" && break
	sleep 0.1
done
curl -sf -o /dev/null "$URL/healthz" || die "modvault did not start: $(tail -5 "$WORK/modvault.log")"

sleep 5 # the index's start-up work (recording the stored versions) is done
start_anon=$(kib RssAnon) start_file=$(kib RssFile)
log "idle: RssAnon $start_anon KiB, RssFile $start_file KiB"

log "downloading the $BIG_MB MB zip 3 times, one at a time, then 4 at once"
start_sampler "$WORK/big.max"
for _ in 1 2 3; do
	curl -sf -o /dev/null "$URL/example.com/big/@v/v1.0.0.zip" || die "GET of the large zip failed"
done
curls=()
for _ in 1 2 3 4; do
	curl -sf -o /dev/null --limit-rate 100M "$URL/example.com/big/@v/v1.0.0.zip" & # slow clients
	curls+=($!)
done
for c in "${curls[@]}"; do
	wait "$c" || die "GET of the large zip failed"
done
stop_sampler
big_max=$(cat "$WORK/big.max")
log "sending the large zip: max RssAnon $big_max KiB"

log "wrk -t2 -c32 -d$DURATION on the 32 KB zip"
start_sampler "$WORK/load.max"
wrk_out=$(wrk -t2 -c32 -d"$DURATION" "$URL/example.com/small/@v/v1.0.0.zip")
stop_sampler
load_max=$(cat "$WORK/load.max")
load_rps=$(awk '/Requests\/sec:/ { print $2 }' <<<"$wrk_out")
after_load=$(kib RssAnon)
log "under zip load ($load_rps req/s): max RssAnon $load_max KiB; after it $after_load KiB"

sleep 2
idle_again=$(kib RssAnon)
hwm=$(kib VmHWM)

{
	echo "## bench/memory.sh results"
	echo
	echo "- $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)); load average $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- binary: $bin_size bytes ($(mib $((bin_size / 1024))) MiB)"
	echo
	echo "| state | RssAnon MiB | RssFile MiB |"
	echo "|---|---:|---:|"
	echo "| idle, 5 s after start | $(mib "$start_anon") | $(mib "$start_file") |"
	echo "| max while sending a $BIG_MB MB zip (3 times, then 4 at once at 100 MB/s each) | $(mib "$big_max") | |"
	echo "| max under wrk -t2 -c32 -d$DURATION on a 32 KB zip, after that ($load_rps req/s) | $(mib "$load_max") | |"
	echo "| idle again, at the end | $(mib "$idle_again") | $(mib "$(kib RssFile)") |"
	echo
	echo "VmHWM (peak of anonymous + file-backed RSS) at the end: $(mib "$hwm") MiB."
} | tee "${RESULTS:-/dev/null}"
