#!/usr/bin/env bash
# redispolicy demo: a throwaway redis-server on 127.0.0.1, seeded with document-pipeline
# data, and redispolicy run against it with the policies in policies/.
#
#   make demo                  (or: bash scripts/demo.sh)
#
# Environment: REDIS_SERVER (default: redis-server on PATH), VENV (default: .venv).
# Every step runs even when an earlier one fails; the script exits with the first
# failing step's status. The server is stopped (by its pid) however the script ends.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

VENV=${VENV:-.venv}
PYTHON="$VENV/bin/python"
REDISPOLICY="$VENV/bin/redispolicy"
REDIS_SERVER=${REDIS_SERVER:-redis-server}

die() { echo "demo: $*" >&2; exit 1; }
[[ -x "$PYTHON" ]] || die "$PYTHON not found: run 'make venv' first."
command -v "$REDIS_SERVER" >/dev/null || die "$REDIS_SERVER not found: run 'make redis-server' (or set REDIS_SERVER=/path/to/redis-server)."

workdir=$(mktemp -d "${TMPDIR:-/tmp}/redispolicy-demo.XXXXXX")
server_pid=""

# shellcheck disable=SC2329  # invoked by the EXIT trap
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
  fi
  rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A free port on the loopback interface, chosen by the kernel.
port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# An (empty) config file, so that CONFIG REWRITE (policy `persist: true`) works.
echo "# redispolicy demo server; settings are on the command line" > "$workdir/redis.conf"
"$REDIS_SERVER" "$workdir/redis.conf" --port "$port" --bind 127.0.0.1 --dir "$workdir" \
  --save "" --appendonly no --daemonize no >"$workdir/server.log" 2>&1 &
server_pid=$!

url="redis://127.0.0.1:$port/0"
export REDIS_URL_PRODUCTION="$url" REDIS_URL_STAGING="$url" REDIS_URL_DEV="$url"

status=0
step() {  # step TITLE COMMAND...: print a header, run, remember the first failure
  local title=$1 rc
  shift
  printf '\n==> %s\n' "$title"
  "$@"
  rc=$?
  if (( rc != 0 )); then
    echo "    (exit status $rc)" >&2
    (( status == 0 )) && status=$rc
  fi
  return 0
}

echo "==> demo server: $("$REDIS_SERVER" --version | cut -d' ' -f1-3) on $url (pid $server_pid, dir $workdir)"

step "seed demo data (scripts/seed_demo.py)" "$PYTHON" scripts/seed_demo.py --url "$url" --wait 10
if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "demo: the server exited; its log:" >&2
  cat "$workdir/server.log" >&2
  exit 1
fi

step "redispolicy validate --policy-dir policies" "$REDISPOLICY" validate --policy-dir policies
step "redispolicy explain --policy-dir policies -e production maxmemory" \
  "$REDISPOLICY" explain --policy-dir policies -e production maxmemory

# The demo keeps its audit log and fingerprint key in its own throwaway directory.
export XDG_STATE_HOME="$workdir/state" XDG_CONFIG_HOME="$workdir/config"
# The demo's production password comes from the environment, as in real use.
export REDIS_PASSWORD_PRODUCTION=${REDIS_PASSWORD_PRODUCTION:-demo-only-password}
step "redispolicy plan --policy-dir policies -e production --out prod.plan" \
  "$REDISPOLICY" plan --policy-dir policies -e production --out "$workdir/prod.plan"
step "redispolicy apply prod.plan (exactly the reviewed plan)" \
  "$REDISPOLICY" apply --policy-dir policies --audit-log "$workdir/audit.log" "$workdir/prod.plan"
step "redispolicy plan again: nothing left to change" \
  "$REDISPOLICY" plan --policy-dir policies -e production --detailed-exitcode
echo "    audit log: $(wc -l < "$workdir/audit.log") record(s); last result: \
$("$PYTHON" -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])["result"])' "$workdir/audit.log")"
step "redispolicy remediate (dry run: what would get a TTL)" \
  "$REDISPOLICY" remediate --policy-dir policies -e production
step "redispolicy cleanup (dry run: what would be deleted)" \
  "$REDISPOLICY" cleanup --policy-dir policies -e production
# drift exits 2 when it finds drift: the seeded keys break the TTL rules on purpose.
step "redispolicy drift (the scheduled report; exit 2 = drift found)" \
  bash -c '"$0" drift --policy-dir policies -e production --textfile-dir "$1"; rc=$?; [ "$rc" -eq 2 ] && exit 0; exit "$rc"' \
  "$REDISPOLICY" "$workdir/textfile"
echo "    prometheus textfile: $(ls "$workdir/textfile")"

echo
if (( status == 0 )); then
  echo "==> demo finished: every step succeeded"
else
  echo "==> demo finished: a step failed (first failing status: $status)" >&2
fi
exit "$status"
