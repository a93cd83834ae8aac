#!/usr/bin/env bash
# Install Debian's Chromium for the dashboard's browser tests (tests/e2e/test_dashboard.py), idempotently.
#
# Playwright drives it through `executable_path` (tests/browser.py): Playwright's own browser
# download is never used, so nothing but Debian's packages is fetched.
#
# Environment (optional):
#   INDEXFLOW_TEST_CHROMIUM   a Chromium binary to use instead (then nothing is installed)
#
# Exit status: 0 when `chromium --version` (or $INDEXFLOW_TEST_CHROMIUM --version) works.
set -euo pipefail

log() { printf 'install_chromium: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

if [[ -n "${INDEXFLOW_TEST_CHROMIUM:-}" ]]; then
    [[ -x "$INDEXFLOW_TEST_CHROMIUM" ]] || die "INDEXFLOW_TEST_CHROMIUM=$INDEXFLOW_TEST_CHROMIUM is not executable"
    log "using $INDEXFLOW_TEST_CHROMIUM: $("$INDEXFLOW_TEST_CHROMIUM" --version 2>/dev/null)"
    exit 0
fi

if command -v chromium >/dev/null; then
    log "chromium already installed: $(chromium --version 2>/dev/null)"
    exit 0
fi

SUDO=""
if [[ "$(id -u)" != "0" ]]; then
    command -v sudo >/dev/null || die "must run as root (or with sudo available)"
    SUDO="sudo"
fi
command -v apt-get >/dev/null || die "apt-get not found: install Chromium by hand and set INDEXFLOW_TEST_CHROMIUM"

log "installing Debian's chromium"
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium fonts-liberation >/dev/null

command -v chromium >/dev/null || die "chromium is still missing after apt-get install"
log "installed: $(chromium --version 2>/dev/null)"
