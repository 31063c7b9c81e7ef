"""Build, once and cached, the Debian root tree that test hosts boot from.

The tree is keyed by a hash of what goes into it, so a change of package list makes a new
image and an unchanged one is reused by CI on the same machine.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

CACHE_DIR = Path(os.environ.get("VPS_WIZARD_TESTHOST_CACHE", "/var/cache/vps-wizard"))
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"

# What a provider's fresh Debian 12 image has: systemd, OpenSSH, sudo, apt.
BASE_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "openssh-server",
    "dbus",
    "iproute2",
    "sudo",
    "ca-certificates",
    "procps",
    "tzdata",
    "locales",
    "apt-utils",
)
# What the steps install: downloaded into the image's apt cache but not installed, so a booted
# host is pristine and the steps' own `apt-get install` runs for real without a registry.
STEP_PACKAGES = (
    "nftables",
    "fail2ban",
    "python3-systemd",
    "unattended-upgrades",
    "postfix",
    "nginx",
    "apache2",
    "php-fpm",
    "php-mysql",
    "mariadb-server",
    # tls step: certbot; its tests run an ACME CA (pebble) and a DNS server (bind9) inside.
    "certbot",
    "pebble",
    "bind9",
    # dns-zone and dnssec: BIND's tools; mail: Dovecot; mail-auth: OpenDKIM.
    "bind9-utils",
    "bind9-dnsutils",
    "dovecot-imapd",
    "dovecot-lmtpd",
    "opendkim",
    "opendkim-tools",
)
SOURCES = f"""\
deb {MIRROR} {SUITE} main
deb {MIRROR} {SUITE}-updates main
deb http://deb.debian.org/debian-security {SUITE}-security main
"""
BUILD_VERSION = "1"


def image_key() -> str:
    """A short hash of everything that decides the image's content."""
    recipe = "|".join((BUILD_VERSION, SUITE, SOURCES, *BASE_PACKAGES, "--", *STEP_PACKAGES))
    return hashlib.sha256(recipe.encode()).hexdigest()[:12]


def image_path() -> Path:
    """Where the image for the current recipe lives (built or not)."""
    return CACHE_DIR / f"testhost-{image_key()}"


def ensure_host_tools() -> None:
    """Install the host-side tools that building and booting need, if they are missing."""
    missing = [
        pkg
        for tool, pkg in (
            ("debootstrap", "debootstrap"),
            ("systemd-nspawn", "systemd-container"),
            ("ip", "iproute2"),
            ("tinyproxy", "tinyproxy"),
            ("ssh-keygen", "openssh-client"),
        )
        if shutil.which(tool) is None
        and not Path(f"/usr/sbin/{tool}").exists()
        and not Path(f"/usr/bin/{tool}").exists()
    ]
    if missing:
        subprocess.run(["apt-get", "update", "-q"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(
            ["apt-get", "install", "-y", "-q", *missing],
            check=True,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )


def build_image(log=print) -> Path:
    """Return the cached image, building it first when it does not exist (about a minute)."""
    target = image_path()
    if (target / ".complete").exists():
        return target
    ensure_host_tools()
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    log(f"building test host image {target} (once, about a minute)")
    subprocess.run(
        [
            "debootstrap",
            "--variant=minbase",
            "--include=" + ",".join(BASE_PACKAGES),
            SUITE,
            str(partial),
            MIRROR,
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    (partial / "etc/apt/sources.list").write_text(SOURCES)
    chroot_env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "DEBIAN_FRONTEND": "noninteractive",
        "LANG": "C",
    }
    for command in (
        "apt-get update -q",
        "apt-get -y -q full-upgrade",
        "apt-get -y -q install --download-only " + " ".join(STEP_PACKAGES),
        "systemctl enable ssh",
        "printf 'C.UTF-8 UTF-8\\nen_US.UTF-8 UTF-8\\n' > /etc/locale.gen && locale-gen",
    ):
        subprocess.run(
            ["chroot", str(partial), "sh", "-c", command],
            check=True,
            stdout=subprocess.DEVNULL,
            env=chroot_env,
        )
    # A provider image's hostname is a bare name, not yet an FQDN: the base step fixes that.
    (partial / "etc/hostname").write_text("vps\n")
    (partial / "etc/hosts").write_text("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n")
    # Host keys are made per image, so every boot of it shows the same key (as a VPS does).
    for key in (partial / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    subprocess.run(["ssh-keygen", "-A", "-f", str(partial)], check=True, stdout=subprocess.DEVNULL)
    (partial / ".complete").write_text(image_key() + "\n")
    partial.rename(target)
    return target


if __name__ == "__main__":
    print(build_image())
