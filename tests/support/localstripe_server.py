"""Run localstripe on 127.0.0.1 only, optionally without its save-to-disk on every write.

    python tests/support/localstripe_server.py PORT [--no-save]

localstripe pickles its whole store to /tmp after every change; the benchmark turns that off
so it measures the server, not the pickling.
"""

from __future__ import annotations

import sys

from aiohttp import web
from localstripe import resources
from localstripe.server import app


def main() -> None:
    port = int(sys.argv[1])
    if "--no-save" in sys.argv:
        resources.Store.dump_to_disk = lambda self: None  # type: ignore[method-assign]
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
