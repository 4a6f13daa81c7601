"""Outgoing HTTP for workflow steps, guarded against server-side request forgery (SSRF).

A workflow's HTTP request step lets an administrator (or, through interpolated variables, a
contact) choose where the server connects. Without a guard that is a way into the private
network: ``http://127.0.0.1:6379/``, cloud metadata at ``http://169.254.169.254/``, or a
public name whose DNS answers ``10.0.0.5``. So every hop:

1. takes the host of the URL and resolves it **once** (numeric forms such as ``2130706433``,
   ``0177.0.0.1`` and ``0x7f.1`` are read the way the C library would, and IPv4-mapped IPv6
   is judged by its IPv4 address);
2. refuses it when any address is loopback, private, link-local, multicast, reserved,
   unspecified or otherwise not globally routable, unless the host or the address is in the
   allowlist (``HTTP_REQUEST_ALLOWLIST`` in the settings plus ``routing.AllowedHost`` rows);
3. connects to exactly the address it checked (:class:`PinnedAdapter`), keeping the host name
   in the ``Host`` header and in TLS (SNI and certificate check), so a second DNS answer cannot
   swap the target between check and connect (DNS rebinding);
4. follows redirects itself, at most ``max_redirects``, checking each new hop the same way.

The answer is read as a stream and abandoned past ``max_bytes``; the whole exchange has a
deadline besides the connect and read timeouts, so a server that drips bytes cannot hold a
worker either.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import socket
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from django.utils.translation import gettext as _
from requests.adapters import HTTPAdapter

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

REDIRECT_CODES = (301, 302, 303, 307, 308)
# NAT64 and 6to4 embed an IPv4 address; judge that one.
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")


class RequestRefused(Exception):
    """The request was not sent (or not followed further); the message says why, for the run log."""


class Blocked(RequestRefused):
    """The destination is an internal address and not allowlisted."""


class TooLarge(RequestRefused):
    """The answer is larger than the size cap."""


# --- Judging addresses --------------------------------------------------------------------------


def parse_ip(host: str) -> IPAddress | None:
    """The address ``host`` denotes literally, in any notation a resolver accepts; None for a name.

    ``inet_aton`` reads the legacy IPv4 forms (``2130706433``, ``0177.0.0.1``, ``0x7f.0.0.1``,
    ``127.1``), which ``ipaddress`` refuses but ``getaddrinfo`` happily connects to.
    """
    host = host.strip("[]")
    with contextlib.suppress(ValueError):  # not the standard notation: try the legacy ones
        return ipaddress.ip_address(host.split("%", 1)[0])
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in SIX_TO_FOUR:
        return ip.sixtofour
    return None


def is_internal(ip: IPAddress) -> bool:
    """Whether connecting to ``ip`` could reach something that is not the public internet."""
    inner = _embedded_ipv4(ip)
    if inner is not None and is_internal(inner):
        return True
    return (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


@dataclasses.dataclass(frozen=True)
class Allowlist:
    """Hosts (exact names, or ``*.example.com``) and networks the guard lets through."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Allowlist:
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = (raw or "").strip().lower().rstrip(".")
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                hosts.add(entry)
        return cls(frozenset(hosts), tuple(networks))

    def allows_host(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        if host in self.hosts:
            return True
        return any(entry.startswith("*.") and host.endswith(entry[1:]) for entry in self.hosts)

    def allows_ip(self, ip: IPAddress) -> bool:
        candidates = [ip]
        inner = _embedded_ipv4(ip)
        if inner is not None:
            candidates.append(inner)
        return any(c.version == net.version and c in net for c in candidates for net in self.networks)


def validate_allowlist_entry(value: str) -> str | None:
    """Why ``value`` is not a host name, address or network; None when it is fine."""
    entry = value.strip().lower()
    if not entry:
        return _("Enter a host name, an IP address or a network such as 10.0.0.0/8.")
    with contextlib.suppress(ValueError):  # an address or a network; else it must be a name
        ipaddress.ip_network(entry.strip("[]"), strict=False)
        return None
    name = entry[2:] if entry.startswith("*.") else entry
    labels = name.rstrip(".").split(".")
    if not all(label and len(label) <= 63 and all(c.isalnum() or c == "-" for c in label) for label in labels):
        return _("'%(value)s' is neither a host name nor an IP address or network.") % {"value": value}
    return None


def current_allowlist() -> Allowlist:
    """The settings' ``HTTP_REQUEST_ALLOWLIST`` plus the administrators' ``AllowedHost`` rows."""
    from django.conf import settings

    from routing.models import AllowedHost

    entries = list(getattr(settings, "HTTP_REQUEST_ALLOWLIST", []))
    entries += list(AllowedHost.objects.values_list("value", flat=True))
    return Allowlist.parse(entries)


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (a literal address is its own answer)."""
    literal = parse_ip(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise requests.ConnectionError(_("Cannot resolve %(host)s: %(error)s") % {"host": host, "error": exc}) from exc
    found: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in found:
            found.append(ip)
    if not found:
        raise requests.ConnectionError(_("Cannot resolve %(host)s.") % {"host": host})
    return found


def check_url(url: str, allowlist: Allowlist) -> tuple[str, IPAddress]:
    """The host and the one address to connect to for ``url``; :class:`Blocked` if it is internal.

    Every address the name resolves to must be acceptable, not just the first: a resolver
    may hand out another one next time.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise RequestRefused(_("Only http and https URLs can be requested, not %(url)s.") % {"url": url[:200]})
    host = parts.hostname
    if not host:
        raise RequestRefused(_("The URL %(url)s has no host.") % {"url": url[:200]})
    if parts.username or parts.password:
        raise RequestRefused(_("User names and passwords do not belong in the URL; use a connection."))
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise RequestRefused(_("The URL %(url)s has an invalid port.") % {"url": url[:200]}) from exc
    addresses = resolve(host, port)
    if allowlist.allows_host(host):
        return host, addresses[0]
    for ip in addresses:
        if is_internal(ip) and not allowlist.allows_ip(ip):
            raise Blocked(
                _("Refused to connect to %(host)s (%(ip)s): an internal address, not in the allowlist.")
                % {"host": host, "ip": ip}
            )
    return host, addresses[0]


# --- Connecting to the checked address ----------------------------------------------------------


class PinnedAdapter(HTTPAdapter):
    """Connects to ``ip`` whatever the URL's host resolves to now; the host stays the Host header,
    the TLS server name and the name the certificate is checked against."""

    def __init__(self, ip: IPAddress, **kwargs: Any):
        self.ip = ip
        super().__init__(max_retries=0, **kwargs)

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        hostname = host_params["host"]
        host_params["host"] = str(self.ip)
        if host_params.get("scheme") == "https":
            pool_kwargs["server_hostname"] = hostname
            pool_kwargs["assert_hostname"] = hostname
        return host_params, pool_kwargs

    def send(self, request, **kwargs):
        parts = urlsplit(request.url)
        # urllib3 would name the pinned IP in the Host header; the server expects the name.
        request.headers["Host"] = parts.netloc.rsplit("@", 1)[-1]
        return super().send(request, **kwargs)


@dataclasses.dataclass
class HttpResult:
    status: int
    headers: dict[str, str]
    body: bytes
    url: str  # the final URL, after redirects


def _same_origin(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.hostname, pa.port) == (pb.scheme, pb.hostname, pb.port)


def fetch(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    secret_headers: dict[str, str] | None = None,
    body: bytes | None = None,
    connect_timeout: float = 3.0,
    read_timeout: float = 10.0,
    total_timeout: float = 20.0,
    max_bytes: int = 1024 * 1024,
    max_redirects: int = 5,
    allowlist: Allowlist | None = None,
) -> HttpResult:
    """Send one request through the guard and read at most ``max_bytes`` of the answer.

    Raises :class:`Blocked`, :class:`TooLarge`, :class:`RequestRefused` (bad URL, too many
    redirects), or ``requests`` exceptions (timeouts, connection errors). ``secret_headers``
    (a connection's API key) go only to the origin of ``url``, never to a redirect elsewhere.
    """
    allowlist = allowlist if allowlist is not None else current_allowlist()
    deadline = time.monotonic() + total_timeout
    origin = url
    method = method.upper()
    for _hop in range(max_redirects + 1):
        _host, ip = check_url(url, allowlist)
        send_headers = dict(headers or {})
        if secret_headers and _same_origin(url, origin):
            send_headers.update(secret_headers)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise requests.Timeout(_("No complete answer within %(s)s seconds.") % {"s": f"{total_timeout:g}"})
        with requests.Session() as session:
            session.trust_env = False  # no proxies from the environment: connect where we checked
            adapter = PinnedAdapter(ip)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            response = session.request(
                method,
                url,
                headers=send_headers,
                data=body,
                timeout=(min(connect_timeout, remaining), min(read_timeout, remaining)),
                allow_redirects=False,
                stream=True,
            )
            try:
                if response.status_code in REDIRECT_CODES and response.headers.get("Location"):
                    url = urljoin(url, response.headers["Location"])
                    if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                        # As browsers do: the follow-up is a GET without the body.
                        method, body = "GET", None
                        headers = {k: v for k, v in (headers or {}).items() if k.lower() != "content-type"}
                    continue
                data = _read_capped(response, max_bytes, deadline, total_timeout)
                return HttpResult(response.status_code, dict(response.headers), data, url)
            finally:
                response.close()
    raise RequestRefused(_("More than %(n)d redirects.") % {"n": max_redirects})


def _read_capped(response: requests.Response, max_bytes: int, deadline: float, total_timeout: float) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge(
            _("The answer is larger than %(n)d bytes (Content-Length %(declared)s).")
            % {"n": max_bytes, "declared": declared}
        )
    chunks: list[bytes] = []
    size = 0
    while True:
        # read1 returns what has arrived (each wait bounded by the read timeout), so a server
        # dripping one byte at a time still meets the overall deadline below.
        chunk = response.raw.read1(64 * 1024, decode_content=True)
        if not chunk:
            break
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge(_("The answer is larger than %(n)d bytes; stopped reading.") % {"n": max_bytes})
        chunks.append(chunk)
        if time.monotonic() > deadline:
            raise requests.Timeout(_("No complete answer within %(s)s seconds.") % {"s": f"{total_timeout:g}"})
    return b"".join(chunks)
