#!/usr/bin/env bash
# `make bench`: measures what the shop's requests cost against the floor,
# in one run, on loopback, and writes docs/benchmarks.md.
#
#   1. builds bin/shop, bin/floor and bin/loadtest; starts a private Redis
#      (no persistence) so that its write counter and memory are the
#      bench's alone; makes a throwaway database and migrates it;
#   2. runs the Go benchmarks of session load and save, the session codec
#      and the cart operations for each store (go test -bench);
#   3. starts three clusters side by side with scripts/shop.sh, each of
#      three replicas behind nginx (own ports, own run directory): the
#      floor (bench/cmd/floor), the shop with SESSION_STORE=redis, the
#      shop with SESSION_STORE=postgres;
#   4. drives them in turns with bin/loadtest (phase json, then html), in
#      BENCH_ROUNDS rounds, so that the machine's background load falls on
#      every run alike; the others are idle meanwhile. It scrapes each
#      replica's admin /metrics around each measured window and the
#      stores' write counters around each read-only phase;
#   5. on each shop, makes BENCH_SESSIONS guest sessions with a cart and
#      measures what the stores hold before and after (loadtest populate,
#      storesize); stops the clusters;
#   6. adds products so that the catalog has 99, starts the clusters again
#      and measures cart views of 1, 10 and 99 lines (cart1, cart10, cart99);
#   7. writes docs/benchmarks.md (bin/loadtest report), keeping its
#      hand-written findings.
#
# It stops everything it started, also when interrupted, and drops the
# database it made. About 4 minutes on 2 cores.
#
# Settings (environment): BENCH_SHOPPERS (32), BENCH_JSON (5s) and
# BENCH_HTML (3s) per round, BENCH_ROUNDS (2), BENCH_CART (3s, each cart
# size), BENCH_WARMUP (1s, before each phase), BENCH_SESSIONS (10000, 0: no
# scale figures), BENCH_RUNS ("floor shop-redis shop-postgres"),
# BENCH_GOTIME (go test -benchtime, 100ms; 0: no Go benchmarks), BENCH_OUT
# (docs/benchmarks.md), BENCH_PROFILE (0; 1: a CPU profile of shop-1 during
# its first JSON phase, which costs that replica some CPU), DATABASE_URL
# (the server; the database in the URL is not used, a new one is made
# beside it).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$ROOT"

: "${BENCH_SHOPPERS:=32}" "${BENCH_JSON:=5s}" "${BENCH_HTML:=3s}" "${BENCH_CART:=3s}" "${BENCH_WARMUP:=1s}" "${BENCH_ROUNDS:=2}"
: "${BENCH_SESSIONS:=10000}" "${BENCH_RUNS:=floor shop-redis shop-postgres}"
: "${BENCH_GOTIME:=100ms}" "${BENCH_OUT:=docs/benchmarks.md}" "${BENCH_PROFILE:=0}"
GO=${GO:-go}
have "$GO" || GO=/usr/local/go/bin/go

WORK=$(mktemp -d "${TMPDIR:-/tmp}/shop-bench.XXXXXX")
RUN_DIRS=()
PROFILE_PID=
BENCH_DB_URL=
PREFIX="bench-$(od -An -tx1 -N4 /dev/urandom | tr -d ' \n'):"

# finish: whatever happened, stop the clusters, the profile download and
# the private Redis, and remove the database and the work directory.
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
	if [ -n "$REDIS_PID" ]; then
		kill "$REDIS_PID" 2>/dev/null || true
		wait "$REDIS_PID" 2>/dev/null || true
	fi
	if [ -n "$BENCH_DB_URL" ] && have psql; then
		parse_url "$BENCH_DB_URL"
		U_PATH=/postgres U_QUERY=''
		if ! psql -X -w -q -d "$(url_join)" -c "DROP DATABASE IF EXISTS \"$BENCH_DB\" WITH (FORCE)" >/dev/null 2>&1; then
			warn "could not drop database $BENCH_DB"
		fi
	fi
	if [ "$rc" != 0 ]; then
		log "bench failed; logs of the last cluster: ${RUN_DIRS[*]:-none} (kept in $WORK)"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
REDIS_PID=
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

step "PostgreSQL, a throwaway database, and a private Redis"
exports=$(bash scripts/ensure-services.sh --test --create-db) || exit 1
eval "$exports"
base_url=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/shop?sslmode=disable}
parse_url "$base_url" || die "DATABASE_URL is not a URL: $base_url"
BENCH_DB="shop_bench_$(od -An -tx1 -N4 /dev/urandom | tr -d ' \n')"
U_PATH="/$BENCH_DB"
BENCH_DB_URL=$(url_join)
exports=$(DATABASE_URL=$BENCH_DB_URL bash scripts/ensure-services.sh --create-db) || exit 1
eval "$exports"
export DATABASE_URL TEST_DATABASE_URL TEST_REDIS_URL
bin/shop migrate up >"$WORK/migrate.log" 2>&1 || {
	cat "$WORK/migrate.log" >&2
	die "migrating $BENCH_DB failed"
}
# Its own Redis, without persistence: INFO's write counter and memory are
# then the bench's alone (other work on this machine uses the shared one).
have redis-server || die "redis-server is not installed (the bench runs a private one)"
redis_port=$(free_run 1)
mkdir -p "$WORK/redis"
redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no --dir "$WORK/redis" \
	--logfile "$WORK/redis/redis.log" --daemonize no </dev/null >/dev/null 2>&1 &
REDIS_PID=$!
REDIS_URL="redis://127.0.0.1:$redis_port/0"
export REDIS_URL
for _ in $(seq 50); do
	redis-cli -u "$REDIS_URL" PING >/dev/null 2>&1 && break
	sleep 0.1
done
redis-cli -u "$REDIS_URL" PING >/dev/null 2>&1 || die "the private Redis did not start (see $WORK/redis/redis.log)"

step "machine and versions"
mkdir -p "$WORK/results" "$WORK/scale"
{
	echo "cpus: $(getconf _NPROCESSORS_ONLN 2>/dev/null || nproc)"
	echo "cpu: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || uname -m)"
	echo "memory: $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo 2>/dev/null || echo unknown)"
	echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"
	echo "kernel: $(uname -sr)"
	echo "go: $("$GO" version | sed 's/^go version //')"
	echo "postgresql: $(psql -X -w -q -A -t -d "$DATABASE_URL" -c 'SHOW server_version' 2>/dev/null || echo unknown)"
	echo "redis: $(redis-cli -u "$REDIS_URL" INFO server 2>/dev/null | awk -F: '/^redis_version/ { sub(/\r/, "", $2); print $2 }' || echo unknown) (private, no persistence)"
	echo "nginx: $({ nginx -v 2>&1 || /usr/sbin/nginx -v 2>&1; } | sed 's/^nginx version: //' | head -n 1)"
	echo "load: $BENCH_SHOPPERS guest shoppers; measured JSON $BENCH_JSON and HTML $BENCH_HTML in each of $BENCH_ROUNDS rounds, each cart size $BENCH_CART, after $BENCH_WARMUP warm-up; 3 replicas, nginx worker_processes 1"
} >"$WORK/machine.txt"
sed 's/^/    /' "$WORK/machine.txt" >&2

if [ "$BENCH_GOTIME" != 0 ]; then
	step "Go benchmarks (benchtime $BENCH_GOTIME)"
	"$GO" test -run '^$' -bench . -benchtime "$BENCH_GOTIME" ./internal/session ./internal/cart | tee "$WORK/gobench.txt" >&2
fi

# cluster RUN: starts 3 replicas of the run's binary and nginx; sets URL,
# ADMINS and ADMIN1. A port taken between the check and the start gets
# another try.
cluster() {
	local try
	for try in 1 2 3; do
		start_cluster "$1" && return 0
		RUN_DIR="$WORK/run-$1" bash scripts/shop.sh down >/dev/null 2>&1 || true
		warn "starting the $1 cluster failed (try $try of 3):"
		sed 's/^/    /' "$WORK/$1-up.log" | tail -n 5 >&2
	done
	die "could not start the $1 cluster"
}

start_cluster() {
	local name=$1 store=redis bin=bin/shop port base admin
	# MAILPIT=off: the clusters run side by side, and no request sends mail.
	case "$name" in
	floor) bin=bin/floor ;;
	shop-postgres) store=postgres ;;
	esac
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
		REDIS_KEY_PREFIX=$PREFIX PASSWORD_COST=4 PASSWORD_HASHES_PER_IP=0 ANON_WRITES_PER_MINUTE=0 \
		LOG_FORMAT=json SHUTDOWN_TIMEOUT=5s READY_TIMEOUT=30 MAILPIT=off \
		bash scripts/shop.sh up 2>"$WORK/$name-up.log"
}

# nginx_pids RUN: nginx's master and its workers, for the load test to
# read their CPU time.
nginx_pids() {
	local master nginx
	master=$(cat "$WORK/run-$1/nginx/nginx.pid" 2>/dev/null) || return 0
	nginx="$master $(cat /proc/"$master"/task/*/children 2>/dev/null)"
	echo "$nginx" | tr -s ' ' ',' | sed 's/,$//'
}

# load RUN PART PHASES [COUNT]: bin/loadtest run against the run's cluster;
# COUNT=1 also counts PostgreSQL's row writes on shop-postgres (each count
# waits 10 s for PostgreSQL's statistics; the floor and shop-redis have no
# write to it on their path).
load() {
	local name=$1 part=$2 phases=$3 count=${4:-0} db=() target=shop store=${1#shop-}
	[ "$name" = shop-postgres ] && [ "$count" = 1 ] && db=(-db-url "$DATABASE_URL")
	[ "$name" = floor ] && target=floor store=redis
	bin/loadtest run -url "${URLS[$name]}" -target "$target" -store "$store" -label "$name" \
		-shoppers "$BENCH_SHOPPERS" -phases "$phases" -warmup "$BENCH_WARMUP" \
		-admin "${ADMIN_LISTS[$name]}" -redis-url "$REDIS_URL" ${db[@]+"${db[@]}"} -nginx-pids "$(nginx_pids "$name")" \
		-out "$WORK/results/$name-$part.json"
}

stop_cluster() {
	RUN_DIR="$WORK/run-$1" bash scripts/shop.sh down >/dev/null 2>&1 || warn "stopping $1 failed"
}

# start_all: every run's cluster at once; each is idle while another is
# measured, so that the runs take turns and share the machine's
# background load alike.
declare -A URLS ADMIN_LISTS ADMIN1S
start_all() {
	local run
	for run in $BENCH_RUNS; do
		step "$run: 3 replicas behind nginx"
		cluster "$run"
		URLS[$run]=$URL ADMIN_LISTS[$run]=$ADMINS ADMIN1S[$run]=$ADMIN1
	done
}

stop_all() {
	local run
	for run in $BENCH_RUNS; do
		stop_cluster "$run"
	done
}

start_all
for ((round = 1; round <= BENCH_ROUNDS; round++)); do
	for run in $BENCH_RUNS; do
		step "$run: JSON then HTML (round $round of $BENCH_ROUNDS)"
		if [ "$run" = shop-redis ] && [ "$round" = 1 ] && [ "$BENCH_PROFILE" = 1 ] && have curl; then
			# A CPU profile of shop-1 from within the JSON phase.
			(sleep 1 && curl -s -o "$WORK/cpu.pprof" "${ADMIN1S[$run]}/debug/pprof/profile?seconds=$((${BENCH_JSON%s} - 1))") &
			PROFILE_PID=$!
		fi
		load "$run" "main-$round" "json=$BENCH_JSON,html=$BENCH_HTML" "$([ "$round" = 1 ] && echo 1)"
		if [ -n "$PROFILE_PID" ]; then
			wait "$PROFILE_PID" || warn "no CPU profile"
			PROFILE_PID=
			if [ -s "$WORK/cpu.pprof" ]; then
				"$GO" tool pprof -top -nodecount=30 bin/shop "$WORK/cpu.pprof" 2>/dev/null |
					sed -n '/^Showing\|^      flat\|^ *[0-9.]*m\?s /p' >"$WORK/pprof-top.txt" || true
				cp "$WORK/cpu.pprof" "$ROOT/bin/shop-cpu.pprof"
			fi
		fi
	done
done
if [ "$BENCH_SESSIONS" -gt 0 ]; then
	for run in $BENCH_RUNS; do
		[ "$run" != floor ] || continue
		step "$run: $BENCH_SESSIONS guest sessions with a cart, and what the stores hold"
		sizes=(-redis-url "$REDIS_URL" -prefix "$PREFIX")
		[ "$run" = shop-postgres ] && sizes=(-db-url "$DATABASE_URL")
		bin/loadtest storesize "${sizes[@]}" -label "$run" -out "$WORK/scale/$run-before.json"
		bin/loadtest populate -url "${URLS[$run]}" -n "$BENCH_SESSIONS" -label "$run" -out "$WORK/scale/$run-populate.json"
		bin/loadtest storesize "${sizes[@]}" -label "$run" -out "$WORK/scale/$run-after.json"
	done
fi
stop_all

if [ -n "$BENCH_CART" ] && [ "$BENCH_CART" != 0 ]; then
	# 99 lines need 99 products: the seeded ones, and more made up. Only
	# now, so that the catalog page above showed the seeded catalog; the
	# clusters start again to see them (the floor reads them at start).
	psql -X -w -q -d "$DATABASE_URL" -v ON_ERROR_STOP=1 -c "INSERT INTO products (sku, name, description, price_cents, stock, image)
		SELECT 'BENCH-' || g, 'Bench product ' || g, '', 100 + g, 100000, '' FROM generate_series(1, greatest(0, 99 - (SELECT count(*) FROM products))) g" >/dev/null
	start_all
	for run in $BENCH_RUNS; do
		step "$run: views of carts of 1, 10 and 99 lines"
		load "$run" carts "cart1=$BENCH_CART,cart10=$BENCH_CART,cart99=$BENCH_CART" 1
	done
	stop_all
fi

step "writing $BENCH_OUT"
echo $(($(date +%s) - started)) >"$WORK/elapsed.txt"
bin/loadtest report -in "$WORK" -out "$BENCH_OUT"
log "done in $(($(date +%s) - started))s: $BENCH_OUT"
