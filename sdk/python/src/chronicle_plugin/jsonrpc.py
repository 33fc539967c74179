"""A JSON-RPC 2.0 peer over a pair of byte streams, one message per line.

Both sides send requests. Each request from the host runs as its own task, so a slow handler
never holds up the next event; answers to this plugin's own requests resolve the futures its
service calls wait on. Every message is written whole, from the event loop's thread only, so
lines never interleave. A synchronous call made on that thread (`call_blocking`) cannot wait
for the loop, so its answer is handed over by the reader thread directly.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import threading
from typing import Any, Awaitable, BinaryIO, Callable, Dict, Optional, Set

from .errors import ServiceError
from .protocol import (
    MAX_LINE_BYTES,
    ErrorCode,
    RpcError,
    encode_line,
    error_response,
    exception_summary,
    request,
    success_response,
)

logger = logging.getLogger(__name__)

RequestServer = Callable[[str, Dict[str, Any]], Awaitable[Any]]
LineSource = Callable[[], Awaitable[bytes]]
LineSink = Callable[[bytes], None]


class Connection:
    """Serves the host's requests with `serve_request` and sends this plugin's own."""

    def __init__(self, read_line: LineSource, write_line: LineSink, serve_request: RequestServer):
        """`read_line` returns b"" at end of input; `write_line` writes one whole line."""
        self._read_line = read_line
        self._write_line = write_line
        self._serve_request = serve_request
        self._request_ids = itertools.count(1)
        self._awaiting_answer: Dict[int, asyncio.Future] = {}
        self._awaiting_blocking: Dict[int, "_BlockingAnswer"] = {}
        # Set once a reader thread hands over answers (see `take_blocking_answer`); without one
        # a blocking call on the loop's thread would wait forever.
        self.answers_blocking_calls = False
        self._serving: Set[asyncio.Task] = set()

    async def run(self) -> None:
        """Serves until the host closes the stream, then cancels whatever is still in flight."""
        try:
            while line := await self._read_line():
                self._receive(line)
        finally:
            for task in self._serving:
                task.cancel()
            await asyncio.gather(*self._serving, return_exceptions=True)

    async def call(self, method: str, params: Dict[str, Any]) -> Any:
        """Sends a request and waits for its result; an error answer raises ServiceError."""
        request_id = next(self._request_ids)
        line = encode_line(request(request_id, method, params))
        answer = asyncio.get_running_loop().create_future()
        self._awaiting_answer[request_id] = answer
        try:
            self._write_line(line)
            return await answer
        finally:
            del self._awaiting_answer[request_id]

    def call_blocking(self, method: str, params: Dict[str, Any], timeout: Optional[float] = None) -> Any:
        """Sends a request from the event loop's own thread and blocks it until the answer.

        The reader thread passes the answer in through `take_blocking_answer`; meanwhile nothing
        else on the loop runs. An error answer raises ServiceError, as `call` does.
        """
        if not self.answers_blocking_calls:
            raise ServiceError(
                ErrorCode.SERVICE_UNAVAILABLE,
                f"`{method}` was called synchronously, which needs the runner's reader thread; "
                "await the async form instead",
            )
        request_id = next(self._request_ids)
        waiter = _BlockingAnswer()
        self._awaiting_blocking[request_id] = waiter
        try:
            self._write_line(encode_line(request(request_id, method, params)))
            if not waiter.arrived.wait(timeout):
                raise ServiceError(ErrorCode.SERVICE_FAILED, f"no answer to `{method}` within {timeout:g}s")
            return waiter.outcome()
        finally:
            del self._awaiting_blocking[request_id]

    def take_blocking_answer(self, line: bytes) -> bool:
        """Called by the reader thread with each line: keeps the answer to a blocking call for
        it (True) and leaves every other line to the event loop (False). At end of input (b"")
        every blocking call still waiting fails, so the loop is free to shut down."""
        if not self._awaiting_blocking:
            return False
        if not line:
            for waiter in list(self._awaiting_blocking.values()):
                waiter.deliver({"error": {"code": ErrorCode.SERVICE_FAILED, "message": "the host closed the connection"}})
            return False
        try:
            message = json.loads(line)
        except ValueError:
            return False
        if not isinstance(message, dict) or "method" in message:
            return False
        waiter = self._awaiting_blocking.get(message.get("id"))
        if waiter is None:
            return False
        waiter.deliver(message)
        return True

    def _receive(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError as error:
            logger.error("skipped a line that is not JSON (%s): %.200r", error, line)
            return
        if not isinstance(message, dict):
            logger.error("skipped a message that is not a JSON object: %.200r", line)
        elif "method" in message:
            task = asyncio.create_task(self._answer(message))
            self._serving.add(task)
            task.add_done_callback(self._serving.discard)
        else:
            self._resolve(message)

    def _resolve(self, message: Dict[str, Any]) -> None:
        answer = self._awaiting_answer.get(message.get("id"))
        if answer is None or answer.done():
            logger.error("skipped an answer to no request of ours: %.200r", message)
        elif isinstance(message.get("error"), dict):
            error = message["error"]
            answer.set_exception(ServiceError(error.get("code", ErrorCode.INTERNAL_ERROR), str(error.get("message", ""))))
        else:
            answer.set_result(message.get("result"))

    async def _answer(self, message: Dict[str, Any]) -> None:
        request_id = message.get("id")
        try:
            result = await self._serve_request(str(message["method"]), message.get("params") or {})
            line = encode_line(success_response(request_id, result))
        except RpcError as error:
            line = encode_line(error_response(request_id, error))
        except Exception as error:
            # A bug in the SDK, not the plugin: answer anyway so the host is not left waiting.
            logger.exception("could not answer %s", message.get("method"))
            line = encode_line(error_response(request_id, RpcError(ErrorCode.INTERNAL_ERROR, exception_summary(error))))
        self._write_line(line)


class _BlockingAnswer:
    """The answer a blocking call waits for, delivered from the reader thread."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self._message: Dict[str, Any] = {}

    def deliver(self, message: Dict[str, Any]) -> None:
        self._message = message
        self.arrived.set()

    def outcome(self) -> Any:
        error = self._message.get("error")
        if isinstance(error, dict):
            raise ServiceError(error.get("code", ErrorCode.INTERNAL_ERROR), str(error.get("message", "")))
        return self._message.get("result")


class ThreadedLineReader:
    """Reads protocol lines on a daemon thread and hands them to the event loop.

    asyncio's pipe transports refuse regular files (a captured log, a replayed session), and a
    blocking read in the loop would stall every handler; a thread does neither.
    """

    def __init__(self, stream: BinaryIO):
        self._loop = asyncio.get_running_loop()
        self._lines: asyncio.Queue[bytes] = asyncio.Queue()
        # Given each line first, on the reader thread; True keeps it from the event loop.
        self.intercept: Optional[Callable[[bytes], bool]] = None
        threading.Thread(target=self._pump, args=(stream,), name="chronicle-protocol-reader", daemon=True).start()

    async def read_line(self) -> bytes:
        """The next line, or b"" once the host has closed the stream."""
        return await self._lines.get()

    def _pump(self, stream: BinaryIO) -> None:
        while True:
            line = _read_bounded_line(stream)
            if line is not None and self.intercept is not None and self.intercept(line):
                continue
            if line is not None:
                self._loop.call_soon_threadsafe(self._lines.put_nowait, line)
                if not line:
                    return


def _read_bounded_line(stream: BinaryIO) -> Optional[bytes]:
    """One line, or None for a line over the protocol's limit, which is read past and dropped."""
    line = stream.readline(MAX_LINE_BYTES + 1)
    if len(line) <= MAX_LINE_BYTES or line.endswith(b"\n"):
        return line
    while line and not line.endswith(b"\n"):
        line = stream.readline(MAX_LINE_BYTES)
    logger.error("skipped a message longer than %d bytes", MAX_LINE_BYTES)
    return None


def line_writer(stream: BinaryIO) -> LineSink:
    """Writes each line whole and flushes it, so the host sees every message at once."""

    def write_line(line: bytes) -> None:
        stream.write(line)
        stream.flush()

    return write_line
