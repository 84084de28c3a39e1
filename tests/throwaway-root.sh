#!/usr/bin/env bash
# Runs a command as root in a throwaway root: a copy-on-write view of this machine that is
# thrown away when the command ends. tests/package.sh installs, upgrades and purges the
# .deb, creates the onscreenchat user and installs nginx and Apache in one, so that none
# of this happens to the machine the tests run on.
#
#   bash tests/throwaway-root.sh [--bind DIR | --bind HOST_DIR:DIR]... -- COMMAND [ARG]...
#   bash tests/throwaway-root.sh --probe     exit 0 if one can be made here, else 1 + why
#
# How: `unshare` gives the command its own mount, PID and IPC namespaces. In them every
# real file system mounted on this machine (/, and /home, /var, … if separate) is mounted
# again as an overlayfs whose lower layer is the machine's file system (read through,
# never written) and whose upper layer is a tmpfs; that becomes the root (pivot_root).
# So dpkg, apt-get, useradd, … see the machine's packages and users and write only into
# the tmpfs. /proc, /dev, /run and /tmp are fresh; /sys and the cgroup file systems are
# read-only. The command is PID 1's
# child in its PID namespace: when it ends, every process it left is killed and the
# namespaces, mounts and tmpfs disappear with it. A file system that overlayfs cannot take
# (or a mounted file) is bound read-only. Nothing but the --bind directories (made writable
# at the same path inside, or HOST_DIR at DIR) is shared with the machine; the network is.
#
# Why not a debootstrap chroot: it needs a download of a whole system and a cache of it,
# and it would not have the tools this machine has (cargo, the MariaDB client, …); the
# overlay costs nothing to make and is exactly this machine.
#
# Needs root, util-linux's unshare and a kernel with overlayfs (Debian's has it). Inside,
# /run/ilias-chat-throwaway-root exists, and /run/ilias-chat-throwaway-root.layers/N/upper
# shows (read-only) what was written into overlay N (1 is /). ILIAS_CHAT_NO_THROWAWAY_ROOT=1 makes --probe fail
# (for the test of the test harness, tests/package-harness.sh).
set -euo pipefail

SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
MARKER=/run/ilias-chat-throwaway-root

die() {
    printf 'throwaway-root: %s\n' "$*" >&2
    exit 1
}

# ---------------------------------------------------------------------------
# Stage 2: inside the new namespaces (PID 1 there), before the pivot_root.
if [ "${1:-}" = "--stage2" ]; then
    shift
    T="$1"
    shift
    binds=()
    while [ "$1" != "--" ]; do
        binds+=("$1")
        shift
    done
    shift
    cwd="$1"
    shift

    # Nothing we mount may propagate back to the machine.
    mount -n --make-rprivate /
    mount -n -t tmpfs -o mode=0700,size="${ILIAS_CHAT_THROWAWAY_ROOT_SIZE:-8g}" ilias-chat-throwaway "$T"
    ROOT="$T/root"
    mkdir -p "$ROOT" "$T/layers"

    n=0
    # overlay_or_readonly MOUNTPOINT: the machine's file system at MOUNTPOINT, writable
    # copy-on-write in the tmpfs; bound read-only when overlayfs refuses it.
    overlay_or_readonly() {
        local src="$1" dst="$ROOT$1"
        n=$((n + 1))
        if [ -d "$src" ]; then
            mkdir -p "$dst" "$T/layers/$n/upper" "$T/layers/$n/work" 2>/dev/null || true
            if mount -n -t overlay "ilias-chat-throwaway-$n" \
                -o "lowerdir=$src,upperdir=$T/layers/$n/upper,workdir=$T/layers/$n/work" "$dst" 2>/dev/null; then
                return 0
            fi
            [ "$src" != / ] || die "overlayfs cannot be mounted over / here"
        else
            [ -e "$dst" ] || { mkdir -p "$(dirname "$dst")" && touch "$dst"; } 2>/dev/null || return 0
        fi
        mount -n --bind "$src" "$dst" 2>/dev/null && mount -n -o remount,bind,ro "$dst" 2>/dev/null ||
            printf 'throwaway-root: warning: %s is not available inside\n' "$src" >&2
    }

    overlay_or_readonly /
    # The other mounts, parents before children (findmnt's order). Escaped names (spaces,
    # …) are left out: nothing the tests use lives there.
    while read -r target fstype; do
        case "$target" in
        / | /proc | /proc/* | /sys | /sys/* | /dev | /dev/* | /run | /run/* | /tmp | /tmp/* | "$T" | "$T"/*) continue ;;
        *\\*) continue ;;
        esac
        case "$fstype" in
        proc | sysfs | devtmpfs | devpts | cgroup | cgroup2 | mqueue | securityfs | debugfs | tracefs | \
            pstore | bpf | fusectl | configfs | hugetlbfs | binfmt_misc | autofs | efivarfs | rpc_pipefs | nsfs)
            continue
            ;;
        tmpfs | ramfs)
            mkdir -p "$ROOT$target" 2>/dev/null || continue
            mount -n -t tmpfs -o "mode=$(stat -c %a "$target")" tmpfs "$ROOT$target"
            ;;
        *) overlay_or_readonly "$target" ;;
        esac
    done < <(findmnt -rn -o TARGET,FSTYPE)

    mount -n -t proc proc "$ROOT/proc"
    if mount -n -t sysfs -o ro,nosuid,nodev,noexec sysfs "$ROOT/sys" 2>/dev/null; then
        # The cgroup file systems, read-only (systemd-journald wants its cgroup).
        while read -r target; do
            case "$target" in *\\*) continue ;; esac
            mount -n --bind "$target" "$ROOT$target" 2>/dev/null &&
                mount -n -o remount,bind,ro "$ROOT$target" 2>/dev/null || true
        done < <(findmnt -rn -o TARGET -R /sys/fs/cgroup 2>/dev/null)
    else
        printf 'throwaway-root: warning: no /sys inside\n' >&2
    fi
    mount -n -t tmpfs -o mode=0755,nosuid tmpfs "$ROOT/dev"
    for d in null zero full random urandom tty; do
        touch "$ROOT/dev/$d"
        mount -n --bind "/dev/$d" "$ROOT/dev/$d"
    done
    mkdir -p "$ROOT/dev/pts" "$ROOT/dev/shm"
    mount -n -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$ROOT/dev/pts"
    ln -s pts/ptmx "$ROOT/dev/ptmx"
    mount -n -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$ROOT/dev/shm"
    ln -s /proc/self/fd "$ROOT/dev/fd"
    ln -s /proc/self/fd/0 "$ROOT/dev/stdin"
    ln -s /proc/self/fd/1 "$ROOT/dev/stdout"
    ln -s /proc/self/fd/2 "$ROOT/dev/stderr"
    mount -n -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$ROOT/run"
    mkdir -p "$ROOT/run/lock"
    chmod 1777 "$ROOT/run/lock"
    mount -n -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$ROOT/tmp"
    # A resolv.conf that points into /run (systemd-resolved) would dangle in the new /run.
    if [ -L /etc/resolv.conf ]; then
        cp --remove-destination -L /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
    fi

    for b in "${binds[@]}"; do
        src="${b%%:*}" dst="${b#*:}"
        mkdir -p "$ROOT$dst"
        mount -n --bind "$src" "$ROOT$dst"
    done
    printf 'tmpfs %s, made by tests/throwaway-root.sh\n' "$T" >"$ROOT$MARKER"
    # What the command changes, read-only, for the test of the test harness: the overlays'
    # upper layers (layers/1/upper is /).
    mkdir -p "$ROOT$MARKER.layers"
    mount -n --bind "$T/layers" "$ROOT$MARKER.layers"
    mount -n -o remount,bind,ro "$ROOT$MARKER.layers"

    # pivot_root, not chroot: the overlay becomes the namespace's real root, so a command
    # that enters a mount namespace made from it (nsenter -m, as tests/journald.rs does)
    # lands in the overlay too, not in the machine's /. The machine's tree is then let go.
    cd "$ROOT"
    mkdir -p run/.throwaway-oldroot
    pivot_root . run/.throwaway-oldroot
    cd /
    umount -n -l /run/.throwaway-oldroot
    rmdir /run/.throwaway-oldroot
    # Not exec: this shell stays PID 1 and reaps orphans; when it exits the kernel kills
    # whatever the command left running in the namespace.
    rc=0
    ILIAS_CHAT_THROWAWAY_ROOT=1 /bin/sh -c 'cd "$1" 2>/dev/null || cd /; shift; exec "$@"' \
        sh "$cwd" "$@" || rc=$?
    exit "$rc"
fi

# ---------------------------------------------------------------------------
# Stage 1: on the machine.
probe() {
    [ "${ILIAS_CHAT_NO_THROWAWAY_ROOT:-0}" != 1 ] || {
        echo "ILIAS_CHAT_NO_THROWAWAY_ROOT=1"
        return 1
    }
    [ "$(id -u)" -eq 0 ] || {
        echo "not root"
        return 1
    }
    local t
    for t in unshare pivot_root findmnt mount; do
        command -v "$t" >/dev/null 2>&1 || {
            echo "$t is missing (util-linux, coreutils, mount)"
            return 1
        }
    done
    grep -qw overlay /proc/filesystems 2>/dev/null || modprobe overlay 2>/dev/null || {
        echo "the kernel has no overlayfs"
        return 1
    }
    local out
    # A real one, with a write that must not reach the machine.
    if ! out="$(run_inside -- /bin/sh -c "touch /etc/ilias-chat-throwaway-probe && test -e $MARKER" 2>&1)"; then
        echo "cannot make one here: ${out:-unshare/mount failed}"
        return 1
    fi
    if [ -e /etc/ilias-chat-throwaway-probe ]; then
        rm -f /etc/ilias-chat-throwaway-probe
        echo "a write inside reached the machine"
        return 1
    fi
}

run_inside() {
    local binds=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do
        case "$1" in
        --bind)
            [ $# -ge 2 ] || die "--bind needs a directory"
            local src="${2%%:*}" dst="${2#*:}"
            [ -d "$src" ] || die "--bind $2: $src is not a directory"
            src="$(cd "$src" && pwd -P)"
            case "$dst" in /*) ;; *) die "--bind $2: $dst is not an absolute path" ;; esac
            binds+=("$src:$dst")
            shift 2
            ;;
        *) die "unknown option $1" ;;
        esac
    done
    [ "${1:-}" = "--" ] && [ $# -ge 2 ] || die "usage: $0 [--bind DIR]... -- COMMAND [ARG]..."
    shift
    local rc=0
    T="$(mktemp -d "${TMPDIR:-/tmp}/ilias-chat-throwaway.XXXXXX")"
    # The empty mount point is all this leaves on the machine; also when interrupted.
    trap 'rmdir "$T" 2>/dev/null || true' EXIT
    trap 'exit 143' TERM
    trap 'exit 130' INT
    # --kill-child: if unshare is killed (timeout), PID 1 inside dies and takes the rest.
    unshare --mount --propagation private --pid --ipc --fork --kill-child -- \
        bash "$SELF" --stage2 "$T" "${binds[@]}" -- "$(pwd)" "$@" || rc=$?
    rmdir "$T" 2>/dev/null || true
    return "$rc"
}

if [ "${1:-}" = "--probe" ]; then
    probe
    exit $?
fi
run_inside "$@"
