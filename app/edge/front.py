"""The protocol every connection of `tracker serve` starts on: the tracking edge first.

A minimal HTTP/1.1 server on uvloop and httptools (the parser uvicorn uses) for the
requests the edge exists for: `GET` or `HEAD /c/{code}` of a link the cache holds, and
a bodiless `GET /postback` or `GET /pixel.gif` (app.edge.intake). Such a request is
taken off the connection's bytes whole (its head, to the blank line: it has no body),
parsed by httptools, queued for the group commit synchronously, and answered from the
batch's callback (GroupCommit.submit_then: one pass over the batch writes the answers of
all its requests, once Redis has answered it): no scope, no cycle, no task, one write.

Anything else, from the first byte of the first request that is not such a one (the
API, the portal, a POST, a link the cache does not hold, a request that announces a
body, bytes that are not HTTP), is handed with the rest of the connection to uvicorn's
protocol (app.edge.protocol.EdgeProtocol, with its own fast lane and limits), which
starts on exactly those bytes, once every request before it has been answered. So the
connection rules that matter for anything with a body, `Expect: 100-continue` and
smuggling attempts among them, stay uvicorn's and httptools'; what this one decides is
only whether the bytes in front are a bodiless click, postback or pixel.

Its own rules (tests/edge): one request at a time, in order (pipelined requests wait in
the buffer, reading paused past MAX_HEAD_BYTES of it); a head over MAX_HEAD_BYTES gets
431, a head not whole within READ_TIMEOUT_S 408, a head httptools refuses 400, each with
the connection closed; an idle kept-alive connection is closed after uvicorn's
`timeout_keep_alive`, and one that has had MAX_KEEPALIVE_REQUESTS requests is told
`connection: close` with the next; a client that half-closes still gets its answers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any
from urllib.parse import unquote

import httptools
from uvicorn.config import Config
from uvicorn.server import ServerState

from app.edge import intake, protocol
from app.edge.deadline import Deadline
from app.edge.found import found
from app.edge.protocol import ERROR, EdgeProtocol, refusal, render
from app.errors import AppError
from app.postbacks.asgi import PIXEL, Answer, postback_answer
from app.postbacks.service import Intake
from app.redirect.handler import HEADERS, UNAVAILABLE, Click, Redirector, Reply
from app.streams.batching import CommitFailed
from app.streams.producer import Unconfirmed

logger = logging.getLogger("uvicorn.error")

# nginx's `keepalive_requests` default.
MAX_KEEPALIVE_REQUESTS = 1000

# What a request this protocol may take starts with (a click, or the intake's GETs).
_STARTS = (b"GET /c/", b"HEAD /c/", b"GET /postback", b"GET /pixel.gif")
_LONGEST = max(len(start) for start in _STARTS)
# Names that give a request a body (or make it something other than a plain request):
# anywhere in a head, in any case, they send the request to uvicorn.
_NOT_PLAIN = (b"content-length", b"transfer-encoding", b"upgrade")
_HEADER_SET = frozenset(HEADERS)


class TwoMessages(Exception):
    """A head that httptools reads as more than one request."""


class FrontProtocol(asyncio.Protocol):
    """`tracker serve`'s HTTP protocol (uvicorn's `http=`): see the module's doc."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not config.loaded:
            config.load()
        self._args = (config, server_state, app_state, _loop)
        self.loop = _loop or asyncio.get_event_loop()
        self.server_state = server_state
        self.redirector: Redirector | None = getattr(config.loaded_app, "redirector", None)
        self.intake: Intake | None = getattr(config.loaded_app, "intake", None)
        self.then = self._committed  # bound once: the batch's callback for every click
        # And a postback's two (app.edge.intake.start_postback): no closure per request, so
        # that what a postback keeps alive while its batch waits is a few objects (the
        # collector's young generation fills with them, 64 connections' worth).
        self.postback_then = self._postback_answer
        self.postback_later = self._postback_later
        self.keep_alive_s = config.timeout_keep_alive
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.parser = httptools.HttpRequestParser(self)
        self.peer = ""
        self.https = False
        self.buffer = b""
        self.requests = 0
        self.click: Click | None = None  # the click waiting for its commit
        self.owing = False  # a request (click or intake) waits for its answer
        self.starting = False  # inside the intake's start
        self.close_after = False  # the click's answer ends the connection
        self.head = False
        self.eof = False
        self.done = False  # closed, or handed to uvicorn's protocol
        self.read_paused = False
        self.write_paused = False
        self.deadline = Deadline(self.loop)
        self.reading = True
        # The request being parsed.
        self.url = b""
        self.headers: dict[bytes, bytes] = {}
        self.wanted = _HEADER_SET  # the names kept: the click's, or the intake's
        self.messages = 0
        self.keep_alive = False

    # asyncio's protocol interface

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.transport = transport
        self.server_state.connections.add(self)  # type: ignore[arg-type]
        peer = transport.get_extra_info("peername")
        self.peer = peer[0] if peer else ""
        self.https = bool(transport.get_extra_info("sslcontext"))
        self.deadline.arm(protocol.READ_TIMEOUT_S, self._read_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server_state.connections.discard(self)
        self.done = True
        self.deadline.stop()

    def eof_received(self) -> bool | None:
        self.eof = True
        # Half-closed: the transport stays open while a click waits for its answer.
        return True if self.owing else None

    def data_received(self, data: bytes) -> None:
        if self.done:
            return
        self.buffer = self.buffer + data if self.buffer else data
        if not self.owing:
            self._next()
        elif len(self.buffer) > protocol.MAX_HEAD_BYTES:
            self._pause(True)  # pipelined past a head's worth: wait for the answer

    def pause_writing(self) -> None:
        self.write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        self._update_reading()

    def shutdown(self) -> None:
        """uvicorn's server stopping: close now, or after the answer owed."""
        if not self.owing:
            self._close()
        else:
            self.close_after = True

    # httptools' callbacks (only while a head is fed)

    def on_message_begin(self) -> None:
        self.messages += 1
        if self.messages > 1:
            raise TwoMessages

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_headers_complete(self) -> None:
        # Read here: once the message is complete, the parser is the next one's.
        self.keep_alive = self.parser.should_keep_alive()

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name in self.wanted:
            if self.wanted is _HEADER_SET:
                self.headers.setdefault(name, value)  # the click's: the first counts
            else:
                self.headers[name] = value  # the intake's: the last, as in the ASGI path

    # The requests

    def _next(self) -> None:
        """Take the request at the front of the buffer, if it is whole."""
        buffer = self.buffer
        if not buffer.startswith(_STARTS):
            if len(buffer) < _LONGEST and any(start.startswith(buffer) for start in _STARTS):
                self.deadline.arm(protocol.READ_TIMEOUT_S, self._read_timed_out)
                if self.eof:
                    self._close()
                return
            self._hand_over()
            return
        end = buffer.find(b"\r\n\r\n", 0, protocol.MAX_HEAD_BYTES) + 4
        if end == 3:
            if len(buffer) >= protocol.MAX_HEAD_BYTES:
                self._refuse(431, "Request header fields too large.")
            elif self.eof:
                self._close()
            else:
                self.deadline.arm(protocol.READ_TIMEOUT_S, self._read_timed_out)
            return
        head = buffer[:end]
        lowered = head.lower()
        for name in _NOT_PLAIN:
            if lowered.find(name) >= 0:  # (find: a third faster than `in` on bytes)
                self._hand_over()
                return
        self.url, self.headers, self.messages, self.keep_alive = b"", {}, 0, False
        click = buffer[0] == 72 or buffer[5] == 99  # "HEAD /c/", or the "c" of "GET /c/"
        self.wanted = _HEADER_SET if click else intake.HEADERS
        try:
            self.parser.feed_data(head)
            url = httptools.parse_url(self.url)
            path = url.path.decode("ascii")
        except httptools.HttpParserUpgrade:
            self._hand_over()
            return
        except (httptools.HttpParserError, UnicodeDecodeError):
            self._refuse(400, "Invalid HTTP request received.")
            return
        if self.messages != 1:  # not a whole request, for httptools: uvicorn's to say
            self._hand_over()
            return
        if "%" in path:
            path = unquote(path)
        head_request = buffer[0] == 72  # "H"
        query = url.query or b""
        if click:
            redirector = self.redirector
            self.click = (
                None
                if redirector is None
                else redirector.start_parsed(
                    path[3:], query, self.headers, self.peer, self.https, head_request, self.then
                )
            )
            if self.click is None:  # not a link the cache holds as plain: the app's
                self._hand_over()
                return
        elif self.intake is None or path not in intake.PATHS:
            self._hand_over()
            return
        self.deadline.disarm()
        self.owing = True
        self.buffer = buffer[end:]
        self.requests += 1
        self.head = head_request
        self.close_after = not self.keep_alive or self.requests >= MAX_KEEPALIVE_REQUESTS
        if not click:
            assert self.intake is not None
            self.starting = True
            try:
                if path == PIXEL:
                    intake.start_pixel(self.intake, query, self.headers, self.peer, self._later)
                else:
                    intake.start_postback(
                        self.intake,
                        query,
                        self.headers,
                        self.peer,
                        self.postback_then,
                        self.postback_later,
                    )
            finally:
                self.starting = False

    def _committed(self, outcome: bool | Exception) -> None:
        """The click's batch answered (or failed): from the batch's one pass."""
        click = self.click
        if self.done or click is None:
            return
        if outcome is True or outcome is False:
            self._answer(self._found(click, outcome))
        elif isinstance(outcome, CommitFailed | Unconfirmed):
            # Redis (or its replicas) did not confirm the batch in time: the spool's
            # fsync, then the reply.
            self._spawn(self._spooled(click, outcome))
        else:
            logger.error("click not queued", exc_info=outcome)
            self._answer(self._render(ERROR))

    async def _spooled(self, click: Click, failure: CommitFailed | Unconfirmed) -> None:
        assert self.redirector is not None
        reply = await self.redirector.spooled(click, failure)
        if not self.done:
            self._answer(self._render(reply))

    def _intake_answer(self, answer: Answer) -> None:
        if self.starting:
            # Answered at once (a query that does not parse): on the loop's next pass, so
            # that a pipeline of such requests is not answered by recursion.
            self.loop.call_soon(self._intake_answer, answer)
            return
        if not self.done and self.owing:
            defaults = self.server_state.default_headers
            self._answer(intake.rendered(answer, defaults, not self.close_after, self.head))

    def _postback_answer(self, error: AppError | None) -> None:
        self._intake_answer(postback_answer(error))

    def _postback_later(self, answer: Coroutine[Any, Any, None]) -> None:
        self._later(intake.answer_of(answer))

    def _later(self, answer: Coroutine[Any, Any, Answer]) -> None:
        self._spawn(self._answer_later(answer))

    async def _answer_later(self, answer: Coroutine[Any, Any, Answer]) -> None:
        try:
            answered = await answer
        except Exception:
            logger.exception("intake request failed")
            if not self.done and self.owing:
                self._answer(self._render(ERROR))
            return
        self._intake_answer(answered)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = self.loop.create_task(coroutine)
        self.server_state.tasks.add(task)
        task.add_done_callback(self.server_state.tasks.discard)

    def _found(self, click: Click, within: bool) -> bytes:
        location = click.location(within)
        if location is None:
            return self._render(UNAVAILABLE)
        return found(self.server_state, location, click.cookie, self.close_after)

    def _render(self, reply: Reply) -> bytes:
        defaults = self.server_state.default_headers
        return render(reply, defaults, not self.close_after, self.head)

    def _answer(self, response: bytes) -> None:
        self.click = None
        self.owing = False
        self.server_state.total_requests += 1
        self.transport.write(response)
        if self.close_after:
            self._close()
            return
        self._pause(False)
        if self.buffer:
            self._next()
        elif self.eof:
            self._close()
        else:
            self.deadline.arm(self.keep_alive_s, self._close)

    # The connection

    def _hand_over(self) -> None:
        """The rest of the connection, from the front of the buffer, to uvicorn's protocol."""
        self.done = True
        self.deadline.stop()
        self.server_state.connections.discard(self)
        self.read_paused = False
        if not self.reading:
            self.transport.resume_reading()
        successor = EdgeProtocol(*self._args)
        self.transport.set_protocol(successor)
        successor.connection_made(self.transport)
        if self.write_paused:
            successor.pause_writing()
        data, self.buffer = self.buffer, b""
        if data:
            successor.data_received(data)
        if self.eof and not successor.eof_received():
            self.transport.close()

    def _refuse(self, status: int, message: str) -> None:
        self.transport.write(refusal(status, message, self.server_state.default_headers))
        self._close()

    def _read_timed_out(self) -> None:
        self._refuse(408, "Request timeout.")

    def _close(self) -> None:
        self.done = True
        self.deadline.stop()
        self.transport.close()

    def _pause(self, paused: bool) -> None:
        self.read_paused = paused
        self._update_reading()

    def _update_reading(self) -> None:
        if self.done:
            return
        reading = not (self.read_paused or self.write_paused)
        if reading != self.reading:
            self.reading = reading
            if reading:
                self.transport.resume_reading()
            else:
                self.transport.pause_reading()
