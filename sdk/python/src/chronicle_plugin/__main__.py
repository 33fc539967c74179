"""`python3 -m chronicle_plugin --plugin-id ID --plugins-dir DIR`: runs one plugin for the host.

The host starts this with the SDK on PYTHONPATH and talks to it over stdin and stdout; see
docs/plugin-protocol.md. The process exits 0 when stdin reaches end of file.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import List, Optional

from .process import claim_protocol_streams, configure_logging, exit_when_parent_dies
from .runner import serve


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python3 -m chronicle_plugin",
        description="Serve one Chronicle plugin over JSON-RPC on stdin/stdout (started by the host).",
    )
    parser.add_argument("--plugin-id", required=True, help="the plugin's folder name, e.g. todo_extractor")
    parser.add_argument("--plugins-dir", required=True, type=Path, help="the folder holding the plugin folders")
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    protocol_in, protocol_out = claim_protocol_streams()
    configure_logging()
    exit_when_parent_dies()
    asyncio.run(serve(args.plugin_id, args.plugins_dir.resolve(), protocol_in, protocol_out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
