"""The harness's own failure, apart from the harness so that the command line can name it without loading
the MES and the agents."""

from __future__ import annotations

__all__ = ["HarnessError"]


class HarnessError(RuntimeError):
    """The run could not be carried out (the MES did not catch up, a request failed): names what failed."""
