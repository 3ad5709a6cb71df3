# shellcheck shell=bash
# Sourced by scripts/testbed/up and scripts/testbed/down (not run): what makes a directory a
# test-bed node root, so that `down --purge` deletes only what `up` made.
#
# `up` writes a marker, <root>/.kubestrap-testbed-root, into every root it creates (or finds
# empty) before it puts anything else there; the marker names the root's resolved path, so a
# copy of a root elsewhere is not one. Whatever the marker says, no root is ever `/`, a
# top-level directory (/etc, /home, /tmp, …), a directory inside /etc, /usr and the like or a
# second-level one under /var (/var/lib), a home directory (of $HOME or any user in
# `getent passwd`) or a directory holding one, or a symlink.

TESTBED_MARKER=.kubestrap-testbed-root

# testbed_resolve DIR: prints DIR's absolute, symlink-free path (trailing slashes dropped); fails,
# saying why, when DIR is relative or is itself a symlink.
testbed_resolve() {
    local dir=$1
    [[ $dir == /* ]] || { echo "$dir is not an absolute path"; return 1; }
    while [[ $dir == */ && $dir != / ]]; do dir=${dir%/}; done
    [[ ! -L $dir ]] || { echo "$dir is a symlink (to $(readlink -- "$dir")); name the directory itself"; return 1; }
    realpath -m -- "$dir"
}

# testbed_refusal DIR: for a resolved DIR, prints why it can never be a node root (where it is,
# or that it exists and is no directory), or nothing.
testbed_refusal() {
    local dir=$1 home
    case $dir in
        /) echo "it is /"; return ;;
        /*/*) ;;
        *) echo "it is a top-level directory of the system"; return ;;
    esac
    case $dir in
        /bin/* | /boot/* | /dev/* | /etc/* | /lib/* | /lib32/* | /lib64/* | /libx32/* | /proc/* | \
            /run/* | /sbin/* | /sys/* | /usr/*)
            echo "it is inside the system directory /$(cut -d/ -f2 <<<"$dir")"; return ;;
        /var/*/*) ;;
        /var/*) echo "it is a system directory (directly in /var)"; return ;;
    esac
    while IFS= read -r home; do
        [[ -n $home ]] || continue
        home=$(realpath -m -- "$home")
        [[ $home != / ]] || continue
        [[ $dir != "$home" ]] || { echo "it is a home directory"; return; }
        [[ $home != "$dir"/* ]] || { echo "it holds the home directory $home"; return; }
    done < <(printf '%s\n' "${HOME:-}"; getent passwd | cut -d: -f6)
    if [[ -e $dir || -L $dir ]] && ! [[ -d $dir && ! -L $dir ]]; then
        echo "it exists and is not a directory"
    fi
}

# testbed_is_marked DIR: whether DIR (resolved) holds a marker that names DIR.
testbed_is_marked() {
    local marker=$1/$TESTBED_MARKER
    [[ -f $marker && ! -L $marker ]] && grep -qxF "root=$1" "$marker"
}

# testbed_claim_refusal DIR: for a resolved DIR, prints why `up` must not make it a node root,
# or nothing: it may when DIR does not exist, is an empty directory or is marked already. A
# system or home directory, a file, or a directory with content but no marker for this path is
# refused, so `up` never adopts a directory it did not make.
testbed_claim_refusal() {
    local dir=$1 why
    why=$(testbed_refusal "$dir")
    [[ -z $why ]] || { echo "$dir cannot be a test-bed node root: $why"; return; }
    [[ -d $dir ]] || return 0
    testbed_is_marked "$dir" && return
    [[ -z $(ls -A -- "$dir") ]] ||
        echo "$dir is not empty and has no marker ($TESTBED_MARKER naming it): scripts/testbed/up did not make it, so it will not use it; pick another --root"
}

# testbed_mark DIR: creates DIR if need be and writes its marker (atomically: a temporary file
# in DIR, synced, renamed over it), unless DIR is marked already. Call it only when
# testbed_claim_refusal said nothing.
testbed_mark() {
    local dir=$1 tmp
    testbed_is_marked "$dir" && return
    mkdir -p -- "$dir" || return
    tmp=$(mktemp "$dir/$TESTBED_MARKER.XXXXXX") || return
    printf '%s\n' "# scripts/testbed/up made this test-bed node root; scripts/testbed/down --purge removes it." \
        "root=$dir" >"$tmp" && sync -- "$tmp" && mv -f -- "$tmp" "$dir/$TESTBED_MARKER"
}

# testbed_purge_refusal DIR: for a resolved DIR, prints why `down --purge` must not remove it,
# or nothing (also when it does not exist: nothing to remove).
testbed_purge_refusal() {
    local dir=$1 why
    why=$(testbed_refusal "$dir")
    [[ -z $why ]] || { echo "$dir cannot be a test-bed node root: $why"; return; }
    [[ -d $dir ]] || return 0
    testbed_is_marked "$dir" ||
        echo "$dir has no marker ($TESTBED_MARKER naming it): scripts/testbed/up did not make it"
}
