"""One module per access criterion. Each compiles from settings to a callable that returns the
reasons a session fails it (an empty tuple when it passes)."""

from collections.abc import Callable

from idgate.sessions.base import Session

Criterion = Callable[[Session], tuple[str, ...]]

__all__ = ["Criterion"]
