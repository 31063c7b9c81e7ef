# Sourced by scripts/run and scripts/test: make this machine ready, quickly when it already is.
# Installs (as root, on Debian/Ubuntu) what the local test host needs, then the project into
# .venv. Each install is skipped when already done.

# debootstrap builds the test host image, systemd-container boots it, tinyproxy is its apt
# proxy, tmux drives the TUI in end-to-end tests; python3-venv makes .venv on a fresh machine;
# publicsuffix is the list the hsts.preload check reads (a registrable domain).
packages=(debootstrap systemd-container iproute2 openssh-client tinyproxy tmux publicsuffix)
if [[ ! -x .venv/bin/python ]]; then
    packages+=(python3-venv)
fi
missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$package")
    fi
done
if ((${#missing[@]})); then
    if ((EUID == 0)); then
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
    else
        echo "note: ${missing[*]} missing; the local test host (demo, tests) needs root to install them" >&2
    fi
fi

if [[ ! -x .venv/bin/python ]]; then
    python3 -m venv .venv
fi
# Reinstall only when pyproject.toml changed since the last install.
stamp=.venv/.vps-wizard-installed
if [[ ! -f $stamp || pyproject.toml -nt $stamp ]]; then
    .venv/bin/pip install -q -e '.[test]'
    touch "$stamp"
fi

# Compile the project's own modules once, as installing a package does: an editable install
# leaves it to each start, and where PYTHONDONTWRITEBYTECODE is set (as on this project's CI
# machine) every start compiles them again: 0.05 s more for `vps-wizard steps`, more for a
# command that connects, in each of the test suite's hundreds of runs of the CLI. Up-to-date
# files are skipped; a file edited since is compiled in memory until the next run of this.
.venv/bin/python -m compileall -q -j 0 wizard screens vps_wizard.py
