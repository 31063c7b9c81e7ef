"""HTTP and HTTPS from the outside: one request to the server's address with the site's name
in the Host header (and SNI), and a walk along its redirects, the way a site is tested before
its DNS points to the server: no name needs to resolve.

Certificates are not verified here (the tls checks judge them), and redirects are never
followed by the client: each hop is evidence.
"""

from __future__ import annotations

import http.client
import re
import socket
import ssl
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

HTTP_TIMEOUT = 5.0
BODY_LIMIT = 65536  # enough for any page a check looks at; a huge page is not read whole
REDIRECTS = (301, 302, 307, 308)
# A name no server block knows (.invalid never resolves anywhere: RFC 2606).
UNKNOWN_NAME = "unknown-name.vps-wizard.invalid"


@dataclass(frozen=True)
class HttpAnswer:
    """What one HTTP request from the outside got: a response, or why there was none.

    `where` reads "GET <url> at <address>:<port>" (POST for a form). `error` is "" for a
    response, else one of "filtered" (no answer: a firewall drops it), "refused" (nothing
    listens), "closed" (connected, then closed without a response: nginx's 444), "malformed"
    (an answer that is not HTTP) or "unreachable" (no route, or no TLS handshake), with
    `detail` saying more.
    """

    where: str
    status: int = 0
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str = ""
    detail: str = ""
    # Every header line as sent, duplicates kept (`headers` keeps the last of each name).
    lines: tuple[tuple[str, str], ...] = ()

    @property
    def url(self) -> str:
        """The URL that was asked for."""
        return self.where.split(" ", 1)[-1].split(" at ", 1)[0]

    @property
    def text(self) -> str:
        """The body as text (what a page or the probe printed)."""
        return self.body.decode(errors="replace")

    @property
    def location(self) -> str:
        """The Location header, or ""."""
        return self.header("location")

    def header(self, name: str) -> str:
        """A response header by case-insensitive name, or ""."""
        return self.headers.get(name.lower(), "")

    def values(self, name: str) -> list[str]:
        """Every value of a header, in order (a header sent twice shows twice)."""
        return [value for key, value in self.lines if key.lower() == name.lower()]

    @property
    def problem(self) -> str:
        """Why no response came ("refused (nothing listens on the port)"), or ""."""
        if not self.error:
            return ""
        return self.error + (f" ({self.detail})" if self.detail else "")

    def summary(self) -> str:
        """One line of evidence: the request and what came back."""
        if self.error:
            return f"{self.where}: {self.problem}"
        location = f", Location: {self.location}" if self.location else ""
        return f"{self.where}: HTTP {self.status}{location}"


def http_get(
    address: str,
    host: str,
    path: str = "/",
    port: int = 80,
    timeout: float = HTTP_TIMEOUT,
    https: bool = False,
    extra_headers: Mapping[str, str] | None = None,
    form: Mapping[str, str] | None = None,
) -> HttpAnswer:
    """GET http://host/path from `address` (redirects are not followed: they are evidence).

    With `https`, over TLS with `host` as SNI and the certificate not verified (the tls checks
    judge it), on port 443 unless another is given. `extra_headers` go with the request
    (Accept-Encoding, to see whether the server compresses); the body is kept as sent. With
    `form`, a POST of those fields, URL-encoded as a browser sends a form.
    """
    if https and port == 80:
        port = 443
    method = "POST" if form is not None else "GET"
    where = f"{method} {'https' if https else 'http'}://{host}{path} at {address}:{port}"
    connection = http.client.HTTPConnection(
        f"[{address}]" if ":" in address else address, port, timeout=timeout
    )
    try:
        if https:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            raw = socket.create_connection((address, port), timeout=timeout)
            connection.sock = context.wrap_socket(raw, server_hostname=host)
        headers = {"Host": host, "User-Agent": "vps-wizard-check", "Accept": "*/*"}
        payload = urlencode(form).encode() if form is not None else None
        if payload is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request(method, path, payload, headers={**headers, **(extra_headers or {})})
        response = connection.getresponse()
        body = response.read(BODY_LIMIT)
        lines = tuple(response.getheaders())
        seen = {name.lower(): value for name, value in lines}
        return HttpAnswer(where, response.status, seen, body, lines=lines)
    except ConnectionRefusedError:
        return HttpAnswer(where, error="refused", detail="nothing listens on the port")
    except TimeoutError:
        return HttpAnswer(where, error="filtered", detail=f"no answer within {timeout:.0f} s")
    except (http.client.RemoteDisconnected, ConnectionResetError, http.client.BadStatusLine):
        return HttpAnswer(where, error="closed", detail="closed without an HTTP response")
    except http.client.HTTPException as error:
        # A header line too long, a body cut short: an answer, but not one HTTP reads.
        return HttpAnswer(where, error="malformed", detail=f"{type(error).__name__}: {error}")
    except OSError as error:
        return HttpAnswer(where, error="unreachable", detail=str(error))
    finally:
        connection.close()


def fetch(address: str, url: str, timeout: float = HTTP_TIMEOUT) -> HttpAnswer:
    """GET an http:// or https:// URL at `address`: its host goes in the Host header and SNI,
    its port (the scheme's unless the URL names one) is the one connected to."""
    parts = urlsplit(url)
    https = parts.scheme == "https"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    port = parts.port or (443 if https else 80)
    return http_get(address, parts.hostname or "", path, port, timeout, https)


def follow_redirects(
    address: str, url: str, names: Collection[str], max_hops: int = 4
) -> list[HttpAnswer]:
    """GET `url` at `address` and follow its redirects while they stay on `names` (this
    server's names, reached at the same address: no DNS) over http or https, `max_hops`
    requests at most. The last hop is still a redirect when the walk stopped early."""
    hops = [fetch(address, url)]
    while len(hops) < max_hops and hops[-1].status in REDIRECTS:
        target = urlsplit(hops[-1].location)
        if target.scheme not in ("http", "https") or target.hostname not in names:
            break
        hops.append(fetch(address, hops[-1].location))
    return hops


def page_title(answer: HttpAnswer) -> str:
    """The page's <title>, to show which site answered."""
    match = re.search(r"<title>(.*?)</title>", answer.text, re.I | re.S)
    return match.group(1).strip()[:80] if match else ""


def described(answer: HttpAnswer) -> str:
    """The answer's summary line, with the title of a page when one came back."""
    title = page_title(answer) if not answer.error else ""
    return answer.summary() + (f", title: {title}" if title else "")
