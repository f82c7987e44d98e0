"""The transport: the only package that does network I/O."""

from homefire.http.client import HTTPClient, Response
from homefire.http.config import RetryPolicy, Timeouts

__all__ = ["HTTPClient", "Response", "RetryPolicy", "Timeouts"]
