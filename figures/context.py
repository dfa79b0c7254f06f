"""What a figure's ``compute`` is handed: cached, resumable, optionally parallel sub-steps.

``ctx.map(func, items)`` runs ``func(item)`` for each parameter dict in ``items``; each
result is cached on its own (key: func's module and name, ``version``, the item), so an
interrupted figure resumes at the first unfinished item. ``func`` must be a module-level
function (picklable) when ``jobs > 1``.
"""
from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from tqdm.auto import tqdm

from .cache import Cache, code_version, make_key


def _run(func, item):
    return func(item)


class Context:
    def __init__(self, cache: Cache, jobs: int = 1, progress: bool = True, label: str = ""):
        self.cache = cache
        self.jobs = max(1, int(jobs))
        self.progress = progress
        self.label = label
        self.computed = 0
        self.reused = 0

    def map(self, func, items, version: str = "1", desc: str | None = None) -> list:
        items = list(items)
        kind = f"{func.__module__}.{func.__qualname__}".replace("<", "").replace(">", "")
        version = f"{version}-{code_version(func.__module__)}"
        keys = [make_key(kind, version, item) for item in items]
        results = [self.cache.load(kind, key) for key in keys]
        todo = [i for i, r in enumerate(results) if r is None]
        self.reused += len(items) - len(todo)
        bar = tqdm(total=len(items), initial=len(items) - len(todo), desc=desc or self.label,
                   disable=not self.progress, leave=False, dynamic_ncols=True)
        try:
            if self.jobs > 1 and len(todo) > 1:
                with ProcessPoolExecutor(max_workers=min(self.jobs, len(todo)),  # fork server: fork after OpenMP kills workers
                                         mp_context=multiprocessing.get_context("forkserver")) as pool:
                    futures = {i: pool.submit(_run, func, items[i]) for i in todo}
                    for i in todo:
                        results[i] = self._finish(kind, keys[i], futures[i].result())
                        bar.update()
            else:
                for i in todo:
                    results[i] = self._finish(kind, keys[i], func(items[i]))
                    bar.update()
        finally:
            bar.close()
        return results

    def _finish(self, kind, key, data):
        self.computed += 1
        return self.cache.store(kind, key, data)
