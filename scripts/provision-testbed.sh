#!/usr/bin/env bash
# Provision the skiff test bed on a Debian bookworm machine:
#   * Debian packages: etcd-server, openssl (bed certificates), kubectl client, skopeo and
#     docker-registry (the CNCF distribution registry; image mirroring tests), bsdutils (`script`,
#     for the terminal transcript tests), and for the build
#     golang-go, rsync, dpkg-dev (apt-get source)
#   * kube-apiserver + kube-controller-manager v1.20.2 built from Debian's `kubernetes`
#     source package, with the vendored modern-go/reflect2 swapped for Debian's 1.0.2
#     (1.0.1 faults in map iteration under Go >= 1.18).
# Binaries are cached under $SKIFF_CACHE (default ~/.cache/skiff) keyed by version and
# reused by later runs and fresh clones on the same machine.
set -euo pipefail

K8S_VERSION="1.20.2"
CACHE="${SKIFF_CACHE:-$HOME/.cache/skiff}"
BIN="$CACHE/kubernetes-$K8S_VERSION/bin"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

log() { printf '[provision] %s\n' "$*" >&2; }

need_pkgs=()
command -v etcd >/dev/null 2>&1 || need_pkgs+=(etcd-server)
command -v kubectl >/dev/null 2>&1 || need_pkgs+=(kubernetes-client)
command -v openssl >/dev/null 2>&1 || need_pkgs+=(openssl)
command -v gzip >/dev/null 2>&1 || need_pkgs+=(gzip)
command -v skopeo >/dev/null 2>&1 || need_pkgs+=(skopeo)
command -v docker-registry >/dev/null 2>&1 || need_pkgs+=(docker-registry)
# util-linux `script`: the terminal transcript tests run skiff under a pseudo-terminal.
command -v script >/dev/null 2>&1 || need_pkgs+=(bsdutils)
if [ ! -x "$BIN/kube-apiserver" ] || [ ! -x "$BIN/kube-controller-manager" ]; then
  command -v go >/dev/null 2>&1 || need_pkgs+=(golang-go)
  command -v rsync >/dev/null 2>&1 || need_pkgs+=(rsync)
  command -v dpkg-source >/dev/null 2>&1 || need_pkgs+=(dpkg-dev)
  [ -d /usr/share/gocode/src/github.com/modern-go/reflect2 ] || need_pkgs+=(golang-github-modern-go-reflect2-dev)
fi

if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing Debian packages: ${need_pkgs[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  # Debian's docker-registry package enables a service on :5000 (all interfaces) where systemd
  # runs; the tests start their own registries on loopback, so switch it off.
  if [[ " ${need_pkgs[*]} " == *" docker-registry "* ]] && command -v systemctl >/dev/null 2>&1 \
     && systemctl is-enabled docker-registry >/dev/null 2>&1; then
    $SUDO systemctl disable --now docker-registry >/dev/null 2>&1 || true
  fi
fi

if [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/kube-controller-manager" ]; then
  log "cached: $BIN"
  echo "$BIN"
  exit 0
fi

# deb-src for the Debian archive (same suites as the binary sources).
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list 2>/dev/null; then
  log "adding deb-src entries"
  $SUDO tee /etc/apt/sources.list.d/skiff-debsrc.sources >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  $SUDO apt-get update -qq
fi

WORK="$CACHE/build-$K8S_VERSION"
rm -rf "$WORK"
mkdir -p "$WORK"
cd "$WORK"
log "downloading Debian source package 'kubernetes'"
apt-get source --download-only kubernetes >/dev/null
orig=$(ls kubernetes_*.orig.tar.gz | head -n1)
log "unpacking $orig"
mkdir src
tar -xzf "$orig" -C src --strip-components=1
cd src

log "patching vendored modern-go/reflect2 -> 1.0.2 (Debian golang-github-modern-go-reflect2-dev)"
rm -rf vendor/github.com/modern-go/reflect2
mkdir -p vendor/github.com/modern-go/reflect2
cp -r /usr/share/gocode/src/github.com/modern-go/reflect2/. vendor/github.com/modern-go/reflect2/
sed -i 's#github.com/modern-go/reflect2 v1.0.1#github.com/modern-go/reflect2 v1.0.2#' go.mod vendor/modules.txt
find . -name go.mod -path './staging/*' -exec sed -i 's#github.com/modern-go/reflect2 v1.0.1#github.com/modern-go/reflect2 v1.0.2#' {} +
# go.sum entries for the replaced module are not consulted with -mod=vendor.

log "building kube-apiserver and kube-controller-manager (several minutes)"
export GOFLAGS="-mod=vendor"
export KUBE_GIT_VERSION="v$K8S_VERSION" KUBE_GIT_TREE_STATE=clean KUBE_GIT_MAJOR=1 KUBE_GIT_MINOR=20
make WHAT="cmd/kube-apiserver cmd/kube-controller-manager" >"$WORK/build.log" 2>&1 || {
  tail -n 60 "$WORK/build.log" >&2
  log "build failed; full log at $WORK/build.log"
  exit 1
}
mkdir -p "$BIN.tmp"
cp _output/bin/kube-apiserver _output/bin/kube-controller-manager "$BIN.tmp/"
rm -rf "$BIN"
mv "$BIN.tmp" "$BIN"
cd /
rm -rf "$WORK"
log "built: $BIN"
echo "$BIN"
