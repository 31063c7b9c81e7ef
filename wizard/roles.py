"""What steps tell each other through the roles their answers fill (wizard.steps.Role): the
site's domain, the server's IPv6 address, and the admin the wizard logs in as."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wizard.catalog import Catalog
from wizard.plan import Plan
from wizard.state import APPLIED, HostRecord
from wizard.steps import Role


def site_domain(catalog: Catalog, steps: Mapping[str, Mapping[str, Any]]) -> str:
    """The user's domain as the steps so far tell it: the site's (the step that provides
    site_domain), else the server's name (host_name) less its host name; the default of every
    later question about the domain."""
    site = catalog.provider(Role.SITE_DOMAIN)
    if site is not None and site.id in steps:
        return str(site.role_answer(Role.SITE_DOMAIN, steps[site.id]) or "")
    named = catalog.provider(Role.HOST_NAME)
    fqdn = str(named.role_answer(Role.HOST_NAME, steps.get(named.id, {})) or "") if named else ""
    return fqdn.split(".", 1)[1] if fqdn.count(".") > 1 else ""


def ipv6_address(catalog: Catalog, steps: Mapping[str, Mapping[str, Any]]) -> str:
    """The server's public IPv6 address as the step providing ipv6_address answered it (the
    zone's AAAA records propose it), empty when none did."""
    step = catalog.provider(Role.IPV6_ADDRESS)
    if step is None or step.id not in steps:
        return ""
    return str(step.role_answer(Role.IPV6_ADDRESS, steps[step.id]) or "")


def second_admin(host: HostRecord, plan: Plan) -> str:
    """What the plan does to the admin the wizard logs in as, when it adds another one.

    The step providing admin_user applied again with another name adds a second admin (the
    first one stays) and the wizard logs in as the new one from then on: the user is told
    before it happens, never finds it out afterwards. Empty when nothing like that is planned.
    """
    step = plan.step
    if Role.ADMIN_USER not in step.provides or not plan.has_changes:
        return ""
    record = host.step(step.id)
    current = host.admin_user or (
        str(step.role_answer(Role.ADMIN_USER, record.answers) or "")
        if record.status in APPLIED
        else ""
    )
    wanted = str(step.role_answer(Role.ADMIN_USER, plan.answers.values))
    if not current or current == wanted:
        return ""
    return (
        f"{wanted} would be added as a second admin: {current} stays an admin (its key and "
        f"sudo are left as they are), and the wizard would log in as {wanted} from then on "
        f"instead of {current}"
    )
