"""The HTTP API: ``create_app(cw)`` builds a FastAPI app over one :class:`Cronwell`."""

from cronwell.api.app import create_app

__all__ = ["create_app"]
