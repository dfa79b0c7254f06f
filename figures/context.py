"""What a figure's ``compute`` is handed: cached, resumable, optionally parallel sub-steps.

``ctx.map(func, items)`` runs ``func(item)`` for each parameter dict in ``items``; each
result is cached on its own (key: func's module and name, ``version``, the item) and stored the
moment it arrives, so an interrupted figure resumes with every finished item. The items left
run on a :class:`simulate.parallel.Executor` (serial, ``jobs`` local processes, or a Dask
cluster with ``scheduler``); ``func`` must be a module-level (picklable) function whose result
depends on the item alone (its seed is in the item), so the results do not depend on where it
ran. One progress bar per map, advanced as results arrive; or, with ``on_progress``, no bar of
its own but a call ``on_progress("desc i/n")`` as each result arrives (the gallery's one line).
"""
from __future__ import annotations

from simulate.parallel import Executor

from .cache import Cache, code_version, make_key


class Context:
    """``executor``: an open Executor shared by every map (paper_figs.py's run); without it each
    map starts one from ``jobs`` and ``scheduler`` and closes it afterwards."""

    def __init__(self, cache: Cache, jobs: int = 1, progress: bool = True, label: str = "",
                 scheduler: str | None = None, executor: Executor | None = None, on_progress=None):
        self.cache = cache
        self.jobs = max(1, int(jobs))
        self.scheduler = scheduler
        self.executor = executor
        self.progress = progress and on_progress is None
        self.on_progress = on_progress
        self.label = label
        self.computed = 0
        self.reused = 0

    def map(self, func, items, version: str = "1", desc: str | None = None) -> list:
        items = list(items)
        kind = f"{func.__module__}.{func.__qualname__}".replace("<", "").replace(">", "")
        version = f"{version}-{code_version(func.__module__, func.__qualname__)}"
        keys = [make_key(kind, version, item) for item in items]
        results = [self.cache.load(kind, key) for key in keys]
        todo = [i for i, r in enumerate(results) if r is None]
        self.reused += len(items) - len(todo)

        done = [len(items) - len(todo)]
        label = desc or self.label

        def finish(index, data):      # in this process, as each result arrives: store it once
            self.computed += 1
            done[0] += 1
            if self.on_progress is not None:
                self.on_progress(f"{label} {done[0]}/{len(items)}")
            return self.cache.store(kind, keys[todo[index]], data)

        run = dict(progress=self.progress, desc=desc or self.label, initial=len(items) - len(todo),
                   on_result=finish)
        if self.executor is not None:
            computed = self.executor.map(func, [items[i] for i in todo], **run)
        else:
            with Executor(self.jobs, self.scheduler) as executor:
                computed = executor.map(func, [items[i] for i in todo], **run)
        for i, data in zip(todo, computed):
            results[i] = data
        return results
