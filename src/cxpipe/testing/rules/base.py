"""What every rule module shares."""

from __future__ import annotations


def expect(condition: object, message: str) -> None:
    """Raise :class:`AssertionError` with ``message`` unless ``condition`` is true.

    Unlike ``assert`` it also holds under ``python -O``, since rules are plain functions a
    plugin may run outside pytest.
    """
    if not condition:
        raise AssertionError(message)
