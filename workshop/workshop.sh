#!/usr/bin/env bash
# The workshop of workshop/README.md. `make workshop STEP=n` and `make
# workshop-check STEP=n` call it. Like all of workshop/, the product does not
# need it: a fork deletes the folder.
#
# Usage: workshop/workshop.sh N          run the shop as step N needs it (make up
#                                       with the step's settings; a shop already
#                                       running is stopped first)
#        workshop/workshop.sh check N    check that the running shop shows what
#                                       step N teaches (PASS/FAIL per expectation)
#        workshop/workshop.sh rotate     step 7: a new encryption key first, then
#                                       a rolling restart
#        workshop/workshop.sh steps      list the steps
#        workshop/workshop.sh down       stop step 8's textbook server and the
#                                       step's own Redis instances (`make down`
#                                       stops the shop)
#
# A setting given on the command line wins over the step's:
# `make workshop STEP=3 LB=cookie`, `make workshop STEP=5 SESSION_IDLE_TIMEOUT=1m`.
# The steps' settings live in the Go package workshop/ (bin/workshop env N prints
# them), where the tests read them too.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p;}' "${BASH_SOURCE[0]}" >&2
	exit "${1:-0}"
}

cd "$ROOT"
WORKSHOP_BIN="$ROOT/bin/workshop"

# build_workshop: bin/workshop from this work tree (quick when up to date).
build_workshop() {
	local go=${GO:-go}
	have "$go" || die "Go is not installed (looked for '$go'); see https://go.dev/doc/install"
	"$go" build -o "$WORKSHOP_BIN" ./workshop/cmd/workshop || die "go build ./workshop/cmd/workshop failed"
}

# Step 8: the textbook server (workshop/cmd/textbook) runs as the shop
# runs, through scripts/shop.sh with a run directory of its own, behind its
# own nginx; it and the shop keep their sessions in two Redis instances of
# the step's own, which never snapshot (save ""), so INFO persistence's
# rdb_changes_since_last_save counts every write. The ports are fixed in the
# Go package workshop/ (StepRedisURL, TextbookPort, TextbookRedisPort).
TEXTBOOK_RUN_DIR="$RUN_DIR/textbook"
STEP_REDIS_DIR="$RUN_DIR/workshop-redis"
STEP_REDIS_PORT=6391
TEXTBOOK_REDIS_PORT=6392
TEXTBOOK_PORT=8090
TEXTBOOK_REPLICA_BASE_PORT=9101

# step_redis NAME PORT: a private redis-server without snapshots, unless
# the one an earlier step 8 started still runs.
step_redis() {
	local name=$1 port=$2 pid
	mkdir -p "$STEP_REDIS_DIR"
	if pid=$(read_pid "$STEP_REDIS_DIR/$name.pid") && port_open 127.0.0.1 "$port"; then
		log "    Redis for $name on 127.0.0.1:$port already runs (pid $pid)"
		return 0
	fi
	port_open 127.0.0.1 "$port" &&
		die "127.0.0.1:$port (step 8's Redis for $name) is taken by another program; stop it first"
	have redis-server || die "step 8 needs redis-server: $(install_hint redis-server)"
	step "starting a Redis of the step's own for $name on 127.0.0.1:$port (no snapshots: save \"\")"
	redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
		--dir "$STEP_REDIS_DIR" --pidfile "$STEP_REDIS_DIR/$name.pid" --logfile "$STEP_REDIS_DIR/$name.log" >&2 ||
		die "redis-server did not start; see ${STEP_REDIS_DIR#"$ROOT"/}/$name.log"
	local tries=0
	until port_open 127.0.0.1 "$port"; do
		tries=$((tries + 1))
		[ "$tries" -lt 50 ] || die "the Redis for $name does not answer on 127.0.0.1:$port"
		sleep 0.1
	done
}

# textbook_up: bin/textbook, 3 replicas behind nginx, through scripts/shop.sh.
textbook_up() {
	local go=${GO:-go}
	"$go" build -o "$ROOT/bin/textbook" ./workshop/cmd/textbook || die "go build ./workshop/cmd/textbook failed"
	step "starting the textbook server (workshop/cmd/textbook): 3 replicas, nginx on 127.0.0.1:$TEXTBOOK_PORT"
	RUN_DIR=$TEXTBOOK_RUN_DIR SHOP_BIN="$ROOT/bin/textbook" REPLICAS=3 LB=rr SESSION_STORE=redis \
		PORT=$TEXTBOOK_PORT REPLICA_BASE_PORT=$TEXTBOOK_REPLICA_BASE_PORT MAILPIT=off \
		REDIS_URL="redis://127.0.0.1:$TEXTBOOK_REDIS_PORT/0" PUBLIC_URL="http://localhost:$TEXTBOOK_PORT" \
		bash "$ROOT/scripts/shop.sh" up 2>&1 | sed 's/^/    textbook: /' >&2 ||
		die "the textbook server did not start; see ${TEXTBOOK_RUN_DIR#"$ROOT"/}/logs"
}

# step8_down: the textbook server and the step's Redis instances, if any.
step8_down() {
	local name
	if [ -f "$TEXTBOOK_RUN_DIR/up.env" ]; then
		step "stopping step 8's textbook server"
		RUN_DIR=$TEXTBOOK_RUN_DIR bash "$ROOT/scripts/shop.sh" down 2>&1 | sed 's/^/    textbook: /' >&2 || true
	fi
	for name in shop textbook; do
		if read_pid "$STEP_REDIS_DIR/$name.pid" >/dev/null; then
			step "stopping step 8's Redis for $name"
			stop_pid_file "$STEP_REDIS_DIR/$name.pid"
		fi
	done
}

# stop_pid_file FILE: SIGTERM to the redis-server it names, then wait.
stop_pid_file() {
	local pid
	pid=$(read_pid "$1") || return 0
	[ "$(proc_field "$pid" comm)" = redis-server ] || { rm -f "$1"; return 0; }
	kill -TERM "$pid" 2>/dev/null || true
	wait_gone "$pid" 10 || kill -KILL "$pid" 2>/dev/null || true
	rm -f "$1"
}

# setup N: make up with step N's settings, then say what to do.
setup() {
	local n=$1 line name
	build_workshop
	step8_down
	if [ "$n" = 8 ]; then
		step_redis shop "$STEP_REDIS_PORT"
		step_redis textbook "$TEXTBOOK_REDIS_PORT"
	fi
	"$WORKSHOP_BIN" env "$n" >/dev/null || exit 2
	"$WORKSHOP_BIN" about "$n" | head -n 1 | sed 's/^/==> /' >&2
	while IFS= read -r line; do
		name=${line%%=*}
		if [ -n "${!name+x}" ]; then
			log "    $name=${!name} (given; the step sets ${line#*=})"
		else
			eval "export $line"
			log "    $line"
		fi
	done < <("$WORKSHOP_BIN" env "$n")
	bash "$ROOT/scripts/shop.sh" up
	[ "$n" != 8 ] || textbook_up
	log ""
	"$WORKSHOP_BIN" about "$n" | tail -n +2 | sed 's/^/Now: /' >&2
	log "Then: make workshop-check STEP=$n    (workshop/README.md, step $n, says what it shows and why)"
}

case "${1:-}" in
[1-9]) setup "$1" ;;
check)
	[ -n "${2:-}" ] || die "usage: workshop/workshop.sh check N (make workshop-check STEP=N)"
	build_workshop
	exec "$WORKSHOP_BIN" check "$2"
	;;
down) step8_down ;;
rotate)
	build_workshop
	exec "$WORKSHOP_BIN" rotate
	;;
steps)
	build_workshop
	"$WORKSHOP_BIN" steps
	log ""
	log "Start one with: make workshop STEP=1"
	;;
-h | --help | help) usage 0 ;;
'')
	log "Which step? make workshop STEP=N, one of:"
	build_workshop
	"$WORKSHOP_BIN" steps | sed 's/^/    /' >&2
	exit 2
	;;
*) usage 2 ;;
esac
