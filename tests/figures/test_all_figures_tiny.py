"""Every registered figure runs its tiny preset and produces a non-empty PNG, PDF and data file."""
import pytest

from figures import all_figures
from figures.cache import Cache
from figures.runner import render


@pytest.mark.parametrize("spec", all_figures(), ids=lambda s: s.name)
def test_tiny_preset_draws(spec, tmp_path):
    result = render(spec, "tiny", tmp_path, Cache(tmp_path / "cache"), progress=False)
    for ext in ("png", "pdf"):
        assert (tmp_path / f"{spec.name}.{ext}").stat().st_size > 1000
    assert (tmp_path / "data" / f"{spec.name}.npz").stat().st_size > 0
    assert not result.from_cache
    again = render(spec, "tiny", tmp_path, Cache(tmp_path / "cache"), progress=False)
    assert again.from_cache
