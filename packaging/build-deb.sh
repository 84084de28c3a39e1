#!/usr/bin/env bash
# Builds the Debian package of this checkout:
#
#   bash packaging/build-deb.sh
#
# Output, in target/debian/ of the checkout:
#   ilias-chat_<version>_<arch>.deb          the package (apt install ./ilias-chat_*.deb)
#   ilias-chat-dbgsym_<version>_<arch>.deb   its debug symbols
#   ilias-chat_<version>_<arch>.changes, .buildinfo
#
# Needs Rust >= 1.94 from rustup (cargo in PATH or in $HOME/.cargo/bin) and Debian 12 or
# later. Missing build dependencies (debhelper, dpkg-dev, build-essential) are installed
# with apt-get when run as root, else named. Crates are fetched from crates.io unless
# `cargo fetch --locked` ran before. CARGO_TARGET_DIR is honoured.
# Any extra arguments go to dpkg-buildpackage (e.g. -d to skip the build-dependency check).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
TOP="$(pwd)"
export DEBIAN_FRONTEND=noninteractive
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf 'build-deb: %s\n' "$*"; }
die() {
    printf 'build-deb: %s\n' "$*" >&2
    exit 1
}

[ -f debian/control ] || die "run from an ilias-chat checkout (debian/control missing)"
command -v cargo >/dev/null 2>&1 ||
    die "cargo not found: install Rust >= 1.94 with rustup (https://rustup.rs)"

deps_ok() {
    command -v dpkg-buildpackage >/dev/null 2>&1 && command -v dpkg-checkbuilddeps >/dev/null 2>&1 &&
        command -v cc >/dev/null 2>&1 && dpkg-checkbuilddeps >/dev/null 2>&1
}
if ! deps_ok; then
    packages=(debhelper dpkg-dev build-essential)
    [ "$(id -u)" -eq 0 ] || die "missing build dependencies; as root: apt-get install ${packages[*]}"
    say "installing ${packages[*]}"
    apt-get update -qq </dev/null
    apt-get install -y -qq --no-install-recommends "${packages[@]}" </dev/null
    deps_ok || { dpkg-checkbuilddeps || true; die "build dependencies still missing"; }
fi

version="$(dpkg-parsechangelog -S Version)"
arch="$(dpkg-architecture -q DEB_HOST_ARCH)"
crate_version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"
case "$version" in
"$crate_version" | "$crate_version"[+~]*) ;;
*) die "debian/changelog says $version, Cargo.toml says $crate_version: bump both" ;;
esac

say "building ilias-chat $version ($arch) with $(cargo --version)"
dpkg-buildpackage -us -uc -b "$@"

# dpkg-buildpackage writes next to the source tree; collect this build's files.
out="$TOP/target/debian"
mkdir -p "$out"
parent="$(dirname "$TOP")"
for f in "$parent"/ilias-chat_"$version"_"$arch".{deb,changes,buildinfo} \
    "$parent"/ilias-chat-dbgsym_"$version"_"$arch".deb; do
    [ -e "$f" ] && mv -f "$f" "$out/"
done
# The .changes names its files relative to itself: all now live in $out.
[ -f "$out/ilias-chat_${version}_${arch}.deb" ] || die "no package in $out"
say "done:"
ls -l "$out"/*_"$version"_"$arch".*
