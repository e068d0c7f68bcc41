#!/usr/bin/env bash
# Runs the shop on this machine: PostgreSQL, Redis, REPLICAS replicas on
# 127.0.0.1:9001 upward and nginx in front of them. `make up`, `make down` and
# friends call it; it can be run directly too.
#
# Usage: scripts/shop.sh up|down|restart|ps|logs
#
#   up       ensure PostgreSQL and Redis, build bin/shop, start Mailpit (the
#            development mail server: SMTP 127.0.0.1:1025, inbox
#            http://127.0.0.1:8025), start the replicas and wait for each
#            /readyz, start nginx and wait for /healthz through it; stops an
#            earlier `up` first
#   down     stop what `up` started: nginx, the replicas (SIGTERM, then wait),
#            Mailpit, and private PostgreSQL/Redis instances under .run/; never
#            the machine's own services; safe to run twice
#   restart  rebuild, then restart the replicas one at a time (SIGTERM, wait
#            until gone, start, wait for /readyz), so the shop stays up
#   ps       what runs: name, pid, address, state
#   logs     follow every log (tail -F)
#   start N  start replica N again (after it died or was stopped) and wait
#            for its /readyz
#   stop N   stop replica N (SIGTERM, wait); nginx sends its traffic to the
#            others
#
# Settings (environment; `make VAR=value` passes them on):
#   REPLICAS (3), SESSION_STORE (redis|postgres|memory; redis), LB (rr|ip|cookie;
#   rr), PORT (nginx; 8080), READY_TIMEOUT (seconds to wait for /readyz; 60),
#   REPLICA_BASE_PORT (9001), ADMIN_BASE_PORT (replica N serves /metrics and
#   pprof on 127.0.0.1:ADMIN_BASE_PORT+N-1; default 19001 when
#   REPLICA_BASE_PORT is 9001, else each replica picks a free loopback port
#   and logs it; an ADMIN_ADDR given is passed on unchanged instead),
#   MAILPIT (on|off; on: start Mailpit unless SMTP_URL names another mail
#   server), MAILPIT_SMTP (127.0.0.1:1025), MAILPIT_UI (127.0.0.1:8025),
#   SHOP_BIN (the binary to run; default: build
#   bin/shop), GO (the go command), and every configuration name of
#   docs/configuration.md, which reaches the replicas unchanged. `up` remembers
#   its settings in .run/up.env; `restart` and `ps` reuse them, and a setting
#   given again overrides it (`make restart SESSION_STORE=postgres` rolls the
#   replicas over to the PostgreSQL store).
#
# Files: .run/logs/shop-N.log, .run/pids/shop-N.pid, .run/nginx/ (config, pid,
# access.log, error.log, cache, temp files), .run/mailpit/ (its mails, log).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p;}' "${BASH_SOURCE[0]}" >&2
	exit "${1:-0}"
}

# A relative SHOP_BIN is relative to where it was given; the replicas run
# from the work tree's root wherever this was started.
case "${SHOP_BIN:-}" in
'' | /*) ;;
*) SHOP_BIN="$(cd "$(dirname "$SHOP_BIN")" && pwd)/$(basename "$SHOP_BIN")" ;;
esac
cd "$ROOT"

LOG_DIR="$RUN_DIR/logs"
PID_DIR="$RUN_DIR/pids"
NGINX_DIR="$RUN_DIR/nginx"
STATE_FILE="$RUN_DIR/up.env"

# Configuration names from docs/configuration.md that `up` remembers for
# `restart` when they were set.
CONFIG_VARS="SESSION_COOKIE_NAME SESSION_IDLE_TIMEOUT SESSION_LIFETIME
SESSION_REMEMBER_LIFETIME SESSION_TOUCH_INTERVAL SESSION_ENCRYPTION_KEYS
MIGRATE_ON_START CLEANUP_INTERVAL CART_TTL JWT_SECRET JWT_TTL TRUSTED_PROXIES
ADMIN_ADDR LOG_FORMAT LOG_LEVEL SHUTDOWN_TIMEOUT REDIS_KEY_PREFIX SESSION_COOKIE_SECURE
SHOW_SERVED_BY PASSWORD_COST SHOP_ENV LOGIN_MAX_FAILURES LOGIN_MAX_FAILURES_PER_IP
LOGIN_FAILURE_WINDOW LOGIN_MAX_FAILURES_PER_DEVICE LOGIN_DEVICE_LIFETIME PASSWORD_HASHES_PER_IP
SMTP_URL MAIL_FROM MAIL_POLL_INTERVAL PUBLIC_URL PASSWORD_RESETS_PER_HOUR PASSWORD_RESETS_PER_IP"
MAILPIT_DIR="$RUN_DIR/mailpit"
STATE_VARS="REPLICAS SESSION_STORE LB PORT REPLICA_BASE_PORT ADMIN_BASE_PORT SHOP_BIN MAILPIT
DATABASE_URL REDIS_URL $CONFIG_VARS"

# ------------------------------------------------------------------ settings

# load_state: settings from the last `up`, for those not set now.
load_state() {
	local line name
	[ -f "$STATE_FILE" ] || return 0
	while IFS= read -r line; do
		case "$line" in [A-Z]*=*) ;; *) continue ;; esac
		name=${line%%=*}
		if [ -z "${!name+x}" ]; then
			eval "export $line"
		fi
	done <"$STATE_FILE"
}

save_state() {
	local name
	mkdir -p "$RUN_DIR"
	(
		umask 077 # it may hold JWT_SECRET and SESSION_ENCRYPTION_KEYS
		for name in $STATE_VARS; do
			if [ -n "${!name+x}" ]; then
				printf '%s=%q\n' "$name" "${!name}"
			fi
		done >"$STATE_FILE.new"
	)
	mv "$STATE_FILE.new" "$STATE_FILE"
}

# settings: defaults and checks, after load_state.
settings() {
	: "${REPLICAS:=3}" "${SESSION_STORE:=redis}" "${LB:=rr}" "${PORT:=8080}"
	: "${REPLICA_BASE_PORT:=9001}" "${READY_TIMEOUT:=60}"
	export REPLICAS SESSION_STORE LB PORT REPLICA_BASE_PORT
	case "$REPLICAS" in '' | *[!0-9]*) die "REPLICAS must be a number, got '$REPLICAS'" ;; esac
	if [ "$REPLICAS" -lt 1 ] || [ "$REPLICAS" -gt 99 ]; then
		die "REPLICAS must be 1 to 99, got $REPLICAS"
	fi
	case "$PORT" in '' | *[!0-9]*) die "PORT must be a number, got '$PORT'" ;; esac
	case "$REPLICA_BASE_PORT" in '' | *[!0-9]*) die "REPLICA_BASE_PORT must be a number" ;; esac
	# make up's layout gets fixed admin ports beside the replicas'; other
	# layouts (tests running clusters side by side) get free ones.
	if [ -z "${ADMIN_BASE_PORT:-}" ] && [ "$REPLICA_BASE_PORT" = 9001 ]; then
		ADMIN_BASE_PORT=19001
	fi
	case "${ADMIN_BASE_PORT:-}" in *[!0-9]*) die "ADMIN_BASE_PORT must be a number" ;; esac
	case "$READY_TIMEOUT" in '' | *[!0-9]*) die "READY_TIMEOUT must be a number of seconds" ;; esac
	case "$LB" in rr | ip | cookie) ;; *) die "LB must be rr, ip or cookie, got '$LB'" ;; esac
	case "$SESSION_STORE" in redis | postgres | memory) ;; *) die "SESSION_STORE must be redis, postgres or memory, got '$SESSION_STORE'" ;; esac
}

# stop_timeout: seconds to wait for a replica after SIGTERM: its
# SHUTDOWN_TIMEOUT (a Go duration such as 15s, 1m30s; 15s by default) and 5s
# more.
stop_timeout() {
	printf '%s\n' "${SHUTDOWN_TIMEOUT:-15s}" | awk '{
		s = 0; d = $0
		while (match(d, /^[0-9.]+(h|ms|us|ns|m|s)/)) {
			tok = substr(d, 1, RLENGTH); d = substr(d, RLENGTH + 1)
			num = tok + 0; unit = tok; sub(/^[0-9.]+/, "", unit)
			if (unit == "h") s += num * 3600
			else if (unit == "m") s += num * 60
			else if (unit == "s") s += num
		}
		if (d != "" || $0 == "") s = 15
		printf "%d\n", s + 5.999
	}'
}

# build: bin/shop, unless SHOP_BIN names a binary to run instead.
build() {
	if [ -n "${SHOP_BIN:-}" ]; then
		[ -x "$SHOP_BIN" ] || die "SHOP_BIN=$SHOP_BIN is not an executable file"
		return 0
	fi
	local go=${GO:-go}
	have "$go" || die "Go is not installed (looked for '$go'); see https://go.dev/doc/install"
	step "building bin/shop"
	(cd "$ROOT" && "$go" build -o bin/shop ./cmd/shop) || die "go build failed"
	SHOP_BIN_RUN="$ROOT/bin/shop"
}

# ---------------------------------------------------------------- processes

replica_port() { echo $((REPLICA_BASE_PORT + $1 - 1)); }

# replica_procs: GOMAXPROCS for each replica. The replicas share this
# machine's cores, and Go would give each of them all of them: three
# replicas on two cores then spend a sixth of their CPU time in the
# scheduler and futexes (see docs/benchmarks.md). Each gets its share
# instead, at least one; a GOMAXPROCS given is passed on unchanged.
replica_procs() {
	local cores
	cores=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
	case "$cores" in '' | *[!0-9]*) cores=1 ;; esac
	echo $((cores / REPLICAS > 1 ? cores / REPLICAS : 1))
}

# admin_addr N: replica N's ADMIN_ADDR (metrics and pprof), or nothing when
# the replica chooses (ADMIN_ADDR given, or no ADMIN_BASE_PORT: a free port).
admin_addr() {
	[ -z "${ADMIN_ADDR:-}" ] && [ -n "${ADMIN_BASE_PORT:-}" ] || return 0
	echo "127.0.0.1:$((ADMIN_BASE_PORT + $1 - 1))"
}

# replica_numbers: the replicas that have pid files, in order.
replica_numbers() {
	local f n
	for f in "$PID_DIR"/shop-*.pid; do
		[ -e "$f" ] || continue
		n=${f##*/shop-}
		echo "${n%.pid}"
	done | sort -n
}

# stop_pid NAME PIDFILE SIGNAL TIMEOUT [COMM]: signals the process in PIDFILE
# (SIGNAL "-": it has been signalled already) and waits for it to exit, then
# SIGKILL. A pid file whose process is gone is only removed; a pid that now
# names another process (other start time or command name) is left alone.
stop_pid() {
	local name=$1 file=$2 sig=$3 timeout=$4 comm=${5:-} pid
	if ! pid=$(read_pid "$file"); then
		rm -f "$file" "${file%.pid}.started"
		return 0
	fi
	if ! same_process "$pid" "${file%.pid}.started" "$comm"; then
		warn "$name: pid $pid now belongs to another process; leaving it alone"
		rm -f "$file" "${file%.pid}.started"
		return 0
	fi
	[ "$sig" = - ] || kill "-$sig" "$pid" 2>/dev/null || true
	if ! wait_gone "$pid" "$timeout"; then
		warn "$name (pid $pid) still runs ${timeout}s after being told to stop; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		wait_gone "$pid" 5 || warn "$name (pid $pid) survived SIGKILL"
	fi
	rm -f "$file" "${file%.pid}.started"
}

# same_process PID STARTED_FILE [COMM]: PID is still the process we started.
same_process() {
	local pid=$1 started_file=$2 comm=${3:-}
	if [ -f "$started_file" ] && [ "$(proc_start "$pid")" != "$(cat "$started_file")" ]; then
		return 1
	fi
	if [ -n "$comm" ]; then
		local actual
		actual=$(proc_field "$pid" comm)
		[ -z "$actual" ] || [ "$actual" = "$comm" ] || return 1
	fi
	return 0
}

stop_nginx() {
	if read_pid "$NGINX_DIR/nginx.pid" >/dev/null; then
		step "stopping nginx"
		# QUIT: finish the requests in flight, then exit.
		stop_pid nginx "$NGINX_DIR/nginx.pid" QUIT 10 nginx
	fi
}

# stop_replicas: SIGTERM to every replica at once, so they drain in
# parallel, then wait for each. Exactly one SIGTERM each: a Go program that
# stops listening for signals once shutdown began dies on a second one.
stop_replicas() {
	local n pid timeout
	timeout=$(stop_timeout)
	for n in $(replica_numbers); do
		pid=$(read_pid "$PID_DIR/shop-$n.pid") || continue
		same_process "$pid" "$PID_DIR/shop-$n.started" || continue
		step "stopping shop-$n (pid $pid, SIGTERM)"
		kill -TERM "$pid" 2>/dev/null || true
	done
	for n in $(replica_numbers); do
		stop_pid "shop-$n" "$PID_DIR/shop-$n.pid" - "$timeout"
	done
}

# stop_app: nginx first, so no new request reaches a stopping replica.
stop_app() {
	stop_nginx
	stop_replicas
}

# ------------------------------------------------------------------ mailpit

# MAILPIT_VERSION is the Mailpit `up` installs (go install, from the Go
# module proxy) when none is on PATH or in Go's bin directory.
MAILPIT_VERSION=v1.33.1

# find_mailpit: sets MAILPIT_BIN, installing Mailpit with `go install` when
# it is missing (scripts/ensure-tools.sh does the same for the tests).
find_mailpit() {
	MAILPIT_BIN=$(command -v mailpit 2>/dev/null || true)
	local gobin
	gobin=$("${GO:-go}" env GOBIN 2>/dev/null || true)
	[ -n "$gobin" ] || gobin="$("${GO:-go}" env GOPATH 2>/dev/null)/bin"
	[ -n "$MAILPIT_BIN" ] || { [ -x "$gobin/mailpit" ] && MAILPIT_BIN="$gobin/mailpit"; } || true
	[ -n "$MAILPIT_BIN" ] && return 0
	step "installing Mailpit $MAILPIT_VERSION (go install github.com/axllent/mailpit@$MAILPIT_VERSION)"
	"${GO:-go}" install "github.com/axllent/mailpit@$MAILPIT_VERSION" ||
		die "could not install Mailpit; install it with: go install github.com/axllent/mailpit@$MAILPIT_VERSION (or run with MAILPIT=off)"
	MAILPIT_BIN="$gobin/mailpit"
}

# start_mailpit: the development mail server, unless MAILPIT=off or
# SMTP_URL names another one; exports SMTP_URL for the replicas.
start_mailpit() {
	[ "${MAILPIT:-on}" != off ] || return 0
	[ -z "${SMTP_URL:-}" ] || return 0
	local smtp=${MAILPIT_SMTP:-127.0.0.1:1025} ui=${MAILPIT_UI:-127.0.0.1:8025} pid
	mkdir -p "$MAILPIT_DIR"
	if ! read_pid "$MAILPIT_DIR/mailpit.pid" >/dev/null; then
		port_open "${smtp%:*}" "${smtp##*:}" &&
			die "$smtp (Mailpit's SMTP) is taken by another program; stop it, choose MAILPIT_SMTP=..., or use it with SMTP_URL=smtp://$smtp"
		port_open "${ui%:*}" "${ui##*:}" &&
			die "$ui (Mailpit's inbox) is taken by another program; stop it or choose MAILPIT_UI=..."
		find_mailpit
		step "starting Mailpit: SMTP on $smtp, inbox on http://$ui"
		local launch=(nohup)
		have setsid && launch+=(setsid)
		"${launch[@]}" "$MAILPIT_BIN" --smtp "$smtp" --listen "$ui" --database "$MAILPIT_DIR/mailpit.db" \
			--disable-version-check --smtp-disable-rdns </dev/null >>"$MAILPIT_DIR/mailpit.log" 2>&1 &
		pid=$!
		echo "$pid" >"$MAILPIT_DIR/mailpit.pid"
		proc_start "$pid" >"$MAILPIT_DIR/mailpit.started"
		wait_http "http://$ui/livez" 20 "$pid" || die "Mailpit did not start; see .run/mailpit/mailpit.log"
	fi
	SMTP_URL="smtp://$smtp?tls=none"
	export SMTP_URL
}

stop_mailpit() {
	if read_pid "$MAILPIT_DIR/mailpit.pid" >/dev/null; then
		step "stopping Mailpit"
		stop_pid mailpit "$MAILPIT_DIR/mailpit.pid" TERM 10 mailpit
	fi
}

app_running() {
	local n
	read_pid "$NGINX_DIR/nginx.pid" >/dev/null && return 0
	for n in $(replica_numbers); do
		read_pid "$PID_DIR/shop-$n.pid" >/dev/null && return 0
	done
	return 1
}

start_replica() {
	local n=$1 name="shop-$1" port log pid admin
	port=$(replica_port "$n")
	admin=$(admin_addr "$n")
	log="$LOG_DIR/$name.log"
	mkdir -p "$LOG_DIR" "$PID_DIR"
	printf '\n===== %s: starting %s on 127.0.0.1:%s =====\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$name" "$port" >>"$log"
	local launch=(nohup)
	# Its own session: a Ctrl-C or a closed terminal does not reach it.
	have setsid && launch+=(setsid)
	# The make-up knobs stay here; the replica reads ADDR and the contract's names.
	ADDR="127.0.0.1:$port" REPLICA_NAME="$name" ADMIN_ADDR="${admin:-${ADMIN_ADDR:-}}" \
		GOMAXPROCS="${GOMAXPROCS:-$(replica_procs)}" \
		"${launch[@]}" env -u PORT -u LB -u REPLICAS -u REPLICA_BASE_PORT -u ADMIN_BASE_PORT -u READY_TIMEOUT \
		"$SHOP_BIN_RUN" serve </dev/null >>"$log" 2>&1 &
	pid=$!
	echo "$pid" >"$PID_DIR/$name.pid"
	proc_start "$pid" >"$PID_DIR/$name.started"
}

# wait_replica N: waits for its /readyz, or explains why not and exits.
wait_replica() {
	local n=$1 name="shop-$1" url pid rc=0 log
	url="http://127.0.0.1:$(replica_port "$n")/readyz"
	log="$LOG_DIR/$name.log"
	pid=$(cat "$PID_DIR/$name.pid")
	wait_http "$url" "$READY_TIMEOUT" "$pid" || rc=$?
	case "$rc" in
	0) return 0 ;;
	2) log "error: $name (pid $pid) exited while starting. The end of ${log#"$ROOT"/}:" ;;
	*) log "error: $name is not ready after ${READY_TIMEOUT}s: GET $url answers $(http_status "$url"). The end of ${log#"$ROOT"/}:" ;;
	esac
	# This start's lines only (after its ===== marker), at most 25.
	awk '/^===== / { n = 0; next } { line[++n] = $0 } END { for (i = (n > 25 ? n - 24 : 1); i <= n; i++) print "    " line[i] }' "$log" >&2
	log "Whole log: ${log#"$ROOT"/}. \`make down\` stops what did start."
	exit 1
}

find_nginx() {
	NGINX_BIN=${NGINX:-}
	[ -n "$NGINX_BIN" ] || NGINX_BIN=$(command -v nginx 2>/dev/null || true)
	[ -n "$NGINX_BIN" ] && return 0
	apt_install nginx || {
		log "nginx is not installed. Install it, then run this again:"
		log "    $(install_hint nginx)"
		exit 1
	}
	NGINX_BIN=$(command -v nginx) || die "nginx is still not found after installing it"
}

nginx_cmd() {
	# -e (nginx 1.19.5+) keeps even nginx's first message out of
	# /var/log/nginx; an older nginx only warns that it cannot write there.
	local e=()
	if "$NGINX_BIN" -v 2>&1 | awk -F'nginx/' '{ split($2, v, "."); exit !(v[1] > 1 || (v[1] == 1 && (v[2] > 19 || (v[2] == 19 && v[3] >= 5)))) }'; then
		e=(-e error.log)
	fi
	"$NGINX_BIN" -p "$NGINX_DIR/" -c "$NGINX_DIR/nginx.conf" ${e[@]+"${e[@]}"} "$@"
}

start_nginx() {
	mkdir -p "$NGINX_DIR/tmp" "$NGINX_DIR/cache"
	"$ROOT/scripts/nginx-conf.sh" "$REPLICAS" "$LB" "$PORT" >"$NGINX_DIR/nginx.conf.new"
	mv "$NGINX_DIR/nginx.conf.new" "$NGINX_DIR/nginx.conf"
	nginx_cmd -t -q || die "nginx rejects .run/nginx/nginx.conf (see above)"
	step "starting nginx on 127.0.0.1:$PORT (LB=$LB)"
	nginx_cmd || die "nginx did not start; see .run/nginx/error.log"
	if ! wait_http "http://127.0.0.1:$PORT/healthz" 15; then
		log "error: http://127.0.0.1:$PORT/healthz does not answer 200 through nginx; see .run/nginx/error.log:"
		tail -n 10 "$NGINX_DIR/error.log" 2>/dev/null | sed 's/^/    /' >&2
		exit 1
	fi
}

# -------------------------------------------------------------- subcommands

# ensure_services: PostgreSQL and Redis reachable; DATABASE_URL and REDIS_URL
# exported as ensure-services.sh found them.
ensure_services() {
	local exports
	# Apart from the eval: eval of an empty string would hide a failure.
	exports=$(bash "$ROOT/scripts/ensure-services.sh" --create-db) || exit 1
	eval "$exports"
	export DATABASE_URL REDIS_URL
}

cmd_up() {
	local n port
	settings
	if app_running; then
		step "the shop already runs: stopping it first"
		# With the settings it was started with (SHUTDOWN_TIMEOUT).
		(
			unset SHUTDOWN_TIMEOUT
			load_state
			stop_app
		)
	fi
	ensure_services
	SHOP_BIN_RUN=${SHOP_BIN:-}
	build
	find_nginx

	n=1
	while [ "$n" -le "$REPLICAS" ]; do
		port=$(replica_port "$n")
		port_open 127.0.0.1 "$port" &&
			die "127.0.0.1:$port (for shop-$n) is taken by another program; stop it, or choose other ports with REPLICA_BASE_PORT=..."
		if [ -n "$(admin_addr "$n")" ]; then
			port=$(($(admin_addr "$n" | sed 's/.*://')))
			port_open 127.0.0.1 "$port" &&
				die "127.0.0.1:$port (admin listener of shop-$n) is taken by another program; stop it, or choose other ports with ADMIN_BASE_PORT=..."
		fi
		n=$((n + 1))
	done
	port_open 127.0.0.1 "$PORT" &&
		die "127.0.0.1:$PORT (for nginx) is taken by another program; stop it, or choose another with PORT=..."

	# Replicas must agree on the key that signs API tokens, or a token from
	# one is refused by the next; one per `up`, kept for `restart`.
	if [ -z "${JWT_SECRET:-}" ]; then
		JWT_SECRET=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
		export JWT_SECRET
	fi
	# Links in mails point here (not to a replica's own port).
	: "${PUBLIC_URL:=http://localhost:$PORT}"
	export PUBLIC_URL
	start_mailpit
	if [ "$SESSION_STORE" = memory ] && [ "$REPLICAS" -gt 1 ]; then
		warn "SESSION_STORE=memory with $REPLICAS replicas: each keeps its own sessions, so logins and carts get lost between them (the workshop's pitfall)"
	fi
	save_state

	rm -f "$PID_DIR"/shop-*.pid "$PID_DIR"/shop-*.started
	step "starting $REPLICAS replicas (SESSION_STORE=$SESSION_STORE)"
	n=1
	while [ "$n" -le "$REPLICAS" ]; do
		start_replica "$n"
		n=$((n + 1))
	done
	n=1
	while [ "$n" -le "$REPLICAS" ]; do
		wait_replica "$n"
		log "    shop-$n ready on 127.0.0.1:$(replica_port "$n")"
		n=$((n + 1))
	done
	start_nginx

	log ""
	log "The shop runs at http://localhost:$PORT (LB=$LB, SESSION_STORE=$SESSION_STORE, $REPLICAS replicas)"
	if read_pid "$MAILPIT_DIR/mailpit.pid" >/dev/null; then
		log "Its mails (password resets, email confirmations, new sign-ins) arrive at http://${MAILPIT_UI:-127.0.0.1:8025}"
	fi
	cmd_ps >&2
	log ""
	log "make ps | make logs | make restart (rolling) | make down"
}

cmd_down() {
	local was=0
	load_state
	app_running && was=1
	stop_app
	stop_mailpit
	bash "$ROOT/scripts/ensure-services.sh" --stop
	rm -f "$STATE_FILE"
	if [ "$was" = 1 ]; then
		log "stopped. Logs stay in .run/logs and .run/nginx."
	else
		log "nothing of the shop was running."
	fi
}

cmd_restart() {
	local n pid timeout numbers v saved
	# The topology stays as `up` made it; changing it takes another `up`.
	for v in REPLICAS LB PORT REPLICA_BASE_PORT; do
		[ -n "${!v+x}" ] || continue
		saved=$(sed -n "s/^$v=//p" "$STATE_FILE" 2>/dev/null)
		if [ -n "$saved" ] && [ "$saved" != "${!v}" ]; then
			warn "restart keeps $v=$saved; \`make up $v=${!v}\` changes it"
		fi
		unset "$v"
	done
	load_state
	numbers=$(replica_numbers)
	if [ -z "$numbers" ]; then
		log "the shop does not run; starting it."
		cmd_up
		return
	fi
	settings
	ensure_services
	SHOP_BIN_RUN=${SHOP_BIN:-}
	build
	save_state
	timeout=$(stop_timeout)
	for n in $numbers; do
		pid=$(read_pid "$PID_DIR/shop-$n.pid" || echo -)
		step "restarting shop-$n (pid $pid)"
		stop_pid "shop-$n" "$PID_DIR/shop-$n.pid" TERM "$timeout"
		start_replica "$n"
		wait_replica "$n"
		log "    shop-$n ready again (pid $(cat "$PID_DIR/shop-$n.pid"))"
		wait_routed "$n"
	done
	if ! read_pid "$NGINX_DIR/nginx.pid" >/dev/null; then
		warn "nginx was not running; starting it"
		find_nginx
		start_nginx
	fi
	log "all replicas restarted."
}

# wait_routed N: waits until nginx sends requests to shop-N again. nginx
# keeps a replica that refused a connection out of rotation for its
# fail_timeout even once it is back; stopping the next replica before then
# could leave nginx with none ("no live upstreams", 502).
wait_routed() {
	local n=$1 tries=0
	read_pid "$NGINX_DIR/nginx.pid" >/dev/null || return 0
	while [ "$tries" -lt 100 ]; do
		[ "$(served_by "http://127.0.0.1:$PORT/healthz")" = "shop-$n" ] && return 0
		sleep 0.1
		tries=$((tries + 1))
	done
	warn "nginx has not sent a request to shop-$n within 10s; going on"
}

# cmd_start N: starts one replica of the running shop with the settings of
# the last `up`, unless it already runs.
cmd_start() {
	local n=${1:-} pid
	case "$n" in '' | *[!0-9]*) die "usage: scripts/shop.sh start N" ;; esac
	load_state
	settings
	if [ "$n" -lt 1 ] || [ "$n" -gt "$REPLICAS" ]; then
		die "shop-$n is not one of the $REPLICAS replicas"
	fi
	SHOP_BIN_RUN=${SHOP_BIN:-$ROOT/bin/shop}
	if pid=$(read_pid "$PID_DIR/shop-$n.pid") && same_process "$pid" "$PID_DIR/shop-$n.started"; then
		log "shop-$n already runs (pid $pid)"
		return 0
	fi
	start_replica "$n"
	wait_replica "$n"
	log "shop-$n ready (pid $(cat "$PID_DIR/shop-$n.pid"))"
}

# cmd_stop N: stops one replica gracefully.
cmd_stop() {
	local n=${1:-}
	case "$n" in '' | *[!0-9]*) die "usage: scripts/shop.sh stop N" ;; esac
	load_state
	settings
	stop_pid "shop-$n" "$PID_DIR/shop-$n.pid" TERM "$(stop_timeout)"
}

row() { printf '%-9s %-8s %-22s %s\n' "$@"; }

cmd_ps() {
	local n pid code state numbers port url name
	load_state
	: "${REPLICA_BASE_PORT:=9001}" "${PORT:=8080}"
	row NAME PID ADDRESS STATE
	numbers=$(replica_numbers)
	if [ -z "$numbers" ] && [ -n "${REPLICAS:-}" ]; then
		numbers=$(seq 1 "$REPLICAS")
	fi
	for n in $numbers; do
		port=$(replica_port "$n")
		if pid=$(read_pid "$PID_DIR/shop-$n.pid"); then
			code=$(http_status "http://127.0.0.1:$port/readyz")
			if [ "$code" = 200 ]; then state=ready; else state="running, /readyz: $code"; fi
		else
			pid=-
			if [ -f "$PID_DIR/shop-$n.pid" ]; then state="exited (see .run/logs/shop-$n.log)"; else state=stopped; fi
		fi
		[ -z "$(admin_addr "$n")" ] || state="$state (metrics: http://$(admin_addr "$n")/metrics)"
		row "shop-$n" "$pid" "127.0.0.1:$port" "$state"
	done
	if pid=$(read_pid "$NGINX_DIR/nginx.pid"); then
		code=$(http_status "http://127.0.0.1:$PORT/healthz")
		state=running
		[ "$code" = 200 ] || state="running, /healthz: $code"
	else
		pid=- state=stopped
	fi
	row nginx "$pid" "127.0.0.1:$PORT" "$state"
	for url in "${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/shop}" "${REDIS_URL:-redis://127.0.0.1:6379/0}"; do
		parse_url "$url" || continue
		case "$U_SCHEME" in
		redis*) name=redis port=${U_PORT:-6379} pid=$(read_pid "$RUN_DIR/redis/redis.pid" || true) ;;
		*) name=postgres port=${U_PORT:-5432} pid=$(read_pid "$RUN_DIR/postgres/data/postmaster.pid" || true) ;;
		esac
		if port_open "$(tcp_host "$U_HOST")" "$port"; then state=reachable; else state="not reachable"; fi
		if [ -n "$pid" ]; then
			state="$state (private, .run/$name)"
		else
			pid=- state="$state (not started by the shop)"
		fi
		row "$name" "$pid" "${U_HOST:-localhost}:$port" "$state"
	done
}

cmd_logs() {
	local files=() f
	for f in "$LOG_DIR"/*.log "$NGINX_DIR/access.log" "$NGINX_DIR/error.log" \
		"$RUN_DIR/postgres/postgres.log" "$RUN_DIR/redis/redis.log"; do
		[ -e "$f" ] && files+=("$f")
	done
	[ "${#files[@]}" -gt 0 ] || die "no logs yet: run \`make up\` first"
	exec tail -n 20 -F "${files[@]}"
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
restart) cmd_restart ;;
ps) cmd_ps ;;
logs) cmd_logs ;;
start) cmd_start "${2:-}" ;;
stop) cmd_stop "${2:-}" ;;
-h | --help | help) usage 0 ;;
*) usage 2 ;;
esac
