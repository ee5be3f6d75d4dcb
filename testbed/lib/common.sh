# Shared by testbed/up, down, env: pinned versions, the Python to run tb/ with, package install.
# shellcheck shell=bash
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$here/lib/versions.sh"
# tb/ is stdlib-only; the system Python keeps it independent of any project venv.
TB_PYTHON="${TB_PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}"

tb_python() {
    PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" "$TB_PYTHON" -m tb "$@"
}

# Debian packages the test bed needs, installed only when missing (one apt-get update at most).
tb_ensure_packages() {
    local missing=()
    dpkg -s containerd >/dev/null 2>&1 || missing+=(containerd)
    dpkg -s runc >/dev/null 2>&1 || missing+=(runc)
    dpkg -s containernetworking-plugins >/dev/null 2>&1 || missing+=(containernetworking-plugins)
    dpkg -s iptables >/dev/null 2>&1 || missing+=(iptables)
    dpkg -s nftables >/dev/null 2>&1 || missing+=(nftables)
    dpkg -s conntrack >/dev/null 2>&1 || missing+=(conntrack)
    dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
    dpkg -s iproute2 >/dev/null 2>&1 || missing+=(iproute2)
    dpkg -s kmod >/dev/null 2>&1 || missing+=(kmod)
    dpkg -s openssl >/dev/null 2>&1 || missing+=(openssl)
    dpkg -s socat >/dev/null 2>&1 || missing+=(socat)
    if ((${#missing[@]})); then
        echo "testbed: installing ${missing[*]}" >&2
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    fi
}
