"""Shared by the tests: where things are, the protocol snapshots, and a fake host.

`PluginProcess` plays the Chronicle host against a real `python3 -m chronicle_plugin`: it writes
requests to the runner's stdin and reads its stdout, failing on any line that is not JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import unittest
from pathlib import Path
from typing import Any, Dict, Optional

SDK_DIR = Path(__file__).resolve().parents[1]
SDK_SRC = SDK_DIR / "src"
REPO_ROOT = SDK_DIR.parents[1]
SNAPSHOTS_DIR = REPO_ROOT / "crates" / "plugin-api" / "protocol_snapshots"

# The tests import the SDK from the source tree, as the host's PYTHONPATH does; no install.
if str(SDK_SRC) not in sys.path:
    sys.path.insert(0, str(SDK_SRC))

from chronicle_plugin import host  # noqa: E402  (needs the path above)
from chronicle_plugin.jsonrpc import Connection  # noqa: E402

TIMEOUT_SECONDS = 10


def child_env() -> Dict[str, str]:
    """The environment for a child Python: the SDK on PYTHONPATH as the host puts it, and no
    bytecode caches left in the repository's plugin folders."""
    return {**os.environ, "PYTHONPATH": str(SDK_SRC), "PYTHONDONTWRITEBYTECODE": "1"}


def snapshot(name: str) -> Dict[str, Any]:
    """One normative example message, e.g. snapshot("initialize_request")."""
    return json.loads((SNAPSHOTS_DIR / f"{name}.json").read_text(encoding="utf-8"))


def initialize_params(plugin_id: str, protocol_version: str = "1.0", settings: Optional[dict] = None) -> dict:
    """The host's handshake params for `plugin_id`, shaped like the snapshot."""
    params = snapshot("initialize_request")["params"]
    return {**params, "plugin_id": plugin_id, "protocol_version": protocol_version, "settings": settings or {}}


def handle_event_params(context_id: str, event: str = "conversation.complete", data: Optional[dict] = None,
                        metadata: Optional[dict] = None, plugin_id: str = "test_plugin") -> dict:
    """A handle_event delivery shaped like the snapshot."""
    params = snapshot("handle_event_request")["params"]
    delivery = {**params["delivery"], "plugin_id": plugin_id, "idempotency_key": f"{params['delivery']['event_id']}:{plugin_id}"}
    return {**params, "context_id": context_id, "event": event, "data": data or {}, "metadata": metadata or {},
            "delivery": delivery}


class PluginsDir:
    """A temporary plugins folder; `add` writes a plugin's files from dedented source text."""

    def __init__(self, test: unittest.TestCase):
        self.path = Path(tempfile.mkdtemp(prefix="chronicle-plugins-"))
        test.addCleanup(shutil.rmtree, self.path, ignore_errors=True)

    def add(self, plugin_id: str, files: Dict[str, str]) -> Path:
        folder = self.path / plugin_id
        folder.mkdir()
        for name, text in files.items():
            (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")
        return folder

    def copy(self, source: Path, plugin_id: str) -> Path:
        return Path(shutil.copytree(source, self.path / plugin_id, ignore=shutil.ignore_patterns("__pycache__")))


class PluginProcess:
    """The runner as a child process, with the test as its host."""

    def __init__(self, test: unittest.TestCase, plugins_dir: Path, plugin_id: str):
        self.test = test
        self.plugin_id = plugin_id
        folder = plugins_dir / plugin_id
        self.process = subprocess.Popen(
            [sys.executable, "-m", "chronicle_plugin", "--plugin-id", plugin_id, "--plugins-dir", str(plugins_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=folder if folder.is_dir() else plugins_dir,
            env=child_env(),
        )
        self._stdout_lines: "queue.Queue[bytes]" = queue.Queue()
        self._stderr_chunks: list[bytes] = []
        self._stdout_thread = threading.Thread(target=self._collect_stdout, daemon=True)
        self._stderr_thread = threading.Thread(target=self._collect_stderr, daemon=True)
        self._stdout_thread.start()
        self._stderr_thread.start()
        test.addCleanup(self.kill)

    def _collect_stdout(self) -> None:
        for line in self.process.stdout:
            self._stdout_lines.put(line)
        self._stdout_lines.put(b"")

    def _collect_stderr(self) -> None:
        for chunk in self.process.stderr:
            self._stderr_chunks.append(chunk)

    def send(self, message: dict) -> None:
        self.process.stdin.write((json.dumps(message) + "\n").encode("utf-8"))
        self.process.stdin.flush()

    def request(self, request_id: int, method: str, params: dict) -> None:
        self.send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})

    def answer(self, request_id: int, result: Any) -> None:
        self.send({"jsonrpc": "2.0", "id": request_id, "result": result})

    def receive(self) -> dict:
        """The next message on stdout; fails the test on a non-JSON line, end of output or timeout."""
        try:
            line = self._stdout_lines.get(timeout=TIMEOUT_SECONDS)
        except queue.Empty:
            self.test.fail(f"no message within {TIMEOUT_SECONDS}s; stderr:\n{self.stderr()}")
        if not line:
            self.test.fail(f"stdout closed; stderr:\n{self.stderr()}")
        try:
            return json.loads(line)
        except ValueError:
            self.test.fail(f"stdout carried a line that is not a protocol message: {line!r}")

    def call(self, request_id: int, method: str, params: dict) -> dict:
        """Sends a request and returns the next message, which should be its answer."""
        self.request(request_id, method, params)
        message = self.receive()
        self.test.assertEqual(message.get("id"), request_id, message)
        return message

    def initialize(self, settings: Optional[dict] = None) -> dict:
        """The handshake; returns the initialize result, failing on an error answer."""
        answer = self.call(1, "initialize", initialize_params(self.plugin_id, settings=settings))
        self.test.assertIn("result", answer, answer)
        return answer["result"]

    def close_stdin(self) -> int:
        """Closes stdin, as the host does on shutdown, and returns the exit code."""
        self.process.stdin.close()
        return self.process.wait(timeout=TIMEOUT_SECONDS)

    def remaining_stdout(self) -> list[bytes]:
        """What else reached stdout before it closed (call after the process exited)."""
        lines = []
        while (line := self._stdout_lines.get(timeout=TIMEOUT_SECONDS)) != b"":
            lines.append(line)
        return lines

    def stderr(self) -> str:
        """Everything on stderr so far (complete once the process has exited)."""
        if self.process.poll() is not None:
            self._stderr_thread.join(timeout=TIMEOUT_SECONDS)
        return b"".join(self._stderr_chunks).decode("utf-8", "replace")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._stdout_thread.join(timeout=TIMEOUT_SECONDS)
        self._stderr_thread.join(timeout=TIMEOUT_SECONDS)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            stream.close()


class InProcessHost:
    """Plays the host against a Connection in this process, for tests that need no child process.

    `send` feeds the connection a line as the host would write it; `receive` returns the next
    message the plugin side wrote. Use from an IsolatedAsyncioTestCase.
    """

    def __init__(self, serve_request, plugin_id: str = "test_plugin"):
        self._incoming: "asyncio.Queue[bytes]" = asyncio.Queue()
        self._written: "asyncio.Queue[dict]" = asyncio.Queue()
        self.connection = Connection(self._incoming.get, self._write, serve_request)
        host.attach(self.connection, plugin_id)
        self._serving = asyncio.create_task(self.connection.run())

    def _write(self, line: bytes) -> None:
        assert line.endswith(b"\n") and b"\n" not in line[:-1], line
        self._written.put_nowait(json.loads(line))

    def send(self, message: dict) -> None:
        self._incoming.put_nowait(json.dumps(message).encode("utf-8") + b"\n")

    async def receive(self) -> dict:
        return await asyncio.wait_for(self._written.get(), TIMEOUT_SECONDS)

    def unread(self) -> int:
        """How many written messages no `receive` has taken yet."""
        return self._written.qsize()

    async def close(self) -> None:
        """End of input: the connection cancels what is in flight and stops."""
        self._incoming.put_nowait(b"")
        await asyncio.wait_for(self._serving, TIMEOUT_SECONDS)
        host.attach(None, None)
