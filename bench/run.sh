#!/usr/bin/env bash
# bench/run.sh: a rerunnable end-to-end benchmark of modvault.
#
#   1. Cold download: "go mod download" of a real dependency graph
#      (bench/coldmod, 30 modules) with an empty module cache, through a
#      freshly started modvault with an empty file:// store (A), and straight
#      from the real upstream (B), alternating A and B; median wall times.
#   2. Warm download: the same download through modvault with the store now
#      full (A), and from nginx serving that same store directory as a static
#      GOPROXY tree (B), alternating; median wall times.
#   3. Warm serving: wrk on one .info, one .mod, one small (~32 KB) .zip and
#      one mid-size .zip URL, modvault vs nginx serving the same store
#      directory, alternating for several rounds; median requests/s and p99
#      latency, modvault/nginx ratios, and the targets of issue 16 (.info
#      ≥ 0.9× nginx's req/s, .mod ≥ 0.85×, small zip ≥ 0.75×, p99 ≤ 1.25×).
#      Both log every request to a file: modvault at its default level.
#      Beside them, the reference servers of bench/refserver (REFS): the same
#      files answered from memory by a bare Go net/http handler and by a bare
#      fasthttp handler, each with a buffered request log and nothing else,
#      so that each run shows which part of the gap to nginx is the HTTP
#      server and which part is modvault's own work.
#   4. Peak RSS (VmHWM) of modvault during the cold fills and while serving.
#
# Everything listens on 127.0.0.1 only. The upstream is the first entry of
# "go env GOPROXY", read at run time. The script installs nothing: it needs
# go, nginx (apt package nginx-light), wrk and curl on the PATH or in /usr/sbin.
# All processes it starts and its temporary directory are removed on exit.
#
# Settings (environment variables):
#   COLD_RUNS  cold (and warm) download runs per side       (default 3)
#   ROUNDS     wrk rounds per URL and server                 (default 4)
#   DURATION   length of one wrk run                         (default 10s)
#   CONNS      wrk connections                               (default 32)
#   THREADS    wrk threads                                   (default 2)
#   NGINX_WORKERS  nginx worker_processes                    (default auto)
#   REFS       reference servers of bench/refserver to run beside modvault
#              and nginx ("nethttp fasthttp", the default; "" for none;
#              building them fetches fasthttp through the Go module proxy)
#   UPSTREAM   upstream proxy URL     (default: first entry of go env GOPROXY)
#   REV        build modvault from this git revision (git archive, read-only
#              on the repository) instead of the working tree, e.g. REV=HEAD
#   KEEP=1     keep the temporary directory (its path is printed)
#   RESULTS    also write the summary (markdown) to this file
#   PIN=1      for the warm part (the cold downloads are not pinned), the
#              servers on CPU 0 and wrk on CPU 1 (taskset), with one
#              wrk thread and one nginx worker; Go sets GOMAXPROCS to 1 from
#              the affinity. Each program then has a core of its own, so the
#              latencies are not those of wrk and the server taking turns
#              on the same cores.
#   FROM_STORE serve a copy of this already filled store directory (one
#              kept with KEEP=1: $WORK/store) and skip the cold and warm
#              downloads: for quick runs of the wrk part alone
#
# A default run takes about 5 minutes on an idle 2-core machine, 8-9 minutes
# on a busy one (the downloads slow down most).
set -euo pipefail
export LC_ALL=C # a "." in EPOCHREALTIME and in numbers

COLD_RUNS=${COLD_RUNS:-3}
ROUNDS=${ROUNDS:-4}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
NGINX_WORKERS=${NGINX_WORKERS:-auto}
REFS=${REFS-nethttp fasthttp}
PIN=${PIN:-0}
PIN_SERVER=(env) PIN_WRK=(env) # set for the warm part below
if [[ $PIN == 1 ]]; then
	command -v taskset >/dev/null || die "PIN=1 needs taskset (apt package util-linux)"
	(($(nproc) >= 2)) || die "PIN=1 needs 2 CPUs"
	THREADS=1 NGINX_WORKERS=1
fi
KEEP=${KEEP:-0}
RESULTS=${RESULTS:-}
REV=${REV:-}
FROM_STORE=${FROM_STORE:-}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_NAME=bench/run.sh
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
PATH=$PATH:/usr/sbin:/sbin

need() {
	command -v "$1" >/dev/null 2>&1 ||
		die "$1 not found; install it with: apt-get install -y --no-install-recommends $2"
}
need go golang
need nginx nginx-light
need wrk wrk
need curl curl
for r in $REFS; do
	[[ $r == nethttp || $r == fasthttp ]] || die "REFS: unknown reference server $r (want nethttp, fasthttp)"
done
for v in COLD_RUNS ROUNDS CONNS THREADS; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v=${!v}: want a positive integer"
done
[[ $DURATION =~ ^[1-9][0-9]*[smh]?$ ]] || die "DURATION=$DURATION: want e.g. 10s"

if [[ -z ${UPSTREAM:-} ]]; then
	UPSTREAM=$(go env GOPROXY)
	UPSTREAM=${UPSTREAM%%,*}
	UPSTREAM=${UPSTREAM%%|*}
fi
[[ $UPSTREAM =~ ^https?:// ]] || die "upstream $UPSTREAM is not an http(s) proxy URL; set UPSTREAM"
UPSTREAM=${UPSTREAM%/}
GOSUMDB_VALUE=$(go env GOSUMDB)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/modvault-bench.XXXXXX")
PIDS=()

cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	for pid in "${PIDS[@]}"; do
		if kill -0 "$pid" 2>/dev/null; then
			kill "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
		fi
	done
	if [[ $KEEP == 1 ]]; then
		log "kept $WORK"
	else
		chmod -R u+w "$WORK" 2>/dev/null || true # module caches are read-only
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM





MV_PID=0 MV_URL=""
# start_modvault STORE_DIR LOG: starts modvault in front of the upstream.
start_modvault() {
	local store=$1 logf=$2 port
	mkdir -p "$store" "$store.tmp"
	port=$(free_port)
	"${PIN_SERVER[@]}" "$WORK/modvault" serve -listen "127.0.0.1:$port" -storage "file://$store" \
		-upstream "$UPSTREAM" -temp-dir "$store.tmp" >"$logf" 2>&1 &
	MV_PID=$!
	PIDS+=("$MV_PID")
	MV_URL="http://127.0.0.1:$port"
	wait_http "$MV_URL/healthz" || {
		tail -20 "$logf" >&2
		die "modvault did not start"
	}
}

NGX_PID=0 NGX_URL=""
# start_nginx ROOT_DIR: serves ROOT_DIR as a static tree.
start_nginx() {
	local root=$1 port dir=$WORK/nginx user=""
	port=$(free_port)
	mkdir -p "$dir"
	# As root, nginx would run its workers as nobody, who cannot read the
	# store under the private temporary directory.
	if [[ $EUID == 0 ]]; then user="user root;"; fi
	cat >"$dir/nginx.conf" <<EOF
$user
worker_processes $NGINX_WORKERS;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    types { application/json info; application/zip zip; text/plain mod; }
    default_type text/plain;
    access_log $dir/access.log;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$port;
        root $root;
        location / {
            add_header Cache-Control "public, max-age=31536000, immutable";
            try_files \$uri =404;
        }
    }
}
EOF
	nginx -t -q -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" || die "bad nginx configuration"
	"${PIN_SERVER[@]}" nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" -g 'daemon off;' &
	NGX_PID=$!
	PIDS+=("$NGX_PID")
	NGX_URL="http://127.0.0.1:$port"
	wait_http "$NGX_URL/${INFO_PATH:-}" || die "nginx did not start: $(tail -5 "$dir/error.log")"
}

# download PROXY DIR: a cold "go mod download" of bench/coldmod with an empty
# module cache under DIR; prints its wall time in seconds.
download() {
	local proxy=$1 dir=$2 s e
	mkdir -p "$dir"
	cp "$ROOT/bench/coldmod/go.mod" "$ROOT/bench/coldmod/go.sum" "$ROOT/bench/coldmod/main.go" "$dir/"
	s=$(now)
	(
		cd "$dir"
		env GOENV=off GOPROXY="$proxy" GOSUMDB="$GOSUMDB_VALUE" GONOSUMDB= GONOPROXY= GOPRIVATE= \
			GOINSECURE= GOFLAGS=-mod=mod GOWORK=off GOTOOLCHAIN=local \
			GOMODCACHE="$dir/modcache" GOPATH="$dir/gopath" \
			timeout 600 go mod download
	) >"$dir/download.log" 2>&1 || {
		tail -20 "$dir/download.log" >&2
		die "go mod download via $proxy failed"
	}
	e=$(now)
	local zips
	zips=$(find "$dir/modcache/cache/download" -name '*.zip' | wc -l)
	[[ $zips == "$NZIPS" ]] || die "go mod download via $proxy fetched $zips zips, want $NZIPS"
	chmod -R u+w "$dir"
	rm -rf "$dir"
	elapsed "$s" "$e"
}

# bench_wrk URL: one wrk run; prints "req/s p50_ms p99_ms non2xx errors".
bench_wrk() {
	local out
	out=$(timeout 300 "${PIN_WRK[@]}" wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --timeout 5s --latency "$1")
	awk '
		/Requests\/sec:/ { rps = $2 }
		function ms(v, u) {
			u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
			return (u == "us") ? v / 1000 : (u == "ms") ? v : (u == "s") ? v * 1000 : (u == "m") ? v * 60000 : v
		}
		/^ +50%/ { p50 = ms($2) }
		/^ +99%/ { p99 = ms($2) }
		/Non-2xx or 3xx responses:/ { bad = $NF }
		/Socket errors:/ { err = $0 }
		END { printf "%s %.3f %.3f %d %s\n", rps, p50, p99, bad + 0, (err == "" ? "-" : "errors") }
	' <<<"$out"
}

cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem_total=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
wrk_version=$(wrk -v 2>&1 || true) # wrk -v exits 1
wrk_version=$(head -1 <<<"$wrk_version" | cut -d' ' -f1-2)
machine="$(nproc) CPUs ($cpu_model), $mem_total RAM, kernel $(uname -r), $(go version | cut -d' ' -f3-), $(nginx -v 2>&1 | cut -d' ' -f3), $wrk_version"
started=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
if [[ -n $REV ]]; then
	rev=$(git -C "$ROOT" rev-parse --short "$REV^{commit}") || die "REV=$REV is not a git revision"
else
	rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
	if [[ -n $(git -C "$ROOT" status --porcelain -- cmd internal go.mod go.sum 2>/dev/null) ]]; then
		rev="$rev+dirty (working tree)"
	fi
fi
log "machine: $machine"
log "work dir: $WORK; COLD_RUNS=$COLD_RUNS ROUNDS=$ROUNDS DURATION=$DURATION CONNS=$CONNS THREADS=$THREADS"

log "building modvault ($rev)"
src=$ROOT
if [[ -n $REV ]]; then
	src=$WORK/src
	mkdir -p "$src"
	git -C "$ROOT" archive --format=tar "$rev" | tar -x -C "$src"
fi
(cd "$src" && go build -o "$WORK/modvault" ./cmd/modvault)
if [[ -n $REFS ]]; then
	log "building bench/refserver"
	(cd "$ROOT/bench/refserver" && go build -o "$WORK/refserver" .)
fi

NZIPS=$(awk '/^require \(/ { r = 1; next } r && /^\)/ { r = 0 } r && NF >= 2 { n++ } /^require [^(]/ { n++ } END { print n }' "$ROOT/bench/coldmod/go.mod")

# 1. Cold download.
cold_a=() cold_b=() cold_hwm=()
if [[ -n $FROM_STORE ]]; then
	[[ -d $FROM_STORE ]] || die "FROM_STORE=$FROM_STORE is not a directory"
	log "copying $FROM_STORE; no cold or warm downloads"
	cp -a "$FROM_STORE" "$WORK/store"
	mkdir -p "$WORK/store.tmp"
	COLD_RUNS=0
else
	log "warm-up download from the upstream (not counted; $NZIPS modules)"
	download "$UPSTREAM" "$WORK/dl" >/dev/null
fi
for ((i = 1; i <= COLD_RUNS; i++)); do
	for side in $( ((i % 2)) && echo A B || echo B A); do
		if [[ $side == A ]]; then
			rm -rf "$WORK/store" "$WORK/store.tmp"
			start_modvault "$WORK/store" "$WORK/modvault-cold-$i.log"
			t=$(download "$MV_URL" "$WORK/dl")
			hwm=$(vmhwm_kb "$MV_PID")
			stop "$MV_PID"
			cold_a+=("$t") cold_hwm+=("$hwm")
			log "cold $i: modvault (empty store) ${t}s, VmHWM $((hwm / 1024)) MiB"
		else
			t=$(download "$UPSTREAM" "$WORK/dl")
			cold_b+=("$t")
			log "cold $i: upstream ${t}s"
		fi
	done
done
STORE=$WORK/store
[[ -z $(find "$STORE.tmp" -type f) ]] || log "warning: leftover files in modvault's temp dir"

# The files for wrk: the middle-sized stored zip between 100 KB and 1 MB,
# and the .info of the same version; the stored zip closest to 32 KB (the
# small zips the go command downloads most), and the .mod of its version.
mapfile -t candidates < <(find "$STORE" -name '*.zip' -size +100k -size -1000k -printf '%s %P\n' | sort -n | cut -d' ' -f2-)
((${#candidates[@]} > 0)) || die "no stored zip between 100 KB and 1 MB"
ZIP_PATH=${candidates[$((${#candidates[@]} / 2))]}
INFO_PATH=${ZIP_PATH%.zip}.info
SMALL_PATH=$(find "$STORE" -name '*.zip' -printf '%s %P\n' |
	awk '{ d = $1 - 32768; if (d < 0) d = -d; print d, $2 }' | sort -n | head -1 | cut -d' ' -f2-)
[[ -n $SMALL_PATH ]] || die "no stored zip"
MOD_PATH=${SMALL_PATH%.zip}.mod
declare -A PATHS=([info]=$INFO_PATH [mod]=$MOD_PATH [zip32]=$SMALL_PATH [zip]=$ZIP_PATH)
declare -A SIZES
for kind in info mod zip32 zip; do
	SIZES[$kind]=$(stat -c %s "$STORE/${PATHS[$kind]}")
	log "wrk target $kind: ${PATHS[$kind]} (${SIZES[$kind]} B)"
done

if [[ $PIN == 1 ]]; then
	PIN_SERVER=(taskset -c 0) PIN_WRK=(taskset -c 1)
fi
start_modvault "$STORE" "$WORK/modvault-warm.log"
start_nginx "$STORE"
declare -A BASE=([modvault]=$MV_URL [nginx]=$NGX_URL)
SERVERS=(modvault nginx)
for r in $REFS; do
	port=$(free_port)
	"${PIN_SERVER[@]}" "$WORK/refserver" -server "$r" -listen "127.0.0.1:$port" -root "$STORE" -log "$WORK/$r.log" 2>"$WORK/$r.err" &
	PIDS+=($!)
	BASE[$r]="http://127.0.0.1:$port"
	SERVERS+=("$r")
	wait_http "${BASE[$r]}/$INFO_PATH" || die "refserver -server $r did not start: $(tail -5 "$WORK/$r.err")"
done
for p in "${PATHS[@]}"; do
	for srv in "${SERVERS[@]}"; do
		curl -sf --max-time 30 -o "$WORK/via-$srv" "${BASE[$srv]}/$p"
		cmp -s "$WORK/via-$srv" "$STORE/$p" || die "$srv does not serve the stored bytes of $p"
	done
done

# 2. Warm download: modvault with a full store vs nginx on the same store.
# (This also fills modvault's in-memory copies of small files, as a warm
# CI build finds them.)
warm_a=() warm_b=()
for ((i = 1; i <= COLD_RUNS; i++)); do
	for side in $( ((i % 2)) && echo A B || echo B A); do
		if [[ $side == A ]]; then
			t=$(download "$MV_URL" "$WORK/dl")
			warm_a+=("$t")
			log "warm download $i: modvault ${t}s"
		else
			t=$(download "$NGX_URL" "$WORK/dl")
			warm_b+=("$t")
			log "warm download $i: nginx ${t}s"
		fi
	done
done

# 3. wrk: modvault vs nginx, alternating.
log "wrk warm-up (not counted)"
for kind in info mod zip32 zip; do
	for srv in "${SERVERS[@]}"; do
		timeout 60 "${PIN_WRK[@]}" wrk -t"$THREADS" -c"$CONNS" -d2s "${BASE[$srv]}/${PATHS[$kind]}" >/dev/null
	done
done
declare -A rps p50 p99
bad=0
for ((r = 1; r <= ROUNDS; r++)); do
	for kind in info mod zip32 zip; do
		path=${PATHS[$kind]}
		order=("${SERVERS[@]}")
		if ((r % 2 == 0)); then # every other round in reverse order
			order=()
			for ((i = ${#SERVERS[@]} - 1; i >= 0; i--)); do order+=("${SERVERS[$i]}"); done
		fi
		for srv in "${order[@]}"; do
			base=${BASE[$srv]}
			res=$(bench_wrk "$base/$path") || die "wrk failed on $base/$path"
			read -r q m l n e <<<"$res"
			[[ -n $q ]] || die "no result from wrk on $base/$path"
			rps[$srv.$kind]+="$q "
			p50[$srv.$kind]+="$m "
			p99[$srv.$kind]+="$l "
			if [[ $n != 0 || $e != - ]]; then
				bad=1
				log "WARNING: $srv $kind: $n non-2xx responses, socket errors: $e"
			fi
			log "round $r $kind $srv: $q req/s, p50 ${m} ms, p99 ${l} ms"
		done
	done
done
warm_hwm=$(vmhwm_kb "$MV_PID")
ngx_hwm=0
read -r -a workers < <(cat /proc/"$NGX_PID"/task/*/children 2>/dev/null) || true
for c in "${workers[@]}"; do
	h=$(vmhwm_kb "$c")
	if ((h > ngx_hwm)); then ngx_hwm=$h; fi
done
misses=$(grep -c 'cache=miss' "$WORK/modvault-warm.log" || true)
((misses == 0)) || log "WARNING: $misses warm requests were misses"

# Summary.
med() { tr ' ' '\n' <<<"$1" | grep . | median; }
ca=$(printf '%s\n' "${cold_a[@]}" | median)
cb=$(printf '%s\n' "${cold_b[@]}" | median)
wa=$(printf '%s\n' "${warm_a[@]}" | median)
wb=$(printf '%s\n' "${warm_b[@]}" | median)
hwm_max=$(printf '%s\n' "${cold_hwm[@]}" | sort -n | tail -1)
{
	echo "## bench/run.sh results"
	echo
	echo "- started: $started, finished: $(date -u '+%H:%M:%S UTC'); modvault $rev"
	echo "- load average (1, 5, 15 min) at start: $load_start; at end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- machine: $machine"
	echo "- settings: COLD_RUNS=$COLD_RUNS ROUNDS=$ROUNDS DURATION=$DURATION CONNS=$CONNS THREADS=$THREADS NGINX_WORKERS=$NGINX_WORKERS PIN=$PIN"
	echo "- graph: bench/coldmod, $NZIPS module zips; wrk targets: $(for k in info mod zip32 zip; do printf '`%s` (%s B) ' "${PATHS[$k]}" "${SIZES[$k]}"; done)"
	[[ -z $FROM_STORE ]] || echo "- store copied from $FROM_STORE: no downloads"
	echo
	if ((COLD_RUNS > 0)); then
		echo "### go mod download, empty module cache (wall seconds, median of $COLD_RUNS)"
		echo
		echo "| case | A | B | A/B | runs A | runs B |"
		echo "|---|---:|---:|---:|---|---|"
		echo "| cold: A = modvault with an empty store, B = upstream directly | $ca | $cb | $(ratio "$ca" "$cb") | ${cold_a[*]} | ${cold_b[*]} |"
		echo "| warm: A = modvault with a full store, B = nginx on the same store | $wa | $wb | $(ratio "$wa" "$wb") | ${warm_a[*]} | ${warm_b[*]} |"
		echo
	fi
	echo "### wrk -t$THREADS -c$CONNS -d$DURATION --latency (median of $ROUNDS rounds)"
	echo
	echo "| file | modvault req/s | nginx req/s | ratio | modvault p50 ms | nginx p50 ms | ratio | modvault p99 ms | nginx p99 ms | ratio |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for kind in info mod zip32 zip; do
		mr=$(med "${rps[modvault.$kind]}")
		nr=$(med "${rps[nginx.$kind]}")
		mm=$(med "${p50[modvault.$kind]}")
		nm=$(med "${p50[nginx.$kind]}")
		ml=$(med "${p99[modvault.$kind]}")
		nl=$(med "${p99[nginx.$kind]}")
		echo "| $kind (${SIZES[$kind]} B) | $mr | $nr | $(ratio "$mr" "$nr") | $mm | $nm | $(ratio "$mm" "$nm") | $ml | $nl | $(ratio "$ml" "$nl") |"
	done
	echo
	echo "Targets (issue 16): $(for kind in info:0.9 mod:0.85 zip32:0.75; do
		k=${kind%:*} want=${kind#*:}
		r=$(ratio "$(med "${rps[modvault.$k]}")" "$(med "${rps[nginx.$k]}")")
		l=$(ratio "$(med "${p99[modvault.$k]}")" "$(med "${p99[nginx.$k]}")")
		printf '%s req/s %s (want ≥ %s: %s), p99 %s (want ≤ 1.25: %s); ' "$k" "$r" "$want" \
			"$(awk -v r="$r" -v w="$want" 'BEGIN { print (r >= w) ? "met" : "NOT met" }')" "$l" \
			"$(awk -v l="$l" 'BEGIN { print (l <= 1.25) ? "met" : "NOT met" }')"
	done)"
	echo
	echo "Per round (req/s): $(for k in modvault.info nginx.info modvault.mod nginx.mod modvault.zip32 nginx.zip32 modvault.zip nginx.zip; do printf '%s: %s; ' "$k" "${rps[$k]% }"; done)"
	echo
	echo "Ratios are modvault/nginx. Per round (p50 ms): $(for k in modvault.info nginx.info modvault.mod nginx.mod modvault.zip32 nginx.zip32 modvault.zip nginx.zip; do printf '%s: %s; ' "$k" "${p50[$k]% }"; done)"
	echo
	echo "Per round (p99 ms): $(for k in modvault.info nginx.info modvault.mod nginx.mod modvault.zip32 nginx.zip32 modvault.zip nginx.zip; do printf '%s: %s; ' "$k" "${p99[$k]% }"; done)"
	echo
	if [[ -n $REFS ]]; then
		echo "### Beside the reference servers (bench/refserver: the files from memory, a buffered log line, nothing else)"
		echo
		echo "Median req/s (p99 ms) of the same rounds; modvault/reference is how close modvault comes to a bare server on the same HTTP stack."
		echo
		head="| file |" rule="|---|"
		for srv in "${SERVERS[@]}"; do head+=" $srv |" rule+="---:|"; done
		for r in $REFS; do head+=" modvault / $r |" rule+="---:|"; done
		echo "$head"
		echo "$rule"
		for kind in info mod zip32 zip; do
			row="| $kind (${SIZES[$kind]} B) |"
			for srv in "${SERVERS[@]}"; do
				row+=" $(med "${rps[$srv.$kind]}") ($(med "${p99[$srv.$kind]}")) |"
			done
			for r in $REFS; do
				row+=" $(ratio "$(med "${rps[modvault.$kind]}")" "$(med "${rps[$r.$kind]}")") |"
			done
			echo "$row"
		done
		echo
		echo "Per round (req/s): $(for r in $REFS; do for k in info mod zip32 zip; do printf '%s: %s; ' "$r.$k" "${rps[$r.$k]% }"; done; done)"
		echo
	fi
	echo "### Peak memory (VmHWM)"
	echo
	((COLD_RUNS == 0)) || echo "- modvault during a cold fill: max $((hwm_max / 1024)) MiB (runs, KiB: ${cold_hwm[*]})"
	echo "- modvault after the warm downloads and all wrk rounds: $((warm_hwm / 1024)) MiB ($warm_hwm KiB)"
	echo "- largest nginx worker: $((ngx_hwm / 1024)) MiB ($ngx_hwm KiB)"
	((bad == 0)) || echo "- WARNING: some wrk runs saw errors or non-2xx responses (see the log above)"
} | tee "${RESULTS:-/dev/null}"
