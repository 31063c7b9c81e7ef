"""Build, once and cached, the root trees that test hosts boot from: Debian 12 (every step's
packages), and Debian 13 and Ubuntu 24.04 (the day-one steps' packages).

A tree is keyed by a hash of what goes into it, so a change of package list makes a new
image and an unchanged one is reused by CI on the same machine.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

CACHE_DIR = Path(os.environ.get("VPS_WIZARD_TESTHOST_CACHE", "/var/cache/vps-wizard"))
DEBIAN_MIRROR = "http://deb.debian.org/debian"
UBUNTU_MIRROR = "http://archive.ubuntu.com/ubuntu"

# What a provider's fresh image has: systemd, OpenSSH, sudo, apt.
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
    # waf: ModSecurity for nginx and Apache, and the OWASP Core Rule Set.
    "libnginx-mod-http-modsecurity",
    "libapache2-mod-security2",
    "modsecurity-crs",
    # backups: restic to an SFTP target, rsync for the series' pull.
    "restic",
    "rsync",
    # maintenance: services that map a deleted library; lossless image optimisation.
    "needrestart",
    "jpegoptim",
    "optipng",
    # wordpress: the distribution's package.
    "wordpress",
)
# The other releases are tested on day one: the steps whose files differ between releases.
DAY_ONE_PACKAGES = ("nftables", "fail2ban", "python3-systemd", "unattended-upgrades", "postfix")
BUILD_VERSION = "1"


@dataclass(frozen=True)
class Distro:
    """A release a test host can run: where debootstrap gets it and what goes into it."""

    name: str
    title: str
    suite: str
    mirror: str
    sources: str
    step_packages: tuple[str, ...]
    # debootstrap's script for the suite, when its own version has none (Ubuntu's generic one).
    script: str = ""
    # Debian 12 packages no Ubuntu archive key, so debootstrap cannot check Ubuntu's Release
    # file; the image's own apt checks everything after that with the key the image installs.
    check_gpg: bool = True
    # How sshd starts on the provider's image: Ubuntu 24.04 listens through ssh.socket.
    ssh_units: tuple[str, ...] = ("ssh.service",)


DEBIAN12 = Distro(
    "debian12",
    "Debian 12",
    "bookworm",
    DEBIAN_MIRROR,
    f"deb {DEBIAN_MIRROR} bookworm main\n"
    f"deb {DEBIAN_MIRROR} bookworm-updates main\n"
    "deb http://deb.debian.org/debian-security bookworm-security main\n",
    STEP_PACKAGES,
)
DEBIAN13 = Distro(
    "debian13",
    "Debian 13",
    "trixie",
    DEBIAN_MIRROR,
    f"deb {DEBIAN_MIRROR} trixie main\n"
    f"deb {DEBIAN_MIRROR} trixie-updates main\n"
    "deb http://deb.debian.org/debian-security trixie-security main\n",
    DAY_ONE_PACKAGES,
)
UBUNTU2404 = Distro(
    "ubuntu2404",
    "Ubuntu 24.04",
    "noble",
    UBUNTU_MIRROR,
    f"deb {UBUNTU_MIRROR} noble main universe\n"
    f"deb {UBUNTU_MIRROR} noble-updates main universe\n"
    "deb http://security.ubuntu.com/ubuntu noble-security main universe\n",
    DAY_ONE_PACKAGES,
    script="/usr/share/debootstrap/scripts/gutsy",
    check_gpg=False,
    ssh_units=("ssh.socket",),
)
DISTROS = {distro.name: distro for distro in (DEBIAN12, DEBIAN13, UBUNTU2404)}


def image_key(distro: Distro = DEBIAN12) -> str:
    """A short hash of everything that decides the image's content."""
    recipe = "|".join(
        (BUILD_VERSION, distro.suite, distro.sources, *BASE_PACKAGES, "--", *distro.step_packages)
        + (() if distro.ssh_units == ("ssh.service",) else distro.ssh_units)
    )
    return hashlib.sha256(recipe.encode()).hexdigest()[:12]


def image_path(distro: Distro = DEBIAN12) -> Path:
    """Where the image for the current recipe lives (built or not)."""
    return CACHE_DIR / f"testhost-{image_key(distro)}"


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


def build_image(distro: Distro = DEBIAN12, log=print) -> Path:
    """Return the cached image, building it first when it does not exist (about a minute)."""
    target = image_path(distro)
    if (target / ".complete").exists():
        return target
    ensure_host_tools()
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    log(f"building the {distro.title} test host image {target} (once, about a minute)")
    subprocess.run(
        [
            "debootstrap",
            "--variant=minbase",
            "--include=" + ",".join(BASE_PACKAGES),
            *([] if distro.check_gpg else ["--no-check-gpg"]),
            distro.suite,
            str(partial),
            distro.mirror,
            *([distro.script] if distro.script else []),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    (partial / "etc/apt/sources.list").write_text(distro.sources)
    chroot_env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "DEBIAN_FRONTEND": "noninteractive",
        "LANG": "C",
    }
    for command in (
        "apt-get update -q",
        "apt-get -y -q full-upgrade",
        "apt-get -y -q install --download-only " + " ".join(distro.step_packages),
        "systemctl disable ssh.service ssh.socket 2>/dev/null; systemctl enable "
        + " ".join(distro.ssh_units),
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
    (partial / ".complete").write_text(image_key(distro) + "\n")
    partial.rename(target)
    return target


if __name__ == "__main__":
    print(build_image())
