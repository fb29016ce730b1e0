"""A minimal websocket client for the real-server tests: one text message there and back."""

from __future__ import annotations

import base64
import os
import socket
import struct


def echo(host: str, port: int, path: str, text: str, timeout: float = 30.0) -> str:
    """Open ``ws://host:port/path``, send ``text``, return the first text message received."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError(f"no handshake answer: {head!r}")
            head += chunk
        status, _, rest = head.partition(b"\r\n\r\n")
        if b" 101 " not in status.split(b"\r\n", 1)[0]:
            raise ConnectionError(f"handshake refused: {status!r}")
        payload = text.encode()
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        sock.sendall(struct.pack("!BB", 0x81, 0x80 | len(payload)) + mask + masked)
        buffer = rest

        def read(count: int) -> bytes:
            nonlocal buffer
            while len(buffer) < count:
                chunk = sock.recv(4096)
                if not chunk:
                    raise ConnectionError("closed before a message arrived")
                buffer += chunk
            taken, buffer = buffer[:count], buffer[count:]
            return taken

        first, second = read(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", read(2))
        if first & 0x0F != 0x1:
            raise ConnectionError(f"expected a text frame, got opcode {first & 0x0F}")
        return read(length).decode()
