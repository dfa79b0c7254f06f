"""Compute (cached), draw and save figures; write the gallery. paper_figs.py calls this."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
from tqdm.auto import tqdm

from simulate.parallel import Executor

from .cache import Cache, code_version, make_key, save_npz
from .context import Context


@dataclass
class FigureResult:
    name: str
    seconds: float
    from_cache: bool
    computed_steps: int
    reused_steps: int
    files: list
    agreement: str


def _as_figures(drawn):
    return drawn if isinstance(drawn, (list, tuple)) else [drawn]


def _figure_version(spec) -> str:
    return f"{spec.version}-{code_version(spec.compute.__module__, spec.compute.__name__)}"


def is_cached(spec, preset: str, cache: Cache) -> bool:
    """Whether the figure's data for ``preset`` are in the cache (a run only redraws it)."""
    kind = f"figure-{spec.name}"
    return cache.contains(kind, make_key(kind, _figure_version(spec), spec.params(preset)))


REDRAW_SECONDS = 3.0        # drawing one figure from cached data (PNG, PDF, tables), about


def estimate(specs, preset: str, cache: Cache) -> dict:
    """What a run of ``specs`` will cost, from each figure's measured time (``expected_seconds``)
    and the cache: {"seconds", "to_compute", "cached", "unknown": names with no measured time}."""
    seconds, to_compute, cached, unknown = 0.0, [], [], []
    for spec in specs:
        if is_cached(spec, preset, cache):
            cached.append(spec.name)
            seconds += REDRAW_SECONDS
        else:
            to_compute.append(spec.name)
            if preset in spec.expected_seconds:
                seconds += spec.expected_seconds[preset]
            else:
                unknown.append(spec.name)
    return {"seconds": seconds, "to_compute": to_compute, "cached": cached, "unknown": unknown}


def render(spec, preset: str, out_dir: Path, cache: Cache, jobs: int = 1,
           progress: bool = True, executor: Executor | None = None, on_progress=None) -> FigureResult:
    """Compute (or load) one figure's data, then write PNG, PDF, data file and tables.
    Its sub-steps run on ``executor`` (an open simulate.parallel.Executor), else in ``jobs``
    local processes; ``on_progress(text)`` replaces their progress bars (figures.context)."""
    start = time.perf_counter()
    params = spec.params(preset)
    ctx = Context(cache, jobs=jobs, progress=progress, label=spec.name, executor=executor, on_progress=on_progress)
    data, from_cache = cache.get_or_compute(f"figure-{spec.name}", _figure_version(spec), params,
                                            lambda p: spec.compute(p, ctx))
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for index, fig in enumerate(_as_figures(spec.plot(data, params))):
        stem = spec.name if index == 0 else f"{spec.name}_{index + 1}"
        for ext in ("png", "pdf"):
            path = out_dir / f"{stem}.{ext}"
            fig.savefig(path, bbox_inches="tight")
            files.append(path)
        plt.close(fig)
    data_path = out_dir / "data" / f"{spec.name}.npz"
    save_npz(data_path, {**data, "params": params, "preset": preset, "version": spec.version})
    files.append(data_path)
    if spec.tables is not None:
        for filename, text in spec.tables(data, params).items():
            path = out_dir / filename
            path.write_text(text)
            files.append(path)
    agreement = spec.agreement(data, params) if spec.agreement is not None else ""
    findings = spec.findings(data, params) if spec.findings is not None else ""
    sidecar_path = out_dir / "data" / f"{spec.name}.json"
    seconds = time.perf_counter() - start
    sidecar = {"preset": preset, "params": params, "agreement": agreement, "findings": findings,
               "files": [str(f.relative_to(out_dir)) for f in files],
               "note": spec.preset_notes.get(preset, ""),
               "run": _run_record(seconds, from_cache, ctx, executor, jobs, sidecar_path, params)}
    sidecar_path.write_text(json.dumps(sidecar, indent=1, sort_keys=True))
    return FigureResult(spec.name, seconds, from_cache, ctx.computed, ctx.reused, files, agreement)


def _run_record(seconds, from_cache, ctx, executor, jobs, sidecar_path: Path, params) -> dict:
    """How this figure was produced: wall seconds, sub-steps computed and reused, on what.
    A figure read whole from the cache keeps the record of the run that computed it (same
    parameters), so the gallery's time is a computing time, not a cache read."""
    if from_cache and sidecar_path.exists():
        previous = json.loads(sidecar_path.read_text())
        if previous.get("params") == params and previous.get("run", {}).get("computed"):
            return previous["run"]
    where = executor.describe() if executor is not None else f"{jobs} local process(es)"
    return {"seconds": round(seconds, 1), "computed": not from_cache, "computed_steps": ctx.computed,
            "reused_steps": ctx.reused, "executor": where}


DEFAULT_OUT = "figures/out"

# The story the galleries tell, in order: (chapter, what it asks, figures). A figure not listed
# here goes to "Other figures" at the end.
STORY = (
    ("Activity over depth", "does the paper's init keep spikes alive layer after layer, and the ANN schemes not?",
     ("theory_weight_scale", "theory_length_map", "sim_depth_propagation")),
    ("Finite width", "how wide must a layer be for the infinite-width theory to hold?",
     ("finite_width_survival", "finite_width_min_width")),
    ("Time", "what happens over several time steps, with leak and reset?",
     ("temporal_heatmaps", "temporal_rate_vs_beta", "temporal_phase")),
    ("Gradients", "does the backward pass survive where the forward pass does?",
     ("gradient_norms",)),
    ("Training", "does the init train better, and is it robust?",
     ("training_curves", "claim_curves", "training_robustness", "deep_training")),
    ("Trainability", "how deep can a spiking MLP be trained, and what predicts it?",
     ("correlation_transient", "trainability_phase", "trainability_knobs")),
    ("Convolutional and residual networks", "does the theory carry to the convolutional SNNs people train in "
     "PyTorch, and which initialiser trains them deep? (the PyTorch figures need the torch extra)",
     ("conv_depth", "deep_conv_training", "deep_conv_1000")),
)

PRESET_INTRO = {
    "quick": ("The **quick** preset is what `python paper_figs.py` draws: every figure at a budget that "
              "shows each effect in minutes (subsets of MNIST, a few epochs, few seeds for the training "
              "figures; fewer Monte Carlo draws and coarser grids elsewhere). Its numbers show the effect; "
              "the full gallery's are the numbers to quote. Each entry's findings state the budget they "
              "hold for."),
    "full": ("The **full** preset (`python paper_figs.py --full --out figures/out/full`) is paper scale: all "
             "of MNIST for the training figures, three seeds where a spread is reported, more Monte Carlo "
             "draws, wider grids and deeper networks. Each entry says what it still leaves out and why "
             "(\"reduces\")."),
}

TABLE_LINES_INLINE = 14     # a table longer than this is linked, not copied into the gallery
MEASURED_PREFIXES = ("Run: ", "Run time: ")     # gallery lines holding measured wall times


def without_timings(text: str) -> list:
    """A gallery's lines less those that hold measured wall times (they differ from run to run)."""
    return [line for line in text.splitlines() if not line.startswith(MEASURED_PREFIXES)]


def _out_flag(out_dir) -> str:
    if out_dir is None:
        return ""
    text = Path(out_dir).as_posix()
    return "" if text.rstrip("/") == DEFAULT_OUT else f" --out {text}"


def redraw_command(name: str, preset: str, out_dir=None) -> str:
    """The command line that redraws one figure with the preset it was drawn with, into the
    folder it was drawn in (``out_dir``; the default folder needs no flag)."""
    flag = {"quick": "", "full": " --full"}.get(preset, f" --preset {preset}")
    return f"python paper_figs.py{flag} --only {name}{_out_flag(out_dir)}"


def _existing_entries(readme: Path) -> dict:
    """The entries of an existing gallery README, by figure name (a "## name" or "### name"
    heading up to the next heading)."""
    if not readme.exists():
        return {}
    entries, name = {}, None
    for line in readme.read_text().splitlines():
        if line.startswith("#"):
            name = None
            if line.startswith(("## ", "### ")):
                name = line.lstrip("#").strip()
                entries[name] = []
        if name is not None:
            entries[name].append(line)
    return {k: "\n".join(v[1:]).strip() + "\n" for k, v in entries.items()}


def _title(spec) -> str:
    if spec.title:
        return spec.title
    first = spec.caption.split(". ")[0].split(": ")[0]
    return first if len(first) <= 110 else first[:107].rsplit(" ", 1)[0] + " ..."


def _anchor(name: str) -> str:
    return name.lower().replace(" ", "-")


def _is_long(out_dir: Path, f: Path) -> bool:
    return f.suffix == ".md" and (out_dir / f).exists() and \
        len((out_dir / f).read_text().strip().splitlines()) > TABLE_LINES_INLINE


def _table_block(out_dir: Path, f: Path) -> list:
    """A short table is copied into the entry; a long one only linked (the entry's "Tables:" line)."""
    return [] if _is_long(out_dir, f) else [(out_dir / f).read_text().strip(), ""]


def _entry(spec, sidecar: dict, out_dir: Path, command_out) -> list:
    files = [Path(f) for f in sidecar["files"]]
    lines = [f"### {spec.name}", "", spec.caption, ""]
    if sidecar.get("findings"):
        lines += [f"**Findings (preset `{sidecar['preset']}`):** {sidecar['findings']}", ""]
    lines += [f"![{spec.name}]({f.as_posix()})" for f in files if f.suffix == ".png"]
    lines.append("")
    if sidecar["agreement"]:
        lines += [f"**Theory vs simulation:** {sidecar['agreement']}", ""]
    for f in files:
        if f.suffix == ".md" and (out_dir / f).exists():
            lines += _table_block(out_dir, f)
    tables = [f for f in files if f.suffix in (".md", ".csv")]
    if tables:
        lines += ["Tables: " + ", ".join(f"[{f.name}]({f.as_posix()})" + (" (too long to copy here)"
                                                                        if _is_long(out_dir, f) else "")
                                         for f in tables), ""]
    # the figure's current description of its preset, if the entry was drawn with that preset as it is now
    note = sidecar.get("note", "")
    if sidecar["preset"] in spec.presets and spec.params(sidecar["preset"]) == sidecar["params"]:
        note = spec.preset_notes.get(sidecar["preset"], "")
    if note:
        lines += [f"**Preset `{sidecar['preset']}` reduces:** {note}", ""]
    lines += [f"Preset `{sidecar['preset']}`, parameters: `{json.dumps(sidecar['params'], sort_keys=True)}`", ""]
    run = sidecar.get("run")
    if run:
        how = (f"computed in {run['seconds']:.0f} s wall ({run['computed_steps']} sub-steps computed, "
               f"{run['reused_steps']} from the cache) on {run['executor']}" if run["computed"]
               else f"read whole from the cache in {run['seconds']:.1f} s")
        lines += [f"Run: {how}.", ""]
    lines += [f"Redraw: `{redraw_command(spec.name, sidecar['preset'], command_out)}`", ""]
    return lines


def _chapters(specs) -> list:
    """(chapter, question, [specs]) in the story's order; unlisted figures last."""
    by_name = {spec.name: spec for spec in specs}
    listed = set()
    chapters = []
    for title, question, names in STORY:
        chosen = [by_name[n] for n in names if n in by_name]
        listed |= {s.name for s in chosen}
        if chosen:
            chapters.append((title, question, chosen))
    rest = [spec for spec in specs if spec.name not in listed]
    if rest:
        chapters.append(("Other figures", "", rest))
    return chapters


def _neighbours(out_dir: Path) -> list:
    """Links to the other gallery and to the run folders (sub-folders with a README) of this one."""
    links = []
    if (out_dir / "full" / "README.md").exists():
        links.append("the full preset's gallery: [full/README.md](full/README.md)")
    if out_dir.name == "full" and (out_dir.parent / "README.md").exists():
        links.append("the quick preset's gallery: [../README.md](../README.md)")
    for folder in sorted(p for p in out_dir.iterdir() if p.is_dir() and (p / "README.md").exists()
                         and p.name not in ("data", "full")):
        heading = next((line.lstrip("# ").strip() for line in (folder / "README.md").read_text().splitlines()
                        if line.startswith("#")), folder.name)
        links.append(f"[{folder.name}/]({folder.name}/README.md): {heading}")
    return links


def _header(preset, sidecars: dict, out_dir: Path, command_out) -> list:
    title = {"quick": "quick preset", "full": "full preset"}.get(preset, f"preset {preset}" if preset else "")
    lines = [f"# Figure gallery{': ' + title if title else ''}", ""]
    if preset in PRESET_INTRO:
        lines += [PRESET_INTRO[preset], ""]
    flag = {"quick": "", "full": " --full"}.get(preset, f" --preset {preset}" if preset else "")
    computed = [s["run"] for s in sidecars.values() if s.get("run", {}).get("computed")]
    if computed:
        total = sum(r["seconds"] for r in computed)
        lines += [f"Run time: the {len(computed)} figures below that record their computing time took "
                  f"{total / 60:.0f} min together (each entry's \"Run:\" line says on what); a second run "
                  f"reads them from the cache and only redraws.", ""]
    lines += [f"Redraw one figure into this folder: `python paper_figs.py{flag} --only NAME{_out_flag(command_out)}` "
              f"(names below; `--list` prints them). Everything: `python paper_figs.py{flag}{_out_flag(command_out)}`. "
              "Generated by `python paper_figs.py` from the figures' data (do not edit by hand); every number "
              "in a caption's \"Findings\" and in \"Theory vs simulation\" is computed from the data of the "
              "run that drew it, with the budget it holds for.", ""]
    links = _neighbours(out_dir)
    if links:
        lines += ["See also: " + "; ".join(links) + ".", ""]
    return lines


def write_gallery(specs, out_dir: Path, command_out=None) -> Path:
    """OUT/README.md: an introduction, the contents by chapter of the story, then every drawn
    figure with its caption, findings, parameters, agreement and redraw command
    (``command_out``: the --out folder the redraw commands name, default ``out_dir``).

    Built from the per-figure sidecars out_dir/data/<name>.json (small, committed; the .npz
    data beside them are not), so a partial run (--only) keeps the entries of the figures it did
    not redraw. A figure without a sidecar keeps its entry from the existing README, if any, so a
    partial run never removes an entry.
    """
    out_dir = Path(out_dir)
    command_out = out_dir if command_out is None else command_out
    path = out_dir / "README.md"
    previous = _existing_entries(path)
    sidecars = {}
    for spec in specs:
        sidecar_path = out_dir / "data" / f"{spec.name}.json"
        if sidecar_path.exists():
            sidecars[spec.name] = json.loads(sidecar_path.read_text())
    drawn = [spec for spec in specs if spec.name in sidecars or spec.name in previous]
    presets = sorted({s["preset"] for s in sidecars.values()})
    preset = presets[0] if len(presets) == 1 else ("mixed" if presets else "")
    lines = _header(preset if preset != "mixed" else "", sidecars, out_dir, command_out)
    if preset == "mixed":
        lines += [f"Presets drawn here: {', '.join(presets)} (each entry names its own).", ""]
    chapters = _chapters(drawn)
    lines += ["## Contents", ""]
    for title, question, chosen in chapters:
        lines += [f"- **[{title}](#{_anchor(title)})**" + (f": {question}" if question else "")]
        for spec in chosen:
            lines += [f"  - [{spec.name}](#{spec.name}): {_title(spec)}"]
    lines.append("")
    for title, question, chosen in chapters:
        lines += [f"## {title}", ""]
        if question:
            lines += [f"*{question[0].upper() + question[1:]}*", ""]
        for spec in chosen:
            if spec.name in sidecars:
                lines += _entry(spec, sidecars[spec.name], out_dir, command_out)
            else:
                lines += [f"### {spec.name}", "", previous[spec.name].rstrip(), ""]
    path.write_text("\n".join(lines))
    return path


def run(specs, all_specs=None, preset="quick", out_dir="figures/out", cache_dir=".cache/figures",
        jobs=1, progress=True, scheduler=None, executor: Executor | None = None) -> list[FigureResult]:
    """Render ``specs`` in order, then rewrite the gallery over ``all_specs``. Every figure's
    sub-steps run on one simulate.parallel.Executor: ``executor`` if given (left open), else one
    made from ``jobs`` local processes or the Dask cluster ``scheduler`` ("local" or
    "tcp://HOST:8786") and closed at the end. ``progress``: one line for the whole gallery, in
    seconds of expected work (each figure's measured time, a few seconds for a cached one),
    naming the figure and sub-step in progress."""
    out_dir = Path(out_dir)
    cache = Cache(cache_dir)
    results = []
    owned = executor is None
    executor = Executor(jobs, scheduler) if owned else executor
    weights = [REDRAW_SECONDS if is_cached(spec, preset, cache) else spec.expected_seconds.get(preset, 60.0)
               for spec in specs]
    bar = tqdm(total=round(sum(weights)), desc="gallery", unit="s", disable=not progress, dynamic_ncols=True,
               bar_format="{desc} {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]{postfix}")
    try:
        for index, (spec, weight) in enumerate(zip(specs, weights)):
            where = f"figure {index + 1}/{len(specs)} {spec.name}"
            bar.set_postfix_str(where)

            def step(text, where=where):
                bar.set_postfix_str(f"{where}: {text}")
            results.append(render(spec, preset, out_dir, cache, jobs=jobs, progress=progress, executor=executor,
                                  on_progress=step if progress else None))
            bar.update(round(weight))
    finally:
        bar.close()
        if owned:
            executor.close()
    write_gallery(all_specs or specs, out_dir, command_out=out_dir)
    return results


def summary(results, executor_line: str = "") -> str:
    """Where the results of a run came from: figures and sub-steps computed vs read from the cache."""
    cached = sum(r.from_cache for r in results)
    computed = sum(r.computed_steps for r in results)
    reused = sum(r.reused_steps for r in results)
    where = f"; computed on {executor_line}" if executor_line else ""
    return (f"sources: {len(results) - cached} figure(s) computed, {cached} read whole from the cache; "
            f"sub-steps: {computed} computed, {reused} from the cache{where}")
