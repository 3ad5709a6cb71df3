# Source me: puts the cached kube v1.20.2 binaries (built by scripts/testbed/install.sh)
# on PATH and exports KUBESTRAP_KUBE_BIN=<their directory>.
#   . scripts/testbed/env.sh
# Only reads the cache; it never builds (run install.sh for that). Complains, without
# exiting the calling shell, when the cache is missing.
KUBESTRAP_KUBE_BIN="${KUBESTRAP_CACHE:-$HOME/.cache/kubestrap}/kube-v1.20.2"
export KUBESTRAP_KUBE_BIN
if [ ! -f "$KUBESTRAP_KUBE_BIN/.stamp" ]; then
    echo "scripts/testbed/env.sh: no complete kube v1.20.2 cache in $KUBESTRAP_KUBE_BIN;" \
        "run scripts/testbed/install.sh first" >&2
else
    case ":$PATH:" in
        *":$KUBESTRAP_KUBE_BIN:"*) ;;
        *) PATH="$KUBESTRAP_KUBE_BIN:$PATH"; export PATH ;;
    esac
fi
