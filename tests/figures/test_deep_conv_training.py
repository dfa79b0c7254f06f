"""figures.deep_conv_training: depth <-> blocks, the commands it prints, and its resumable run store."""
import numpy as np
import pytest

from figures import deep_conv_training as dct


@pytest.mark.parametrize("family,depths", [("sew_add", [10, 28, 52, 1000]), ("ms", [10, 28, 52]),
                                           ("vgg", [4, 10, 28, 52])])
def test_depth_and_blocks_are_inverse(family, depths):
    for depth in depths:
        assert dct.weight_layers(family, dct.blocks_for(family, depth)) == depth


@pytest.mark.parametrize("family,depth", [("sew_add", 11), ("vgg", 5), ("ms", 4)])
def test_a_depth_no_model_has_is_refused(family, depth):
    with pytest.raises(ValueError, match="weight layers"):
        dct.blocks_for(family, depth)


def _item(store):
    tiny = dict(dct.FIGURES[0].presets["tiny"])
    return dict(dct._common(tiny), store=store, family="vgg", init="pytorch_default", depth=4, seed=0)


def test_the_command_names_the_run_it_stands_for():
    command = dct.command(_item(None))
    assert command.startswith("python -m snn_bridge.train --family vgg ")
    assert "--blocks 1 " in command and "--init pytorch_default" in command and "--no-bn" in command


@pytest.mark.extra
def test_a_stored_run_is_read_back_not_trained_again(tmp_path, monkeypatch):
    """The store keys a run by its training configuration: the second call of the same item
    reads the file (training is made to fail to prove it), another seed trains again."""
    pytest.importorskip("torch")
    pytest.importorskip("spikingjelly")
    item = _item(str(tmp_path))
    first = dct.train_point(item)
    assert len(list(tmp_path.glob("train-*.json"))) == 1

    def refuse(*args, **kwargs):
        raise AssertionError("trained again")
    monkeypatch.setattr("snn_bridge.train.train", refuse)
    assert dct.train_point(item) == first
    with pytest.raises(AssertionError, match="trained again"):
        dct.train_point(dict(item, seed=1))


def test_equal_seeds_draw_without_a_negative_error_bar():
    """Three seeds with the same value x can average to x - 1 ulp (x = 0.051350675337668836);
    the bars are clipped at zero instead of stopping matplotlib."""
    import matplotlib.pyplot as plt
    x = 0.051350675337668836
    assert float(np.mean([x, x, x])) < x
    run = dict(family="vgg", init="pytorch_default", depth=4, test_accuracy=x, test_loss=2.3, diverged=0,
               seconds_per_iteration=0.1, command="python -m snn_bridge.train")
    data = {"runs": [dict(run, seed=s) for s in range(3)], "predictions": [], "depth_pays": []}
    params = dict(dct.FIGURES[0].presets["tiny"], seeds=[0, 1, 2])
    drawn = dct.plot(data, params)
    for fig in drawn if isinstance(drawn, list) else [drawn]:
        plt.close(fig)
