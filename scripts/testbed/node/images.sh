#!/usr/bin/env bash
# Builds the container images a real test-bed node runs, named exactly as kubestrap's
# manifests for v1.20 reference them with `imageRepository: k8s.gcr.io` (no registry is
# reachable here): pause:3.2, etcd:3.4.13-0, and kube-apiserver, kube-controller-manager,
# kube-scheduler and kube-proxy of both test-bed versions, :v1.20.2 and :v1.20.3 (the same
# Debian source stamped v1.20.3, install.sh; for upgrade tests). Each is a docker-archive tar
# (manifest.json, config JSON, one layer.tar), as `ctr images import` takes it; `node create`
# imports every tar of the directory.
#
# A layer holds the binary in /usr/local/bin (kubeadm's manifests name bare commands, so PATH
# is set in the image config), the shared libraries `ldd` names for it (Debian's etcd is
# dynamic), /tmp (1777) and a minimal /etc/passwd, /etc/group and /etc/nsswitch.conf;
# kube-proxy's also legacy iptables, which it runs.
#
# Usage: images.sh KUBE_BIN_DIR [KUBE_BIN_DIR_NEXT]
#   KUBE_BIN_DIR       the v1.20.2 binaries (the cache install.sh printed)
#   KUBE_BIN_DIR_NEXT  the v1.20.3 binaries (default $KUBESTRAP_KUBE_BIN_NEXT, else
#                      kube-v1.20.3 next to KUBE_BIN_DIR, where install.sh puts it)
# Cached in ${KUBESTRAP_CACHE:-$HOME/.cache/kubestrap}/images-v1.20.2-v1.20.3/ (tars named
# <name>_<tag>.tar), rebuilt when a binary or this recipe changes (a stamp holds their
# sha256s). Prints that directory as its last line.
set -euo pipefail
KUBE_BIN=${1:?usage: images.sh KUBE_BIN_DIR [KUBE_BIN_DIR_NEXT]}
KUBE_BIN_NEXT=${2:-${KUBESTRAP_KUBE_BIN_NEXT:-$(dirname "$KUBE_BIN")/kube-v1.20.3}}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=k8s.gcr.io
KUBE_VERSION=v1.20.2
KUBE_VERSION_NEXT=v1.20.3
CACHE=${KUBESTRAP_CACHE:-$HOME/.cache/kubestrap}/images-$KUBE_VERSION-$KUBE_VERSION_NEXT
log() { printf '[testbed/images] %s\n' "$*" >&2; }
die() { printf '[testbed/images] error: %s\n' "$*" >&2; exit 1; }

# name:tag  binary
IMAGES=(
    "pause:3.2 pause"
    "etcd:3.4.13-0 /usr/bin/etcd"
)
for pair in "$KUBE_VERSION $KUBE_BIN" "$KUBE_VERSION_NEXT $KUBE_BIN_NEXT"; do
    for b in kube-apiserver kube-controller-manager kube-scheduler kube-proxy; do
        IMAGES+=("$b:${pair%% *} ${pair#* }/$b")
        [[ -x ${pair#* }/$b ]] || die "${pair#* }/$b is missing (run scripts/testbed/install.sh)"
    done
done

# The contents (not the paths: callers name this script and the binaries differently) of the
# inputs, with the images' names.
inputs_sum() {
    local entry bin
    {
        sha256sum "$0" "$HERE/pause.c" | cut -d' ' -f1
        for entry in "${IMAGES[@]}"; do
            bin=${entry#* }
            echo "${entry%% *}"
            [[ $bin == pause ]] || sha256sum "$bin" | cut -d' ' -f1
        done
    } | sha256sum | cut -d' ' -f1
}
want=$(inputs_sum)
if [[ -f $CACHE/.stamp ]] && grep -qx "inputs=$want" "$CACHE/.stamp"; then
    log "cached images in $CACHE"
    echo "$CACHE"
    exit 0
fi

# Each kube-* directory holds the version its images are tagged with.
for pair in "$KUBE_VERSION $KUBE_BIN" "$KUBE_VERSION_NEXT $KUBE_BIN_NEXT"; do
    v=$("${pair#* }/kube-apiserver" --version 2>&1 | awk '{print $2}')
    [[ $v == "${pair%% *}" ]] || die "${pair#* }/kube-apiserver is $v, expected ${pair%% *}"
done

mkdir -p "${CACHE%/*}"
work=$(mktemp -d "${CACHE%/*}/.images.XXXXXX")
trap 'rm -rf "$work"' EXIT
gcc -static -O2 -o "$work/pause" "$HERE/pause.c" || die "cannot build pause.c (gcc, libc6-dev)"

# ldd's output | libraries: the files it names (libraries and the loader), once each.
libraries() { awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $2 ~ /^\(/ { print $1 }' | sort -u; }

# add_iptables ROOTFS: legacy iptables (what kube-proxy runs, in the node's network
# namespace), with its libraries and extensions.
add_iptables() {
    local rootfs=$1 multi=/usr/sbin/xtables-legacy-multi lib t
    [[ -x $multi ]] || die "$multi is missing (package iptables)"
    cp "$multi" "$rootfs/usr/local/bin/"
    for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
        ln -s xtables-legacy-multi "$rootfs/usr/local/bin/$t"
    done
    while read -r lib; do
        mkdir -p "$rootfs${lib%/*}"
        cp -L "$lib" "$rootfs$lib"
    done < <(ldd "$multi" /usr/lib/x86_64-linux-gnu/xtables/*.so 2>/dev/null | libraries)
    mkdir -p "$rootfs/usr/lib/x86_64-linux-gnu"
    cp -r /usr/lib/x86_64-linux-gnu/xtables "$rootfs/usr/lib/x86_64-linux-gnu/"
}

# image NAME:TAG BINARY: writes $work/out/<name>_<tag>.tar.
image() {
    local ref=$1 bin=$2 name=${1%%:*} file=${1/:/_} rootfs layer lib
    rootfs=$work/rootfs-$file
    mkdir -p "$rootfs"/{usr/local/bin,etc,tmp}
    chmod 1777 "$rootfs/tmp"
    cp "$bin" "$rootfs/usr/local/bin/${bin##*/}"
    # The loader and libraries of a dynamic binary, at their own paths.
    while read -r lib; do
        mkdir -p "$rootfs${lib%/*}"
        cp -L "$lib" "$rootfs$lib"
    done < <(ldd "$bin" 2>/dev/null | libraries)
    [[ $name == kube-proxy ]] && add_iptables "$rootfs"
    printf 'root:x:0:0:root:/root:/bin/false\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
    printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
    mkdir -p "$work/out/$file"
    layer=$work/out/$file/layer.tar
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$rootfs" -cf "$layer" .
    local diff entry
    diff=sha256:$(sha256sum "$layer" | cut -d' ' -f1)
    entry=null
    [[ $name == pause ]] && entry='["/usr/local/bin/pause"]'
    jq -n --arg diff "$diff" --argjson entry "$entry" '{
        architecture: "amd64", os: "linux",
        config: { Env: ["PATH=/usr/local/bin:/usr/bin:/bin"], Entrypoint: $entry },
        rootfs: { type: "layers", diff_ids: [$diff] },
        history: [{ created_by: "kubestrap scripts/testbed/node/images.sh" }]
    }' >"$work/out/$file/config.json"
    jq -n --arg tag "$REPO/$ref" '[{ Config: "config.json", RepoTags: [$tag], Layers: ["layer.tar"] }]' \
        >"$work/out/$file/manifest.json"
    tar -C "$work/out/$file" -cf "$work/out/$file.tar" manifest.json config.json layer.tar
    rm -rf "$work/out/$file" "$rootfs"
    log "built $REPO/$ref"
}

for entry in "${IMAGES[@]}"; do
    bin=${entry#* }
    [[ $bin == pause ]] && bin=$work/pause
    [[ -x $bin ]] || die "$bin is missing (run scripts/testbed/install.sh)"
    image "${entry%% *}" "$bin"
done
{
    echo "inputs=$want"
    for entry in "${IMAGES[@]}"; do ref=${entry%% *}; echo "image=$REPO/$ref ${ref/:/_}.tar"; done
} >"$work/out/.stamp"
rm -rf "$CACHE"
mv "$work/out" "$CACHE"
# The cache of the images.sh before v1.20.3 (v1.20.2 only) is of no further use.
rm -rf "${CACHE%/*}/images-$KUBE_VERSION"
log "images in $CACHE"
echo "$CACHE"
