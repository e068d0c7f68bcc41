#!/usr/bin/env bash
# Makes PostgreSQL and Redis reachable for the shop, starting or installing
# them when needed, so that `make up` and `make test` work on a fresh machine.
#
# Usage:
#   exports=$(scripts/ensure-services.sh [--test] [--create-db]) && eval "$exports"
#   scripts/ensure-services.sh --stop
#
#   (default)    DATABASE_URL and REDIS_URL (defaults: the shop database)
#   --test       TEST_DATABASE_URL and TEST_REDIS_URL (defaults: the test database)
#   --create-db  also create the URL's database when it is missing
#   --stop       stop the private instances an earlier run started under .run/
#                (never the machine's own services)
#
# It prints `export NAME=URL` lines on stdout, one per URL, for the caller to
# eval (not as `eval "$(...)"`, which succeeds when this fails): the URL is the one given unless a private instance had to take another
# port. Everything meant for people goes to stderr.
#
# For each service, in order: already reachable -> done. Otherwise a service
# on a loopback URL is brought up by the first of these that applies:
#   1. a private instance an earlier run left under .run/ still runs;
#   2. root and Debian's packages are installed: start the machine's service
#      (pg_ctlcluster; redis-server --daemonize) -- installing them first with
#      apt-get when they are missing and we are root;
#   3. the server binaries exist but the machine's service cannot be used by
#      this user (not root, no cluster, pg_hba.conf that is not trust, port held
#      by something else): a private instance under .run/, trust auth, on
#      127.0.0.1 and the URL's port when free, else the next free one;
#   4. otherwise print the install command and fail.
# Whatever it starts privately is recorded under .run/ for `--stop`
# (`make down`); what it starts of the machine's own services it leaves running.
# A private Redis keeps sessions and carts in an append-only file
# (deploy/redis/redis.conf, as compose's Redis does), so restarting it loses
# nothing; the machine's own Redis is started as the machine starts it and
# keeps nothing on disk.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p;}' "${BASH_SOURCE[0]}" >&2
	exit "${1:-0}"
}

MODE=app
CREATE_DB=0
STOP=0
for arg in "$@"; do
	case "$arg" in
	--test) MODE='test' ;;
	--create-db) CREATE_DB=1 ;;
	--stop) STOP=1 ;;
	-h | --help) usage 0 ;;
	*)
		log "unknown argument: $arg"
		usage 2
		;;
	esac
done

PG_DIR="$RUN_DIR/postgres"
REDIS_DIR="$RUN_DIR/redis"
# Persistence of the private Redis (AOF, fsync every second); compose's Redis
# runs the same file.
REDIS_CONF="$ROOT/deploy/redis/redis.conf"
# Set when this run installed PostgreSQL, so configuring its fresh cluster for
# local trust is ours to do; a cluster someone else set up is left alone.
PG_INSTALLED_MARK="$RUN_DIR/postgresql-installed-by-shop"

if [ "$MODE" = test ]; then
	PG_VAR=TEST_DATABASE_URL
	REDIS_VAR=TEST_REDIS_URL
	PG_DEFAULT='postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
else
	PG_VAR=DATABASE_URL
	REDIS_VAR=REDIS_URL
	PG_DEFAULT='postgres://postgres@127.0.0.1:5432/shop?sslmode=disable'
fi
REDIS_DEFAULT='redis://127.0.0.1:6379/0'

# ---------------------------------------------------------------- PostgreSQL

# pg_maint_url URL: the same server, user and options, database "postgres",
# which every cluster has; used to test logins and create databases.
pg_maint_url() {
	if parse_url "$1"; then
		U_PATH=/postgres
		url_join
	else
		echo "$1"
	fi
}

# pg_ok URL: a login works. Leaves psql's complaint in PG_ERR.
PG_ERR=''
pg_ok() {
	if ! have psql; then
		# Without the client we cannot log in; an open port is the best sign.
		parse_url "$1" || return 1
		PG_ERR='psql is not installed'
		port_open "$(tcp_host "$U_HOST")" "${U_PORT:-5432}"
		return
	fi
	PG_ERR=$(PGCONNECT_TIMEOUT=5 psql -X -w -q -A -t -d "$(pg_maint_url "$1")" -c 'select 1' 2>&1 >/dev/null) && return 0
	return 1
}

# pg_bindir: the folder holding initdb and pg_ctl, newest version first.
pg_bindir() {
	local d
	for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -t/ -k5,5nr) \
		/opt/homebrew/opt/postgresql@*/bin /usr/local/opt/postgresql@*/bin; do
		if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
			echo "$d"
			return 0
		fi
	done
	if have initdb && have pg_ctl; then
		dirname "$(command -v pg_ctl)"
		return 0
	fi
	return 1
}

# system_cluster PORT prints "VERSION NAME STATUS" of the machine's (Debian)
# cluster configured for PORT.
system_cluster() {
	have pg_lsclusters || return 1
	pg_lsclusters -h 2>/dev/null | awk -v port="$1" '$3 == port { print $1, $2, $4; found = 1; exit } END { exit !found }'
}

# as_pg_owner CMD...: runs CMD as the user that owns the private instance. The
# PostgreSQL server refuses to run as root, so root hands it to "postgres".
as_pg_owner() {
	if is_root; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

private_pg_port() {
	local pid
	pid=$(read_pid "$PG_DIR/data/postmaster.pid") || return 1
	# postmaster.pid: line 1 pid, line 4 port.
	sed -n 4p "$PG_DIR/data/postmaster.pid"
}

start_private_pg() {
	local port=$1 bindir data="$PG_DIR/data"
	bindir=$(pg_bindir) || return 1
	if is_root && ! id postgres >/dev/null 2>&1; then
		warn "PostgreSQL will not run as root and there is no 'postgres' user to run it"
		return 1
	fi
	step "starting a private PostgreSQL on 127.0.0.1:$port (data in .run/postgres)"
	mkdir -p "$PG_DIR"
	is_root && chown postgres "$PG_DIR"
	if [ -f "$data/PG_VERSION" ] && [ "$(cat "$data/PG_VERSION")" != "$("$bindir/pg_ctl" --version | awk '{ split($NF, v, "."); print v[1] }')" ]; then
		warn "$data was made by another PostgreSQL version; remove .run/postgres to start afresh"
		return 1
	fi
	if [ ! -f "$data/PG_VERSION" ]; then
		(cd "$PG_DIR" && as_pg_owner "$bindir/initdb" -D "$data" -U postgres --auth=trust \
			-E UTF8 --no-locale >"$PG_DIR/initdb.log" 2>&1) || {
			warn "initdb failed; see .run/postgres/initdb.log"
			return 1
		}
		# A throwaway development server: loopback only, no Unix socket (its
		# path could be too long here), and durability traded for speed.
		cat >>"$data/postgresql.conf" <<-'EOF'

			# Added by scripts/ensure-services.sh for a private development instance.
			listen_addresses = '127.0.0.1'
			unix_socket_directories = ''
			fsync = off
			synchronous_commit = off
			full_page_writes = off
		EOF
	fi
	(cd "$PG_DIR" && as_pg_owner "$bindir/pg_ctl" -D "$data" -l "$PG_DIR/postgres.log" \
		-o "-p $port" -w -t 60 start >/dev/null 9>&-) || {
		warn "the private PostgreSQL did not start; see .run/postgres/postgres.log"
		return 1
	}
	echo "$bindir" >"$PG_DIR/bindir"
}

# pg_create_role URL_OF_SUPERUSER ROLE
pg_create_role() {
	psql -X -w -q -d "$1" -v ON_ERROR_STOP=1 -v role="$2" >/dev/null <<-'EOF'
		SELECT format('CREATE ROLE %I SUPERUSER LOGIN', :'role')
		WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
	EOF
}

# system_pg_fixup VERSION NAME PORT USER: on a cluster this script installed,
# trust loopback logins and create the roles people log in as.
system_pg_fixup() {
	local ver=$1 name=$2 port=$3 user=$4 hba role
	hba="/etc/postgresql/$ver/$name/pg_hba.conf"
	if [ -f "$PG_INSTALLED_MARK" ] && [ -f "$hba" ] && ! grep -q 'the shop: trust loopback' "$hba"; then
		step "configuring the new PostgreSQL cluster $ver/$name to trust logins from 127.0.0.1"
		{
			echo "# the shop: trust loopback (added by scripts/ensure-services.sh for local development)"
			echo "host    all    all    127.0.0.1/32    trust"
			echo "host    all    all    ::1/128         trust"
			cat "$hba"
		} >"$hba.shop-new"
		chown --reference="$hba" "$hba.shop-new" 2>/dev/null || true
		chmod --reference="$hba" "$hba.shop-new" 2>/dev/null || true
		mv "$hba.shop-new" "$hba"
		pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" reload >&2 || true
		sleep 1
	fi
	# Over the Unix socket "postgres" gets in by peer authentication.
	for role in postgres root "$user"; do
		[ -n "$role" ] || continue
		(cd / && runuser -u postgres -- psql -X -q -p "$port" -d postgres -v ON_ERROR_STOP=1 -v role="$role" >/dev/null 2>&1) <<-'EOF' || true
			SELECT format('CREATE ROLE %I SUPERUSER LOGIN', :'role')
			WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
		EOF
	done
}

# ensure_pg URL sets PG_URL to a URL that logs in.
ensure_pg() {
	local url=$1 host port user cluster ver name status waited
	PG_URL=$url
	pg_ok "$url" && return 0
	if ! parse_url "$url"; then
		die "$PG_VAR is not a URL this script can read, and it does not answer: $PG_ERR"
	fi
	if ! is_local_host "$U_HOST"; then
		die "$PG_VAR points at $U_HOST, which this script does not manage, and it does not answer: $PG_ERR"
	fi
	host=127.0.0.1
	port=${U_PORT:-5432}
	user=${U_USER:-$(id -un)}

	# 1. A private instance from an earlier run.
	local pport
	if pport=$(private_pg_port); then
		parse_url "$url"
		U_HOST=$host U_PORT=$pport
		if pg_ok "$(url_join)"; then
			PG_URL=$(url_join)
			return 0
		fi
	fi

	# 2. Install when there is nothing to run.
	if ! pg_bindir >/dev/null && ! system_cluster "$port" >/dev/null; then
		if apt_install postgresql; then
			mkdir -p "$RUN_DIR" && touch "$PG_INSTALLED_MARK"
		else
			log "PostgreSQL is not installed. Install it, then run this again:"
			log "    $(install_hint postgresql)"
			exit 1
		fi
	fi

	# 2b. The machine's own cluster for this port, which only root may start.
	if is_root && have pg_ctlcluster && cluster=$(system_cluster "$port"); then
		read -r ver name status <<<"$cluster"
		if [ "$status" != online ]; then
			step "starting the machine's PostgreSQL cluster $ver/$name"
			pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start >&2 9>&- || true
		fi
		waited=0
		while ! port_open "$host" "$port" && [ "$waited" -lt 60 ]; do
			sleep 0.5
			waited=$((waited + 1))
		done
		pg_ok "$url" && return 0
		system_pg_fixup "$ver" "$name" "$port" "$user"
		pg_ok "$url" && return 0
		warn "the machine's PostgreSQL on port $port refuses $user: $PG_ERR"
		warn "leaving its configuration alone and starting a private instance instead"
	fi

	# 3. A private instance, on the URL's port when it is free.
	if port_open "$host" "$port"; then
		port=$(free_port $((port + 1)))
	fi
	start_private_pg "$port" || {
		log "could not make PostgreSQL reachable at $url"
		log "if PostgreSQL is not installed: $(install_hint postgresql)"
		exit 1
	}
	parse_url "$url"
	U_HOST=$host U_PORT=$port
	pg_create_role "$(pg_maint_url "$(U_USER=postgres url_join)")" "$user" ||
		die "could not create the role $user in the private PostgreSQL"
	PG_URL=$(url_join)
	pg_ok "$PG_URL" || die "the private PostgreSQL does not accept $PG_URL: $PG_ERR"
}

# pg_create_db URL: creates the URL's database when it is missing.
pg_create_db() {
	local db maint exists
	parse_url "$1" || {
		warn "cannot tell the database name from $PG_VAR; not creating it"
		return 0
	}
	db=${U_PATH#/}
	[ -n "$db" ] || return 0
	have psql || {
		warn "psql is not installed; cannot check that database $db exists"
		return 0
	}
	maint=$(pg_maint_url "$1")
	exists=$(psql -X -w -q -A -t -d "$maint" -v db="$db" <<<"SELECT 1 FROM pg_database WHERE datname = :'db'") ||
		die "could not list databases at $maint"
	[ -n "$exists" ] && return 0
	step "creating database $db"
	# Tolerate a concurrent creator (two `make` runs at once).
	psql -X -w -q -d "$maint" -v ON_ERROR_STOP=1 -v db="$db" >/dev/null 2>&1 <<<"SELECT format('CREATE DATABASE %I', :'db') \\gexec" ||
		[ -n "$(psql -X -w -q -A -t -d "$maint" -v db="$db" <<<"SELECT 1 FROM pg_database WHERE datname = :'db'")" ] ||
		die "could not create database $db"
}

# --------------------------------------------------------------------- Redis

redis_ok() {
	if have redis-cli; then
		[ "$(redis-cli -u "$1" --no-auth-warning ping 2>/dev/null)" = PONG ]
		return
	fi
	parse_url "$1" || return 1
	local reply
	reply=$(
		exec 2>/dev/null 3<>"/dev/tcp/$(tcp_host "$U_HOST")/${U_PORT:-6379}" || exit 0
		printf 'PING\r\n' >&3
		read -r -t 3 line <&3 && echo "$line"
	) 2>/dev/null || true
	[ "${reply%$'\r'}" = +PONG ]
}

# private_redis_persist URL: a private Redis an earlier version of this
# script started kept nothing on disk; turn its append-only file on now (the
# settings of deploy/redis/redis.conf), rather than wait for a restart that
# would lose what it holds.
private_redis_persist() {
	have redis-cli || return 0
	local aof
	aof=$(redis-cli -u "$1" --no-auth-warning config get appendonly 2>/dev/null | sed -n 2p) || return 0
	[ "$aof" = no ] || return 0
	step "turning on the append-only file of the private Redis (deploy/redis/redis.conf)"
	if ! { redis-cli -u "$1" --no-auth-warning config set appendfsync everysec >/dev/null 2>&1 &&
		redis-cli -u "$1" --no-auth-warning config set appendonly yes >/dev/null 2>&1; }; then
		warn "could not turn on the private Redis's append-only file; restart it with make down && make up"
	fi
}

private_redis_port() {
	read_pid "$REDIS_DIR/redis.pid" >/dev/null || return 1
	cat "$REDIS_DIR/port"
}

wait_redis() {
	local waited=0
	until redis_ok "$1"; do
		[ "$waited" -ge 40 ] && return 1
		sleep 0.25
		waited=$((waited + 1))
	done
}

ensure_redis() {
	local url=$1 host port pport
	REDIS_URL_OUT=$url
	redis_ok "$url" && return 0
	parse_url "$url" || die "$REDIS_VAR is not a URL this script can read, and it does not answer"
	is_local_host "$U_HOST" || die "$REDIS_VAR points at $U_HOST, which this script does not manage, and it does not answer"
	host=127.0.0.1
	port=${U_PORT:-6379}

	if pport=$(private_redis_port); then
		U_HOST=$host U_PORT=$pport
		if redis_ok "$(url_join)"; then
			REDIS_URL_OUT=$(url_join)
			private_redis_persist "$REDIS_URL_OUT"
			return 0
		fi
		parse_url "$url"
	fi

	if ! have redis-server; then
		apt_install redis-server || {
			log "Redis is not installed. Install it, then run this again:"
			log "    $(install_hint redis-server)"
			exit 1
		}
	fi

	if is_root && ! port_open "$host" "$port"; then
		# The machine's own Redis, started the way the machine starts it; it
		# keeps nothing on disk and stays up after `make down`.
		step "starting the machine's Redis on $host:$port"
		local dir=/var/lib/redis
		[ -d "$dir" ] || dir=/tmp
		(cd "$dir" && redis-server --daemonize yes --bind 127.0.0.1 --port "$port" \
			--save '' --appendonly no --dir "$dir" >&2 9>&-) || true
		U_HOST=$host U_PORT=$port
		if wait_redis "$(url_join)"; then
			REDIS_URL_OUT=$(url_join)
			return 0
		fi
		parse_url "$url"
	fi

	port_open "$host" "$port" && port=$(free_port $((port + 1)))
	step "starting a private Redis on 127.0.0.1:$port (files in .run/redis, append-only file on)"
	mkdir -p "$REDIS_DIR"
	# The shop's own Redis keeps sessions and carts across its restarts: the
	# persistence settings compose's Redis uses too (deploy/redis/redis.conf).
	redis-server "$REDIS_CONF" --daemonize yes --bind 127.0.0.1 --port "$port" \
		--dir "$REDIS_DIR" --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" >&2 9>&- ||
		die "redis-server did not start; see .run/redis/redis.log"
	echo "$port" >"$REDIS_DIR/port"
	U_HOST=$host U_PORT=$port
	wait_redis "$(url_join)" || die "the private Redis does not answer on port $port; see .run/redis/redis.log"
	REDIS_URL_OUT=$(url_join)
}

# ---------------------------------------------------------------------- stop

stop_private() {
	local pid bindir
	if pid=$(read_pid "$REDIS_DIR/redis.pid"); then
		step "stopping the private Redis (pid $pid)"
		kill -TERM "$pid" 2>/dev/null || true
		wait_gone "$pid" 10 || kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$REDIS_DIR/redis.pid"
	if read_pid "$PG_DIR/data/postmaster.pid" >/dev/null; then
		bindir=$(cat "$PG_DIR/bindir" 2>/dev/null || pg_bindir)
		step "stopping the private PostgreSQL"
		(cd "$PG_DIR" && as_pg_owner "$bindir/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 stop >/dev/null) ||
			warn "pg_ctl stop failed; see .run/postgres/postgres.log"
	fi
}

# ---------------------------------------------------------------------- main

mkdir -p "$RUN_DIR"
# One run at a time: `make up` and `make test` may start together. Every
# command below that can leave a daemon behind closes fd 9 (9>&-), or the
# daemon would hold this lock for as long as it runs.
if have flock; then
	exec 9>"$RUN_DIR/ensure-services.lock"
	flock -w 600 9 || die "another ensure-services.sh holds .run/ensure-services.lock"
fi

if [ "$STOP" = 1 ]; then
	stop_private
	exit 0
fi

ensure_pg "${!PG_VAR:-$PG_DEFAULT}"
[ "$CREATE_DB" = 1 ] && pg_create_db "$PG_URL"
ensure_redis "${!REDIS_VAR:-$REDIS_DEFAULT}"

parse_url "$PG_URL" && log "postgres: ${U_HOST}:${U_PORT:-5432}${U_PATH} reachable"
parse_url "$REDIS_URL_OUT" && log "redis:    ${U_HOST}:${U_PORT:-6379}${U_PATH} reachable"
printf 'export %s=%q\n' "$PG_VAR" "$PG_URL" "$REDIS_VAR" "$REDIS_URL_OUT"
