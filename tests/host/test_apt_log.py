"""apt's own progress reaches the apply's log: a user sees each package set up as it happens."""

from __future__ import annotations

import pytest

from tests.host.fixtures import boot_free
from tests.host.harness import REPO, Wizard

pytestmark = pytest.mark.host
QUICK = REPO / "tests" / "host" / "quick.toml"


def test_the_apply_shows_apts_lines_as_packages_are_set_up(tmp_path):
    host = boot_free("vwa", range(144, 160))
    try:
        wizard = Wizard(host, tmp_path)
        wizard.trust_host()
        result = wizard.cli(
            "apply", f"root@{host.address}", "--answers", str(QUICK), "--step", "base", "--yes"
        )
        assert result.returncode == 0, result.stdout + result.stderr
        lines = result.stdout.splitlines()
        # The base step installs unattended-upgrades, which the fresh image lacks.
        installing = next(i for i, line in enumerate(lines) if "installing " in line)
        unpacking = next(
            i for i, line in enumerate(lines) if "Unpacking unattended-upgrades" in line
        )
        set_up = next(i for i, line in enumerate(lines) if "Setting up unattended-upgrades" in line)
        assert installing < unpacking < set_up, result.stdout
        # apt's lines come before the apply's next steps, not after the run: they are live.
        backed_up = next(i for i, line in enumerate(lines) if "backed up" in line)
        assert set_up < backed_up, result.stdout
        # Only the meaningful ones: apt's reading of its lists stays in the journal's apt.log.
        assert not any("Reading package lists" in line for line in lines), result.stdout
        run = host.exec("ls -t /var/lib/vps-wizard/runs | head -n 1").stdout.strip()
        apt_log = host.exec(f"cat /var/lib/vps-wizard/runs/{run}/apt.log").stdout
        assert "Reading package lists" in apt_log and "Setting up unattended-upgrades" in apt_log
    finally:
        host.stop()
