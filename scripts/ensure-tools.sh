#!/usr/bin/env bash
# Makes sure the programs the tests need besides Go, PostgreSQL and Redis are
# installed: a C compiler (go test -race needs cgo), nginx (tests of the
# load-balanced topology), Chromium (browser tests) and axe-core from npm
# (accessibility checks in the browser tests, into a cache directory). Installs the missing ones with apt-get when run as root; otherwise
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

# axe-core, the accessibility engine the browser tests inject into every
# page they visit (e2e/axe_test.go), comes from npm into a cache outside
# the repository: SHOP_AXE_DIR, by default
# ${XDG_CACHE_HOME:-~/.cache}/the-shop/axe-core@VERSION. The version is
# pinned here and in e2e/axe_test.go (a test checks they agree); npm checks
# the package against the registry's integrity hash.
AXE_VERSION=4.14.1
axe_dir="${SHOP_AXE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/the-shop/axe-core@$AXE_VERSION}"
ensure_axe() {
	[ -f "$axe_dir/node_modules/axe-core/axe.min.js" ] && return 0
	if ! have npm; then
		log "the browser tests need axe-core from npm, and npm is not installed: $(install_hint npm)"
		return 1
	fi
	step "installing axe-core@$AXE_VERSION into $axe_dir"
	mkdir -p "$axe_dir"
	npm install --prefix "$axe_dir" --no-save --no-audit --no-fund --ignore-scripts --loglevel=error \
		"axe-core@$AXE_VERSION" >&2 && [ -f "$axe_dir/node_modules/axe-core/axe.min.js" ]
}
if ! ensure_axe; then
	[ "$require" = 1 ] && exit 1
	warn "going on without axe-core: the browser tests will say how to get it"
fi

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
