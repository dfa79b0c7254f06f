"""Wall time per figure of a drawn gallery, read from its sidecars ("the full gallery
committed with its timings"). Each sidecar (OUT/data/NAME.json) keeps the record of the run that
computed the figure: wall seconds, sub-steps computed and read from the cache, and where they ran
(paper_figs.py writes it; a figure read whole from the cache keeps its computing run's record).
Prints a markdown table with each figure's rough estimate (FigureSpec.expected_seconds) beside it.

    python benchmarks/gallery_times.py                  # figures/out/full, preset full
    python benchmarks/gallery_times.py --out figures/out --preset quick
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from figures import all_figures  # noqa: E402


def table(out: Path, preset: str) -> str:
    rows = ["| figure | wall seconds | sub-steps computed / from cache | ran on | estimate (expected_seconds) |",
            "|---|---|---|---|---|"]
    total, missing = 0.0, []
    for spec in all_figures():
        path = out / "data" / f"{spec.name}.json"
        sidecar = json.loads(path.read_text()) if path.exists() else {}
        run = sidecar.get("run")
        if sidecar.get("preset") != preset or not run or not run.get("computed"):
            missing.append(spec.name)
            continue
        total += run["seconds"]
        rows.append(f"| {spec.name} | {run['seconds']:.0f} | {run['computed_steps']} / {run['reused_steps']} | "
                    f"{run['executor']} | {spec.expected_seconds.get(preset, '')} |")
    rows.append(f"| **total** | **{total:.0f}** ({total / 3600:.2f} h) | | | |")
    if missing:
        rows.append("")
        rows.append(f"No computing record for preset {preset!r}: {', '.join(missing)}")
    return "\n".join(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="figures/out/full", help="gallery folder (default figures/out/full)")
    parser.add_argument("--preset", default="full", help="preset the gallery was drawn with (default full)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if not (out / "data").is_dir():
        parser.error(f"--out {args.out!r}: no data/ folder of a drawn gallery there")
    print(table(out, args.preset))
    return 0


if __name__ == "__main__":
    sys.exit(main())
