"""The HTTP request step cannot be turned against the private network (SSRF).

Addresses are refused in every notation a resolver accepts, names that resolve to them are
refused, each redirect hop is checked, and the connection goes to the address that was checked.
Only DNS is simulated (``socket.getaddrinfo``); the HTTP servers are real, on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from routing import ssrf
from routing.models import AllowedHost

Handler = Callable[[BaseHTTPRequestHandler], None]


class LocalServer:
    """A real HTTP server on 127.0.0.1; ``routes`` maps a path to a function that answers."""

    def __init__(self, routes: dict[str, Handler]):
        self.routes = routes
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        server = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.requests.append((self.command, self.path, dict(self.headers), body))
                route = server.routes.get(self.path.split("?")[0])
                if route is None:
                    answer(self, 404, b"not found", "text/plain")
                    return
                # The client may stop reading (size cap, timeout): as expected.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    route(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, *args):
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def answer(
    handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str = "application/json", **headers
):
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in headers.items():
        handler.send_header(name.replace("_", "-"), value)
    handler.end_headers()
    handler.wfile.write(body)


def redirect(location: str, status: int = 302) -> Handler:
    return lambda h: answer(h, status, b"", "text/plain", Location=location)


@pytest.fixture
def local_server():
    made: list[LocalServer] = []

    def make(routes: dict[str, Handler]) -> LocalServer:
        made.append(LocalServer(routes))
        return made[-1]

    yield make
    for server in made:
        server.close()


@pytest.fixture
def fake_dns(monkeypatch):
    """Names in ``table`` resolve to the given addresses; everything else resolves for real."""
    table: dict[str, list[str]] = {}
    lookups: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name in table:
            lookups.append(name)
            answers = table[name]
            return [
                (
                    socket.AF_INET6 if ":" in ip else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (ip, port or 0, 0, 0) if ":" in ip else (ip, port or 0),
                )
                for ip in answers
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    table_lookups = type("FakeDns", (), {"table": table, "lookups": lookups})()
    return table_lookups


NOTHING_ALLOWED = ssrf.Allowlist()

INTERNAL_URLS = [
    "http://127.0.0.1/",
    "http://127.8.9.10:8080/",
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
    "http://100.64.0.1/",  # carrier-grade NAT (shared address space)
    "http://0.0.0.0/",
    "http://224.0.0.1/",  # multicast
    "http://240.0.0.1/",  # reserved
    "http://255.255.255.255/",
    "http://[::1]/",
    "http://[::]/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[ff02::1]/",
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped IPv6
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:a9fe:a9fe]/",  # mapped 169.254.169.254
    "http://[64:ff9b::7f00:1]/",  # NAT64 of 127.0.0.1
    "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
    "http://2130706433/",  # decimal 127.0.0.1
    "http://0177.0.0.1/",  # octal
    "http://0x7f.0.0.1/",  # hex
    "http://0x7f000001/",
    "http://017700000001/",
    "http://127.1/",  # short form
    "http://0/",
    "https://localhost/",
]


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_internal_addresses_are_refused_in_every_notation(url):
    with pytest.raises(ssrf.Blocked):
        ssrf.check_url(url, NOTHING_ALLOWED)


@pytest.mark.parametrize("url", INTERNAL_URLS[:5])
def test_a_refused_address_is_never_contacted(url, db):
    with pytest.raises(ssrf.Blocked, match="internal address"):
        ssrf.fetch("GET", url, allowlist=NOTHING_ALLOWED)


def test_a_public_address_passes(fake_dns):
    fake_dns.table["api.example.com"] = ["93.184.216.34"]

    host, ip = ssrf.check_url("https://api.example.com/customers", NOTHING_ALLOWED)

    assert (host, ip) == ("api.example.com", ipaddress.ip_address("93.184.216.34"))


@pytest.mark.parametrize("answers", [["10.0.0.5"], ["127.0.0.1"], ["93.184.216.34", "192.168.0.10"], ["::1"]])
def test_a_name_that_resolves_to_an_internal_address_is_refused(fake_dns, answers):
    fake_dns.table["crm.example.com"] = answers

    with pytest.raises(ssrf.Blocked, match=r"crm\.example\.com"):
        ssrf.check_url("https://crm.example.com/lookup", NOTHING_ALLOWED)


@pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "gopher://127.0.0.1/", "http:///x"])
def test_other_schemes_and_hostless_urls_are_refused(url):
    with pytest.raises(ssrf.RequestRefused):
        ssrf.check_url(url, NOTHING_ALLOWED)


def test_the_allowlist_lifts_the_guard_by_network_address_or_host(fake_dns):
    fake_dns.table["crm.internal"] = ["10.1.2.3"]
    allowlist = ssrf.Allowlist.parse(["10.0.0.0/8", "127.0.0.1", "*.corp.example", "crm.internal"])
    fake_dns.table["api.corp.example"] = ["192.168.7.7"]

    assert ssrf.check_url("http://10.9.9.9/", allowlist)[1] == ipaddress.ip_address("10.9.9.9")
    assert ssrf.check_url("http://127.0.0.1:8000/", allowlist)[0] == "127.0.0.1"
    assert ssrf.check_url("http://[::ffff:10.0.0.1]/", allowlist)[0] == "::ffff:10.0.0.1"
    assert ssrf.check_url("http://crm.internal/", allowlist)[1] == ipaddress.ip_address("10.1.2.3")
    assert ssrf.check_url("http://api.corp.example/", allowlist)[0] == "api.corp.example"
    with pytest.raises(ssrf.Blocked):
        ssrf.check_url("http://127.0.0.2/", allowlist)
    with pytest.raises(ssrf.Blocked):
        ssrf.check_url("http://192.168.0.1/", allowlist)


def test_the_allowlist_comes_from_the_setting_and_the_admin(db, settings):
    settings.HTTP_REQUEST_ALLOWLIST = ["192.168.0.0/16"]
    AllowedHost.objects.create(value="127.0.0.1")

    allowlist = ssrf.current_allowlist()

    assert allowlist.allows_ip(ipaddress.ip_address("192.168.3.4"))
    assert allowlist.allows_ip(ipaddress.ip_address("127.0.0.1"))
    assert not allowlist.allows_ip(ipaddress.ip_address("10.0.0.1"))


@pytest.mark.parametrize("value", ["", "http://x/", "a b", "10.0.0.0/33", "exa mple.com"])
def test_the_admin_refuses_allowlist_entries_that_are_no_host_or_network(value):
    assert ssrf.validate_allowlist_entry(value) is not None


@pytest.mark.parametrize("value", ["crm.internal", "*.corp.example", "10.0.0.0/8", "::1", "fd00::/8"])
def test_the_admin_accepts_hosts_addresses_and_networks(value):
    assert ssrf.validate_allowlist_entry(value) is None


def test_every_redirect_hop_is_checked(local_server, fake_dns):
    inner = local_server({"/secret": lambda h: answer(h, 200, b'{"secret": true}')})
    outer = local_server({"/start": redirect(f"http://127.0.0.1:{inner.port}/secret")})
    fake_dns.table["crm.test"] = ["127.0.0.1"]

    with pytest.raises(ssrf.Blocked):
        ssrf.fetch("GET", f"http://crm.test:{outer.port}/start", allowlist=ssrf.Allowlist.parse(["crm.test"]))

    assert inner.requests == []  # the internal target was never contacted


def test_a_redirect_to_cloud_metadata_is_refused(local_server):
    server = local_server({"/start": redirect("http://169.254.169.254/latest/meta-data/", 307)})

    with pytest.raises(ssrf.Blocked, match=r"169\.254\.169\.254"):
        ssrf.fetch("GET", f"{server.url}/start", allowlist=ssrf.Allowlist.parse(["127.0.0.1"]))


def test_allowed_redirects_are_followed_up_to_the_limit(local_server):
    routes: dict[str, Handler] = {"/final": lambda h: answer(h, 200, b'{"ok": 1}')}
    for i in range(6):
        routes[f"/hop{i}"] = redirect(f"/hop{i + 1}" if i < 5 else "/final", 301)
    server = local_server(routes)
    allowlist = ssrf.Allowlist.parse(["127.0.0.1"])

    assert ssrf.fetch("GET", f"{server.url}/hop1", allowlist=allowlist).body == b'{"ok": 1}'
    with pytest.raises(ssrf.RequestRefused, match="More than 5 redirects"):
        ssrf.fetch("GET", f"{server.url}/hop0", allowlist=allowlist)


def test_secret_headers_do_not_follow_a_redirect_to_another_origin(local_server):
    other = local_server({"/landing": lambda h: answer(h, 200, b"{}")})
    first = local_server({"/start": redirect(f"http://localhost:{other.port}/landing")})
    allowlist = ssrf.Allowlist.parse(["127.0.0.1", "localhost", "::1"])

    ssrf.fetch("GET", f"{first.url}/start", secret_headers={"X-Api-Key": "s3cret"}, allowlist=allowlist)

    assert first.requests[0][2].get("X-Api-Key") == "s3cret"
    assert "X-Api-Key" not in other.requests[0][2]


def test_the_connection_goes_to_the_checked_address_not_a_second_dns_answer(local_server, fake_dns):
    """DNS rebinding: the name answers 127.0.0.1 when checked; a second lookup would answer
    an address nobody listens on. The pinned connection never asks again."""
    server = local_server({"/customer": lambda h: answer(h, 200, b'{"customerType": "VIP"}')})
    fake_dns.table["crm.test"] = ["127.0.0.1"]
    allowlist = ssrf.Allowlist.parse(["crm.test"])
    original_check = ssrf.check_url

    def check_then_rebind(url, allow):
        checked = original_check(url, allow)
        fake_dns.table["crm.test"] = ["10.255.255.1"]  # the attacker's second answer
        return checked

    ssrf.check_url = check_then_rebind
    try:
        result = ssrf.fetch("GET", f"http://crm.test:{server.port}/customer", allowlist=allowlist, connect_timeout=1)
    finally:
        ssrf.check_url = original_check

    assert result.body == b'{"customerType": "VIP"}'
    assert fake_dns.lookups == ["crm.test"]  # resolved once, by the guard
    assert server.requests[0][2]["Host"] == f"crm.test:{server.port}"  # the name, not the pinned IP


def test_an_answer_larger_than_the_cap_is_abandoned(local_server):
    def huge(h):
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.end_headers()  # no Content-Length: the size shows only while reading
        chunk = b"x" * 65536
        for _ in range(160):  # 10 MB
            h.wfile.write(chunk)

    server = local_server({"/huge": huge, "/declared": lambda h: answer(h, 200, b"y" * 200_000)})
    allowlist = ssrf.Allowlist.parse(["127.0.0.1"])

    with pytest.raises(ssrf.TooLarge, match="stopped reading"):
        ssrf.fetch("GET", f"{server.url}/huge", max_bytes=100_000, allowlist=allowlist)
    with pytest.raises(ssrf.TooLarge, match="Content-Length"):
        ssrf.fetch("GET", f"{server.url}/declared", max_bytes=100_000, allowlist=allowlist)


def test_a_server_that_never_answers_times_out(local_server):
    stop = threading.Event()
    server = local_server({"/never": lambda h: stop.wait(10)})
    started = time.monotonic()
    try:
        with pytest.raises(requests.Timeout):
            ssrf.fetch("GET", f"{server.url}/never", read_timeout=0.5, allowlist=ssrf.Allowlist.parse(["127.0.0.1"]))
    finally:
        stop.set()
    assert time.monotonic() - started < 3


def test_a_server_that_drips_bytes_meets_the_overall_deadline(local_server):
    def drip(h):
        h.send_response(200)
        h.send_header("Content-Length", "1000")
        h.end_headers()
        for _ in range(1000):
            h.wfile.write(b" ")
            h.wfile.flush()
            time.sleep(0.1)

    server = local_server({"/drip": drip})
    started = time.monotonic()

    with pytest.raises(requests.Timeout):
        ssrf.fetch(
            "GET",
            f"{server.url}/drip",
            read_timeout=1,
            total_timeout=1,
            allowlist=ssrf.Allowlist.parse(["127.0.0.1"]),
        )
    assert time.monotonic() - started < 3
