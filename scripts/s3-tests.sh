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
#   S3TESTS_TIMEOUT  per-test timeout in seconds (default: 60)
#   S3TESTS_FILES    test files relative to the checkout (default: the two below)
#   S3TESTS_KEEP     keep the temp dir (server log, conf, junit xml) when set to 1
#
# There is one user so far: [s3 alt] and [s3 tenant] use the main keys, so tests that need a
# second, distinct account fail by construction.
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
TIMEOUT="${S3TESTS_TIMEOUT:-60}"
FILES="${S3TESTS_FILES:-s3tests/functional/test_s3.py s3tests/functional/test_headers.py}"

ACCESS_KEY="s3testsmainaccesskey"
SECRET_KEY="s3testsmainsecretkey0123456789abcdefghij"
# Shoal's root user: canonical id = sha256("shoal-user:root"), display name "root".
USER_ID="$("$SHOAL_PY" -c 'from shoal.core.auth import canonical_id; print(canonical_id("root"))')"
DISPLAY_NAME="root"

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

SHOAL_ACCESS_KEY="$ACCESS_KEY" SHOAL_SECRET_KEY="$SECRET_KEY" SHOAL_LOG_LEVEL=warning \
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

section() {  # name -> an s3tests.conf user section with the single Shoal user
    cat <<EOF
[$1]
display_name = $DISPLAY_NAME
user_id = $USER_ID
email = root@shoal.invalid
api_name = default
access_key = $ACCESS_KEY
secret_key = $SECRET_KEY
tenant = shoal

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
    for name in "s3 main" "s3 alt" "s3 tenant" "iam" "iam root" "iam alt root"; do
        section "$name"
    done
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
