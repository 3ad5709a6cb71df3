# Source me: puts the cached kube v1.20.2 binaries (built by scripts/testbed/install.sh)
# on PATH and exports KUBESTRAP_KUBE_BIN=<their directory>, and
# KUBESTRAP_KUBE_BIN_NEXT=<the v1.20.3 directory> (the same Debian source stamped v1.20.3,
# for upgrade tests; never on PATH).
#   . scripts/testbed/env.sh
# Only reads the cache; it never builds (run install.sh for that). Complains, without
# exiting the calling shell, when a cache is missing.
KUBESTRAP_KUBE_BIN="${KUBESTRAP_CACHE:-$HOME/.cache/kubestrap}/kube-v1.20.2"
KUBESTRAP_KUBE_BIN_NEXT="${KUBESTRAP_CACHE:-$HOME/.cache/kubestrap}/kube-v1.20.3"
export KUBESTRAP_KUBE_BIN KUBESTRAP_KUBE_BIN_NEXT
if [ ! -f "$KUBESTRAP_KUBE_BIN/.stamp" ]; then
    echo "scripts/testbed/env.sh: no complete kube v1.20.2 cache in $KUBESTRAP_KUBE_BIN;" \
        "run scripts/testbed/install.sh first" >&2
else
    case ":$PATH:" in
        *":$KUBESTRAP_KUBE_BIN:"*) ;;
        *) PATH="$KUBESTRAP_KUBE_BIN:$PATH"; export PATH ;;
    esac
fi
if [ ! -f "$KUBESTRAP_KUBE_BIN_NEXT/.stamp" ]; then
    echo "scripts/testbed/env.sh: no complete kube v1.20.3 cache in $KUBESTRAP_KUBE_BIN_NEXT;" \
        "run scripts/testbed/install.sh first" >&2
fi
