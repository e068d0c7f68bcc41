#!/usr/bin/env bash
# `make check-fork`: proves that a team forking the shop can delete the
# wings, workshop/ and bench/, and keep a shop that builds, vets, and whose
# every test compiles. It copies the tracked files (and untracked ones not
# ignored) without those two folders into a temporary directory and runs
# there:
#
#   go build ./...
#   go vet ./...
#   go test -count=1 -run '^$' ./...    (compiles every test, runs none)
#
# The product's tests themselves run in `make test`; nothing here needs
# PostgreSQL or Redis. The copy is removed afterwards.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
GO=${GO:-go}
have "$GO" || GO=/usr/local/go/bin/go

FORK=$(mktemp -d "${TMPDIR:-/tmp}/shop-fork.XXXXXX")
trap 'rm -rf "$FORK"' EXIT

step "copying the tree without workshop/ and bench/ to $FORK"
if have git && git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	# What a fork holds: tracked files and new ones, never what .gitignore
	# keeps out (bin/, .run/, test artifacts).
	git ls-files -z --cached --others --exclude-standard |
		grep -zv -e '^workshop/' -e '^bench/' |
		while IFS= read -r -d '' f; do
			# A file deleted in the work tree but not yet in the index.
			[ -e "$f" ] && printf '%s\0' "$f"
		done |
		tar --null -T - -cf - | tar -xf - -C "$FORK"
else
	tar --exclude=./workshop --exclude=./bench --exclude=./.git --exclude=./bin --exclude=./.run -cf - . | tar -xf - -C "$FORK"
fi
if [ -e "$FORK/workshop" ] || [ -e "$FORK/bench" ]; then
	die "the copy still holds workshop/ or bench/"
fi

cd "$FORK"
step "go build ./..."
"$GO" build ./...
step "go vet ./..."
"$GO" vet ./...
step "go test -count=1 -run '^\$' ./... (every test compiles)"
"$GO" test -count=1 -run '^$' ./... >/dev/null
log "a fork without workshop/ and bench/ builds, vets, and its tests compile"
