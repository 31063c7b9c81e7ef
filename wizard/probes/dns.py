"""DNS questions asked straight to one server with dnspython (no resolver, no cache), so an
answer proves what that server says; and the delegation a parent zone holds for a domain."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Sequence
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset

TIMEOUT = 3.0


@dataclass(frozen=True)
class Answer:
    """One DNS response from one server, or why there is none."""

    name: str
    rdtype: str
    response: dns.message.Message | None = None
    error: str = ""

    @property
    def authoritative(self) -> bool:
        """The AA flag: the server answers from its own zone."""
        return self.response is not None and bool(self.response.flags & dns.flags.AA)

    @property
    def rcode(self) -> str:
        """NOERROR, NXDOMAIN, REFUSED... or the error."""
        return dns.rcode.to_text(self.response.rcode()) if self.response else self.error

    def rrset(self, section: str = "answer", rdtype: str | None = None) -> dns.rrset.RRset | None:
        """The records of this name and type (or `rdtype`) in a section of the response."""
        if self.response is None:
            return None
        wanted = dns.rdatatype.from_text(rdtype or self.rdtype)
        for rrset in getattr(self.response, section):
            if rrset.rdtype == wanted:
                return rrset
        return None

    def texts(self, rdtype: str | None = None) -> set[str]:
        """The answer's records of the type as zone-file text, lowercased."""
        rrset = self.rrset("answer", rdtype)
        return {rdata.to_text().lower() for rdata in rrset} if rrset else set()


def query(
    server: str, name: str, rdtype: str, dnssec: bool = False, recursion: bool = False
) -> Answer:
    """Ask one server one question over UDP (TCP when truncated); never raises."""
    try:
        request = dns.message.make_query(name, rdtype, want_dnssec=dnssec)
        if not recursion:
            request.flags &= ~dns.flags.RD
        response, _ = dns.query.udp_with_fallback(request, server, timeout=TIMEOUT)
        return Answer(name, rdtype, response)
    except dns.exception.Timeout:
        return Answer(name, rdtype, error=f"no answer from {server} within {TIMEOUT:.0f} s")
    except (OSError, dns.exception.DNSException) as error:
        return Answer(name, rdtype, error=f"{server}: {error}")


def query_many(server: str, questions: Sequence[tuple[str, str]], dnssec: bool = False) -> list:
    """Several questions at once, answers in the same order."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(questions))) as pool:
        return list(pool.map(lambda q: query(server, q[0], q[1], dnssec), questions))


@dataclass(frozen=True)
class Delegation:
    """What the parent zone says of a domain: its NS, glue and DS, or why it could not tell."""

    parent: str = ""
    servers: tuple[str, ...] = ()
    ns: frozenset[str] = frozenset()
    glue: frozenset[str] = frozenset()  # "name address"
    ds: frozenset[str] = frozenset()
    error: str = ""


def find_parent(domain: str, resolver: str) -> tuple[str, list[str], str]:
    """The zone above `domain` and its servers' addresses, asked of `resolver`: (zone,
    addresses, error)."""
    name = dns.name.from_text(domain).parent()
    while True:
        soa = query(resolver, name.to_text(), "SOA", recursion=True)
        if soa.error:
            return "", [], soa.error
        found = soa.rrset() if soa.texts("SOA") else None
        if found is not None and found.name == name:
            break
        if name == dns.name.root:
            return "", [], f"{resolver} knows no zone above {domain}"
        name = name.parent()
    parent = name.to_text()
    ns = query(resolver, parent, "NS", recursion=True)
    addresses = []
    for server in sorted(ns.texts("NS")):
        for rdtype in ("A", "AAAA"):
            addresses += sorted(query(resolver, server, rdtype, recursion=True).texts(rdtype))
    if not addresses:
        return parent, [], f"{resolver} gave no address for the servers of {parent}"
    return parent, addresses, ""


def read_delegation(domain: str, resolver: str) -> Delegation:
    """Ask the parent's servers (the first that answers) for the domain's NS, glue and DS."""
    parent, servers, error = find_parent(domain, resolver)
    if error:
        return Delegation(parent, error=error)
    last_error = ""
    for server in servers:
        referral = query(server, domain, "NS")
        if referral.error or referral.response is None:
            last_error = referral.error
            continue
        ns_set = referral.rrset("authority", "NS") or referral.rrset("answer", "NS")
        ns = frozenset(r.to_text().lower() for r in ns_set) if ns_set else frozenset()
        glue = frozenset(
            f"{rrset.name.to_text().lower()} {rdata.to_text()}"
            for rrset in referral.response.additional
            if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA)
            for rdata in rrset
        )
        ds = query(server, domain, "DS").texts("DS")
        return Delegation(parent, tuple(servers), ns, glue, frozenset(ds))
    return Delegation(parent, tuple(servers), error=last_error or "no server answered")


def system_resolver() -> str:
    """The first name server of this computer's /etc/resolv.conf, or ''."""
    import dns.resolver  # only the registrar checks need it

    try:
        return str(dns.resolver.Resolver().nameservers[0])
    except (dns.resolver.NoResolverConfiguration, IndexError, OSError):
        return ""
