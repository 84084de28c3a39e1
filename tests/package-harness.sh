#!/usr/bin/env bash
# The package step of tests/run.sh, and the test of the test harness: tests/package.sh,
# run on a machine where ilias-chat is installed, the admin has configured it and the
# onscreenchat user exists, leaves all of that untouched.
#
#   bash tests/package-harness.sh        (root; tests/run.sh's "package" step)
#
# It makes such a machine: a throwaway root of its own (tests/throwaway-root.sh) in which
# it creates the onscreenchat system user, really installs a package named ilias-chat
# (a small one it builds with dpkg-deb: a conffile /etc/ilias-chat/server.cfg, the
# clients directory, a binary) and adds a client configuration as an admin would. Then:
#  a. tests/package.sh as on a developer's machine where it could not make its own
#     throwaway root (CI unset, ILIAS_CHAT_NO_THROWAWAY_ROOT=1): it must skip (exit 77,
#     saying so) and change nothing;
#  b. tests/package.sh as it runs everywhere else (CI unset): it must pass, show that it
#     saw the installed package and the user (it purges and deletes them, in its own
#     throwaway root), and afterwards `dpkg -s ilias-chat`, every package's state, the
#     files, modes and owners under /etc/ilias-chat, `getent passwd/group onscreenchat`
#     and /etc/passwd, group, shadow, gshadow are what they were; nothing that tests/package.sh
#     started still runs; and the file system of the machine (the overlay's upper layer)
#     has not changed at all.
# b is the package test of tests/run.sh: its checks are printed as they run.
#
# Without a throwaway root (no overlayfs or no CAP_SYS_ADMIN): outside CI this skips
# (exit 77, as tests/package.sh would); with CI=true, on the CI machine, which is thrown
# away, it makes the installed state for real, runs a, removes that state again, and then
# runs tests/package.sh directly (b is impossible there: tests/package.sh itself runs on
# the machine in CI).
#
# Prints "ok N - …" / "not ok N - …" and ends with "package-harness: N passed, M failed".
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$REPO/target/package-test"
CACHE="${ILIAS_CHAT_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ilias-chat-tests}"
export DEBIAN_FRONTEND=noninteractive
export PATH="$PATH:/usr/sbin:/sbin"
LAYERS=/run/ilias-chat-throwaway-root.layers

skip() {
    printf 'package-harness: SKIPPED, not run: %s\n' "$*"
    exit 77
}
die() {
    printf 'package-harness: %s\n' "$*" >&2
    exit 1
}

MODE=""
if [ "${1:-}" = "--in-throwaway-root" ]; then
    [ -e /run/ilias-chat-throwaway-root ] || die "--in-throwaway-root outside a throwaway root"
    MODE=throwaway
else
    [ "$(id -u)" -eq 0 ] || skip "needs root (it installs a package in a throwaway root)"
    if why="$(bash "$REPO/tests/throwaway-root.sh" --probe 2>&1)"; then
        mkdir -p "$WORK" "$CACHE/apt-archives/partial"
        # The checkout is bound too: a throwaway root has a fresh /tmp, which would hide
        # a checkout under /tmp (a CI clone there failed: package-harness.sh not found).
        exec bash "$REPO/tests/throwaway-root.sh" --bind "$REPO" --bind "$WORK" --bind "$CACHE" \
            -- bash "$REPO/tests/package-harness.sh" --in-throwaway-root
    fi
    [ "${CI:-}" = true ] || skip "no throwaway root can be made here ($why); CI=true runs it anyway"
    echo "# no throwaway root here ($why); CI=true: on this machine, which CI throws away"
    MODE=ci-machine
fi

PASSED=0 FAILED=0 N=0
TMP="$(mktemp -d)"
exec 3>&1 # the summary goes here even if a failure ends the script mid-redirection
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
check_same() { # DESCRIPTION FILE_BEFORE FILE_AFTER
    if cmp -s "$2" "$3"; then ok "$1"; else not_ok "$1" "$(diff "$2" "$3" | head -n 40)"; fi
}
on_exit() {
    local rc=$?
    rm -rf "$TMP"
    printf 'package-harness: %d passed, %d failed\n' "$PASSED" "$((FAILED > 0 || rc == 0 ? FAILED : 1))" >&3
}
trap on_exit EXIT

# ---------------------------------------------------------------------------
echo "# the machine: onscreenchat exists, ilias-chat is installed and configured"
getent passwd onscreenchat >/dev/null && die "onscreenchat exists already"
dpkg-query -W -f='${db:Status-Abbrev}' ilias-chat 2>/dev/null | grep -q '^[ih]' &&
    die "ilias-chat is installed already"
useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
    --user-group --comment "ILIAS chat, pre-existing" onscreenchat

PKG="$TMP/pkg"
mkdir -p "$PKG/DEBIAN" "$PKG/etc/ilias-chat/clients" "$PKG/usr/sbin" "$PKG/usr/share/doc/ilias-chat"
cat >"$PKG/DEBIAN/control" <<EOF
Package: ilias-chat
Version: 0.0.1~harness1
Architecture: all
Maintainer: tests/package-harness.sh <root@localhost>
Description: stand-in for an installed ilias-chat (test of the test harness)
EOF
echo /etc/ilias-chat/server.cfg >"$PKG/DEBIAN/conffiles"
cat >"$PKG/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
chgrp onscreenchat /etc/ilias-chat/clients
chmod 0750 /etc/ilias-chat/clients
EOF
cat >"$PKG/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = purge ]; then rm -rf /etc/ilias-chat; fi
EOF
chmod 0755 "$PKG/DEBIAN/postinst" "$PKG/DEBIAN/postrm"
printf '{"port": 8888, "log_level": "info"}\n' >"$PKG/etc/ilias-chat/server.cfg"
printf '#!/bin/sh\necho "ilias-chat 0.0.1~harness1"\n' >"$PKG/usr/sbin/ilias-chat"
chmod 0755 "$PKG/usr/sbin/ilias-chat"
echo "stand-in" >"$PKG/usr/share/doc/ilias-chat/copyright"
dpkg-deb --root-owner-group -b "$PKG" "$TMP/ilias-chat_harness.deb" >/dev/null
dpkg -i "$TMP/ilias-chat_harness.deb" >"$TMP/dpkg.log" 2>&1 || die "dpkg -i: $(cat "$TMP/dpkg.log")"
# The admin's configuration: an edited conffile and a client file of their own.
sed -i 's/"info"/"debug"/' /etc/ilias-chat/server.cfg
printf '{"name": "campus", "auth": {"key": "k", "secret": "s"}}\n' >/etc/ilias-chat/clients/campus.cfg
chown root:onscreenchat /etc/ilias-chat/clients/campus.cfg
chmod 0640 /etc/ilias-chat/clients/campus.cfg
check_eq "ilias-chat is installed (dpkg)" "ii 0.0.1~harness1" \
    "$(dpkg-query -W -f='${db:Status-Abbrev}${Version}' ilias-chat | tr -s ' ')"

# The state that must survive: printed so that a difference shows what changed.
snapshot() {
    echo "## dpkg -s ilias-chat"
    dpkg -s ilias-chat 2>&1 || true
    echo "## every package"
    dpkg-query -W -f='${db:Status-Abbrev} ${Package}:${Architecture} ${Version}\n' | sort
    echo "## /etc/ilias-chat"
    find /etc/ilias-chat -printf '%p %y %m %u %g %s\n' 2>&1 | sort || true
    find /etc/ilias-chat -type f -exec sha256sum {} + 2>&1 | sort || true
    echo "## the user"
    getent passwd onscreenchat || echo "no user onscreenchat"
    getent group onscreenchat || echo "no group onscreenchat"
    sha256sum /etc/passwd /etc/group /etc/shadow /etc/gshadow 2>&1 || true
}
# Every process but this script's own (PID 1 of the throwaway root, the script, ps).
others() {
    ps -e -o pid=,ppid=,user=,comm= | awk -v me=$$ '$1 != 1 && $1 != me && $2 != me' || true
}
# The files written into this root since it was made (in a throwaway root only).
changes() {
    if [ -d "$LAYERS" ]; then
        (cd "$LAYERS" && find . -path '*/work' -prune -o -printf '%p %y %m %u %g %s %T@\n') | sort
    fi
}
snapshot >"$TMP/before"
changes >"$TMP/changes-before"
others >"$TMP/procs-before"

# ---------------------------------------------------------------------------
echo "# a. tests/package.sh where it cannot make a throwaway root, outside CI"
rc=0
env -u CI ILIAS_CHAT_NO_THROWAWAY_ROOT=1 bash "$REPO/tests/package.sh" </dev/null >"$TMP/a.log" 2>&1 || rc=$?
check_eq "it skips: exit 77, says why and that it is not run" "77 yes" \
    "$rc $(grep -q 'SKIPPED, not run: no throwaway root.*ilias-chat is installed.*onscreenchat exists' "$TMP/a.log" && echo yes || cat "$TMP/a.log")"
snapshot >"$TMP/after-a"
check_same "a: the package, /etc/ilias-chat and the user are untouched" "$TMP/before" "$TMP/after-a"

if [ "$MODE" = ci-machine ]; then
    # On the CI machine, tests/package.sh installs and purges for real: give it back the
    # machine it expects (what this script added), then run it.
    dpkg --purge ilias-chat >/dev/null
    userdel onscreenchat
    echo "# tests/package.sh on this CI machine"
    rc=0
    bash "$REPO/tests/package.sh" </dev/null || rc=$?
    check_eq "tests/package.sh passes" 0 "$rc"
    [ "$FAILED" -eq 0 ]
    exit
fi

# ---------------------------------------------------------------------------
echo "# b. tests/package.sh (CI unset): its own throwaway root inside this one"
set +e
env -u CI bash "$REPO/tests/package.sh" </dev/null 2>&1 | tee "$TMP/b.log"
rc="${PIPESTATUS[0]}"
set -e
check_eq "tests/package.sh passes" "0 yes" \
    "$rc $(tail -n 1 "$TMP/b.log" | grep -q '^package: [0-9]* passed, 0 failed$' && echo yes || echo no)"
check_eq "it ran in a throwaway root of its own" "yes" \
    "$(grep -q '^# in a throwaway root' "$TMP/b.log" && echo yes || echo no)"
check_eq "it saw the installed package and the user (and purged/deleted them there)" "yes yes" \
    "$(grep -q 'purging the ilias-chat installed here before' "$TMP/b.log" && echo yes || echo no) $(grep -q 'deleting the onscreenchat user found here' "$TMP/b.log" && echo yes || echo no)"
snapshot >"$TMP/after-b"
check_same "b: dpkg -s ilias-chat, every package, /etc/ilias-chat, the user: as before" \
    "$TMP/before" "$TMP/after-b"
others >"$TMP/procs-after"
check_same "b: no process it started is left" "$TMP/procs-before" "$TMP/procs-after"
changes >"$TMP/changes-after"
check_same "b: no file of this root changed (the overlay's upper layer is as before)" \
    "$TMP/changes-before" "$TMP/changes-after"
check_eq "the stand-in is still what ILIAS would run" "ilias-chat 0.0.1~harness1" \
    "$(/usr/sbin/ilias-chat 2>&1)"

[ "$FAILED" -eq 0 ]
