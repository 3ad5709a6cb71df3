#!/usr/bin/env bash
# Builds the container images a real test-bed node runs, named exactly as kubestrap's
# manifests for v1.20 reference them with `imageRepository: k8s.gcr.io` (no registry is
# reachable here): pause:3.2, etcd:3.4.13-0, kube-apiserver, kube-controller-manager,
# kube-scheduler and kube-proxy :v1.20.2. Each is a docker-archive tar (manifest.json, config
# JSON, one layer.tar), as `ctr images import` takes it.
#
# A layer holds the binary in /usr/local/bin (kubeadm's manifests name bare commands, so PATH
# is set in the image config), the shared libraries `ldd` names for it (Debian's etcd is
# dynamic), /tmp (1777) and a minimal /etc/passwd, /etc/group and /etc/nsswitch.conf;
# kube-proxy's also legacy iptables, which it runs.
#
# Usage: images.sh KUBE_BIN_DIR   (the cache install.sh printed)
# Cached in ${KUBESTRAP_CACHE:-$HOME/.cache/kubestrap}/images-v1.20.2/, rebuilt when a binary
# or this recipe changes (a stamp holds their sha256s). Prints that directory as its last line.
set -euo pipefail
KUBE_BIN=${1:?usage: images.sh KUBE_BIN_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=k8s.gcr.io
KUBE_VERSION=v1.20.2
CACHE=${KUBESTRAP_CACHE:-$HOME/.cache/kubestrap}/images-$KUBE_VERSION
log() { printf '[testbed/images] %s\n' "$*" >&2; }
die() { printf '[testbed/images] error: %s\n' "$*" >&2; exit 1; }

# name:tag  binary
IMAGES=(
    "pause:3.2 pause"
    "etcd:3.4.13-0 /usr/bin/etcd"
    "kube-apiserver:$KUBE_VERSION $KUBE_BIN/kube-apiserver"
    "kube-controller-manager:$KUBE_VERSION $KUBE_BIN/kube-controller-manager"
    "kube-scheduler:$KUBE_VERSION $KUBE_BIN/kube-scheduler"
    "kube-proxy:$KUBE_VERSION $KUBE_BIN/kube-proxy"
)

inputs_sum() {
    local entry bin
    {
        sha256sum "$0" "$HERE/pause.c"
        for entry in "${IMAGES[@]}"; do
            bin=${entry#* }
            [[ $bin == pause ]] || sha256sum "$bin"
        done
    } | sha256sum | cut -d' ' -f1
}
want=$(inputs_sum)
if [[ -f $CACHE/.stamp ]] && grep -qx "inputs=$want" "$CACHE/.stamp"; then
    log "cached images in $CACHE"
    echo "$CACHE"
    exit 0
fi

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

# image NAME:TAG BINARY: writes $work/out/<name>.tar.
image() {
    local ref=$1 bin=$2 name=${1%%:*} rootfs layer lib
    rootfs=$work/rootfs-$name
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
    mkdir -p "$work/out/$name"
    layer=$work/out/$name/layer.tar
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
    }' >"$work/out/$name/config.json"
    jq -n --arg tag "$REPO/$ref" '[{ Config: "config.json", RepoTags: [$tag], Layers: ["layer.tar"] }]' \
        >"$work/out/$name/manifest.json"
    tar -C "$work/out/$name" -cf "$work/out/$name.tar" manifest.json config.json layer.tar
    rm -rf "$work/out/$name" "$rootfs"
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
    for entry in "${IMAGES[@]}"; do echo "image=$REPO/${entry%% *} ${entry%%:*}.tar"; done
} >"$work/out/.stamp"
rm -rf "$CACHE"
mv "$work/out" "$CACHE"
log "images in $CACHE"
echo "$CACHE"
