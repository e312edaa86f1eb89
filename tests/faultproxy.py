"""A tiny HTTP proxy in front of a real registry that injects faults, for the oci driver's
retry and resume tests: the registry behind it stays real; the proxy only fails some requests
(an HTTP status, a dropped connection, a body cut short, a header removed) a given number of
times, then forwards them. It records every request it saw (method, path, headers).

    with FaultProxy(server.host) as proxy:
        proxy.fail("HEAD", "/manifests/", status=503, times=2)
        driver.configure(proxy.host, Endpoint(tls_verify=False))
"""
from __future__ import annotations

import http.client
import socket
import threading
from dataclasses import dataclass, field
from typing import Any
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


@dataclass
class Fault:
    method: str
    contains: str
    times: int
    status: int = 0  # answer this status instead of forwarding
    headers: dict[str, str] = field(default_factory=dict)  # ... with these headers
    body: bytes = b""
    drop: bool = False  # close the connection without answering
    cut_after: int = -1  # forward, but close after this many body bytes
    strip: tuple[str, ...] = ()  # forward, without these response headers
    redirect_host: str = ""  # answer 307 to the same path on this host:port
    transform: Any = None  # forward, then answer transform(path, headers, body) -> (headers, body)

    def matches(self, method: str, path: str) -> bool:
        return self.times > 0 and method == self.method and self.contains in path


class FaultProxy:
    """See the module docstring. ``host`` is ``127.0.0.1:PORT`` of the proxy."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.faults: list[Fault] = []
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with proxy._lock:
                    proxy._connections.append(self.connection)

            def _handle(self) -> None:
                proxy._serve(self)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def fail(self, method: str, contains: str, times: int = 1, **how: object) -> Fault:
        fault = Fault(method, contains, times, **how)  # type: ignore[arg-type]
        with self._lock:
            self.faults.append(fault)
        return fault

    def requests(self, method: str | None = None, contains: str = "") -> list[tuple[str, str, dict[str, str]]]:
        with self._lock:
            return [r for r in self.seen if (method is None or r[0] == method) and contains in r[1]]

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        with self._lock:
            for conn in self._connections:  # kept-alive connections die with the proxy
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self.thread.join(10)

    # serving ---------------------------------------------------------------------------------

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        headers = {k: v for k, v in h.headers.items()}
        with self._lock:
            self.seen.append((h.command, h.path, headers))
            fault = next((f for f in self.faults if f.matches(h.command, h.path)), None)
            if fault is not None:
                fault.times -= 1
        if fault is not None and fault.drop:
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault is not None and fault.redirect_host:
            h.send_response(307)
            h.send_header("Location", f"http://{fault.redirect_host}{h.path}")
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        if fault is not None and fault.status:
            h.send_response(fault.status)
            for key, value in fault.headers.items():
                h.send_header(key, value)
            h.send_header("Content-Length", str(len(fault.body)))
            h.end_headers()
            if h.command != "HEAD":
                h.wfile.write(fault.body)
            return
        self._forward(h, body, headers, fault)

    def _forward(self, h: BaseHTTPRequestHandler, body: bytes, headers: dict[str, str], fault: Fault | None) -> None:
        conn = http.client.HTTPConnection(self.upstream, timeout=60)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() not in HOP_HEADERS and k.lower() != "host"}
            sent["Host"] = self.upstream
            conn.request(h.command, h.path, body=body or None, headers=sent)
            response = conn.getresponse()
            if fault is not None and fault.transform is not None:
                out_headers, out_body = fault.transform(h.path, dict(response.getheaders()), response.read())
                h.send_response(response.status, response.reason)
                for key, value in out_headers.items():
                    if key.lower() not in HOP_HEADERS and key.lower() != "content-length":
                        h.send_header(key, value)
                h.send_header("Content-Length", str(len(out_body)))
                h.end_headers()
                h.wfile.write(out_body)
                return
            h.send_response(response.status, response.reason)
            strip = {s.lower() for s in (fault.strip if fault else ())}
            for key, value in response.getheaders():
                if key.lower() in HOP_HEADERS or key.lower() in strip:
                    continue
                if key.lower() == "location":
                    value = value.replace(f"//{self.upstream}/", f"//{self.host}/")
                h.send_header(key, value)
            if response.getheader("Content-Length") is None and h.command != "HEAD":
                h.send_header("Connection", "close")  # the body ends when the connection does
                h.close_connection = True
            h.end_headers()
            if h.command == "HEAD":
                return
            cut = fault.cut_after if fault else -1
            written = 0
            while True:
                chunk = response.read(65536)
                if not chunk:
                    break
                if 0 <= cut < written + len(chunk):
                    h.wfile.write(chunk[: cut - written])
                    h.wfile.flush()
                    h.close_connection = True
                    h.connection.shutdown(socket.SHUT_RDWR)
                    return
                h.wfile.write(chunk)
                written += len(chunk)
        finally:
            conn.close()
