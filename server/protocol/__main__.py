"""``python -m server.protocol --schema > docs/protocol.schema.json``."""

from __future__ import annotations

import sys

from server.protocol.schema import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
