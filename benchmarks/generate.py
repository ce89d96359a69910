"""Benchmark data: N tickets and M survey responses in the canonical schemas, cached as Parquet.

The data comes from the seeded demo generator (:func:`cxpipe.demo.generator.generate`), run
once per *slice* of at most ``--chunk`` tickets so memory stays bounded at any size. Each
slice is an independent set of twelve clients (ids prefixed ``S000-``, ``S001-``, …), so
10 M tickets in 1 M slices means 120 clients, 2 070 projects and 24 months. The demo yields
about 7 survey responses per 100 tickets; each slice's responses are resampled to its share
of ``--responses`` (every generated response kept at least once, the rest drawn with
replacement, each with a new ``response_id``, and follow-ups remapped to match).

Files land in ``<cache>/<key>/<entity>/part-NNN.parquet``; a dataset is written to a
temporary folder and renamed when complete, so an interrupted run never leaves a half
dataset behind and a repeated run reuses it. Usage::

    python benchmarks/generate.py --tickets 10000000 --responses 1000000
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

import numpy as np
import polars as pl

from cxpipe.demo.generator import generate
from cxpipe.schemas import ENTITIES

GENERATOR_VERSION: Final = 1
"""Bump when the way the data is built changes, so stale caches are not reused."""
DEFAULT_CACHE: Final = Path(__file__).resolve().parent / ".data"
DEFAULT_CHUNK: Final = 1_000_000

_ID_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "clients": ("client_id",),
    "tickets": ("ticket_id", "client_id", "requester_id"),
    "projects": ("project_id", "client_id"),
    "survey_responses": ("response_id", "client_id", "respondent_id", "ticket_id", "project_id"),
    "survey_invitations": ("invitation_id", "client_id"),
    "followups": ("response_id",),
}
"""Columns that hold identifiers, prefixed with the slice tag so slices never collide."""


def dataset_key(tickets: int, responses: int, seed: int, chunk: int) -> str:
    return f"t{tickets}-r{responses}-s{seed}-c{chunk}-v{GENERATOR_VERSION}"


def _slices(total: int, chunk: int) -> list[int]:
    """Ticket counts per slice: as even as possible, none above ``chunk``."""
    parts = max(1, -(-total // chunk))
    base, extra = divmod(total, parts)
    return [base + (i < extra) for i in range(parts)]


def _quotas(total: int, weights: list[int]) -> list[int]:
    """``total`` split in proportion to ``weights``, summing to ``total`` exactly."""
    raw = np.array(weights, dtype=np.float64) / sum(weights) * total
    quotas = np.floor(raw).astype(np.int64)
    quotas[np.argsort(quotas - raw)[: total - int(quotas.sum())]] += 1
    return [int(q) for q in quotas]


def _prefixed(frame: pl.DataFrame, entity: str, tag: str) -> pl.DataFrame:
    columns = [c for c in _ID_COLUMNS[entity] if c in frame.columns]
    return frame.with_columns(pl.concat_str(pl.lit(tag), pl.col(c)).alias(c) for c in columns)


def _resample(
    rng: np.random.Generator, responses: pl.DataFrame, followups: pl.DataFrame, quota: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``quota`` responses drawn from ``responses`` with new ids; follow-ups remapped."""
    n = responses.height
    if quota <= n:
        rows = np.sort(rng.choice(n, quota, replace=False))
    else:
        rows = np.sort(np.concatenate([np.arange(n), rng.integers(0, n, quota - n)]))
    drawn = (
        responses.with_columns(_old_id=pl.col("response_id"))
        .gather(rows)
        .sort("submitted_at", maintain_order=True)
        .with_columns(
            response_id=pl.format("R{}", pl.int_range(1, pl.len() + 1).cast(pl.String).str.zfill(8))
        )
    )
    mapping = drawn.select("_old_id", "response_id")
    remapped = (
        followups.rename({"response_id": "_old_id"})
        .join(mapping, on="_old_id", how="inner")
        .select(followups.columns)
        .sort("followed_up_at", "response_id")
    )
    return drawn.drop("_old_id"), remapped


def _write_slice(out: Path, index: int, tickets: int, responses: int, seed: int) -> dict[str, int]:
    data = generate(seed + index, tickets=tickets)
    frames = data.frames()
    rng = np.random.default_rng([seed, index])
    frames["survey_responses"], frames["followups"] = _resample(
        rng, frames["survey_responses"], frames["followups"], responses
    )
    tag = f"S{index:03d}-"
    rows: dict[str, int] = {}
    for entity, frame in frames.items():
        folder = out / entity
        folder.mkdir(parents=True, exist_ok=True)
        conformed = _prefixed(frame, entity, tag).select(ENTITIES[entity].columns)
        conformed.write_parquet(folder / f"part-{index:03d}.parquet", compression="zstd")
        rows[entity] = conformed.height
    return rows


def ensure_dataset(
    tickets: int,
    responses: int,
    *,
    seed: int = 7,
    chunk: int = DEFAULT_CHUNK,
    cache: Path = DEFAULT_CACHE,
    say: Callable[[str], None] = print,
) -> Path:
    """The folder holding the dataset, generating it first unless it is cached."""
    if tickets < 1 or responses < 1:
        raise ValueError("tickets and responses must be positive")
    target = cache / dataset_key(tickets, responses, seed, chunk)
    if (target / "meta.json").exists():
        return target
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    sizes = _slices(tickets, chunk)
    quotas = _quotas(responses, sizes)
    totals: dict[str, int] = {}
    start = time.perf_counter()
    for index, (n_tickets, n_responses) in enumerate(zip(sizes, quotas, strict=True)):
        say(f"generating slice {index + 1}/{len(sizes)}: {n_tickets:,} tickets")
        for entity, count in _write_slice(partial, index, n_tickets, n_responses, seed).items():
            totals[entity] = totals.get(entity, 0) + count
    meta = {
        "tickets": tickets,
        "responses": responses,
        "seed": seed,
        "chunk": chunk,
        "generator_version": GENERATOR_VERSION,
        "rows": totals,
        "seconds": round(time.perf_counter() - start, 1),
    }
    (partial / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    say(f"dataset ready in {meta['seconds']} s: {target}")
    return target


def load_frames(folder: Path) -> dict[str, pl.DataFrame]:
    """Every entity of a dataset, read into memory (one chunk per slice file)."""
    return {
        entity: pl.read_parquet(folder / entity / "*.parquet")
        for entity in ENTITIES
        if (folder / entity).is_dir()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=200_000)
    parser.add_argument("--responses", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--chunk", type=int, default=DEFAULT_CHUNK, help="tickets per slice")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args()
    folder = ensure_dataset(
        args.tickets, args.responses, seed=args.seed, chunk=args.chunk, cache=args.cache
    )
    print(json.loads((folder / "meta.json").read_text(encoding="utf-8"))["rows"])


if __name__ == "__main__":
    main()
