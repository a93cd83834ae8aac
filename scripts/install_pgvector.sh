#!/usr/bin/env bash
# Install the pgvector extension into the local PostgreSQL server, idempotently.
#
# Debian bookworm ships no pgvector package, so this builds pgvector from Debian trixie's
# source package against the running server's major version. The trixie source index is
# fetched through a throw-away apt configuration (its own sources.list, lists and cache in a
# temp dir), so the machine's apt configuration is never changed.
#
# Environment (all optional):
#   PGHOST (127.0.0.1) PGPORT (5432) PGUSER (postgres) PGDATABASE (test)
#   PGVECTOR_SUITE (trixie)   Debian suite whose source package is built
#
# Exit status: 0 when `CREATE EXTENSION vector` works in $PGDATABASE, non-zero otherwise.
set -euo pipefail

PGHOST="${PGHOST:-127.0.0.1}"
PGPORT="${PGPORT:-5432}"
PGUSER="${PGUSER:-postgres}"
PGDATABASE="${PGDATABASE:-test}"
SUITE="${PGVECTOR_SUITE:-trixie}"
export PGHOST PGPORT PGUSER PGDATABASE

log() { printf 'install_pgvector: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
q() { psql -v ON_ERROR_STOP=1 -tAc "$1"; }

command -v psql >/dev/null || die "psql not found; install postgresql-client first"
q "select 1" >/dev/null || die "cannot connect to PostgreSQL at $PGHOST:$PGPORT as $PGUSER (db $PGDATABASE)"

if [[ "$(q "select 1 from pg_available_extensions where name='vector'")" == "1" ]]; then
    log "pgvector already available: $(q "select default_version from pg_available_extensions where name='vector'")"
    exit 0
fi

SUDO=""
if [[ "$(id -u)" != "0" ]]; then
    command -v sudo >/dev/null || die "must run as root (or with sudo available)"
    SUDO="sudo"
fi

# Build against the server that is actually running, not whatever pg_config is first on PATH.
PG_MAJOR="$(( $(q "show server_version_num") / 10000 ))"
log "PostgreSQL server major version: $PG_MAJOR"

# The Debian mirror this machine already uses (first URI serving the main archive), so the
# script works behind whatever mirror or proxy the machine is set up with.
find_mirror() {
    local f uri
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -r "$f" ]] || continue
        # deb822 stanzas: take URIs from a stanza that is not the security archive.
        uri="$(awk 'BEGIN{RS=""} /(^|\n)URIs:/ && !/security/ {
                   for (i = 1; i <= NF; i++) if ($i == "URIs:") { print $(i+1); exit } }' "$f")"
        [[ -n "$uri" ]] && { echo "$uri"; return; }
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -r "$f" ]] || continue
        uri="$(awk '$1 == "deb" && $0 !~ /security/ {
                   for (i = 2; i <= NF; i++) if ($i ~ /^[a-z+]+:\/\//) { print $i; exit } }' "$f")"
        [[ -n "$uri" ]] && { echo "$uri"; return; }
    done
}
MIRROR="$(find_mirror)"
[[ -n "$MIRROR" ]] || die "could not find a Debian mirror in /etc/apt/sources.list{,.d}"
log "using Debian mirror: $MIRROR"

KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
[[ -r "$KEYRING" ]] || die "$KEYRING missing (package debian-archive-keyring)"

WORK="$(mktemp -d /tmp/install_pgvector.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/lists/partial" "$WORK/cache/archives/partial" "$WORK/src"
echo "deb-src [signed-by=$KEYRING] $MIRROR $SUITE main" >"$WORK/sources.list"
APT_TMP=(
    -o "Dir::Etc::SourceList=$WORK/sources.list"
    -o "Dir::Etc::SourceParts=/dev/null"
    -o "Dir::State::Lists=$WORK/lists"
    -o "Dir::Cache=$WORK/cache"
    # The source tarballs land in a root-owned temp dir that the _apt user cannot write.
    -o "APT::Sandbox::User=root"
)

log "installing build dependencies (postgresql-server-dev-$PG_MAJOR, build-essential)"
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "postgresql-server-dev-$PG_MAJOR" build-essential dpkg-dev ca-certificates >/dev/null

log "fetching the pgvector source package from $SUITE"
apt-get "${APT_TMP[@]}" update -qq
(cd "$WORK/src" && apt-get "${APT_TMP[@]}" source -qq pgvector)
SRC_DIR="$(find "$WORK/src" -mindepth 1 -maxdepth 1 -type d -name 'pgvector-*' | head -n1)"
[[ -n "$SRC_DIR" ]] || die "apt-get source pgvector produced no source tree"
log "building $(basename "$SRC_DIR")"

PG_CONFIG="/usr/lib/postgresql/$PG_MAJOR/bin/pg_config"
[[ -x "$PG_CONFIG" ]] || die "$PG_CONFIG not found after installing postgresql-server-dev-$PG_MAJOR"
# OPTFLAGS="" drops pgvector's default -march=native so the build runs on any x86-64 CPU
# (this is also how Debian builds it); SIMD paths are still chosen at run time.
make -C "$SRC_DIR" -s PG_CONFIG="$PG_CONFIG" OPTFLAGS="" -j"$(nproc)"
$SUDO make -C "$SRC_DIR" -s PG_CONFIG="$PG_CONFIG" OPTFLAGS="" install

q "CREATE EXTENSION IF NOT EXISTS vector" >/dev/null || die "CREATE EXTENSION vector failed after install"
log "pgvector $(q "select extversion from pg_extension where extname='vector'") installed in database $PGDATABASE"
