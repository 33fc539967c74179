"""What the runner does to its own process before any plugin code runs."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import BinaryIO, Tuple

logger = logging.getLogger(__name__)

PARENT_CHECK_SECONDS = 0.5


def claim_protocol_streams() -> Tuple[BinaryIO, BinaryIO]:
    """Takes stdin and stdout for the protocol and gives plugin code harmless ones instead.

    Anything but a protocol message on stdout would corrupt the stream, and the guide's own
    Quick Start calls `print()`. So the real stdout is kept on a duplicate descriptor and fd 1
    (and `sys.stdout`) now lead to stderr, which the host logs; that also catches output from C
    extensions and child processes. Likewise fd 0 is swapped for /dev/null so nothing in the
    plugin can read the host's requests.
    """
    protocol_in = os.fdopen(os.dup(0), "rb")
    protocol_out = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return protocol_in, protocol_out


def configure_logging() -> None:
    """Logs go to stderr, which the host forwards line by line tagged with the plugin id.

    `LOG_LEVEL` (e.g. `DEBUG`; default `INFO`) sets the level, as for process plugins.
    """
    logging.basicConfig(
        stream=sys.stderr,
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(levelname)s %(name)s: %(message)s",
    )


def exit_when_parent_dies() -> None:
    """Exits the process once its parent (the host) is gone, so a killed host leaves no orphan.

    stdin reaching end of file usually says so, but not while another process still holds the
    pipe's other end (one the host started and that inherited it); the parent pid changing,
    which happens when the orphan is re-parented, always does.
    """
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(PARENT_CHECK_SECONDS)
            if os.getppid() != parent:
                logger.warning("the host (pid %d) is gone; exiting", parent)
                os._exit(1)

    threading.Thread(target=watch, name="chronicle-parent-watchdog", daemon=True).start()
