#!/usr/bin/env bash
# Makes sure the programs the tests need besides Go, PostgreSQL and Redis are
# installed: a C compiler (go test -race needs cgo), nginx (tests of the
# load-balanced topology) and Chromium (browser tests). Installs the missing ones with apt-get when run as root; otherwise
# says what to install and, unless --require is given, carries on, so tests
# that need them can say so themselves.
#
# Usage: scripts/ensure-tools.sh [--require]
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require=0
case "${1:-}" in
--require) require=1 ;;
'') ;;
*)
	echo "usage: scripts/ensure-tools.sh [--require]" >&2
	exit 2
	;;
esac

has_chromium() {
	have chromium || have chromium-browser || have google-chrome || have google-chrome-stable
}

missing=()
have cc || have gcc || have clang || missing+=(gcc libc6-dev)
have nginx || missing+=(nginx)
has_chromium || missing+=(chromium)
[ "${#missing[@]}" -eq 0 ] && exit 0

if apt_install "${missing[@]}" && have nginx && has_chromium && { have cc || have gcc; }; then
	exit 0
fi
log "the tests need ${missing[*]}, which is not installed. Install it with:"
log "    $(install_hint "${missing[@]}")"
[ "$require" = 1 ] && exit 1
warn "going on without ${missing[*]}: the tests that need it cannot run"
