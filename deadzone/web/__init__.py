"""Local what-if web app (``deadzone serve``): a map page over a what-if session.

See :mod:`deadzone.web.app` for the routes and the security measures, and
:mod:`deadzone.web.validate` for the request-body rules.
"""

from __future__ import annotations

from deadzone.web.app import MAX_BODY_BYTES, WhatIfApp, is_loopback, make_server
from deadzone.web.validate import RequestError

__all__ = ["WhatIfApp", "make_server", "is_loopback", "RequestError", "MAX_BODY_BYTES"]
