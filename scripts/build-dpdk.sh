#!/usr/bin/env bash
# Builds one of the DPDK LTS source releases kept in ../shared/dpdk (unmodified, checked against
# SHA256SUMS) into a prefix, with only what the tests and the bench use: the vdev bus, the ring
# mempool, the null, pcap, ring, af_packet, tap and memif drivers, and testpmd, dumpcap, pdump and
# proc-info. A prefix that already holds that version is reused as it is.
#
#   scripts/build-dpdk.sh 25.11            # -> /opt/dpdk-25.11
#   scripts/build-dpdk.sh 23.11 /some/prefix
#
# Prints the directory to put in PKG_CONFIG_PATH (the prefix's libdpdk.pc) on its last line.
# Environment: DPDK_SOURCES (default: ../shared/dpdk beside the project), DPDK_JOBS (default 2).
# A user with a DPDK of their own needs none of this: point PKG_CONFIG_PATH at its libdpdk.pc.
set -euo pipefail

series=${1:?usage: build-dpdk.sh SERIES [PREFIX] (SERIES: 23.11, 24.11 or 25.11)}
prefix=${2:-/opt/dpdk-$series}
here=$(cd "$(dirname "$0")/.." && pwd)
sources=${DPDK_SOURCES:-$here/../shared/dpdk}
jobs=${DPDK_JOBS:-2}

tarball=$(ls "$sources"/dpdk-"$series".*.tar.xz 2>/dev/null | sort -V | tail -1 || true)
[ -n "$tarball" ] || { echo "build-dpdk: no dpdk-$series.*.tar.xz in $sources" >&2; exit 1; }
version=$(basename "$tarball" .tar.xz); version=${version#dpdk-}
pcdir=$prefix/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)/pkgconfig

if [ "$(PKG_CONFIG_PATH=$pcdir pkg-config --modversion libdpdk 2>/dev/null || true)" = "$version" ]; then
  echo "build-dpdk: DPDK $version already in $prefix" >&2
  echo "$pcdir"
  exit 0
fi

# What the build needs (Debian 12), installed only if missing.
missing=
for t in meson ninja pkg-config; do command -v $t >/dev/null || missing=1; done
/usr/bin/python3 -c 'import elftools' 2>/dev/null || missing=1
[ -e /usr/include/numa.h ] && [ -e /usr/include/pcap/pcap.h ] || missing=1
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "build-dpdk: as root run: apt-get install meson ninja-build python3-pyelftools libnuma-dev libpcap-dev pkg-config" >&2
    exit 1
  fi
  apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    meson ninja-build python3-pyelftools libnuma-dev libpcap-dev pkg-config >&2
fi

(cd "$sources" && grep " $(basename "$tarball")\$" SHA256SUMS | sha256sum -c --quiet -) \
  || { echo "build-dpdk: $tarball does not match SHA256SUMS" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -xf "$tarball" -C "$work"
src=$(ls -d "$work"/dpdk*)
# meson runs the first python3 on PATH, which must have elftools: Debian's.
export PATH=/usr/bin:$PATH
start=$(date +%s)
{
  meson setup "$work/build" "$src" --prefix="$prefix" -Dplatform=generic -Dtests=false \
    -Denable_docs=false -Ddefault_library=shared \
    -Denable_drivers=bus/vdev,mempool/ring,net/null,net/pcap,net/ring,net/af_packet,net/tap,net/memif \
    -Denable_apps=test-pmd,dumpcap,pdump,proc-info
  ninja -C "$work/build" -j"$jobs"
  ninja -C "$work/build" install
} > "$work/build.log" 2>&1 || { tail -50 "$work/build.log" >&2; exit 1; }
ldconfig 2>/dev/null || true
echo "build-dpdk: DPDK $version built into $prefix in $(( $(date +%s) - start )) s" >&2
echo "$pcdir"
