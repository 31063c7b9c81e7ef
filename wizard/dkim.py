"""DKIM signature verification (RFC 6376), rsa-sha256 with simple or relaxed canonicalization.

The wizard proves that the server signs its mail with the key it publishes: it takes a message
the server sent, finds its DKIM-Signature and checks it against the public key from the DNS.
This module does only that, with `cryptography`, and never looks anything up itself: the key
record is given. Messages may come with LF line ends (Maildir stores them so); they are read
as CRLF, the form DKIM signs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

SIGNATURE_HEADER = "dkim-signature"
WSP = re.compile(rb"[ \t]+")
# The b= tag of a signature header, with its value (never bh=: it needs ';' or the start).
B_TAG = re.compile(rb"((?:^|;)[ \t\r\n]*b[ \t\r\n]*=)[^;]*")


class DkimError(ValueError):
    """A message, signature or key record that cannot be verified, and why."""


@dataclass(frozen=True)
class Header:
    """One header field as it is in the message: its name and the whole raw field (name,
    colon, value and folding, with the final CRLF)."""

    name: str
    raw: bytes


@dataclass(frozen=True)
class Signature:
    """One DKIM-Signature header: its tags and the raw field it came from."""

    tags: Mapping[str, str]
    header: Header

    @property
    def domain(self) -> str:
        """d=, lowercased."""
        return self.tags.get("d", "").lower()

    @property
    def selector(self) -> str:
        """s=, lowercased."""
        return self.tags.get("s", "").lower()

    @property
    def signed_headers(self) -> tuple[str, ...]:
        """h=, the names of the signed header fields in order, lowercased."""
        return tuple(n.strip().lower() for n in self.tags.get("h", "").split(":") if n.strip())


@dataclass(frozen=True)
class Verdict:
    """Whether a signature verifies, and what was found on the way (for the evidence)."""

    valid: bool
    reason: str
    body_hash_ok: bool = False


def parse_tags(text: str) -> dict[str, str]:
    """A tag=value list ('v=1; a=rsa-sha256; ...'); whitespace around tags and values goes,
    and inside b=, bh= and p= too (base64 may be folded). A repeated tag is an error."""
    tags: dict[str, str] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        name, equals, value = part.partition("=")
        name = name.strip()
        if not equals or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
            raise DkimError(f"'{part.strip()}' is not a tag=value pair")
        if name in tags:
            raise DkimError(f"the tag {name}= appears twice")
        value = value.strip()
        if name in ("b", "bh", "p"):
            value = re.sub(r"\s+", "", value)
        tags[name] = value
    return tags


def split_message(message: bytes) -> tuple[list[Header], bytes]:
    """The header fields in order, and the body, both with CRLF line ends."""
    text = re.sub(rb"\r?\n", b"\r\n", message)
    head, separator, body = text.partition(b"\r\n\r\n")
    if not separator:
        head, body = text, b""
    headers: list[Header] = []
    for line in head.split(b"\r\n"):
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and headers:
            last = headers[-1]
            headers[-1] = Header(last.name, last.raw + line + b"\r\n")
            continue
        name, colon, _ = line.partition(b":")
        if not colon:
            raise DkimError(f"'{line[:60].decode(errors='replace')}' is not a header field")
        headers.append(Header(name.decode(errors="replace").strip(), line + b"\r\n"))
    return headers, body


def relaxed_header(raw: bytes) -> bytes:
    """RFC 6376 3.4.2: lowercase name, unfold, one space for each run of whitespace, none
    around the colon or at the end."""
    name, _, value = raw.partition(b":")
    value = WSP.sub(b" ", value.replace(b"\r\n", b"")).strip(b" ")
    return name.strip(b" \t").lower() + b":" + value + b"\r\n"


def relaxed_body(body: bytes) -> bytes:
    """RFC 6376 3.4.4: no whitespace at line ends, one space for each run inside a line, no
    empty lines at the end; a non-empty body ends with CRLF."""
    lines = [WSP.sub(b" ", line).rstrip(b" ") for line in body.split(b"\r\n")]
    while lines and not lines[-1]:
        lines.pop()
    return b"".join(line + b"\r\n" for line in lines)


def simple_body(body: bytes) -> bytes:
    """RFC 6376 3.4.3: the body as it is, its empty lines at the end reduced to one CRLF."""
    body = body.rstrip(b"\r\n") if body.endswith(b"\r\n") else body
    return body + b"\r\n"


def canonical_body(body: bytes, method: str, length: int | None) -> bytes:
    """The body in the signature's canonical form, cut at l= when the signature has one."""
    canonical = relaxed_body(body) if method == "relaxed" else simple_body(body)
    if length is not None:
        if length > len(canonical):
            raise DkimError(f"l={length} is longer than the body ({len(canonical)} bytes)")
        canonical = canonical[:length]
    return canonical


def header_hash_input(headers: Sequence[Header], signature: Signature, method: str) -> bytes:
    """What the signature signs: the h= fields (each name taken from the bottom up, a
    missing one as nothing), then the signature's own field with b= empty, no final CRLF."""
    remaining: dict[str, list[Header]] = {}
    for header in headers:
        remaining.setdefault(header.name.lower(), []).append(header)
    data = b""
    for name in signature.signed_headers:
        found = remaining.get(name)
        if found:
            field = found.pop()
            data += relaxed_header(field.raw) if method == "relaxed" else field.raw
    own = B_TAG.sub(rb"\1", signature.header.raw)
    own = relaxed_header(own) if method == "relaxed" else own
    return data + own.removesuffix(b"\r\n")


def signatures(message: bytes) -> list[Signature]:
    """Every DKIM-Signature of the message, top first."""
    headers, _ = split_message(message)
    found = []
    for header in headers:
        if header.name.lower() == SIGNATURE_HEADER:
            value = header.raw.partition(b":")[2].decode(errors="replace")
            found.append(Signature(parse_tags(value), header))
    return found


def public_key(record: str) -> rsa.RSAPublicKey:
    """The RSA key of a DKIM key record ('v=DKIM1; k=rsa; p=MIIB...')."""
    tags = parse_tags(record)
    if tags.get("v", "DKIM1") != "DKIM1":
        raise DkimError(f"v={tags['v']}: a DKIM key record has v=DKIM1")
    if tags.get("k", "rsa") != "rsa":
        raise DkimError(f"k={tags['k']}: only rsa keys are verified")
    if not tags.get("p"):
        raise DkimError("p= is empty: the key is revoked")
    try:
        key = load_der_public_key(base64.b64decode(tags["p"], validate=True))
    except (binascii.Error, ValueError, UnsupportedAlgorithm) as error:
        raise DkimError(f"p= is not a public key: {error}") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise DkimError("p= is not an RSA key")
    return key


def verify(message: bytes, signature: Signature, key: rsa.RSAPublicKey) -> Verdict:
    """Check one signature of the message with the key: body hash first, then the signature."""
    tags = signature.tags
    if tags.get("v") != "1":
        return Verdict(False, f"v={tags.get('v', '(none)')}: a DKIM signature has v=1")
    if tags.get("a") != "rsa-sha256":
        return Verdict(False, f"a={tags.get('a', '(none)')}: only rsa-sha256 is verified")
    missing = [t for t in ("b", "bh", "d", "h", "s") if not tags.get(t)]
    if missing:
        return Verdict(False, f"the signature lacks {', '.join(t + '=' for t in missing)}")
    if "from" not in signature.signed_headers:
        return Verdict(False, "h= does not sign From: (RFC 6376 requires it)")
    header_method, _, body_method = tags.get("c", "simple/simple").partition("/")
    body_method = body_method or "simple"
    if {header_method, body_method} - {"simple", "relaxed"}:
        return Verdict(False, f"c={tags['c']}: unknown canonicalization")
    try:
        length = int(tags["l"]) if "l" in tags else None
        headers, body = split_message(message)
        canonical = canonical_body(body, body_method, length)
    except (DkimError, ValueError) as error:
        return Verdict(False, f"the message cannot be read: {error}")
    body_hash = base64.b64encode(hashlib.sha256(canonical).digest()).decode()
    if body_hash != tags["bh"]:
        return Verdict(False, "the body hash (bh=) does not match: the body was changed")
    data = header_hash_input(headers, signature, header_method)
    try:
        key.verify(base64.b64decode(tags["b"]), data, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        return Verdict(
            False,
            "the signature (b=) does not verify with this key: another key signed it, or a "
            "signed header was changed",
            body_hash_ok=True,
        )
    return Verdict(True, f"signature by d={signature.domain} s={signature.selector} verifies", True)
