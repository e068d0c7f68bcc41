# shellcheck shell=bash
# Helpers shared by the scripts in this folder. Source it; do not run it.
#
# Kept to bash 3.2 features and POSIX tools so the scripts also run on macOS,
# and free of curl/ss/lsof so they run on a bare Debian before anything else
# is installed.

# Debian keeps nginx, runuser and pg tools outside a normal user's PATH.
PATH="$PATH:/usr/local/go/bin:/usr/local/sbin:/usr/sbin:/sbin"
export PATH

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Where a running shop keeps its pids, logs and nginx files. Tests (and anyone
# running two shops side by side) point it elsewhere.
# shellcheck disable=SC2034 # used by the scripts that source this file
RUN_DIR="${RUN_DIR:-$ROOT/.run}"

log() { printf '%s\n' "$*" >&2; }
step() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

have() { command -v "$1" >/dev/null 2>&1; }
is_root() { [ "$(id -u)" = 0 ]; }

# parse_url URL sets U_SCHEME U_USER U_PASS U_HOST U_PORT U_PATH U_QUERY.
# Returns 1 for anything that is not scheme://[user[:pass]@]host[:port][/path][?query].
parse_url() {
	local re='^([A-Za-z][A-Za-z0-9+.-]*)://(([^:@/]*)(:([^@/]*))?@)?(\[[^]/]*\]|[^:/?]*)(:([0-9]*))?(/[^?]*)?(\?.*)?$'
	U_SCHEME='' U_USER='' U_PASS='' U_HOST='' U_PORT='' U_PATH='' U_QUERY=''
	[[ $1 =~ $re ]] || return 1
	U_SCHEME=${BASH_REMATCH[1]}
	U_USER=${BASH_REMATCH[3]}
	U_PASS=${BASH_REMATCH[5]}
	U_HOST=${BASH_REMATCH[6]}
	U_PORT=${BASH_REMATCH[8]}
	U_PATH=${BASH_REMATCH[9]}
	U_QUERY=${BASH_REMATCH[10]}
	return 0
}

# url_join prints the URL held in the U_* variables (after parse_url, with
# any of them changed).
url_join() {
	local auth=''
	if [ -n "$U_USER$U_PASS" ]; then
		auth=$U_USER
		[ -n "$U_PASS" ] && auth="$auth:$U_PASS"
		auth="$auth@"
	fi
	printf '%s://%s%s%s%s%s\n' "$U_SCHEME" "$auth" "$U_HOST" "${U_PORT:+:$U_PORT}" "$U_PATH" "$U_QUERY"
}

# is_local_host HOST: true for the loopback names this machine can manage.
is_local_host() {
	case "$1" in
	'' | localhost | 127.0.0.1 | '[::1]' | ::1) return 0 ;;
	*) return 1 ;;
	esac
}

# tcp_host HOST: the address to dial for HOST (loopback default).
tcp_host() {
	case "$1" in
	'' | localhost) echo 127.0.0.1 ;;
	'[::1]') echo ::1 ;;
	*) echo "$1" ;;
	esac
}

# port_open HOST PORT: something accepts TCP connections there.
port_open() {
	(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# free_port START: the first port from START upward that nothing listens on.
free_port() {
	local p=$1
	while [ "$p" -lt 65535 ]; do
		if ! port_open 127.0.0.1 "$p"; then
			echo "$p"
			return 0
		fi
		p=$((p + 1))
	done
	return 1
}

# http_status URL prints the HTTP status of a GET to an http://127.0.0.1:PORT/PATH
# URL (000 when nothing answers). Uses curl when present, else bash's /dev/tcp,
# so it works on a machine without curl.
http_status() {
	local url=$1 code
	if have curl; then
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$url" 2>/dev/null) || true
		echo "${code:-000}"
		return 0
	fi
	parse_url "$url" || {
		echo 000
		return 0
	}
	local host port path
	host=$(tcp_host "$U_HOST")
	port=${U_PORT:-80}
	path=${U_PATH:-/}$U_QUERY
	# The whole exchange runs in a subshell so a refused connection cannot end
	# the calling script.
	code=$(
		exec 2>/dev/null 3<>"/dev/tcp/$host/$port" || exit 0
		printf 'GET %s HTTP/1.0\r\nHost: %s:%s\r\nConnection: close\r\n\r\n' "$path" "$host" "$port" >&3
		IFS=' ' read -r -t 3 proto status _ <&3 || exit 0
		case "$proto" in HTTP/*) echo "$status" ;; esac
	) 2>/dev/null || true
	[ -n "$code" ] || code=000
	echo "$code"
}

# served_by URL prints the X-Served-By header of a GET to an
# http://127.0.0.1:PORT/PATH URL ("" when nothing answers); curl or /dev/tcp.
served_by() {
	local url=$1
	if have curl; then
		curl -s -o /dev/null -D - --max-time 3 "$url" 2>/dev/null |
			awk -F': *' 'tolower($1) == "x-served-by" { sub(/\r$/, "", $2); print $2 }'
		return 0
	fi
	parse_url "$url" || return 0
	local host port path
	host=$(tcp_host "$U_HOST")
	port=${U_PORT:-80}
	path=${U_PATH:-/}$U_QUERY
	(
		exec 2>/dev/null 3<>"/dev/tcp/$host/$port" || exit 0
		printf 'GET %s HTTP/1.0\r\nHost: %s:%s\r\nConnection: close\r\n\r\n' "$path" "$host" "$port" >&3
		awk -F': *' 'tolower($1) == "x-served-by" { sub(/\r$/, "", $2); print $2 } /^\r?$/ { exit }' <&3
	) 2>/dev/null || true
}

# wait_http URL SECONDS [PID]: waits until URL answers 200. Gives up early,
# returning 2, when PID is given and that process has exited.
wait_http() {
	local url=$1 timeout=$2 pid=${3:-} waited=0
	while [ "$waited" -lt $((timeout * 4)) ]; do
		[ "$(http_status "$url")" = 200 ] && return 0
		if [ -n "$pid" ] && ! pid_alive "$pid"; then
			return 2
		fi
		sleep 0.25
		waited=$((waited + 1))
	done
	return 1
}

# pid_alive PID: the process exists and is not a zombie (an exited child
# that an init without reaping would leave behind forever).
pid_alive() {
	[ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 1
	[ "$(proc_field "$1" state)" != Z ]
}

# proc_field PID state|start|comm: one fact about a process, from /proc on
# Linux (which may lack ps) and from ps elsewhere; empty when unknown.
proc_field() {
	local pid=$1 what=$2 stat rest
	if [ -r "/proc/$pid/stat" ]; then
		case "$what" in
		comm)
			cat "/proc/$pid/comm" 2>/dev/null || true
			;;
		*)
			stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 0
			# Fields after the command name, which may hold spaces and ')'.
			rest=${stat##*) }
			# shellcheck disable=SC2086 # split into fields on purpose
			set -- $rest
			if [ "$what" = state ]; then echo "$1"; else echo "${20}"; fi
			;;
		esac
		return 0
	fi
	have ps || return 0
	case "$what" in
	state) ps -o stat= -p "$pid" 2>/dev/null | sed 's/^ *//' | cut -c1 ;;
	start) ps -o lstart= -p "$pid" 2>/dev/null | sed 's/^ *//' ;;
	comm) ps -o comm= -p "$pid" 2>/dev/null | sed 's/^ *//;s|.*/||' ;;
	esac
	return 0
}

# read_pid FILE prints the pid in FILE when that process is still alive.
read_pid() {
	local pid
	[ -f "$1" ] || return 1
	pid=$(head -n 1 "$1" 2>/dev/null | tr -cd '0-9')
	pid_alive "$pid" || return 1
	echo "$pid"
}

# proc_start PID prints when PID started; together with the pid it names one
# process, so a recycled pid is never signalled by mistake.
proc_start() {
	proc_field "$1" start
}

# wait_gone PID SECONDS: waits for PID to exit; 1 when it is still there.
wait_gone() {
	local pid=$1 timeout=$2 waited=0
	while pid_alive "$pid"; do
		[ "$waited" -ge $((timeout * 10)) ] && return 1
		sleep 0.1
		waited=$((waited + 1))
	done
	return 0
}

# install_hint PKG... prints the command a person should run to install the
# Debian packages PKG (or their Homebrew equivalents on macOS).
install_hint() {
	if [ "$(uname -s)" = Darwin ]; then
		local brew='' p
		for p in "$@"; do
			case "$p" in
			postgresql) brew="$brew postgresql@15" ;;
			gcc | libc6-dev) ;; # Xcode's command line tools bring the compiler
			redis-server) brew="$brew redis" ;;
			*) brew="$brew $p" ;;
			esac
		done
		echo "brew install${brew}"
	else
		echo "sudo apt-get install -y $*"
	fi
}

# apt_install PKG...: installs Debian packages when this user can (root with
# apt-get). Returns 1 without trying otherwise.
apt_install() {
	is_root && have apt-get || return 1
	step "installing $* with apt-get"
	# Another apt run (a colleague's, CI's) may hold the lock: wait for it.
	# A package's install script may start its service: 9>&- keeps that
	# daemon from inheriting the lock ensure-services.sh holds on fd 9.
	# A failed update (an unreachable mirror) still leaves the last lists.
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq >&2 9>&- ||
		warn "apt-get update failed; trying with the package lists already here"
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
		--no-install-recommends "$@" >&2 9>&- || return 1
}
