#!/usr/bin/env bash
# Prints a complete nginx.conf for the shop, from deploy/nginx/nginx.conf.tmpl.
#
# Usage: scripts/nginx-conf.sh REPLICAS LB PORT > .run/nginx/nginx.conf
#
#   REPLICAS  how many replicas; they listen on 127.0.0.1:9001 upward
#   LB        rr      round robin (nginx's default)
#             ip      ip_hash: one client address, one replica (everything
#                     from loopback lands on the same replica)
#             cookie  sticky cookie: nginx sets shop_lb on a visitor's first
#                     response, and a consistent hash of it picks the replica
#   PORT      where nginx listens, on 127.0.0.1
#
# Environment: SESSION_COOKIE_NAME (default session) must be usable in
# nginx; REPLICA_BASE_PORT (default 9001) is the first replica's port.
# Run as root, the config makes nginx's workers run as root too, since the
# default worker user (nobody) may not be able to enter this work tree.
set -euo pipefail

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p;}' "${BASH_SOURCE[0]}" >&2
	exit 2
}

[ $# -eq 3 ] || usage
replicas=$1 lb=$2 port=$3
cookie=${SESSION_COOKIE_NAME:-session}
base=${REPLICA_BASE_PORT:-9001}
template="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/deploy/nginx/nginx.conf.tmpl"

case "$replicas" in
'' | *[!0-9]*) echo "nginx-conf.sh: REPLICAS must be a number, got '$replicas'" >&2 && exit 2 ;;
esac
case "$port" in
'' | *[!0-9]*) echo "nginx-conf.sh: PORT must be a number, got '$port'" >&2 && exit 2 ;;
esac
case "$base" in
'' | *[!0-9]*) echo "nginx-conf.sh: REPLICA_BASE_PORT must be a number, got '$base'" >&2 && exit 2 ;;
esac
if [ "$replicas" -lt 1 ] || [ "$replicas" -gt 99 ]; then
	echo "nginx-conf.sh: REPLICAS must be 1 to 99, got $replicas" >&2
	exit 2
fi
if [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
	echo "nginx-conf.sh: PORT must be 1 to 65535, got $port" >&2
	exit 2
fi
# nginx names the cookie in a variable ($cookie_NAME), which allows only these.
case "$cookie" in
'' | *[!A-Za-z0-9_]*)
	echo "nginx-conf.sh: SESSION_COOKIE_NAME '$cookie' cannot be used in nginx (\$cookie_NAME takes letters, digits and _)" >&2
	exit 2
	;;
esac

affinity='        # (no affinity cookie: LB is not cookie)'
affinity_map='    # (no affinity cookie map: LB is not cookie)'
case "$lb" in
rr) balance='        # (none: round robin, nginx'"'"'s default)' ;;
ip) balance='        ip_hash;' ;;
cookie)
	balance="        hash \$shop_affinity consistent;"
	affinity="        add_header Set-Cookie \$shop_affinity_cookie;"
	# shellcheck disable=SC2016 # nginx's variables, not the shell's
	affinity_map='    map $cookie_shop_lb $shop_affinity_cookie {
        ""      "shop_lb=$request_id; Path=/; HttpOnly; SameSite=Lax";
        default "";
    }'
	;;
*)
	echo "nginx-conf.sh: LB must be rr, ip or cookie, got '$lb'" >&2
	exit 2
	;;
esac

if [ "$(id -u)" = 0 ]; then
	user="user $(id -un) $(id -gn);"
else
	user="# (no user directive: nginx runs as $(id -un), who started it)"
fi

servers=''
i=1
while [ "$i" -le "$replicas" ]; do
	servers="$servers        server 127.0.0.1:$((base + i - 1)) max_fails=1 fail_timeout=2s;"$'\n'
	i=$((i + 1))
done
servers=${servers%$'\n'}

[ -r "$template" ] || {
	echo "nginx-conf.sh: cannot read $template" >&2
	exit 1
}

# ENVIRON rather than -v: awk -v would interpret backslashes in the values.
USER_LINE=$user BALANCE=$balance AFFINITY=$affinity AFFINITY_MAP=$affinity_map SERVERS=$servers PORT_=$port LB_=$lb COOKIE_=$cookie \
	awk '
	function sub_all(line, marker, value,    out, i) {
		out = ""
		while ((i = index(line, marker)) > 0) {
			out = out substr(line, 1, i - 1) value
			line = substr(line, i + length(marker))
		}
		return out line
	}
	/^@USER@$/     { print ENVIRON["USER_LINE"]; next }
	/^@BALANCE@$/  { print ENVIRON["BALANCE"]; next }
	/^@SERVERS@$/  { print ENVIRON["SERVERS"]; next }
	/^@AFFINITY@$/ { print ENVIRON["AFFINITY"]; next }
	/^@AFFINITY_MAP@$/ { print ENVIRON["AFFINITY_MAP"]; next }
	{
		line = sub_all($0, "@PORT@", ENVIRON["PORT_"])
		line = sub_all(line, "@LB@", ENVIRON["LB_"])
		line = sub_all(line, "@COOKIE@", ENVIRON["COOKIE_"])
		print line
	}
	' "$template"
