from __future__ import annotations

import sys

from .cli import main

# ``python -m mock_server`` alone starts the server, like ``windchill-mock serve``.
main(args=sys.argv[1:] or ["serve"], prog_name="windchill-mock")
