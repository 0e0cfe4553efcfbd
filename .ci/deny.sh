#!/usr/bin/env bash
# Supply-chain check: cargo-deny over the dependency graph (deny.toml).
#   licences, bans, sources: always (need only Cargo.lock and the crates' manifests);
#   advisories: RustSec database, fetched from GitHub. Where that host cannot
#   be reached (this project's machines), the check runs on a local copy when
#   one exists (cargo-deny's own place, $CARGO_HOME/advisory-dbs), and is
#   otherwise skipped with a message saying so. Set CAMET_REQUIRE_ADVISORIES=1
#   to make a skipped advisory check fail the run.
# Idempotent; installs cargo-deny from crates.io if missing (compiles from
# source: about 25 min on 2 busy cores, once per machine). Bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."

DENY_VERSION=0.20.2
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

if ! cargo deny --version 2>/dev/null | grep -q "$DENY_VERSION"; then
    echo "installing cargo-deny $DENY_VERSION (cargo install --locked)"
    timeout 3000 cargo install --locked "cargo-deny@$DENY_VERSION"
fi

echo "== cargo deny check licenses bans sources"
timeout 600 cargo deny --locked check licenses bans sources

export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
db_dir="$CARGO_HOME/advisory-dbs"
echo "== cargo deny check advisories"
if timeout 120 cargo deny --locked fetch db >/dev/null 2>&1; then
    timeout 600 cargo deny --locked check advisories
elif compgen -G "$db_dir/advisory-db-*/crates" >/dev/null; then
    echo "advisory database not reachable; using the local copy in $db_dir (may be stale)"
    timeout 600 cargo deny --locked --offline check advisories
else
    echo "SKIPPED: the RustSec advisory database (github.com/RustSec/advisory-db) cannot be fetched here and no local copy exists in $db_dir." >&2
    if [ "${CAMET_REQUIRE_ADVISORIES:-0}" = "1" ]; then
        exit 1
    fi
fi
echo "cargo deny: done"
