#!/usr/bin/env bash
# Verified identity through the nginx example (packaging/proxy/nginx.conf): the ILIAS
# session cookie that the ILIAS site sets for its origin reaches ilias-chat through the
# proxy, so a client with `verify_session: "strict"` binds the browser to its user.
#
# The same mechanism as the proxy checks of tests/package.sh: the example with only the
# listen/upstream/TLS lines changed (sed), included from a generated nginx.conf, a real
# nginx started with `nginx -c`, curl as the browser. The "ILIAS site" is one location
# added where the example says "the ILIAS site itself": it answers like ILIAS' login
# does, with Set-Cookie PHPSESSID (path /, HttpOnly, SameSite=Lax) and ilClientId.
#
# Checks, through nginx:
#   * the cookie jar of the "browser" holds the cookies the ILIAS origin set;
#   * Engine.IO polling handshake with the jar, then CONNECT to /<name> and /<name>-im:
#     both accepted, and the server log shows the socket bound to user 101;
#   * the same without cookies: CONNECT refused (connect_error with the server's text);
#   * socket.io-client over a websocket (the upgrade request carries the cookie): the
#     on-screen chat accepts login as 101 and refuses login as 102.
#
# Needs: the built server (ILIAS_CHAT_BIN, default target/debug/ilias-chat), a MariaDB
# (ILIAS_CHAT_TEST_DATABASE_URL=mysql://user[:pass]@host[:port], default root on
# 127.0.0.1:3306), the mariadb client, curl, node with tests/js/node_modules (npm ci), and
# nginx — installed with apt when missing and running as root (kept from starting as a
# service). Everything it writes is under target/proxy-identity/ and one database
# ilias_chat_t_proxy_<pid> (dropped again).
# Prints "ok N - …" / "not ok N - …" and ends with "proxy-identity: N passed, M failed".
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$REPO/target/proxy-identity"
BIN="${ILIAS_CHAT_BIN:-$REPO/target/debug/ilias-chat}"
URL="${ILIAS_CHAT_TEST_DATABASE_URL:-mysql://root@127.0.0.1:3306}"
NAME="ilproxy"
DB="ilias_chat_t_proxy_$$"
SESSION="pr0xy$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
export PATH="$PATH:/usr/sbin:/sbin"

PASSED=0 FAILED=0 N=0
SERVER_PID=""
DB_MADE=0
ok() {
    N=$((N + 1)) PASSED=$((PASSED + 1))
    printf 'ok %d - %s\n' "$N" "$1"
}
not_ok() {
    N=$((N + 1)) FAILED=$((FAILED + 1))
    printf 'not ok %d - %s\n' "$N" "$1"
    [ -z "${2:-}" ] || printf '%s\n' "$2" | sed 's/^/    # /'
}
check_eq() {
    if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "expected: $2"$'\n'"actual:   $3"; fi
}
die() {
    printf 'proxy-identity: %s\n' "$*" >&2
    FAILED=$((FAILED + 1))
    exit 1
}
EPHEMERAL_LOW="$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)"
[ "${EPHEMERAL_LOW:-0}" -gt 11000 ] 2>/dev/null || EPHEMERAL_LOW=32768
free_port() {
    local p
    for _ in $(seq 1 50); do
        # Below the kernel's ephemeral range: a port there can be the local end of
        # a connection (nothing listens, yet bind fails with "Address in use").
        p=$((10000 + RANDOM % (EPHEMERAL_LOW - 10000)))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p" && return 0; fi
    done
    return 1
}

[[ "$URL" =~ ^mysql://([^:@/]*)(:([^@/]*))?@([^:/]+)(:([0-9]+))?/?$ ]] ||
    die "ILIAS_CHAT_TEST_DATABASE_URL must look like mysql://user:pass@host:port"
DB_USER="${BASH_REMATCH[1]}" DB_PASS="${BASH_REMATCH[3]}" DB_HOST="${BASH_REMATCH[4]}" DB_PORT="${BASH_REMATCH[6]:-3306}"
sql() {
    MYSQL_PWD="$DB_PASS" "$DB_CLI" --no-defaults --protocol=tcp -h "$DB_HOST" -P "$DB_PORT" \
        -u "$DB_USER" -N -B "$@"
}

on_exit() {
    local rc=$?
    if [ -f "$WORK/nginx.pid" ]; then nginx -c "$WORK/nginx.conf" -e "$WORK/nginx-error.log" -s quit 2>/dev/null || true; fi
    if [ -n "$SERVER_PID" ]; then kill -KILL "$SERVER_PID" 2>/dev/null || true; fi
    if [ "$DB_MADE" = 1 ]; then sql -e "DROP DATABASE IF EXISTS \`$DB\`" </dev/null || true; fi
    if [ "$rc" -ne 0 ] && [ "$FAILED" -eq 0 ]; then FAILED=1; fi
    printf 'proxy-identity: %d passed, %d failed\n' "$PASSED" "$FAILED"
    if [ "$FAILED" -gt 0 ]; then exit 1; fi
}
trap on_exit EXIT

# ---------------------------------------------------------------------------
# Tools
[ -x "$BIN" ] || die "server binary $BIN not found (cargo build, or set ILIAS_CHAT_BIN)"
DB_CLI="$(command -v mariadb || command -v mysql || true)"
[ -n "$DB_CLI" ] || die "the mariadb (or mysql) client is needed"
command -v curl >/dev/null || die "curl is needed"
[ -d "$REPO/tests/js/node_modules/socket.io-client" ] || die "run npm ci in tests/js first"
if ! command -v nginx >/dev/null 2>&1; then
    [ "$(id -u)" -eq 0 ] || die "nginx is missing (apt-get install nginx, or run as root to have it installed)"
    echo "# installing nginx"
    policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d
        policy=/usr/sbin/policy-rc.d
    fi
    rc=0
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends nginx; } </dev/null >/dev/null || rc=$?
    [ -z "$policy" ] || rm -f "$policy"
    [ "$rc" -eq 0 ] || die "apt-get install nginx failed"
fi

rm -rf "$WORK"
mkdir -p "$WORK"

# ---------------------------------------------------------------------------
# Database: ILIAS 9 schema, room 7, a live session of user 101.
sql -e "CREATE DATABASE \`$DB\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" </dev/null
DB_MADE=1
sql "$DB" <"$REPO/tests/fixtures/schema/ilias9.sql"
now=$(date +%s)
sql "$DB" -e "INSERT INTO chatroom_settings (room_id, object_id, room_type) VALUES (7, 1007, 'repository');
INSERT INTO usr_session (session_id, expires, data, ctime, user_id, type, createtime, context)
VALUES ('$SESSION', $((now + 1800)),
        '_authsession_authenticated|b:1;_authsession_user_id|i:101;_authsession_expired|i:0;',
        $now, 101, 1, $now, 'ilContextWeb');" </dev/null

# ---------------------------------------------------------------------------
# ilias-chat, verify_session strict.
port="$(free_port)" || die "no free port"
cat >"$WORK/server.cfg" <<EOF
{"address": "127.0.0.1", "port": $port, "sub_directory": "", "protocol": "http",
 "cert": "", "key": "", "dhparam": "", "log": "", "log_level": "debug", "error_log": "",
 "deletion_mode": 0, "deletion_unit": "", "deletion_value": 0, "deletion_time": ""}
EOF
cat >"$WORK/client.cfg" <<EOF
{"name": "$NAME", "auth": {"key": "pk", "secret": "ps"},
 "database": {"type": "mysql", "host": "$DB_HOST", "port": $DB_PORT, "name": "$DB",
              "user": "$DB_USER", "pass": "$DB_PASS"},
 "verify_session": "strict"}
EOF
as_root=()
[ "$(id -u)" -ne 0 ] || as_root=(--user root)
env -u NOTIFY_SOCKET -u LISTEN_FDS -u LISTEN_PID -u JOURNAL_STREAM \
    "$BIN" "${as_root[@]}" "$WORK/server.cfg" "$WORK/client.cfg" >"$WORK/server.log" 2>&1 </dev/null &
SERVER_PID=$!
disown "$SERVER_PID" # no "Killed" notice when the trap ends it
for _ in $(seq 1 200); do
    grep -q "database connected" "$WORK/server.log" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
done
grep -q "database connected" "$WORK/server.log" || die "ilias-chat did not start: $(tail -n 20 "$WORK/server.log")"

# ---------------------------------------------------------------------------
# nginx with the example, as tests/package.sh runs it, plus the "ILIAS site".
nport="$(free_port)" || die "no free port"
sed -e "s/127\.0\.0\.1:8888/127.0.0.1:$port/" -e "s/listen 443 ssl;/listen 127.0.0.1:$nport;/" \
    -e '/listen \[::\]:443 ssl;/d' -e '/ssl_certificate/d' \
    -e "s|^\( *\)# \.\.\. the ILIAS site itself.*|\1location = /login.php {\n\1    add_header Set-Cookie \"PHPSESSID=$SESSION; path=/; HttpOnly; SameSite=Lax\";\n\1    add_header Set-Cookie \"ilClientId=$NAME; path=/; SameSite=Lax\";\n\1    return 200 \"ILIAS\\\\n\";\n\1}|" \
    "$REPO/packaging/proxy/nginx.conf" >"$WORK/nginx-site.conf"
{
    [ "$(id -u)" -ne 0 ] || echo "user root;"
    echo "pid $WORK/nginx.pid;"
    echo "error_log $WORK/nginx-error.log;"
    echo "events {}"
    echo "http {"
    echo "    include /etc/nginx/mime.types;"
    echo "    access_log $WORK/nginx-access.log;"
    for t in client_body proxy fastcgi uwsgi scgi; do echo "    ${t}_temp_path $WORK/$t;"; done
    echo "    include $WORK/nginx-site.conf;"
    echo "}"
} >"$WORK/nginx.conf"
if grep -q "443\|:8888" "$WORK/nginx-site.conf" || ! grep -q "location = /login.php" "$WORK/nginx-site.conf"; then
    die "the example no longer has the lines this test changes: $(grep -n "443\|:8888\|ILIAS site" "$WORK/nginx-site.conf")"
fi
nginx -t -q -c "$WORK/nginx.conf" -e "$WORK/nginx-error.log" >"$WORK/nginx-start.log" 2>&1 &&
    nginx -c "$WORK/nginx.conf" -e "$WORK/nginx-error.log" >>"$WORK/nginx-start.log" 2>&1 ||
    die "nginx does not accept the example: $(cat "$WORK/nginx-start.log")"
BASE="http://127.0.0.1:$nport"
for _ in $(seq 1 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$nport") 2>/dev/null && break
    sleep 0.1
done

# ---------------------------------------------------------------------------
JAR="$WORK/cookies.txt"
# jar_cookies AWK_EXPR: the jar's cookies (curl writes HttpOnly ones as "#HttpOnly_<domain>").
jar_cookies() { grep -v -e '^# ' -e '^$' "$JAR" 2>/dev/null | awk -F'\t' "NF == 7 {print $1}"; }
curl -sS --max-time 5 -c "$JAR" -o /dev/null "$BASE/login.php" || true
check_eq "the ILIAS origin sets PHPSESSID (HttpOnly) and ilClientId for path /" \
    "#HttpOnly_127.0.0.1:PHPSESSID=/ 127.0.0.1:ilClientId=/" \
    "$(jar_cookies '$1 ":" $6 "=" $3' | sort | xargs)"

# engine_io JAR_OR_EMPTY NAMESPACE...: a polling Engine.IO session through nginx that
# sends CONNECT for each namespace; prints the packets the server answers.
engine_io() {
    local jar="$1" cookie=() sid body
    shift
    [ -z "$jar" ] || cookie=(-b "$jar")
    body="$(curl -sS --max-time 5 "${cookie[@]}" "$BASE/socket.io/?EIO=4&transport=polling")" || return 1
    sid="$(sed -n 's/^0{"sid":"\([^"]*\)".*/\1/p' <<<"$body")"
    [ -n "$sid" ] || { echo "handshake: $body"; return 1; }
    local packets="" ns
    for ns in "$@"; do packets="$packets${packets:+$'\x1e'}40/$ns,"; done
    curl -sS --max-time 5 "${cookie[@]}" -H 'Content-Type: text/plain;charset=UTF-8' \
        --data-binary "$packets" "$BASE/socket.io/?EIO=4&transport=polling&sid=$sid" >/dev/null
    local answers="" n=0
    while [ "$(tr '\036' '\n' <<<"$answers" | grep -c '^4[04]/')" -lt $# ] && [ $n -lt 10 ]; do
        answers="$answers$(curl -sS --max-time 30 "${cookie[@]}" "$BASE/socket.io/?EIO=4&transport=polling&sid=$sid")"$'\x1e'
        n=$((n + 1))
    done
    tr '\036' '\n' <<<"$answers" | grep '^4[04]/' | sed 's/"sid":"[^"]*"/"sid":"…"/' | sort
}

got="$(engine_io "$JAR" "$NAME" "$NAME-im" 2>&1 || true)"
check_eq "through nginx with the ILIAS cookies: CONNECT to /$NAME and /$NAME-im accepted" \
    "40/$NAME,{\"sid\":\"…\"}"$'\n'"40/$NAME-im,{\"sid\":\"…\"}" "$got"
bound="$(grep -c "socket bound to the user of its ILIAS session.*user=101" "$WORK/server.log" || true)"
check_eq "the server log shows both sockets bound to user 101" "2" "$bound"

got="$(engine_io "" "$NAME" 2>&1 || true)"
check_eq "through nginx without cookies: CONNECT refused" \
    "44/$NAME,{\"message\":\"not authorized: no valid ILIAS session\"}" "$got"
check_eq "the server log says why" "1" \
    "$(grep -c "connection refused (verify_session strict): no PHPSESSID cookie" "$WORK/server.log" || true)"

# A websocket-only socket.io-client, as a browser after the upgrade: the cookie rides on
# the upgrade request through nginx.
cookie_header="$(jar_cookies '$6 "=" $7' | paste -sd ';' | sed 's/;/; /g')"
read -r -d '' WS_CLIENT <<'EOF' || true
import { io } from 'socket.io-client';
const [base, ns, cookie] = process.argv.slice(1);
const socket = io(base + ns, { transports: ['websocket'], forceNew: true, reconnection: false,
  extraHeaders: cookie ? { Cookie: cookie } : {} });
const logins = [];
const done = (text) => { console.log(text); socket.close(); process.exit(0); };
setTimeout(() => done(`timeout; logins ${JSON.stringify(logins)}`), 8000);
socket.on('connect_error', (e) => done(`connect_error ${e.message}`));
socket.on('login', (me) => {
  logins.push(me.id);
  if (me.id === 101) done(`logins ${JSON.stringify(logins)}`);
});
socket.on('connect', () => { socket.emit('login', 102, 'bob'); socket.emit('login', 101, 'alice'); });
EOF
# Run from tests/js so that socket.io-client resolves from its node_modules.
got="$(cd "$REPO/tests/js" && timeout 20 node --input-type=module -e "$WS_CLIENT" -- \
    "$BASE" "/$NAME-im" "$cookie_header" 2>&1 || true)"
check_eq "websocket through nginx with the cookie: login as 102 refused, as 101 accepted" "logins [101]" "$got"
