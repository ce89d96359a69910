"""Where a SQL source's connection URL comes from, and keeping it out of every message.

The URL (with its password) is read from an environment variable named in the config, or
from a Prefect Secret block, at the moment the source connects. It is never stored on the
source, logged, or put into an error: :func:`redact` removes it, and every fragment of its
password, from any text before that text leaves this plugin.
"""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import unquote, urlsplit

from cxpipe.errors import SourceError

REDACTED = "***"
_KEYWORD_PASSWORD = re.compile(r"password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def load_secret_block(block: str) -> str:
    """The value of the Prefect Secret block named ``block`` (Prefect imported only here)."""
    from prefect.blocks.system import Secret

    # `_sync=True` (Prefect's async_dispatch switch, absent from the typed signature) keeps
    # this a plain call even when an event loop is running, e.g. inside an async flow.
    load: Any = Secret.load
    value = load(block, _sync=True).get()
    if not isinstance(value, str):
        raise ValueError("the block holds a JSON value, not a connection URL string")
    return value


def resolve_dsn(source: str, dsn_env: str | None, secret_block: str | None) -> str:
    """The connection URL: the environment variable when it is set, else the Secret block.

    Errors name the variable or block, never its value.
    """
    if dsn_env is not None:
        value = os.environ.get(dsn_env, "").strip()
        if value:
            return value
        if secret_block is None:
            raise SourceError(
                f"source {source!r}: environment variable {dsn_env} is not set (or empty); "
                f"set it to the connection URL, e.g. postgresql://user:password@host:5432/db"
            )
    assert secret_block is not None  # the options model requires one of the two
    try:
        value = load_secret_block(secret_block)
    except Exception as exc:
        unset = f"environment variable {dsn_env} is not set and " if dsn_env else ""
        raise SourceError(
            f"source {source!r}: {unset}the Prefect Secret block {secret_block!r} could not "
            f"be loaded: {type(exc).__name__}: {exc}"
        ) from None
    if not value.strip():
        raise SourceError(f"source {source!r}: the Prefect Secret block {secret_block!r} is empty")
    return value.strip()


def secret_fragments(dsn: str) -> list[str]:
    """Every piece of ``dsn`` that may reveal a credential, longest first.

    That is the whole URL, its user-info part and the password, both as written and
    percent-decoded, and the pieces of a password split at ``@`` or ``:`` (a client library
    given a password with an unescaped ``@`` reports the rest of it as the host name).
    """
    found = {dsn}
    candidates: list[str] = []
    if "://" in dsn:
        netloc = dsn.split("://", 1)[1].split("/", 1)[0]
        userinfo = netloc.rpartition("@")[0]
        if userinfo:
            candidates.append(userinfo)
            password = userinfo.partition(":")[2]
            for form in (password, unquote(password)):
                candidates += [form, *re.split(r"[@:]", form)]
        try:
            parsed = urlsplit(dsn).password
        except ValueError:
            parsed = None
        if parsed:
            candidates.append(parsed)
    for match in _KEYWORD_PASSWORD.finditer(dsn):
        candidates += [match.group(0), match.group(1), match.group(1).strip("'")]
    for candidate in candidates:
        for form in (candidate, unquote(candidate)):
            if len(form) >= 3:  # shorter pieces would mangle messages without hiding anything
                found.add(form)
    return sorted(found, key=len, reverse=True)


def redact(text: str, dsn: str | None) -> str:
    """``text`` with the URL and every fragment of its password replaced by ``***``."""
    if not dsn:
        return text
    for fragment in secret_fragments(dsn):
        text = text.replace(fragment, REDACTED)
    return text
