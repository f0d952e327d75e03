"""A fault-injecting TCP proxy for testing the device link.

Sits between tinygen and a TCP serial endpoint (QEMU's `-serial tcp:...`) and
damages the byte stream at seeded rates: each byte is dropped with probability
`drop` and otherwise has one random bit flipped with probability `flip`,
independently per direction (`directions`: 'both', 'to_device', 'to_host').
The random choices depend only on the seed and the byte position in each
direction, so a run is reproducible whatever the TCP chunking.

    with FaultProxy("127.0.0.1", qemu_port, drop=1e-3, flip=1e-3, seed=7) as proxy:
        tinygen verify model.tflite --port proxy.url      # socket://127.0.0.1:PORT

Command line: python -m tinygen.device.faultproxy UPSTREAM_PORT [--drop P] [--flip P] [--seed S]
"""
from __future__ import annotations

import argparse
import random
import select
import socket
import threading


class _Damage:
    """The per-direction fault state: a seeded generator and counters."""

    def __init__(self, seed: int, drop: float, flip: float):
        self.rng = random.Random(seed)
        self.drop = drop
        self.flip = flip
        self.dropped = 0
        self.flipped = 0
        self.passed = 0

    def apply(self, data: bytes) -> bytes:
        if not self.drop and not self.flip:
            self.passed += len(data)
            return data
        out = bytearray()
        for b in data:
            r = self.rng.random()
            bit = self.rng.randrange(8)
            if r < self.drop:
                self.dropped += 1
                continue
            if r < self.drop + self.flip:
                b ^= 1 << bit
                self.flipped += 1
            out.append(b)
            self.passed += 1
        return bytes(out)


class FaultProxy:
    """Listens on 127.0.0.1:`port` (0 = any free port; see `.url`) and relays
    each client connection to upstream (host, port) with damage applied."""

    def __init__(self, upstream_host: str, upstream_port: int, drop: float = 0.0, flip: float = 0.0,
                 seed: int = 0, directions: str = "both", port: int = 0):
        if directions not in ("both", "to_device", "to_host"):
            raise ValueError("directions must be 'both', 'to_device' or 'to_host'")
        self.upstream = (upstream_host, upstream_port)
        rates = {"to_device": (drop, flip) if directions in ("both", "to_device") else (0.0, 0.0),
                 "to_host": (drop, flip) if directions in ("both", "to_host") else (0.0, 0.0)}
        self.to_device = _Damage(seed * 2 + 1, *rates["to_device"])
        self.to_host = _Damage(seed * 2 + 2, *rates["to_host"])
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", port))
        self._server.listen(1)
        self.port = self._server.getsockname()[1]
        self.url = f"socket://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def stats(self) -> dict:
        return {d: {"passed": s.passed, "dropped": s.dropped, "flipped": s.flipped}
                for d, s in (("to_device", self.to_device), ("to_host", self.to_host))}

    def start(self) -> "FaultProxy":
        self._thread = threading.Thread(target=self._serve, name="faultproxy", daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        self._server.settimeout(0.1)
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            self._relay(client, upstream)

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        for s in (client, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.setblocking(True)
        routes = {client: (upstream, self.to_device), upstream: (client, self.to_host)}
        try:
            while routes and not self._stop.is_set():
                ready, _, _ = select.select(list(routes), [], [], 0.1)
                for src in ready:
                    data = src.recv(65536)
                    dst, damage = routes[src]
                    if not data:
                        # Half-close: pass the end of this direction on, keep the other one.
                        del routes[src]
                        try:
                            dst.shutdown(socket.SHUT_WR)
                        except OSError:
                            pass
                        continue
                    data = damage.apply(data)
                    if data:
                        dst.sendall(data)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()

    def stop(self) -> None:
        self._stop.set()
        try:
            self._server.close()
        except OSError:
            pass
        if self._thread is not None:
            self._thread.join(timeout=2)

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="fault-injecting TCP proxy (drops and flips bytes at seeded rates)")
    ap.add_argument("upstream_port", type=int, help="port of the TCP serial endpoint (e.g. QEMU's)")
    ap.add_argument("--upstream-host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    ap.add_argument("--drop", type=float, default=1e-3, help="probability a byte is dropped")
    ap.add_argument("--flip", type=float, default=1e-3, help="probability a byte has a bit flipped")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--directions", default="both", choices=["both", "to_device", "to_host"])
    a = ap.parse_args(argv)
    proxy = FaultProxy(a.upstream_host, a.upstream_port, a.drop, a.flip, a.seed, a.directions, a.port).start()
    print(f"serial: {proxy.url}", flush=True)
    try:
        proxy._stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        proxy.stop()
        print(proxy.stats())


if __name__ == "__main__":
    main()
