"""Picture the demo's scorecard for the docs: ``python -m cxpipe.scorecard.screenshot``.

Generates the seeded demo (what ``make demo`` runs on), runs the pipeline into a temporary
output root, renders the scorecard and photographs the top of the all-clients view in
headless Chromium at 1280 CSS pixels wide: the headline cards and the measures against
their targets and benchmarks. The PNG is re-deflated at the highest level to stay small.
"""

from __future__ import annotations

import argparse
import struct
import tempfile
import zlib
from pathlib import Path

from cxpipe.scorecard.browser import launch
from cxpipe.scorecard.output import write_scorecard

DEFAULT_OUTPUT = Path("docs/images/scorecard.png")
WIDTH = 1280

_BOTTOM_OF_MEASURES = """
(() => {
  const scope = document.querySelector("section.scope:not([hidden])");
  const panel = scope.querySelector("table.measures").closest(".panel");
  return Math.ceil(panel.getBoundingClientRect().bottom + window.scrollY + 16);
})()
"""


def demo_output_root(folder: Path, *, tickets: int = 50_000) -> Path:
    """Generate the seeded demo data under ``folder`` and run the pipeline on it."""
    from cxpipe.demo.config import demo_config
    from cxpipe.demo.generator import write_demo_files
    from cxpipe.run import run_pipeline

    data, root = folder / "data", folder / "output"
    write_demo_files(data, tickets=tickets)
    run_pipeline(demo_config(data, str(root)))
    return root


def recompress_png(data: bytes) -> bytes:
    """The same PNG with its image data deflated at level 9 (Chromium favours speed)."""
    signature, chunks, at = data[:8], [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind = data[at + 4 : at + 8]
        chunks.append((kind, data[at + 8 : at + 8 + length]))
        at += 12 + length
    pixels = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    first_image = next(n for n, (kind, _) in enumerate(chunks) if kind == b"IDAT")
    out = [signature]
    for n, (kind, body) in enumerate(chunks):
        if kind != b"IDAT":
            out.append(chunk(kind, body))
        elif n == first_image:
            out.append(chunk(b"IDAT", zlib.compress(pixels, 9)))
    return b"".join(out)


def screenshot(html: Path, output: Path, *, anchor: str | None = None) -> Path:
    """Photograph the page's top, down to the end of the measures table, as a PNG."""
    with launch() as browser:
        page = browser.open(
            html.resolve().as_uri() + (f"#{anchor}" if anchor else ""), width=WIDTH, height=900
        )
        if page.console_errors:
            raise RuntimeError(f"the page logged errors: {page.console_errors}")
        shot = page.png(height=min(int(page.evaluate(_BOTTOM_OF_MEASURES)), 2400))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(recompress_png(shot))
    return output


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the PNG to write")
    parser.add_argument("--root", help="an existing output root (default: run the demo)")
    parser.add_argument("--client", help="a section anchor to show, e.g. client-C05")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cxpipe-scorecard-") as temp:
        root = args.root or str(demo_output_root(Path(temp)))
        html = Path(write_scorecard(root, str(Path(temp) / "scorecard.html")))
        written = screenshot(html, args.output, anchor=args.client)
    print(f"{written}: {written.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
