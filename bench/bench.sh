#!/usr/bin/env bash
# `make bench`: measures what the shop's requests cost, in one go, on
# loopback, and writes docs/benchmarks.md.
#
#   1. builds bin/shop, bin/floor and bin/loadtest;
#   2. runs the Go benchmarks of session load and save, the session codec
#      and the cart operations for each store (go test -bench);
#   3. for each store (SESSION_STORE=redis, then postgres): starts three
#      replicas and nginx with scripts/shop.sh (own ports, own run
#      directory, a throwaway database, its own Redis key prefix), drives
#      them with bin/loadtest for BENCH_DURATION while counting store round
#      trips on the replicas' admin listeners (and, with Redis, takes a CPU
#      profile of shop-1), stops them, then does the same with the floor
#      (bench/cmd/floor) behind the same nginx configuration;
#   4. writes docs/benchmarks.md (bin/loadtest report), keeping its
#      hand-written findings.
#
# It stops everything it started, also when interrupted, and drops the
# database and Redis keys it made. About 3 minutes on 2 cores.
#
# Settings (environment): BENCH_DURATION (20s, measured time of each load
# run), BENCH_SHOPPERS (32), BENCH_STORES ("redis postgres"), BENCH_GOTIME
# (go test -benchtime, 100ms), BENCH_OUT (docs/benchmarks.md), BENCH_PROFILE
# (1: take the CPU profile), DATABASE_URL and REDIS_URL (the servers; the
# database in the URL is not used, a new one is made beside it).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$ROOT"

: "${BENCH_DURATION:=20s}" "${BENCH_SHOPPERS:=32}" "${BENCH_STORES:=redis postgres}"
: "${BENCH_GOTIME:=100ms}" "${BENCH_OUT:=docs/benchmarks.md}" "${BENCH_PROFILE:=1}"
GO=${GO:-go}
have "$GO" || GO=/usr/local/go/bin/go

WORK=$(mktemp -d "${TMPDIR:-/tmp}/shop-bench.XXXXXX")
RUN_DIRS=()
PROFILE_PID=
BENCH_DB_URL=
PREFIX="bench-$(od -An -tx1 -N4 /dev/urandom | tr -d ' \n'):"

# finish: whatever happened, stop the clusters, the profile download, and
# remove the database, the Redis keys and the work directory.
finish() {
	local rc=$? dir
	trap - EXIT INT TERM
	if [ -n "$PROFILE_PID" ]; then
		kill "$PROFILE_PID" 2>/dev/null || true
		wait "$PROFILE_PID" 2>/dev/null || true
	fi
	for dir in ${RUN_DIRS[@]+"${RUN_DIRS[@]}"}; do
		if [ -d "$dir" ]; then
			RUN_DIR=$dir bash scripts/shop.sh down >/dev/null 2>&1 || warn "stopping the cluster in $dir failed"
		fi
	done
	if [ -n "$BENCH_DB_URL" ] && have psql; then
		parse_url "$BENCH_DB_URL"
		U_PATH=/postgres U_QUERY=''
		if ! psql -X -w -q -d "$(url_join)" -c "DROP DATABASE IF EXISTS \"$BENCH_DB\" WITH (FORCE)" >/dev/null 2>&1; then
			warn "could not drop database $BENCH_DB"
		fi
	fi
	if [ -n "${REDIS_URL:-}" ] && have redis-cli; then
		redis-cli -u "$REDIS_URL" --scan --pattern "$PREFIX*" 2>/dev/null |
			xargs -r -n 500 redis-cli -u "$REDIS_URL" DEL >/dev/null 2>&1 || true
	fi
	if [ "$rc" != 0 ]; then
		log "bench failed; logs of the last cluster: ${RUN_DIRS[*]:-none} (kept in $WORK)"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

# free_run N: the first port from a random start whose N successors are
# free, below Linux's ephemeral range (32768 up), where outgoing
# connections would take ports between the check and the bind.
free_run() {
	local n=$1 p i ok
	p=$((20000 + RANDOM % 12000))
	while [ "$p" -lt 32700 ]; do
		ok=1
		for ((i = 0; i < n; i++)); do
			if port_open 127.0.0.1 $((p + i)); then
				ok=0
				break
			fi
		done
		if [ "$ok" = 1 ]; then
			echo "$p"
			return 0
		fi
		p=$((p + n + 1))
	done
	die "no $n free ports in a row"
}

started=$(date +%s)
step "building bin/shop, bin/floor, bin/loadtest"
"$GO" build -o bin/shop ./cmd/shop
"$GO" build -o bin/floor ./bench/cmd/floor
"$GO" build -o bin/loadtest ./bench/cmd/loadtest

step "PostgreSQL and Redis"
exports=$(bash scripts/ensure-services.sh --test --create-db) || exit 1
eval "$exports"
base_url=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/shop?sslmode=disable}
parse_url "$base_url" || die "DATABASE_URL is not a URL: $base_url"
BENCH_DB="shop_bench_$(od -An -tx1 -N4 /dev/urandom | tr -d ' \n')"
U_PATH="/$BENCH_DB"
BENCH_DB_URL=$(url_join)
exports=$(DATABASE_URL=$BENCH_DB_URL bash scripts/ensure-services.sh --create-db) || exit 1
eval "$exports"
export DATABASE_URL REDIS_URL TEST_DATABASE_URL TEST_REDIS_URL

step "machine and versions"
mkdir -p "$WORK/results"
{
	echo "cpus: $(getconf _NPROCESSORS_ONLN 2>/dev/null || nproc)"
	echo "cpu: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || uname -m)"
	echo "memory: $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo 2>/dev/null || echo unknown)"
	echo "kernel: $(uname -sr)"
	echo "go: $("$GO" version | sed 's/^go version //')"
	echo "postgresql: $(psql -X -w -q -A -t -d "$DATABASE_URL" -c 'SHOW server_version' 2>/dev/null || echo unknown)"
	echo "redis: $(redis-cli -u "$REDIS_URL" INFO server 2>/dev/null | awk -F: '/^redis_version/ { sub(/\r/, "", $2); print $2 }' || echo unknown)"
	echo "nginx: $({ nginx -v 2>&1 || /usr/sbin/nginx -v 2>&1; } | sed 's/^nginx version: //' | head -n 1)"
	echo "load: $BENCH_SHOPPERS shoppers, $BENCH_DURATION per run, 3 replicas, nginx worker_processes 1"
} >"$WORK/machine.txt"
sed 's/^/    /' "$WORK/machine.txt" >&2

step "Go benchmarks (benchtime $BENCH_GOTIME)"
"$GO" test -run '^$' -bench . -benchtime "$BENCH_GOTIME" ./internal/session ./internal/cart | tee "$WORK/gobench.txt" >&2

# cluster NAME STORE BIN: starts 3 replicas of BIN and nginx; sets URL and
# ADMINS. A port taken between the check and the start gets another try.
cluster() {
	local try
	for try in 1 2 3; do
		start_cluster "$@" && return 0
		RUN_DIR="$WORK/run-$1" bash scripts/shop.sh down >/dev/null 2>&1 || true
		warn "starting the $1 cluster failed (try $try of 3):"
		sed 's/^/    /' "$WORK/$1-up.log" | tail -n 5 >&2
	done
	die "could not start the $1 cluster"
}

start_cluster() {
	local name=$1 store=$2 bin=$3 port base admin
	# nginx, three replicas and their three admin listeners, side by side.
	port=$(free_run 7)
	base=$((port + 1))
	admin=$((port + 4))
	RUN_DIRS+=("$WORK/run-$name")
	URL="http://127.0.0.1:$port"
	ADMINS="http://127.0.0.1:$admin,http://127.0.0.1:$((admin + 1)),http://127.0.0.1:$((admin + 2))"
	ADMIN1="http://127.0.0.1:$admin"
	RUN_DIR="$WORK/run-$name" SHOP_BIN="$ROOT/$bin" REPLICAS=3 LB=rr PORT=$port \
		REPLICA_BASE_PORT=$base ADMIN_BASE_PORT=$admin SESSION_STORE=$store \
		REDIS_KEY_PREFIX=$PREFIX PASSWORD_COST=4 PASSWORD_HASHES_PER_IP=0 LOG_FORMAT=json SHUTDOWN_TIMEOUT=5s READY_TIMEOUT=30 \
		bash scripts/shop.sh up 2>"$WORK/$name-up.log"
}

# pids NAME: "replica pids;nginx pids" of a running cluster (nginx's
# master and its workers), for the load test to read their CPU time.
pids() {
	local dir="$WORK/run-$1" f replicas='' nginx='' master
	for f in "$dir"/pids/shop-*.pid; do
		[ -f "$f" ] && replicas="$replicas,$(cat "$f")"
	done
	if master=$(cat "$dir/nginx/nginx.pid" 2>/dev/null); then
		nginx="$master"
		# The workers: the master's children, space-separated.
		nginx="$nginx $(cat /proc/"$master"/task/*/children 2>/dev/null)"
		nginx=$(echo "$nginx" | tr -s ' ' ',' | sed 's/,$//')
	fi
	echo "${replicas#,};$nginx"
}

# load NAME TARGET STORE [ARGS...]: runs bin/loadtest against the cluster;
# it also measures the CPU time its replicas and nginx use in the window.
load() {
	local name=$1 target=$2 store=$3 p
	shift 3
	p=$(pids "$name")
	bin/loadtest run -url "$URL" -target "$target" -store "$store" -shoppers "$BENCH_SHOPPERS" \
		-duration "$BENCH_DURATION" -label "$target ($store)" -out "$WORK/results/$store-$target.json" \
		-replica-pids "${p%%;*}" -nginx-pids "${p#*;}" "$@"
}

stop_cluster() {
	RUN_DIR="$WORK/run-$1" bash scripts/shop.sh down >/dev/null 2>&1 || warn "stopping $1 failed"
}

duration_s=$(printf '%s\n' "$BENCH_DURATION" | sed -n 's/^\([0-9]*\)s$/\1/p')
for store in $BENCH_STORES; do
	step "SESSION_STORE=$store: the shop, 3 replicas behind nginx"
	cluster "$store-shop" "$store" bin/shop
	if [ "$store" = redis ] && [ "$BENCH_PROFILE" = 1 ] && [ -n "$duration_s" ] && [ "$duration_s" -ge 12 ] && have curl; then
		# 10 s of CPU profile from the middle of the measured time.
		(sleep 5 && curl -s -o "$WORK/cpu.pprof" "$ADMIN1/debug/pprof/profile?seconds=10") &
		PROFILE_PID=$!
	fi
	load "$store-shop" shop "$store" -admin "$ADMINS"
	if [ -n "$PROFILE_PID" ]; then
		wait "$PROFILE_PID" || warn "no CPU profile"
		PROFILE_PID=
		if [ -s "$WORK/cpu.pprof" ]; then
			"$GO" tool pprof -top -nodecount=30 bin/shop "$WORK/cpu.pprof" 2>/dev/null |
				sed -n '/^Showing\|^      flat\|^ *[0-9.]*m\?s /p' >"$WORK/pprof-top.txt" || true
			cp "$WORK/cpu.pprof" "$ROOT/bin/shop-cpu.pprof"
		fi
	fi
	stop_cluster "$store-shop"

	step "SESSION_STORE=$store: the floor, 3 processes behind the same nginx"
	cluster "$store-floor" "$store" bin/floor
	load "$store-floor" floor "$store"
	stop_cluster "$store-floor"
done

step "writing $BENCH_OUT"
bin/loadtest report -in "$WORK" -out "$BENCH_OUT"
log "done in $(($(date +%s) - started))s: $BENCH_OUT (CPU profile: bin/shop-cpu.pprof)"
