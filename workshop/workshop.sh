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

# setup N: make up with step N's settings, then say what to do.
setup() {
	local n=$1 line name
	build_workshop
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
