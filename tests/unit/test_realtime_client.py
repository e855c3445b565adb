"""The tests' WebSocket client reads a refusal that arrives with the handshake.

A refusing server's answer (upgrade, error message, close) can reach the client in one
read; ``simple_websocket`` 1.1 alone then loses the message and reports close code 1005.
A fresh-clone run of the suite failed on it once (``test_ulaw_and_unsupported_formats``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import struct
import threading

import pytest
from simple_websocket.errors import ConnectionClosed

from tests.realtime_helpers import NativeClient

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def _frame(opcode: int, payload: bytes) -> bytes:
    assert len(payload) < 126
    return bytes([0x80 | opcode, len(payload)]) + payload


def _refusing_server() -> int:
    """One connection: the upgrade, an error and a 4400 close in a single write, then EOF."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def serve():
        conn, _ = listener.accept()
        request = b""
        while b"\r\n\r\n" not in request:
            request += conn.recv(4096)
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key")
        )
        accept = base64.b64encode(hashlib.sha1(key + GUID.encode()).digest())
        answer = (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        error = json.dumps({"type": "error", "code": "unsupported_format"}).encode()
        close = _frame(0x8, struct.pack("!H", 4400) + b"bad format")
        conn.sendall(answer + _frame(0x1, error) + close)
        conn.close()
        listener.close()

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1]


def test_a_refusal_sent_with_the_handshake_is_read_whole():
    client = NativeClient(f"ws://127.0.0.1:{_refusing_server()}/v1/audio/transcriptions/stream")
    assert client.recv(timeout=5) == {"type": "error", "code": "unsupported_format"}
    with pytest.raises(ConnectionClosed) as closed:
        client.recv(timeout=5)
    assert closed.value.reason == 4400
