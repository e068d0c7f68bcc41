#!/usr/bin/env bash
# Makes sure the programs the tests need besides Go, PostgreSQL and Redis are
# installed: a C compiler (go test -race needs cgo), nginx (tests of the
# load-balanced topology), Chromium (browser tests), Mailpit (the mail
# tests' server, a Go program: go install from the Go module proxy) and
# axe-core from npm (accessibility checks in the browser tests, into a cache
# directory). Installs the missing ones with apt-get when run as root; otherwise
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

# Mailpit: installed with go install where Go puts programs
# (testenv.MailpitBinary and scripts/shop.sh look there).
MAILPIT_VERSION=v1.33.1
GO=${GO:-$(command -v go 2>/dev/null || echo /usr/local/go/bin/go)}
gobin=$("$GO" env GOBIN 2>/dev/null || true)
[ -n "$gobin" ] || gobin="$("$GO" env GOPATH 2>/dev/null)/bin"
if ! have mailpit && [ ! -x "$gobin/mailpit" ]; then
	log "installing Mailpit $MAILPIT_VERSION (go install github.com/axllent/mailpit@$MAILPIT_VERSION)"
	if ! "$GO" install "github.com/axllent/mailpit@$MAILPIT_VERSION"; then
		log "could not install Mailpit; install it with: go install github.com/axllent/mailpit@$MAILPIT_VERSION"
		[ "$require" = 1 ] && exit 1
		warn "going on without Mailpit: the mail tests cannot run"
	fi
fi

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
	if ! have npm && ! { apt_install npm && have npm; }; then
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
