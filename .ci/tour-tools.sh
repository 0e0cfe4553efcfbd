#!/usr/bin/env bash
# What tests/it/tour.rs needs to run the README's tour: bash, curl >= 7.82
# (for --json and --fail-with-body) and coreutils' timeout. Installs curl
# by package name when it is missing or too old; idempotent, bounded.
set -euo pipefail

curl_ok() {
    command -v curl >/dev/null 2>&1 && curl --help all 2>/dev/null | grep -q -- '--json'
}

if ! curl_ok; then
    timeout 300 apt-get update -qq
    DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq curl >/dev/null
fi
curl_ok || { echo "curl with --json (7.82+) is required by the README tour" >&2; exit 1; }
command -v timeout >/dev/null
curl --version | head -n 1
