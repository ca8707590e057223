#!/usr/bin/env bash
# Run the public Ceph S3 compatibility suite (github.com/ceph/s3-tests) against a fresh Shoal.
#
#   scripts/s3-tests.sh /path/to/s3-tests [extra pytest args...]
#
# Starts `shoal serve` on a free loopback port with a temporary data dir, writes an
# s3tests.conf for it, runs test_s3.py and test_headers.py with $S3TESTS_PYTHON (a Python that
# has the suite's requirements and pytest-timeout installed; default python3), prints the
# summary and stops the server. Extra arguments go to pytest (e.g. -k "not lifecycle").
#
# Environment:
#   S3TESTS_PYTHON   python of the suite's virtualenv (default: python3)
#   SHOAL_PYTHON     python that can import shoal (default: <repo>/.venv/bin/python)
#   S3TESTS_TIMEOUT  per-test timeout in seconds (default: 120: lifecycle tests wait 7 "days")
#   S3TESTS_FILES    test files relative to the checkout (default: the two below)
#   S3TESTS_KEEP     keep the temp dir (server log, conf, junit xml) when set to 1
#   S3TESTS_LC_DAY   seconds of a lifecycle "day", for the server (SHOAL_LIFECYCLE_DAY_SECONDS,
#                    swept every second) and the suite (lc_debug_interval); default 10
#
# [s3 main], [s3 alt] and [s3 tenant] are three real Shoal accounts created with
# `shoal user add` on the temporary data dir (ordinary users: ACLs apply to them). The server's
# root credentials are used by nothing in the suite. The iam sections reuse main and alt.
# The KMS keys testkey-1 and testkey-2 (the suite's SSE-KMS key ids) are made with
# `shoal kms create`, and the server accepts SSE-C over plain HTTP (SHOAL_ALLOW_INSECURE_SSEC).
set -euo pipefail

if [[ $# -lt 1 || ! -d "$1" ]]; then
    echo "usage: $0 /path/to/s3-tests-checkout [pytest args...]" >&2
    exit 2
fi
SUITE="$(cd "$1" && pwd)"
shift
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${S3TESTS_PYTHON:-python3}"
SHOAL_PY="${SHOAL_PYTHON:-$ROOT/.venv/bin/python}"
LC_DAY="${S3TESTS_LC_DAY:-10}"
TIMEOUT="${S3TESTS_TIMEOUT:-120}"
FILES="${S3TESTS_FILES:-s3tests/functional/test_s3.py s3tests/functional/test_headers.py}"

ROOT_ACCESS_KEY="s3testsrootaccesskey"
ROOT_SECRET_KEY="s3testsrootsecretkey0123456789abcdefghij"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/shoal-s3tests.XXXXXX")"
PORT="$("$SHOAL_PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
SERVER_PID=""

cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ "${S3TESTS_KEEP:-0}" == "1" ]]; then
        echo "kept: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT INT TERM

# The suite sends SSE-C over plain HTTP: allow it (the key crosses loopback only).
SHOAL_ACCESS_KEY="$ROOT_ACCESS_KEY" SHOAL_SECRET_KEY="$ROOT_SECRET_KEY" SHOAL_LOG_LEVEL=warning \
    SHOAL_ALLOW_INSECURE_SSEC=1 SHOAL_LIFECYCLE_DAY_SECONDS="$LC_DAY" SHOAL_LIFECYCLE_INTERVAL=1 \
    "$SHOAL_PY" -m shoal serve --host 127.0.0.1 --port "$PORT" --data-dir "$WORK/data" \
    >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

for _ in $(seq 1 200); do
    if "$SHOAL_PY" -c "import socket,sys; socket.create_connection(('127.0.0.1', $PORT), 0.2)" \
        2>/dev/null; then
        break
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "shoal exited early:" >&2
        cat "$WORK/server.log" >&2
        exit 1
    fi
    sleep 0.1
done

add_user() {  # account name -> "access_key secret_key canonical_id" of a new Shoal account
    "$SHOAL_PY" -m shoal user add "$1" --access-key "s3tests${1}accesskey" \
        --secret-key "s3tests${1}secretkey0123456789abcdefghij" --data-dir "$WORK/data" \
        --json | "$SHOAL_PY" -c 'import json, sys
r = json.load(sys.stdin)
print(r["access_key"], r["secret_key"], r["user"]["canonical_id"])'
}

declare -A USERS
for name in main alt tenant; do
    USERS[$name]="$(add_user "$name")"
done

# The KMS key ids the suite uses for SSE-KMS (its defaults for kms_keyid / kms_keyid2).
for key_id in testkey-1 testkey-2; do
    "$SHOAL_PY" -m shoal kms create --id "$key_id" --data-dir "$WORK/data" --json >/dev/null \
        || echo "warning: could not create KMS key $key_id (SSE-KMS tests will fail)" >&2
done

section() {  # conf section name, account name -> an s3tests.conf user section
    local keys
    read -r -a keys <<<"${USERS[$2]}"
    cat <<EOF
[$1]
display_name = $2
user_id = ${keys[2]}
email = $2@shoal.invalid
api_name = default
access_key = ${keys[0]}
secret_key = ${keys[1]}
tenant = $2

EOF
}

CONF="$WORK/s3tests.conf"
{
    cat <<EOF
[DEFAULT]
host = 127.0.0.1
port = $PORT
is_secure = False
ssl_verify = False

[fixtures]
bucket prefix = shoal-{random}-

EOF
    section "s3 main" main
    echo "lc_debug_interval = $LC_DAY"
    echo
    section "s3 alt" alt
    section "s3 tenant" tenant
    section "iam" main
    section "iam root" main
    section "iam alt root" alt
} >"$CONF"

echo "shoal on 127.0.0.1:$PORT (pid $SERVER_PID), conf $CONF" >&2
cd "$SUITE"
set +e
# shellcheck disable=SC2086 # FILES is a list of paths
S3TEST_CONF="$CONF" AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true \
    "$PY" -m pytest $FILES -q -p no:cacheprovider --timeout="$TIMEOUT" -rfE \
    --junitxml="$WORK/junit.xml" "$@"
STATUS=$?
set -e
echo "server log tail:" >&2
tail -n 20 "$WORK/server.log" >&2
exit "$STATUS"
