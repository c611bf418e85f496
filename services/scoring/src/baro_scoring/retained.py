"""A lean reader of the messages a JetStream stream retains, for replays.

A replay reads tens of thousands of messages once, in stream order, and does nothing else
with its connection. nats-py makes a message object, a task switch and a metadata parse per
message: more time than a replay may spend on each. This reader speaks the few words of the
NATS protocol a replay needs over one blocking socket instead: it creates an ephemeral pull
consumer (no acks, in memory, removed when done), fetches batches without waiting, and
hands each message's subject, body and stream sequence to a callback, from buffers of
whatever the socket gave.

Only the messages stored when the read starts are read: the range ends at the stream's last
sequence then (or earlier when asked), and later ones are left alone.
"""

from __future__ import annotations

import json
import secrets
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

BATCH = 8192
"""Messages asked for per pull request."""
TIMEOUT_SECONDS = 30.0
"""No byte from the server for this long: the read fails rather than hangs."""

OnMessage = Callable[[str, bytes, int], None]
"""(subject, body, stream sequence) of each message, in stream order."""


class StreamReadError(RuntimeError):
    """The server refused or broke off the read (the reason is the server's)."""


@dataclass(frozen=True)
class StreamRange:
    """The stored sequences of a stream a read covers; `last` 0 means the stream is empty."""

    first: int
    last: int
    messages: int
    """Messages on the filter subject in the whole stream when asked."""


def stream_position(ack: bytes) -> tuple[int, int]:
    """(stream sequence, messages pending after it) from a JetStream message's reply subject:
    `$JS.ACK.<stream>.<consumer>.<delivered>.<sequence>.<consumer seq>.<time>.<pending>`, or
    the newer form with `<domain>.<account hash>` before the stream and a token at the end."""
    tokens = ack.split(b".")
    at = 5 if len(tokens) == 9 else 7
    return int(tokens[at]), int(tokens[at + 3])


class RetainedReader:
    """One connection to a NATS server, reading retained stream messages."""

    def __init__(self, url: str, name: str = "baro-replay-reader") -> None:
        parts = urlsplit(url if "://" in url else f"nats://{url}")
        self._sock = socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or 4222), timeout=TIMEOUT_SECONDS
        )
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = b""
        self._pos = 0
        info = json.loads(self._line().partition(b" ")[2])
        if parts.scheme == "tls" or info.get("tls_required"):
            context = ssl.create_default_context()
            self._sock = context.wrap_socket(self._sock, server_hostname=parts.hostname)
        connect: dict[str, Any] = {
            "verbose": False,
            "pedantic": False,
            "headers": True,
            "no_responders": True,
            "protocol": 1,
            "lang": "python-baro",
            "version": "1",
            "name": name,
        }
        if parts.username and parts.password is not None:
            connect["user"] = unquote(parts.username)
            connect["pass"] = unquote(parts.password)
        elif parts.username:
            connect["auth_token"] = unquote(parts.username)
        self._inbox = f"_INBOX.{secrets.token_hex(11)}"
        self._send(b"CONNECT " + json.dumps(connect).encode() + b"\r\nPING\r\n")
        self._expect_pong()
        self._send(f"SUB {self._inbox}.* 1\r\n".encode())

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> RetainedReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- JetStream API -------------------------------------------------------------------

    def request(self, subject: str, payload: dict[str, Any]) -> dict[str, Any]:
        """A JetStream API request's JSON answer (StreamReadError if it is an error)."""
        reply = f"{self._inbox}.api"
        self._publish(subject, reply, json.dumps(payload).encode())
        while True:
            frame = self._frame()
            if frame is None or frame[0] != reply.encode():
                continue
            status, body = frame[3], frame[1]
            if status:
                raise StreamReadError(f"{subject}: {status.decode(errors='replace')}")
            answer: dict[str, Any] = json.loads(body)
            if "error" in answer:
                error = answer["error"]
                raise StreamReadError(f"{subject}: {error.get('description', error)}")
            return answer

    def stream_range(self, stream: str, subject: str) -> StreamRange | None:
        """The stream's stored sequences and how many messages `subject` has (None if there
        is no such stream)."""
        try:
            info = self.request(f"$JS.API.STREAM.INFO.{stream}", {"subjects_filter": subject})
        except StreamReadError as exc:
            if "not found" in str(exc):
                return None
            raise
        state = info["state"]
        messages = sum((state.get("subjects") or {}).values())
        return StreamRange(int(state["first_seq"]), int(state["last_seq"]), messages)

    def read_stored(
        self,
        stream: str,
        subject: str,
        on_message: OnMessage,
        stored: StreamRange | None = None,
    ) -> int:
        """Deliver every message on `subject` the stream holds now (or held when `stored`
        was taken), in order; returns how many (0 without such a stream)."""
        stored = stored or self.stream_range(stream, subject)
        if stored is None or not stored.messages:
            return 0
        return self.read(stream, subject, stored.first, stored.last, on_message)

    def read(self, stream: str, subject: str, first: int, last: int, on_message: OnMessage) -> int:
        """Deliver every message on `subject` stored at sequences first..last, in order;
        returns how many."""
        if last < first:
            return 0
        created = self.request(
            f"$JS.API.CONSUMER.CREATE.{stream}",
            {
                "stream_name": stream,
                "config": {
                    "deliver_policy": "by_start_sequence",
                    "opt_start_seq": max(1, first),
                    "ack_policy": "none",
                    "filter_subject": subject,
                    "replay_policy": "instant",
                    "mem_storage": True,
                    "num_replicas": 1,
                    "inactive_threshold": 60_000_000_000,
                },
            },
        )
        consumer = created["name"]
        try:
            return self._pull(stream, consumer, last, on_message)
        finally:
            self._publish(f"$JS.API.CONSUMER.DELETE.{stream}.{consumer}", "", b"")

    def _pull(self, stream: str, consumer: str, last: int, on_message: OnMessage) -> int:
        next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        reply = f"{self._inbox}.pull"
        request = json.dumps({"batch": BATCH, "no_wait": True}).encode()
        subjects: dict[bytes, str] = {}
        delivered = 0
        while True:
            self._publish(next_subject, reply, request)
            received = 0
            while received < BATCH:
                frame = self._frame()
                if frame is None:
                    continue
                message_subject, body, ack, status = frame
                if status:
                    if message_subject != reply.encode():
                        continue
                    if status.startswith(b"404") or status.startswith(b"408"):
                        if not received:
                            return delivered  # nothing more is stored
                        break  # the request ended short of its batch: ask again
                    raise StreamReadError(f"reading {stream}: {status.decode(errors='replace')}")
                if not ack.startswith(b"$JS.ACK."):
                    continue
                received += 1
                sequence, pending = stream_position(ack)
                if sequence > last:
                    return delivered
                subject = subjects.get(message_subject)
                if subject is None:
                    subject = subjects[message_subject] = message_subject.decode()
                on_message(subject, body, sequence)
                delivered += 1
                if sequence == last or pending == 0:
                    return delivered

    # --- the protocol --------------------------------------------------------------------

    def _send(self, data: bytes) -> None:
        self._sock.sendall(data)

    def _publish(self, subject: str, reply: str, payload: bytes) -> None:
        head = f"PUB {subject} {reply} {len(payload)}\r\n" if reply else None
        head = head or f"PUB {subject} {len(payload)}\r\n"
        self._send(head.encode() + payload + b"\r\n")

    def _fill(self) -> None:
        """More bytes from the socket, keeping what is not consumed yet."""
        chunk = self._sock.recv(1 << 20)
        if not chunk:
            raise StreamReadError("the NATS server closed the connection")
        self._buf = self._buf[self._pos :] + chunk
        self._pos = 0

    def _line(self) -> bytes:
        while True:
            end = self._buf.find(b"\r\n", self._pos)
            if end >= 0:
                line = self._buf[self._pos : end]
                self._pos = end + 2
                return line
            self._fill()

    def _expect_pong(self) -> None:
        while True:
            line = self._line()
            if line.startswith(b"PONG"):
                return
            if line.startswith(b"-ERR"):
                raise StreamReadError(line.decode(errors="replace"))

    def _frame(self) -> tuple[bytes, bytes, bytes, bytes] | None:
        """The next message as (subject, body, reply, status), status b"" for a message
        with data; None for a protocol line that is not a message (answered if needed)."""
        buf, pos = self._buf, self._pos
        eol = buf.find(b"\r\n", pos)
        while eol < 0:
            self._fill()
            buf, pos = self._buf, self._pos
            eol = buf.find(b"\r\n", pos)
        if buf.startswith(b"HMSG ", pos):
            parts = buf[pos + 5 : eol].split(b" ")  # subject sid [reply] header-size size
            header_size = int(parts[-2])
        elif buf.startswith(b"MSG ", pos):
            parts = buf[pos + 4 : eol].split(b" ")  # subject sid [reply] size
            header_size = 0
        else:
            self._pos = eol + 2
            if buf.startswith(b"PING", pos):
                self._send(b"PONG\r\n")
            elif buf.startswith(b"-ERR", pos):
                raise StreamReadError(buf[pos:eol].decode(errors="replace"))
            return None
        start = eol + 2
        end = start + int(parts[-1])
        while len(buf) < end + 2:
            self._fill()  # keeps the frame's line: positions move by the same amount
            start, end, eol = start - pos, end - pos, eol - pos
            buf, pos = self._buf, 0
        self._pos = end + 2
        reply = parts[2] if len(parts) == 4 + (header_size > 0) else b""
        status = b""
        if header_size:
            # "NATS/1.0 404 No Messages\r\n...": a status instead of a stored message.
            first_line = buf[start : buf.find(b"\r\n", start)]
            status = first_line[9:].strip()
        return parts[0], buf[start + header_size : end], reply, status
