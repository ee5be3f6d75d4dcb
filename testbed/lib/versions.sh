# Pinned versions and the per-version cache directory; sourced by the testbed scripts.
# shellcheck shell=bash
TB_K8S_VERSION="v1.34.4"
TB_ETCD_VERSION="v3.6.4"
TB_CACHE="${CHAOSKIT_TESTBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chaoskit-testbed}/$TB_K8S_VERSION"
