"""Edge: real-time on-site personalization, one decision per page request."""

from __future__ import annotations

__version__ = "0.1.0"
