"""SPF (RFC 7208) read the way receivers read it: a record parsed into its terms, its DNS
lookups counted through include: and redirect=, and check_host evaluated for an address.

This module never asks the DNS itself: every question goes through the `Lookup` it is given
(the mail-auth checks pass one that asks the server first, then a resolver), so each rule can be
tested with a table of records.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field


class LookupFailed(Exception):
    """A DNS question nobody could answer (not the same as an empty answer)."""


Lookup = Callable[[str, str], list[str]]


MAX_LOOKUPS = 10  # RFC 7208 4.6.4: more is a permerror at every receiver
LOOKUP_TERMS = ("include", "a", "mx", "ptr", "exists", "redirect")
RESULTS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
MECHANISM = re.compile(
    r"^(?P<q>[-+~?]?)(?P<name>[A-Za-z0-9]+)(?::(?P<value>[^/]+))?"
    r"(?:/(?P<cidr4>\d+))?(?://(?P<cidr6>\d+))?$"
)


class SpfError(ValueError):
    """An SPF record that receivers reject (permerror), and why."""


@dataclass(frozen=True)
class Term:
    """One SPF mechanism (qualifier, name, value, CIDR lengths) or modifier (name=value)."""

    name: str
    value: str = ""
    qualifier: str = "+"
    cidr4: int | None = None
    cidr6: int | None = None
    modifier: bool = False


def parse_spf(text: str) -> tuple[Term, ...]:
    """The terms of a 'v=spf1 ...' record; SpfError for what receivers would refuse."""
    words = text.split()
    if not words or words[0].lower() != "v=spf1":
        raise SpfError(f"'{text[:40]}' does not start with v=spf1")
    terms: list[Term] = []
    for word in words[1:]:
        modifier = re.match(r"^([A-Za-z][A-Za-z0-9_.-]*)=(.*)$", word)
        if modifier:
            name = modifier.group(1).lower()
            if name in ("redirect", "exp") and any(t.modifier and t.name == name for t in terms):
                raise SpfError(f"{name}= appears twice")
            terms.append(Term(name, modifier.group(2), modifier=True))
            continue
        match = MECHANISM.match(word)
        if not match:
            raise SpfError(f"'{word}' is not an SPF mechanism")
        name, value = match.group("name").lower(), match.group("value") or ""
        cidr4 = int(match.group("cidr4")) if match.group("cidr4") else None
        cidr6 = int(match.group("cidr6")) if match.group("cidr6") else None
        if name in ("ip4", "ip6"):
            try:
                network = ipaddress.ip_network(
                    value + (f"/{cidr4}" if cidr4 is not None else ""), strict=False
                )
            except ValueError:
                raise SpfError(f"'{word}': not an address") from None
            if network.version != int(name[-1]) or cidr6 is not None:
                raise SpfError(f"'{word}': not an IPv{name[-1]} network")
            # ip6:x/64 has a single slash: the prefix is the network's, kept in the value.
            terms.append(Term(name, str(network), match.group("q") or "+"))
            continue
        if name in ("include", "exists") and not value:
            raise SpfError(f"'{word}': {name} needs a domain")
        elif name == "all" and (value or cidr4 is not None):
            raise SpfError(f"'{word}': all takes no value")
        elif name not in ("a", "mx", "ptr", "all", "include", "exists"):
            raise SpfError(f"'{word}': unknown mechanism {name}")
        if (cidr4 is not None and cidr4 > 32) or (cidr6 is not None and cidr6 > 128):
            raise SpfError(f"'{word}': prefix length out of range")
        terms.append(Term(name, value, match.group("q") or "+", cidr4, cidr6))
    return tuple(terms)


def spf_record(domain: str, lookup: Lookup) -> str:
    """The one v=spf1 TXT record of a domain; SpfError when there is none or several."""
    records = [t for t in lookup(domain, "TXT") if re.match(r"(?i)^v=spf1( |$)", t)]
    if not records:
        raise SpfError(f"{domain} publishes no v=spf1 TXT record")
    if len(records) > 1:
        raise SpfError(f"{domain} publishes {len(records)} v=spf1 records (one is allowed)")
    return records[0]


@dataclass
class Walk:
    """What following a record's lookups found: their count and what could not be read."""

    lookups: int = 0
    unresolved: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def count_lookups(
    domain: str, terms: Sequence[Term], lookup: Lookup, walk: Walk, seen: frozenset[str]
) -> None:
    """Count the DNS-querying terms, following include: and redirect= where they resolve."""
    for term in terms:
        if term.name not in LOOKUP_TERMS or (term.modifier and term.name != "redirect"):
            continue
        walk.lookups += 1
        if term.name not in ("include", "redirect"):
            continue
        target = term.value.lower().rstrip(".")
        if "%" in target:
            walk.unresolved.append(f"{term.name}:{target} (a macro, not followed)")
            continue
        if target in seen or walk.lookups > 3 * MAX_LOOKUPS:
            walk.problems.append(f"{term.name}:{target} loops")
            continue
        try:
            inner = parse_spf(spf_record(target, lookup))
        except LookupFailed as error:
            walk.unresolved.append(f"{term.name}:{target} ({error})")
            continue
        except SpfError as error:
            walk.problems.append(f"{term.name}:{target}: {error}")
            continue
        count_lookups(target, inner, lookup, walk, seen | {target})


def _in(address: ipaddress.IPv4Address | ipaddress.IPv6Address, host: str, term: Term) -> bool:
    """Whether an address of a host, with the term's prefix length, covers `address`."""
    try:
        found = ipaddress.ip_address(host)
    except ValueError:
        return False
    if found.version != address.version:
        return False
    length = term.cidr4 if address.version == 4 else term.cidr6
    network = ipaddress.ip_network(
        f"{found}/{length if length is not None else found.max_prefixlen}", strict=False
    )
    return address in network


def evaluate(
    address: str, domain: str, terms: Sequence[Term], lookup: Lookup, depth: int = 0
) -> str:
    """RFC 7208 check_host for one address: pass, fail, softfail, neutral, or why not known.

    exists: and ptr: never match here (macros are not expanded; ptr is deprecated)."""
    ip = ipaddress.ip_address(address)
    family = "A" if ip.version == 4 else "AAAA"
    if depth > MAX_LOOKUPS:
        return "permerror (includes nested too deep)"
    for term in terms:
        if term.modifier:
            continue
        target = (term.value or domain).lower().rstrip(".")
        try:
            if term.name == "all":
                matched = True
            elif term.name in ("ip4", "ip6"):
                matched = ip in ipaddress.ip_network(term.value)
            elif term.name == "a":
                matched = any(_in(ip, host, term) for host in lookup(target, family))
            elif term.name == "mx":
                matched = any(
                    _in(ip, host, term)
                    for exchange in lookup(target, "MX")
                    for host in lookup(exchange, family)
                )
            elif term.name == "include":
                inner = parse_spf(spf_record(target, lookup))
                matched = evaluate(address, target, inner, lookup, depth + 1) == "pass"
            else:
                matched = False
        except (LookupFailed, SpfError) as error:
            return f"unknown ({term.name}:{target}: {error})"
        if matched:
            return RESULTS[term.qualifier]
    redirect = next((t for t in terms if t.modifier and t.name == "redirect"), None)
    if redirect:
        target = redirect.value.lower().rstrip(".")
        try:
            inner = parse_spf(spf_record(target, lookup))
        except (LookupFailed, SpfError) as error:
            return f"unknown (redirect={target}: {error})"
        return evaluate(address, target, inner, lookup, depth + 1)
    return "neutral"


def final_all(domain: str, terms: Sequence[Term], lookup: Lookup) -> str:
    """The qualifier of the record's `all` ('-', '~', '+', '?'), through redirect=; '' if none."""
    for term in terms:
        if not term.modifier and term.name == "all":
            return term.qualifier
    redirect = next((t for t in terms if t.modifier and t.name == "redirect"), None)
    if redirect:
        try:
            target = redirect.value.lower().rstrip(".")
            return final_all(target, parse_spf(spf_record(target, lookup)), lookup)
        except (LookupFailed, SpfError):
            return ""
    return ""


@dataclass(frozen=True)
class SpfFindings:
    """What the SPF record of a domain says: the record, its `all`, its lookup count, and the
    result for each of the server's addresses."""

    domain: str
    record: str = ""
    error: str = ""
    all_qualifier: str = ""
    lookups: int = 0
    unresolved: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    results: Mapping[str, str] = field(default_factory=dict)


def analyse_spf(domain: str, addresses: Sequence[str], lookup: Lookup) -> SpfFindings:
    """Read, parse and evaluate the domain's SPF record for the server's addresses."""
    try:
        record = spf_record(domain, lookup)
    except (LookupFailed, SpfError) as error:
        return SpfFindings(domain, error=str(error))
    try:
        terms = parse_spf(record)
    except SpfError as error:
        return SpfFindings(domain, record, error=str(error))
    walk = Walk()
    count_lookups(domain, terms, lookup, walk, frozenset({domain}))
    return SpfFindings(
        domain,
        record,
        all_qualifier=final_all(domain, terms, lookup),
        lookups=walk.lookups,
        unresolved=tuple(walk.unresolved),
        problems=tuple(walk.problems),
        results={address: evaluate(address, domain, terms, lookup) for address in addresses},
    )
