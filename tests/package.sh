#!/usr/bin/env bash
# The Debian package, end to end (tests/run.sh calls it through tests/package-harness.sh;
# run it alone with `bash tests/package.sh`, as root).
#
# Everything that changes the system happens in a throwaway root (tests/throwaway-root.sh:
# an overlay of this machine, in its own mount and PID namespaces, discarded at the end):
# installing missing tools (lintian, nginx, apache2, …; the downloaded .debs are kept in
# ~/.cache/ilias-chat-tests/apt-archives), installing, upgrading, removing and purging the
# package, creating the onscreenchat user. So that the test sees the package create the
# user, it first purges any installed ilias-chat and deletes an onscreenchat user, inside
# the throwaway root only. The machine keeps its packages, users and files; only
# target/package-test/ of the checkout (the build) and the cache are written.
# Where no throwaway root can be made (not root, no overlayfs, no CAP_SYS_ADMIN in a
# container): with CI=true (a CI machine is itself thrown away) the test runs directly on
# the machine; otherwise it is skipped with the reason, exit status 77 (never a pass).
#
#  1. build: copies the files git would commit (tracked, plus untracked ones that are not
#     ignored; in CI that is exactly the commit) into target/package-test/ilias-chat, a
#     tree without build outputs, and builds there with the documented command,
#     `bash packaging/build-deb.sh`. ILIAS_CHAT_PACKAGE_TREE=HEAD takes the last commit
#     (git archive) instead. The copy rewrites only files whose content changed (and
#     deletes what the last build left), so cargo's target directory
#     target/package-test/cargo-target, kept between runs, recompiles only what changed.
#  2. lintian on the .changes (so on the .deb, the -dbgsym .deb and the .buildinfo):
#     no error and no warning; shown with -I, and no hardening-* tag.
#  3. a second package, version <version>+upgradetest1, from the same tree: only
#     debian/changelog differs, so cargo has nothing to compile.
#  4. apt-get install ./<first>.deb: the user, files, modes, owners and conffiles; the
#     units pass `systemd-analyze verify` silently and are not enabled; the installed
#     binary accepts the installed example configs (--check); started the way the unit
#     starts it (as onscreenchat, socket-activated, with the installed server.cfg and a
#     client config in /etc/ilias-chat/clients) it answers Heartbeat, socket.io and the
#     browser bundle, logs to the file server.cfg names, which the package's logrotate
#     file rotates (the server reopens it on the SIGHUP that follows), and stops with
#     status 0 on SIGTERM.
#     Meanwhile nginx and Apache, each configured with the installed proxy example
#     (examples/nginx.conf, examples/apache.conf; only ports and TLS lines changed), pass
#     Heartbeat, the socket.io handshake and the websocket upgrade through, and serve the
#     ILIAS 8/9 socket.io.js path from the package's copy.
#  5. upgrade to the second package: the admin's configuration and modes survive.
#  6. apt-get remove keeps /etc/ilias-chat; apt-get purge removes every file of the
#     package and /etc/ilias-chat, and keeps the onscreenchat user.
#
# Prints "ok N - …" / "not ok N - …" per check and ends with "package: N passed, M failed".
# Missing tools (debhelper, lintian, logrotate, curl, man-db, nginx, apache2) are installed
# with apt; nginx and apache2 are kept from starting as services (policy-rc.d).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$REPO/target/package-test"
TREE="$WORK/ilias-chat"
CACHE="${ILIAS_CHAT_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ilias-chat-tests}"
export CARGO_TARGET_DIR="$WORK/cargo-target"
export DEBIAN_FRONTEND=noninteractive
export PATH="$HOME/.cargo/bin:$PATH:/usr/sbin:/sbin"
UPGRADE_SUFFIX="+upgradetest1"
CLIENT_NAME="pkgtest"

skip() {
    printf 'package: SKIPPED, not run: %s\n' "$*"
    exit 77
}

# ---------------------------------------------------------------------------
# Where to run: in a throwaway root of our own (always made anew, also when this runs
# inside another one, as in tests/package-harness.sh), or, only in CI, on this machine.
if [ "${1:-}" = "--in-throwaway-root" ]; then
    [ -e /run/ilias-chat-throwaway-root ] || {
        echo "package test: --in-throwaway-root outside a throwaway root" >&2
        exit 1
    }
    echo "# in a throwaway root: nothing done here outlives this test"
    # Docker's Debian images delete every downloaded .deb after each apt run
    # (docker-clean): here that would empty the cache bound at /var/cache/apt/archives.
    rm -f /etc/apt/apt.conf.d/docker-clean
else
    [ "$(id -u)" -eq 0 ] || skip "needs root (it installs the package in a throwaway root)"
    if why="$(bash "$REPO/tests/throwaway-root.sh" --probe 2>&1)"; then
        mkdir -p "$WORK" "$CACHE/apt-archives/partial"
        # The checkout is bound too: a throwaway root has a fresh /tmp, which would hide
        # a checkout under /tmp (a CI clone there failed: package-harness.sh not found).
        exec bash "$REPO/tests/throwaway-root.sh" --bind "$REPO" --bind "$WORK" \
            --bind "$CACHE/apt-archives:/var/cache/apt/archives" \
            -- bash "$REPO/tests/package.sh" --in-throwaway-root
    fi
    if [ "${CI:-}" = true ]; then
        echo "# no throwaway root here ($why); CI=true: running on this machine, which CI throws away"
    else
        state=""
        if dpkg-query -W -f='${db:Status-Abbrev}' ilias-chat 2>/dev/null | grep -q '^[ih]'; then
            state=" ilias-chat is installed here;"
        fi
        if getent passwd onscreenchat >/dev/null 2>&1; then state="$state user onscreenchat exists here;"; fi
        skip "no throwaway root can be made here ($why);$state it would install, upgrade and" \
            "purge ilias-chat, nginx and Apache on this machine (CI=true runs it anyway)"
    fi
fi

PASSED=0
FAILED=0
N=0
DAEMON_PID=""
RUNUSER_PID=""
LOG="$(mktemp)"

ok() {
    N=$((N + 1)) PASSED=$((PASSED + 1))
    printf 'ok %d - %s\n' "$N" "$1"
}
not_ok() {
    N=$((N + 1)) FAILED=$((FAILED + 1))
    printf 'not ok %d - %s\n' "$N" "$1"
    [ -z "${2:-}" ] || printf '%s\n' "$2" | sed 's/^/    # /'
}
# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
    local what="$1"
    shift
    if "$@" >"$LOG" 2>&1; then ok "$what"; else not_ok "$what" "$(tail -n 30 "$LOG")"; fi
}
# check_eq DESCRIPTION EXPECTED ACTUAL
check_eq() {
    if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "expected: $2"$'\n'"actual:   $3"; fi
}
die() {
    printf 'package test: %s\n' "$*" >&2
    exit 1
}
mode() { stat -c '%a %U %G' "$1" 2>&1; }
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
installed() { dpkg-query -W -f='${db:Status-Abbrev}' ilias-chat 2>/dev/null | tr -d ' '; }

PROXY="$WORK/proxy"
stop_proxies() {
    if [ -f "$PROXY/nginx.pid" ]; then nginx -c "$PROXY/nginx.conf" -s quit 2>/dev/null || true; fi
    if [ -f "$PROXY/httpd.pid" ]; then apache2 -f "$PROXY/httpd.conf" -k stop 2>/dev/null || true; fi
    rm -f "$PROXY/nginx.pid" "$PROXY/httpd.pid"
}
stop_daemon() {
    local pid
    for pid in $DAEMON_PID $RUNUSER_PID; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    DAEMON_PID="" RUNUSER_PID=""
}
on_exit() {
    local rc=$?
    stop_proxies
    stop_daemon
    # Leave no package behind, whatever failed (the user stays, as after a real purge).
    if [ -n "$(installed)" ] && [ "$(installed)" != "un" ]; then
        apt-get purge -y -qq ilias-chat </dev/null >/dev/null 2>&1 || true
    fi
    rm -f "$LOG"
    if [ "$rc" -eq 0 ] && [ "$FAILED" -eq 0 ]; then
        printf 'package: %d passed, %d failed\n' "$PASSED" "$FAILED"
    else
        printf 'package: %d passed, %d failed\n' "$PASSED" "$((FAILED > 0 ? FAILED : 1))"
    fi
}
trap on_exit EXIT

command -v apt-get >/dev/null 2>&1 || die "needs a Debian system (apt-get)"

# ---------------------------------------------------------------------------
# Tools
need=()
command -v dpkg-buildpackage >/dev/null 2>&1 && [ -x /usr/bin/dh ] || need+=(debhelper dpkg-dev)
command -v cc >/dev/null 2>&1 || need+=(build-essential)
command -v lintian >/dev/null 2>&1 || need+=(lintian)
command -v logrotate >/dev/null 2>&1 || need+=(logrotate)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v man >/dev/null 2>&1 || need+=(man-db)
command -v rsync >/dev/null 2>&1 || need+=(rsync)
command -v systemd-socket-activate >/dev/null 2>&1 || need+=(systemd)
command -v nginx >/dev/null 2>&1 || need+=(nginx)
command -v apache2 >/dev/null 2>&1 || need+=(apache2)
if [ "${#need[@]}" -gt 0 ]; then
    echo "# installing ${need[*]}"
    # The web servers must not start as services (and take port 80) on installation.
    policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d
        policy=/usr/sbin/policy-rc.d
    fi
    # The package lists this machine has first; `apt-get update` only when they fail.
    rc=0
    apt-get install -y -qq --no-install-recommends "${need[@]}" </dev/null >"$LOG" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
        apt-get update -qq </dev/null
        rc=0
        apt-get install -y -qq --no-install-recommends "${need[@]}" </dev/null >"$LOG" 2>&1 || rc=$?
    fi
    [ -z "$policy" ] || rm -f "$policy"
    [ "$rc" -eq 0 ] || die "apt-get install ${need[*]} failed: $(tail -n 20 "$LOG")"
fi

echo "# 1. build from a clean tree"
STAGE="$WORK/stage"
rm -rf "$STAGE" "$WORK"/ilias-chat*_* "$TREE/target/debian"
mkdir -p "$STAGE" "$TREE"
if [ -n "${ILIAS_CHAT_PACKAGE_TREE:-}" ]; then
    git -C "$REPO" archive --format=tar "$ILIAS_CHAT_PACKAGE_TREE" | tar -C "$STAGE" -xf -
    echo "# tree: git archive $ILIAS_CHAT_PACKAGE_TREE"
else
    # Tracked and untracked-but-not-ignored files that exist (a deleted file is skipped).
    git -C "$REPO" ls-files -z --cached --others --exclude-standard |
        (cd "$REPO" && while IFS= read -r -d '' f; do
            if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
        done) |
        tar -C "$REPO" --null -T - -cf - | tar -C "$STAGE" -xf -
    echo "# tree: the working tree's tracked and unignored files"
fi
[ ! -e "$STAGE/target" ] || die "the copied tree contains target/"
# Into the build tree: by content (-c), without the times (a changed file gets a new one,
# an unchanged file keeps the old one, so cargo's fingerprints stay right whatever the
# copy's times are); --delete takes away what the last build left (debian/ilias-chat/, …).
rsync -rlpc --delete --exclude=/target/ "$STAGE/" "$TREE/"
rm -rf "$STAGE"

VERSION="$(cd "$TREE" && dpkg-parsechangelog -S Version)"
ARCH="$(dpkg-architecture -q DEB_HOST_ARCH)"
V2="$VERSION$UPGRADE_SUFFIX"
OUT="$TREE/target/debian"
DEB1="$OUT/ilias-chat_${VERSION}_${ARCH}.deb"
DEB2="$OUT/ilias-chat_${V2}_${ARCH}.deb"
CHANGES1="$OUT/ilias-chat_${VERSION}_${ARCH}.changes"

start=$(date +%s)
if (cd "$TREE" && bash packaging/build-deb.sh) >"$WORK/build-$VERSION.log" 2>&1; then
    ok "bash packaging/build-deb.sh builds $VERSION from a clean tree ($(($(date +%s) - start)) s)"
else
    tail -n 40 "$WORK/build-$VERSION.log"
    die "the package does not build (log: $WORK/build-$VERSION.log)"
fi
check "the package, its dbgsym and .changes are in target/debian" \
    test -f "$DEB1" -a -f "$OUT/ilias-chat-dbgsym_${VERSION}_${ARCH}.deb" -a -f "$CHANGES1"
check_eq "Cargo.toml and debian/changelog agree on the version" \
    "$VERSION" "$(sed -n 's/^version = "\(.*\)"$/\1/p' "$TREE/Cargo.toml" | head -n 1)"

echo "# 2. lintian"
start=$(date +%s)
if lintian -I --fail-on error,warning "$CHANGES1" >"$LOG" 2>&1 &&
    ! grep -E '^[EW]: ' "$LOG" >/dev/null; then
    ok "lintian: no error, no warning on the .changes and its .debs ($(($(date +%s) - start)) s)"
else
    not_ok "lintian: no error, no warning on the .changes and its .debs" "$(cat "$LOG")"
fi
# Not even an info tag: the C code of the bundled crates is built with the hardening
# flags (debian/rules); what lintian cannot know is explained in
# debian/ilias-chat.lintian-overrides.
check_eq "lintian -I: no info tag either" "" "$(grep -E '^[EWI]: ' "$LOG" || true)"
check "the C parts are fortified: the binary calls __*_chk functions" \
    sh -c "dpkg-deb --fsys-tarfile '$DEB1' | tar -xOf - ./usr/sbin/ilias-chat >'$WORK/bin' && objdump -T '$WORK/bin' | grep -q '__mem[a-z]*_chk'"
grep -E '^[EWIN]: ' "$LOG" | sed 's/^/    # /' || true

echo "# 3. the upgrade package"
# A new changelog entry with the date of the last one: dpkg-buildpackage derives
# SOURCE_DATE_EPOCH from it, and a new value would make cargo rebuild the C parts.
(
    cd "$TREE"
    {
        printf 'ilias-chat (%s) unstable; urgency=medium\n\n' "$V2"
        printf '  * Upgrade test: the same build under a higher version.\n\n'
        printf ' -- %s  %s\n\n' "$(dpkg-parsechangelog -S Maintainer)" "$(dpkg-parsechangelog -S Date)"
        cat debian/changelog
    } >debian/changelog.new
    mv debian/changelog.new debian/changelog
    [ "$(dpkg-parsechangelog -S Version)" = "$V2" ]
) >"$LOG" 2>&1 || die "cannot add the $V2 changelog entry: $(cat "$LOG")"
start=$(date +%s)
# Built as a site's packager would: DEBFULLNAME/DEBEMAIL name the Maintainer of this build.
SITE_MAINTAINER="Campus Chat Team <chat-admin@uni.test>"
if (cd "$TREE" && DEBFULLNAME="Campus Chat Team" DEBEMAIL=chat-admin@uni.test \
    bash packaging/build-deb.sh) >"$WORK/build-$V2.log" 2>&1 && [ -f "$DEB2" ]; then
    ok "the same tree builds $V2 ($(($(date +%s) - start)) s, no second compile)"
else
    tail -n 40 "$WORK/build-$V2.log"
    die "the upgrade package does not build (log: $WORK/build-$V2.log)"
fi
check_eq "without DEBFULLNAME/DEBEMAIL the Maintainer is debian/control's" \
    "$(cd "$TREE" && sed -n 's/^Maintainer: //p' debian/control)" "$(dpkg-deb -f "$DEB1" Maintainer)"
check_eq "with DEBFULLNAME/DEBEMAIL they are the Maintainer of the build" \
    "$SITE_MAINTAINER" "$(dpkg-deb -f "$DEB2" Maintainer)"

# ---------------------------------------------------------------------------
echo "# 4. install $VERSION"
if [ -n "$(installed)" ] && [ "$(installed)" != "un" ]; then
    echo "# purging the ilias-chat installed here before this test"
    apt-get purge -y -qq ilias-chat </dev/null >/dev/null
fi
if getent passwd onscreenchat >/dev/null; then
    echo "# deleting the onscreenchat user found here"
    userdel onscreenchat
fi
if getent group onscreenchat >/dev/null; then groupdel onscreenchat; fi
# What an earlier installation may have left (files of the admin's, not the package's).
rm -rf /etc/ilias-chat /var/log/ilias-chat

check "apt-get install ./ilias-chat_${VERSION}_${ARCH}.deb" \
    apt-get install -y -qq --no-install-recommends "$DEB1"
check_eq "dpkg: installed, version $VERSION" "ii $VERSION" \
    "$(dpkg-query -W -f='${db:Status-Abbrev}${Version}' ilias-chat | tr -s ' ')"

IFS=: read -r _ _ uid gid _ home shell < <(getent passwd onscreenchat || echo "x:x:-1:-1::-:-")
check_eq "the onscreenchat system user: no login, no home" \
    "/nonexistent /usr/sbin/nologin system" \
    "$home $shell $([ "$uid" -ge 0 ] && [ "$uid" -lt 1000 ] && echo system || echo "uid=$uid")"
check_eq "the onscreenchat group is the user's group" "onscreenchat" "$(getent group "$gid" | cut -d: -f1)"
UID1="$uid"

expect_mode() { check_eq "$1 is $2" "$2" "$(mode "$1")"; }
expect_mode /usr/sbin/ilias-chat "755 root root"
expect_mode /etc/ilias-chat "755 root root"
expect_mode /etc/ilias-chat/server.cfg "644 root root"
expect_mode /etc/ilias-chat/clients "750 root onscreenchat"
expect_mode /etc/logrotate.d/ilias-chat "644 root root"
for f in /lib/systemd/system/ilias-chat.service /lib/systemd/system/ilias-chat.socket \
    /usr/lib/sysusers.d/ilias-chat.conf /usr/lib/tmpfiles.d/ilias-chat.conf \
    /usr/share/man/man8/ilias-chat.8.gz /usr/share/man/man5/ilias-chat.cfg.5.gz \
    /usr/share/doc/ilias-chat/copyright /usr/share/doc/ilias-chat/README.Debian \
    /usr/share/ilias-chat/socket.io-client/socket.io.js; do
    expect_mode "$f" "644 root root"
done
missing=""
for f in server.cfg server-subdir.cfg client.cfg client-socket.cfg nginx.conf apache.conf \
    listen-port.conf log-files.conf; do
    [ -f "/usr/share/doc/ilias-chat/examples/$f" ] || missing="$missing $f"
done
check_eq "examples: configs, proxy snippets, drop-ins" "" "$missing"
check "the units are those of systemd/" sh -c "cmp $TREE/systemd/ilias-chat.service \
    /lib/systemd/system/ilias-chat.service && cmp $TREE/systemd/ilias-chat.socket \
    /lib/systemd/system/ilias-chat.socket"
check "the browser bundle is the one the server serves" \
    cmp "$TREE/src/http/assets/vendor/socket.io-client/socket.io.js" /usr/share/ilias-chat/socket.io-client/socket.io.js
check_eq "conffiles: server.cfg and the logrotate file" \
    "/etc/ilias-chat/server.cfg /etc/logrotate.d/ilias-chat" \
    "$(dpkg-query -W -f='${Conffiles}' ilias-chat | awk 'NF {print $1}' | sort | xargs)"
check_eq "neither unit is enabled" "disabled disabled" \
    "$(systemctl is-enabled ilias-chat.socket ilias-chat.service 2>&1 | xargs)"
check_eq "nothing runs as onscreenchat after installation" "" "$(pgrep -u onscreenchat || true)"
check "the postinst restarts a running service on upgrade" \
    grep -q "try-restart 'ilias-chat.service'" /var/lib/dpkg/info/ilias-chat.postinst
check "the prerm stops both units on removal" \
    grep -q "stop ilias-chat.socket ilias-chat.service" /var/lib/dpkg/info/ilias-chat.prerm
rc=0
verify="$(systemd-analyze verify /lib/systemd/system/ilias-chat.socket \
    /lib/systemd/system/ilias-chat.service 2>&1)" || rc=$?
check_eq "systemd-analyze verify on the installed units: exit 0, prints nothing" "0:" "$rc:$verify"
check "man finds ilias-chat(8) and ilias-chat.cfg(5)" \
    sh -c 'man -w 8 ilias-chat && man -w 5 ilias-chat.cfg'
check "logrotate accepts /etc/logrotate.d/ilias-chat" logrotate -d /etc/logrotate.d/ilias-chat

EX=/usr/share/doc/ilias-chat/examples
check "--check: the installed server.cfg with the example client.cfg" \
    /usr/sbin/ilias-chat --check /etc/ilias-chat/server.cfg "$EX/client.cfg"
check "--check: the other examples" \
    /usr/sbin/ilias-chat --check "$EX/server-subdir.cfg" "$EX/client-socket.cfg" "$EX/client.cfg"
rc=0
/usr/sbin/ilias-chat --check /etc/ilias-chat/server.cfg /etc/ilias-chat/clients >"$LOG" 2>&1 || rc=$?
check_eq "--check on the empty clients directory: exit 78, says why" "78 yes" \
    "$rc $(grep -q 'no client configuration found' "$LOG" && echo yes || cat "$LOG")"

# A client config as the admin installs it (the database is unreachable: Heartbeat and
# socket.io do not wait for it).
cat >"$LOG" <<EOF
{
    "name": "$CLIENT_NAME",
    "auth": {"key": "package-test", "secret": "package-test-secret"},
    "database": {"type": "mysql", "host": "127.0.0.1", "port": 9, "name": "ilias",
                 "user": "ilias", "pass": "x"}
}
EOF
install -m 0640 -o root -g onscreenchat "$LOG" "/etc/ilias-chat/clients/$CLIENT_NAME.cfg"
# The file-logging case: server.cfg names a file in /var/log/ilias-chat (the directory
# the unit's LogsDirectory= makes), which the package's logrotate file rotates.
SERVER_LOG=/var/log/ilias-chat/chat.log
install -d -m 0750 -o onscreenchat -g onscreenchat /var/log/ilias-chat
sed -i "s#\"log\": \"\"#\"log\": \"$SERVER_LOG\"#" /etc/ilias-chat/server.cfg
check "server.cfg names $SERVER_LOG" grep -q "\"log\": \"$SERVER_LOG\"" /etc/ilias-chat/server.cfg
check "another user cannot read the client configs" \
    sh -c "! runuser -u nobody -- cat /etc/ilias-chat/clients/$CLIENT_NAME.cfg"

port="$(free_port)" || die "no free port"
DAEMON_LOG="$WORK/daemon.log"
# ExecStart= of ilias-chat.service, as User=onscreenchat, with the socket from "systemd".
runuser -u onscreenchat -- env -u NOTIFY_SOCKET -u JOURNAL_STREAM ILIAS_CHAT_LOG=info \
    systemd-socket-activate -l "127.0.0.1:$port" \
    /usr/sbin/ilias-chat /etc/ilias-chat/server.cfg /etc/ilias-chat/clients \
    >"$DAEMON_LOG" 2>&1 </dev/null &
RUNUSER_PID=$!
BASE="http://127.0.0.1:$port"
heartbeat=""
for _ in $(seq 1 100); do
    heartbeat="$(curl -sS --max-time 5 "$BASE/backend/Heartbeat/$CLIENT_NAME" 2>&1)" && break
    sleep 0.2
done
check_eq "started like the unit starts it, the server answers Heartbeat" '{"status":200}' "$heartbeat"
# runuser forks; systemd-socket-activate then execs the server in its child.
DAEMON_PID="$(pgrep -P "$RUNUSER_PID" -x ilias-chat || true)"
check_eq "it runs as onscreenchat" "onscreenchat" "$(ps -o user= -p "${DAEMON_PID:-0}" 2>&1 | xargs)"
handshake="$(curl -sS --max-time 5 "$BASE/socket.io/?EIO=4&transport=polling" 2>&1 || true)"
check_eq "it serves socket.io (Engine.IO 4 handshake)" '0{"sid":' "${handshake:0:8}"
curl -sS --max-time 5 -o "$WORK/bundle.js" "$BASE/socket.io/socket.io.js" || true
check "it serves the browser bundle at /socket.io/socket.io.js" \
    cmp "$WORK/bundle.js" /usr/share/ilias-chat/socket.io-client/socket.io.js
check "it logs to server.cfg's log file that it uses the socket from systemd" \
    grep -q "using sockets passed by systemd" "$SERVER_LOG"
# ---------------------------------------------------------------------------
# The proxy examples, as installed, in front of this server.
# through_proxy NAME BASE_URL: the checks a browser and ILIAS PHP depend on.
through_proxy() {
    local name="$1" base="$2" got
    got="$(curl -sS --max-time 5 "$base/backend/Heartbeat/$CLIENT_NAME" 2>&1 || true)"
    check_eq "$name: Heartbeat through the proxy" '{"status":200}' "$got"
    got="$(curl -sS --max-time 5 "$base/socket.io/?EIO=4&transport=polling" 2>&1 || true)"
    check_eq "$name: socket.io polling handshake through the proxy" '0{"sid":' "${got:0:8}"
    # A websocket upgrade: the proxy must answer 101 (curl then waits on the open socket).
    got="$(curl -sS -i -N --max-time 2 -H "Connection: Upgrade" -H "Upgrade: websocket" \
        -H "Sec-WebSocket-Version: 13" -H "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==" \
        "$base/socket.io/?EIO=4&transport=websocket" 2>/dev/null | head -n 1 | tr -d '\r' || true)"
    check_eq "$name: websocket upgrade through the proxy" "HTTP/1.1 101 Switching Protocols" "$got"
    curl -sS --max-time 5 -o "$PROXY/bundle-$name.js" \
        "$base/Modules/Chatroom/chat/node_modules/socket.io-client/dist/socket.io.js" || true
    check "$name: ILIAS's node_modules socket.io.js path serves the packaged client" \
        cmp "$PROXY/bundle-$name.js" /usr/share/ilias-chat/socket.io-client/socket.io.js
}
rm -rf "$PROXY"
mkdir -p "$PROXY/www"
EXAMPLES=/usr/share/doc/ilias-chat/examples

nport="$(free_port)" || die "no free port"
sed -e "s/127\.0\.0\.1:8888/127.0.0.1:$port/" -e "s/listen 443 ssl;/listen 127.0.0.1:$nport;/" \
    -e '/listen \[::\]:443 ssl;/d' -e '/ssl_certificate/d' "$EXAMPLES/nginx.conf" >"$PROXY/nginx-site.conf"
cat >"$PROXY/nginx.conf" <<EOF
pid $PROXY/nginx.pid;
error_log $PROXY/nginx-error.log;
events {}
http {
    include /etc/nginx/mime.types;
    access_log $PROXY/nginx-access.log;
    include $PROXY/nginx-site.conf;
}
EOF
if grep -q "443\|:8888" "$PROXY/nginx-site.conf"; then
    not_ok "nginx: the example has the expected listen/upstream lines" \
        "$(grep -n "443\|:8888" "$PROXY/nginx-site.conf")"
elif nginx -t -q -c "$PROXY/nginx.conf" >"$LOG" 2>&1 && nginx -c "$PROXY/nginx.conf" >>"$LOG" 2>&1; then
    through_proxy nginx "http://127.0.0.1:$nport"
else
    not_ok "nginx accepts examples/nginx.conf" "$(cat "$LOG")"
fi

aport="$(free_port)" || die "no free port"
sed -e "s/127\.0\.0\.1:8888/127.0.0.1:$port/g" \
    -e "s/<VirtualHost \*:443>/<VirtualHost 127.0.0.1:$aport>/" \
    "$EXAMPLES/apache.conf" >"$PROXY/apache-site.conf"
{
    echo "ServerRoot $PROXY"
    echo "PidFile $PROXY/httpd.pid"
    echo "ErrorLog $PROXY/apache-error.log"
    echo "Listen 127.0.0.1:$aport"
    for m in mpm_event authz_core authz_host alias mime headers proxy proxy_http; do
        echo "LoadModule ${m}_module /usr/lib/apache2/modules/mod_$m.so"
    done
    echo "TypesConfig /etc/mime.types"
    echo "User www-data"
    echo "Group www-data"
    echo "ServerName localhost"
    echo "DocumentRoot $PROXY/www"
    echo "Include $PROXY/apache-site.conf"
} >"$PROXY/httpd.conf"
if grep -q "443\|:8888" "$PROXY/apache-site.conf"; then
    not_ok "Apache: the example has the expected VirtualHost/ProxyPass lines" \
        "$(grep -n "443\|:8888" "$PROXY/apache-site.conf")"
elif apache2 -t -f "$PROXY/httpd.conf" >"$LOG" 2>&1 && apache2 -f "$PROXY/httpd.conf" -k start >>"$LOG" 2>&1; then
    for _ in $(seq 1 50); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$aport") 2>/dev/null; then break; fi
        sleep 0.1
    done
    through_proxy apache "http://127.0.0.1:$aport"
else
    not_ok "Apache accepts examples/apache.conf" "$(cat "$LOG")"
fi
stop_proxies

# logrotate moves the file; its postrotate sends SIGHUP (systemctl reload under systemd,
# else pkill), and the server reopens the file at the same path.
logrotate -f -s "$WORK/logrotate.state" /etc/logrotate.d/ilias-chat >"$LOG" 2>&1 || true
if [ -d /run/systemd/system ]; then
    # systemctl cannot reach this test's server: signal it as the service manager would.
    kill -HUP "${DAEMON_PID:-0}" 2>/dev/null || true
fi
for _ in $(seq 1 50); do
    grep -q "configuration reloaded" "$SERVER_LOG" 2>/dev/null && break
    sleep 0.1
done
check_eq "logrotate: the log is rotated, and after SIGHUP the server writes a new one" \
    "rotated reopened" \
    "$([ -f "$SERVER_LOG.1" ] && echo rotated || cat "$LOG") $(grep -q "configuration reloaded" "$SERVER_LOG" 2>/dev/null && echo reopened || echo "no new $SERVER_LOG")"

kill -TERM "${DAEMON_PID:-$RUNUSER_PID}"
(sleep 30 && kill -KILL "$RUNUSER_PID" $DAEMON_PID) 2>/dev/null &
watchdog=$!
rc=0
wait "$RUNUSER_PID" || rc=$? # runuser exits with the server's status
kill "$watchdog" 2>/dev/null || true
DAEMON_PID="" RUNUSER_PID=""
check_eq "SIGTERM stops it with status 0" "0" "$rc"
[ "$FAILED" -eq 0 ] || cat "$DAEMON_LOG" "$SERVER_LOG.1" "$SERVER_LOG" 2>/dev/null |
    sed 's/^/    # daemon: /' | tail -n 30

# ---------------------------------------------------------------------------
echo "# 5. upgrade to $V2"
sed -i 's/"log_level": "info"/"log_level": "debug"/' /etc/ilias-chat/server.cfg
chmod 0640 "/etc/ilias-chat/clients/$CLIENT_NAME.cfg"
sum_before="$(sha256sum /etc/ilias-chat/server.cfg "/etc/ilias-chat/clients/$CLIENT_NAME.cfg")"
check "apt-get install ./ilias-chat_${V2}_${ARCH}.deb (upgrade)" \
    apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$DEB2"
check_eq "dpkg: installed, version $V2" "ii $V2" \
    "$(dpkg-query -W -f='${db:Status-Abbrev}${Version}' ilias-chat | tr -s ' ')"
check_eq "the admin's server.cfg and client config are kept" "$sum_before" \
    "$(sha256sum /etc/ilias-chat/server.cfg "/etc/ilias-chat/clients/$CLIENT_NAME.cfg" 2>&1)"
expect_mode /etc/ilias-chat/clients "750 root onscreenchat"
expect_mode "/etc/ilias-chat/clients/$CLIENT_NAME.cfg" "640 root onscreenchat"
check_eq "the onscreenchat user is the same" "$UID1" "$(id -u onscreenchat 2>&1)"
check "the upgraded binary accepts the configuration" \
    /usr/sbin/ilias-chat --check /etc/ilias-chat/server.cfg /etc/ilias-chat/clients
check_eq "still not enabled" "disabled disabled" \
    "$(systemctl is-enabled ilias-chat.socket ilias-chat.service 2>&1 | xargs)"

# ---------------------------------------------------------------------------
echo "# 6. remove, purge"
check "apt-get remove ilias-chat" apt-get remove -y -qq ilias-chat
check_eq "removed: binary gone, configuration kept" "gone kept" \
    "$([ -e /usr/sbin/ilias-chat ] && echo present || echo gone) $([ -f /etc/ilias-chat/server.cfg ] && [ -f "/etc/ilias-chat/clients/$CLIENT_NAME.cfg" ] && echo kept || echo lost)"
check "apt-get purge ilias-chat" apt-get purge -y -qq ilias-chat
check_eq "dpkg: not installed" "" "$(dpkg-query -W -f='${db:Status-Abbrev}' ilias-chat 2>/dev/null | tr -d ' ' | sed 's/^un$//')"
left=""
for f in /usr/sbin/ilias-chat /etc/ilias-chat /etc/logrotate.d/ilias-chat \
    /lib/systemd/system/ilias-chat.service /lib/systemd/system/ilias-chat.socket \
    /usr/lib/sysusers.d/ilias-chat.conf /usr/lib/tmpfiles.d/ilias-chat.conf \
    /usr/share/man/man8/ilias-chat.8.gz /usr/share/man/man5/ilias-chat.cfg.5.gz \
    /usr/share/doc/ilias-chat /usr/share/ilias-chat /var/log/ilias-chat; do
    if [ -e "$f" ]; then left="$left $f"; fi
done
check_eq "purged: no file of the package is left, /etc/ilias-chat is gone" "" "$left"
check_eq "purged: the onscreenchat user stays (Debian never removes system users)" \
    "$UID1" "$(id -u onscreenchat 2>&1)"

[ "$FAILED" -eq 0 ]
