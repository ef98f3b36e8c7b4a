#!/usr/bin/env bash
# Build one static, stripped `skiff` binary (glibc, crt-static) for air-gapped installs and the
# in-cluster image (Containerfile).
#
#   scripts/build-static.sh [--out DIR] [--kubectl-plugin copy|symlink]
#
#   --out DIR               where to put `skiff` (default: dist/)
#   --kubectl-plugin MODE   also install `kubectl-skiff` next to it (a copy, or a symlink to
#                           `skiff`): on PATH, `kubectl skiff …` runs it and its usage reads
#                           `kubectl skiff`
#
# Cargo's target dir follows CARGO_TARGET_DIR (default target/). The target triple is passed
# explicitly so RUSTFLAGS (+crt-static) apply to the binary only, not to build scripts and
# proc macros (which must stay dynamic). The binary needs nothing from the root it runs in but
# what the run itself uses: a kubeconfig (or in-cluster config), CA certificates for TLS
# endpoints, and /etc/resolv.conf or /etc/hosts for host names; it says which one is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

out="dist"
plugin=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --kubectl-plugin) plugin="$2"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-static.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$plugin" in ""|copy|symlink) ;; *) echo "build-static.sh: --kubectl-plugin copy|symlink" >&2; exit 2 ;; esac

triple="x86_64-unknown-linux-gnu"
[ "$(uname -m)" = x86_64 ] || { echo "build-static.sh: builds for $triple on x86_64 only" >&2; exit 2; }
target_dir="${CARGO_TARGET_DIR:-target}"

RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
  cargo build --release --locked -p skiff-cli --target "$triple"

bin="$target_dir/$triple/release/skiff"
mkdir -p "$out"
cp "$bin" "$out/skiff.tmp"
strip "$out/skiff.tmp"
mv "$out/skiff.tmp" "$out/skiff"

# Static means no program interpreter (no dynamic loader) in the ELF headers.
if command -v file >/dev/null 2>&1 && file "$out/skiff" | grep -q 'dynamically linked'; then
  echo "build-static.sh: $out/skiff is dynamically linked" >&2
  exit 1
fi

case "$plugin" in
  copy) cp "$out/skiff" "$out/kubectl-skiff" ;;
  symlink) ln -sf skiff "$out/kubectl-skiff" ;;
esac

size=$(stat -c %s "$out/skiff")
echo "static binary: $out/skiff ($size bytes, $(( (size + 524288) / 1048576 )) MiB)"
[ -z "$plugin" ] || echo "kubectl plugin: $out/kubectl-skiff ($plugin)"
