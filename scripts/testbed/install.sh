#!/usr/bin/env bash
# Install the real parts the kubestrap test bed runs against:
#   etcd 3.4 (Debian's etcd-server); kube-apiserver, kube-controller-manager, kube-scheduler,
#   kubeadm, and the node's kubelet and kube-proxy, v1.20.2, built from Debian bookworm's
#   `kubernetes` *source* package; and the node's runtime: containerd, runc and the CNI
#   plugins from Debian (see /work/shared/reference/real-node.md).
#   A second build of the very same source, stamped v1.20.3 (only the version linked in
#   differs: it is NOT upstream v1.20.3), gives the upgrade tests a real version change; it is
#   a relink of the first build in the same source tree (Go's build cache): about 25 s.
#
# Why a source build: there is no container runtime or image registry here, and the only
# Kubernetes server binaries reachable through the allowed registries are the sources Debian
# ships. See /work/shared/reference/real-control-plane.md for the verified recipe.
#
# Idempotent: packages are installed only when missing, and the binaries are cached outside
# the checkout in ${KUBESTRAP_CACHE:-$HOME/.cache/kubestrap}/kube-v1.20.2/ and kube-v1.20.3/,
# each with its own stamp and lock. A run that finds both caches complete (stamp present,
# checksums match) does no build; one that finds only one builds only the other. A failed
# build leaves no stamp: everything is built in a temp dir and each finished cache directory
# is renamed into place in one step.
#
# Environment:
#   KUBESTRAP_CACHE       cache root (default $HOME/.cache/kubestrap)
#   KUBESTRAP_KEEP_BUILD  if 1, keep the temporary source/build tree (printed) for debugging
#   KUBESTRAP_FORCE_BUILD if 1, rebuild both even if the caches are complete
#
# Prints, as its last line, the directory holding the v1.20.2 binaries (the v1.20.3 ones are
# in the sibling kube-v1.20.3/). Source scripts/testbed/env.sh to get v1.20.2 on PATH and
# KUBESTRAP_KUBE_BIN_NEXT set to the v1.20.3 directory.
set -euo pipefail

KUBE_VERSION=v1.20.2
# The same source under another version stamp, for `kubestrap upgrade` tests.
KUBE_VERSION_NEXT=v1.20.3
DEB_SRC_PACKAGE=kubernetes
# Bump when the build recipe (patch, make invocation) changes, so old caches are rebuilt.
RECIPE_REVISION=3

CACHE_ROOT=${KUBESTRAP_CACHE:-$HOME/.cache/kubestrap}
BIN_DIR=$CACHE_ROOT/kube-$KUBE_VERSION
NEXT_BIN_DIR=$CACHE_ROOT/kube-$KUBE_VERSION_NEXT
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubeadm kubelet kube-proxy)
DEBSRC_FILE=/etc/apt/sources.list.d/kubestrap-deb-src.sources

log() { printf '[testbed/install] %s\n' "$*" >&2; }
die() { printf '[testbed/install] error: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (apt-get install, /etc/apt changes)"

# ---------------------------------------------------------------- apt helpers
APT_UPDATED=0
apt_update_once() {
    if [[ $APT_UPDATED -eq 0 ]]; then
        log "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
        APT_UPDATED=1
    fi
}

pkg_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# ensure_packages PKG...: install those of PKG that are not installed yet.
ensure_packages() {
    local missing=() p
    for p in "$@"; do
        pkg_installed "$p" || missing+=("$p")
    done
    if [[ ${#missing[@]} -gt 0 ]]; then
        apt_update_once
        log "apt-get install ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >&2
    fi
}

# Add a deb-src entry for `bookworm main` of the Debian archive already configured in
# /etc/apt/sources.list.d/debian.sources (same URIs and Signed-By), so `apt-get source`
# reaches the same mirror/snapshot the binary packages come from.
ensure_deb_src() {
    if [[ -f $DEBSRC_FILE ]] && apt-cache showsrc "$DEB_SRC_PACKAGE" >/dev/null 2>&1 \
        && [[ -n $(apt-cache showsrc "$DEB_SRC_PACKAGE" 2>/dev/null) ]]; then
        return 0
    fi
    local src=/etc/apt/sources.list.d/debian.sources uris signed
    [[ -f $src ]] || die "$src not found: cannot derive the Debian archive for deb-src"
    # First deb822 stanza whose Suites include plain `bookworm` (not bookworm-security).
    read -r uris signed < <(awk '
        BEGIN { RS=""; FS="\n" }
        {
            u=""; s=""; suites=""
            for (i = 1; i <= NF; i++) {
                if ($i ~ /^URIs:/)      { u = $i; sub(/^URIs:[ \t]*/, "", u) }
                if ($i ~ /^Signed-By:/) { s = $i; sub(/^Signed-By:[ \t]*/, "", s) }
                if ($i ~ /^Suites:/)    { suites = " " $i " " }
            }
            if (u != "" && suites ~ / bookworm /) { print u, s; exit }
        }' "$src") || true
    [[ -n ${uris:-} ]] || die "no stanza with Suites: bookworm in $src"
    log "adding deb-src for bookworm main from $uris -> $DEBSRC_FILE"
    {
        echo "# Added by kubestrap scripts/testbed/install.sh: source of Debian's kubernetes package."
        echo "Types: deb-src"
        echo "URIs: $uris"
        echo "Suites: bookworm"
        echo "Components: main"
        [[ -n ${signed:-} ]] && echo "Signed-By: $signed"
    } >"$DEBSRC_FILE.tmp"
    mv "$DEBSRC_FILE.tmp" "$DEBSRC_FILE"
    APT_UPDATED=0
    apt_update_once
    [[ -n $(apt-cache showsrc "$DEB_SRC_PACKAGE" 2>/dev/null) ]] \
        || die "apt-cache showsrc $DEB_SRC_PACKAGE finds nothing after adding $DEBSRC_FILE"
}

# ---------------------------------------------------------------- cache check
# cache_dir VERSION: where that version's binaries are cached.
cache_dir() { echo "$CACHE_ROOT/kube-$1"; }

# checksums_match DIR: the sha256s of DIR/.stamp match its files.
checksums_match() {
    (cd "$1" && grep '^sha256 ' .stamp | cut -d' ' -f2- | sha256sum --check --status -)
}

# cache_complete VERSION
cache_complete() {
    local dir stamp b
    dir=$(cache_dir "$1")
    stamp=$dir/.stamp
    [[ -f $stamp ]] || return 1
    grep -qx "version=$1" "$stamp" || return 1
    grep -qx "recipe=$RECIPE_REVISION" "$stamp" || return 1
    for b in "${BINARIES[@]}"; do
        [[ -x $dir/$b ]] || return 1
    done
    # Checksums guard against a cache truncated or edited after the stamp was written.
    checksums_match "$dir"
}

# ---------------------------------------------------------------- reflect2 patch
# Go >= 1.18 changed runtime.hiter; reflect2 v1.0.1 declares a 2-field hiter and lets
# reflect.mapiterinit allocate it, so map iteration (json encoding of maps) faults in
# mapiternext. reflect2 v1.0.2's fix: declare the runtime's full hiter layout and pass a
# caller-allocated iterator to mapiterinit.
patch_reflect2() {
    local dir=$1/vendor/github.com/modern-go/reflect2
    local link=$dir/unsafe_link.go map=$dir/unsafe_map.go
    [[ -f $link && -f $map ]] || die "vendored reflect2 not found under $dir"
    if grep -q 'checkBucket' "$link"; then
        log "reflect2 already patched"
        return 0
    fi
    grep -q 'func mapiterinit(rtype unsafe.Pointer, m unsafe.Pointer) \*hiter' "$link" \
        || die "unexpected $link: mapiterinit signature not found (recipe needs updating)"
    grep -q 'hiter:      mapiterinit(type2.rtype, \*(\*unsafe.Pointer)(obj)),' "$map" \
        || die "unexpected $map: UnsafeIterate body not found (recipe needs updating)"
    log "patching vendored reflect2 for Go >= 1.18"

    # 1. mapiterinit fills a caller-provided iterator instead of returning one.
    sed -i 's/^func mapiterinit(rtype unsafe.Pointer, m unsafe.Pointer) \*hiter$/func mapiterinit(rtype unsafe.Pointer, m unsafe.Pointer, it *hiter)/' "$link"
    # 2. hiter gets the runtime's full field list (Go 1.18+ runtime/map.go), so that the
    #    runtime writing past the first two fields stays inside our allocation.
    perl -0pi -e 's/type hiter struct \{.*?\n\}/type hiter struct {
\tkey         unsafe.Pointer
\tvalue       unsafe.Pointer
\tt           unsafe.Pointer
\th           unsafe.Pointer
\tbuckets     unsafe.Pointer
\tbptr        unsafe.Pointer
\toverflow    *[]unsafe.Pointer
\toldoverflow *[]unsafe.Pointer
\tstartBucket uintptr
\toffset      uint8
\twrapped     bool
\tB           uint8
\ti           uint8
\tbucket      uintptr
\tcheckBucket uintptr
}/s' "$link"
    # 3. UnsafeIterate allocates the iterator and passes its address.
    perl -0pi -e 's/\treturn &UnsafeMapIterator\{\n\t\thiter:      mapiterinit\(type2\.rtype, \*\(\*unsafe\.Pointer\)\(obj\)\),/\tvar it hiter\n\tmapiterinit(type2.rtype, *(*unsafe.Pointer)(obj), &it)\n\treturn &UnsafeMapIterator{\n\t\thiter:      &it,/' "$map"

    grep -q 'checkBucket uintptr' "$link" || die "reflect2 patch failed on $link"
    grep -q 'func mapiterinit(rtype unsafe.Pointer, m unsafe.Pointer, it \*hiter)' "$link" \
        || die "reflect2 patch failed on $link (mapiterinit)"
    grep -q 'mapiterinit(type2.rtype, \*(\*unsafe.Pointer)(obj), &it)' "$map" \
        || die "reflect2 patch failed on $map"
    gofmt -e "$link" "$map" >/dev/null || die "reflect2 patch left invalid Go in $dir"
}

# ---------------------------------------------------------------- build
# prepare_source: the packages a build needs, and the patched source tree in $work/src.
prepare_source() {
    ensure_packages golang-go rsync make gcc libc6-dev dpkg-dev ca-certificates
    ensure_deb_src
    # Debian's Go first (1.19 in bookworm: the newest this 1.20 tree is known to build with
    # once reflect2 is patched), even if another Go is on PATH.
    [[ -x /usr/lib/go/bin/go ]] && export PATH=/usr/lib/go/bin:$PATH
    command -v go >/dev/null || die "go not on PATH after installing golang-go"
    log "using $(go version)"

    mkdir -p "$CACHE_ROOT"
    # Global (not local): the EXIT trap runs after this function has returned.
    work=$(mktemp -d "$CACHE_ROOT/.build-kube.XXXXXX")
    # Remove the temp tree whatever happens, unless asked to keep it.
    if [[ ${KUBESTRAP_KEEP_BUILD:-0} == 1 ]]; then
        log "keeping build tree $work"
    else
        trap 'rm -rf "$work"' EXIT
    fi

    log "downloading source package $DEB_SRC_PACKAGE into $work"
    (cd "$work" && apt-get source --download-only -qq "$DEB_SRC_PACKAGE" >&2)
    orig=$(find "$work" -maxdepth 1 -name "${DEB_SRC_PACKAGE}_*.orig.tar.*" | head -n1)
    [[ -n $orig ]] || die "no ${DEB_SRC_PACKAGE}_*.orig.tar.* downloaded into $work"
    log "unpacking $(basename "$orig")"
    mkdir "$work/src"
    tar -xf "$orig" -C "$work/src" --strip-components=1
    [[ -f $work/src/Makefile && -d $work/src/vendor ]] \
        || die "$orig does not look like the kubernetes tree with vendor/"

    patch_reflect2 "$work/src"
}

# build_version VERSION KIND: make the binaries in $work/src stamped VERSION (KIND: "full
# build" for the first make of the tree, "relink" for the next: same code, only the version
# linked in differs, so Go's build cache has every package) and rename the finished cache
# directory into place.
build_version() {
    local version=$1 kind=$2 dir what="" b
    dir=$(cache_dir "$version")
    for b in "${BINARIES[@]}"; do what+="cmd/$b "; done
    if [[ $kind == relink ]]; then
        log "make WHAT=\"${what% }\" KUBE_GIT_VERSION=$version ($kind in the same tree)"
    else
        log "make WHAT=\"${what% }\" KUBE_GIT_VERSION=$version ($kind: about 9 minutes on 2 cores)"
    fi
    # The version linked in: the tree is a `git archive` export, whose hack/lib/version.sh
    # sets KUBE_GIT_VERSION from the archive's tag (v1.20.2) whatever make is given; only a
    # KUBE_GIT_VERSION_FILE overrides it. So: the tree's own version variables (commit, tree
    # state "archive"), with VERSION instead of its tag.
    local version_file=$work/version-$version
    (cd "$work/src" && KUBE_ROOT=$PWD bash -c '. hack/lib/version.sh
        kube::version::get_version_vars
        KUBE_GIT_VERSION=$1
        kube::version::save_version_vars "$2"' sh "$version" "$version_file") ||
        die "cannot write the version variables of $version"
    grep -qx "KUBE_GIT_VERSION='$version'" "$version_file" ||
        die "unexpected $version_file: $(paste -sd' ' "$version_file")"
    local start=$SECONDS
    # GOPROXY=off: everything is vendored; fail fast rather than reach for the network.
    (cd "$work/src" && GOPROXY=off GOFLAGS=-mod=vendor KUBE_GIT_VERSION_FILE=$version_file \
        make WHAT="${what% }" KUBE_GIT_VERSION="$version" KUBE_GIT_TREE_STATE=clean >&2)
    local seconds=$((SECONDS - start))
    log "make $version ($kind) finished in $seconds s"

    # Stage the cache dir completely (binaries, then stamp last) and rename it into place.
    local stage=$work/cache-$version
    mkdir "$stage"
    for b in "${BINARIES[@]}"; do
        local built
        built=$(find "$work/src/_output" -type f -name "$b" -path '*/bin/*' | head -n1)
        [[ -n $built && -x $built ]] || die "make did not produce $b under _output"
        cp "$built" "$stage/$b"
        chmod 0755 "$stage/$b"
    done
    local v
    v=$("$stage/kube-apiserver" --version 2>&1 | awk '{print $2}')
    [[ $v == "$version" ]] || die "built kube-apiserver reports '$v', expected $version"
    {
        echo "version=$version"
        echo "recipe=$RECIPE_REVISION"
        echo "source=$(basename "$orig")"
        [[ $version == "$KUBE_VERSION" ]] ||
            echo "note=the source of $KUBE_VERSION stamped $version (not upstream $version)"
        echo "go=$(go version | awk '{print $3}')"
        echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "build=$kind"
        echo "build_seconds=$seconds"
        (cd "$stage" && sha256sum "${BINARIES[@]}") | sed 's/^/sha256 /'
    } >"$stage/.stamp.tmp"
    mv "$stage/.stamp.tmp" "$stage/.stamp"

    if [[ -e $dir ]]; then
        # An incomplete or outdated cache: move it aside before the swap, then drop it.
        mv "$dir" "$work/old-cache-$version"
    fi
    mv "$stage" "$dir"
    log "cached $version binaries in $dir"
}

# ---------------------------------------------------------------- main
ensure_packages etcd-server curl jq
# Building kubestrap (up builds it): protoc generates the CRI client's gRPC code.
ensure_packages protobuf-compiler
# A real node: containerd (1.6) with runc and the CNI plugins (only `loopback` is used).
ensure_packages containerd runc containernetworking-plugins iproute2
# kubectl: any recent client talks to a 1.20 apiserver; Debian's kubernetes-client (1.20)
# only when none is on PATH already.
command -v kubectl >/dev/null || ensure_packages kubernetes-client
[[ -x /usr/bin/etcd ]] || die "/usr/bin/etcd missing after installing etcd-server"

mkdir -p "$CACHE_ROOT"
# One build at a time per cache (two runs would race for the CPU and the rename). Both locks,
# always in this order, since one build can fill both caches.
exec 9>"$CACHE_ROOT/.kube-$KUBE_VERSION.lock" 8>"$CACHE_ROOT/.kube-$KUBE_VERSION_NEXT.lock"
for fd in 9 8; do
    if ! flock -n "$fd"; then
        log "another install is building into $CACHE_ROOT; waiting for it"
        flock "$fd"
    fi
done

missing=()
for version in "$KUBE_VERSION" "$KUBE_VERSION_NEXT"; do
    if [[ ${KUBESTRAP_FORCE_BUILD:-0} != 1 ]] && cache_complete "$version"; then
        log "cached $version binaries found in $(cache_dir "$version")"
    else
        missing+=("$version")
        # A corrupt cache must not keep advertising itself (env.sh trusts the stamp). An
        # intact cache of an older recipe stays usable until the new one is renamed into place.
        dir=$(cache_dir "$version")
        if [[ -f $dir/.stamp ]] && ! checksums_match "$dir"; then
            rm -f "$dir/.stamp"
        fi
    fi
done
if ((${#missing[@]})); then
    prepare_source
    # The first make of the tree compiles everything; the next only relinks.
    kind="full build"
    for version in "${missing[@]}"; do
        build_version "$version" "$kind"
        cache_complete "$version" || die "cache in $(cache_dir "$version") fails its own check after building"
        kind=relink
    done
fi

log "etcd: $(/usr/bin/etcd --version 2>/dev/null | head -n1)"
log "kube-apiserver: $("$BIN_DIR/kube-apiserver" --version 2>&1)"
log "kube-scheduler: $("$BIN_DIR/kube-scheduler" --version 2>&1)"
log "kubeadm: $("$BIN_DIR/kubeadm" version -o short 2>&1)"
log "kubelet: $("$BIN_DIR/kubelet" --version 2>&1)"
log "next: $("$NEXT_BIN_DIR/kube-apiserver" --version 2>&1), in $NEXT_BIN_DIR (the $KUBE_VERSION source stamped $KUBE_VERSION_NEXT)"
log "containerd: $(containerd --version 2>&1)"
log "binaries are in $BIN_DIR (source scripts/testbed/env.sh to put them on PATH)"
echo "$BIN_DIR"
