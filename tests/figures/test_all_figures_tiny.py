"""Every registered figure runs its tiny preset and produces a non-empty PNG, PDF and data file."""
import pytest

from figures import all_figures
from figures.cache import Cache
from figures.runner import render


def _params(spec):
    """Figures of the torch-extra part of the gallery are marked ``extra`` and skip without it."""
    if not spec.needs:
        return spec
    return pytest.param(spec, marks=[pytest.mark.extra, pytest.mark.skipif(
        bool(spec.missing()), reason=f"needs {', '.join(spec.missing())}")])


@pytest.mark.parametrize("spec", [_params(s) for s in all_figures()], ids=lambda s: s.name)
def test_tiny_preset_draws(spec, tmp_path):
    result = render(spec, "tiny", tmp_path, Cache(tmp_path / "cache"), progress=False)
    for ext in ("png", "pdf"):
        assert (tmp_path / f"{spec.name}.{ext}").stat().st_size > 1000
    assert (tmp_path / "data" / f"{spec.name}.npz").stat().st_size > 0
    assert not result.from_cache
    again = render(spec, "tiny", tmp_path, Cache(tmp_path / "cache"), progress=False)
    assert again.from_cache
