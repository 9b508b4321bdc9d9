#!/usr/bin/env bash
# Property-based API testing of a real tokenauth server against its own OpenAPI document, with
# Schemathesis (https://schemathesis.readthedocs.io): it generates valid and invalid requests for
# every documented operation and checks the answers (no 5xx, only documented status codes,
# content types, headers and body schemas, invalid input refused, auth not ignored, ...).
#
# Not run by CI (it installs Schemathesis from PyPI and takes a few minutes); run it after
# changing routes or their documentation:
#
#   scripts/schemathesis.sh                      # every check, up to 100 examples per operation
#   scripts/schemathesis.sh --max-examples 20    # any further `st run` options are passed on
#
# It builds the debug binary, starts it on a free local port with a fresh data directory,
# signs up a user (Schemathesis logs in as them, and again whenever a generated logout or
# "log out everywhere" has revoked its session), registers an API client for the OAuth and
# revocation-feed endpoints, runs `st run`, and stops the server. The venv lives in
# $SCHEMATHESIS_VENV (default target/schemathesis-venv, ignored by git).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${SCHEMATHESIS_VENV:-$ROOT/target/schemathesis-venv}
SCHEMATHESIS_VERSION=4.32.5

if [[ ! -x $VENV/bin/st ]] || [[ $("$VENV/bin/st" --version) != *"$SCHEMATHESIS_VERSION"* ]]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi

cargo build --quiet --bin tokenauth --manifest-path "$ROOT/Cargo.toml"
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/debug/tokenauth

WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT
# The server under test: no rate limits or lock-outs, so fuzzing reaches the handlers.
export TOKENAUTH_DATA_DIR=$WORK/data TOKENAUTH_LISTEN=127.0.0.1:$PORT \
  TOKENAUTH_RATE_LIMIT_LOGIN=off TOKENAUTH_RATE_LIMIT_SIGNUP=off TOKENAUTH_LOGIN_MAX_FAILURES=0
SERVER_PID=
cleanup() {
  if [[ -n $SERVER_PID ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

"$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do
  curl -fs "$BASE/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fs "$BASE/readyz" >/dev/null || { cat "$WORK/server.log"; exit 1; }

EMAIL=schemathesis@example.com
PASSWORD="schemathesis $(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
curl -fs "$BASE/v1/signup" -H 'content-type: application/json' \
  -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" >/dev/null
CLIENT=$("$BIN" client add schemathesis --json \
  --permission introspect --permission revoke_any --permission revocations)
CLIENT_ID=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["client_id"])' <<<"$CLIENT")
CLIENT_SECRET=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["client_secret"])' <<<"$CLIENT")

cat >"$WORK/schemathesis.toml" <<EOF
[auth.dynamic.openapi.bearer]
path = "/v1/login"
payload = { email = "$EMAIL", password = "$PASSWORD" }
extract_selector = "/access_token"

[auth.openapi.client_basic]
username = "$CLIENT_ID"
password = "$CLIENT_SECRET"

# Forward auth answers every method by design (proxies forward the original one), also QUERY,
# which OpenAPI 3.1 cannot name.
[[operations]]
include-path-regex = "^/v1/verify"
checks.unsupported_method.enabled = false

# RFC 6749 §2.3: a client uses one authentication method per request. Schemathesis always
# sends the Basic credentials it was given, so a generated form with client_id/client_secret
# is (rightly) refused with 400 invalid_request; the document cannot express that exclusion.
[[operations]]
include-path-regex = "^/oauth2/"
checks.positive_data_acceptance.enabled = false

# Passwords must be 8 to 1024 bytes of UTF-8; JSON Schema can only count characters, so the
# document's minLength 8 is a safe bound for clients, and a 6-character non-ASCII password of
# 8+ bytes is rightly accepted although "schema-violating".
[[operations]]
include-path = ["/v1/signup", "/v1/password"]
checks.negative_data_rejection.enabled = false
EOF

# Every check runs (the default; `--checks all` on the command line would also override the
# two exceptions above).
status=0
"$VENV/bin/st" --config-file "$WORK/schemathesis.toml" run "$BASE/openapi.json" \
  --max-examples 100 --workers 1 --request-timeout 10 "$@" || status=$?
if grep -Eq 'panicked| ERROR ' "$WORK/server.log"; then
  echo "the server logged errors:" >&2
  grep -E -A5 'panicked| ERROR ' "$WORK/server.log" | head -50 >&2
  status=1
fi
exit "$status"
