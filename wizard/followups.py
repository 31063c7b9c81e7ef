"""Which applied steps another step's apply makes outdated: the firewall when it opens ports,
a step whose files follow a package it installs (fail2ban's postfix-auth jail and Postfix)."""

from __future__ import annotations

from wizard.catalog import Catalog
from wizard.facts import Facts
from wizard.state import APPLIED, HostRecord
from wizard.stepcontext import ports_of


def outdated_by(
    catalog: Catalog, host: HostRecord, facts: Facts, step_id: str
) -> dict[str, tuple[str, bool]]:
    """The applied steps whose input this step changes, each with the reason and whether
    it is a package it installs (the facts then need reading again)."""
    step = catalog.get(step_id)
    reasons: dict[str, tuple[str, bool]] = {}
    for other in catalog.steps:
        if other.id == step_id or host.step(other.id).status not in APPLIED:
            continue
        installed = sorted(set(step.packages) & set(other.depends_on_packages))
        if step.ports and other.depends_on_ports:
            ports = ports_of(step, host.step(step_id).answers, facts)
            reasons[other.id] = (f"{step_id} needs {', '.join(ports)}", False)
        elif installed:
            reasons[other.id] = (f"{step_id} installed {', '.join(installed)}", True)
    return reasons
