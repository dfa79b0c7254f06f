"""The claim figure reads the committed 20-epoch logs, and what it states agrees with the claim
folder's README (written by hand when the runs landed) and follows the data."""
import json
import re

import pytest

from figures import claim_curves as cc


def _readme_rows():
    """(log file, last-epoch test accuracy %, running-mean %) of each row of the claim README."""
    rows = []
    for line in (cc.LOGS / "README.md").read_text().splitlines():
        log = re.search(r"--log-path (\S+?\.jsonl)", line)
        if line.startswith("|") and log:
            percents = [float(x) for x in re.findall(r"(\d+\.\d+) %", line)]
            rows.append((log.group(1), percents[0], percents[-1]))
    return rows


def test_every_claim_log_is_drawn_and_the_readme_states_its_numbers():
    data = cc.compute(cc.FIGURE.params("full"), None)
    by_file = {run["file"]: cc.summary(run) for run in data["runs"]}
    rows = _readme_rows()
    assert sorted(f for f, *_ in rows) == sorted(by_file)         # no run missing on either side
    for file, last, running in rows:
        assert round(100 * by_file[file]["last"], 2) == last, file
        assert round(100 * by_file[file]["running_mean"], 2) == running, file


def test_findings_follow_the_data():
    data = cc.compute(cc.FIGURE.params("quick"), None)
    params = cc.FIGURE.params("quick")
    text = cc.findings(data, params)
    changed = json.loads(json.dumps(data))
    run = changed["runs"][0]
    run["test_accuracy"][-1] = 0.4321
    run["train_loss"][3] = 1.234
    other = cc.findings(changed, params)
    assert "43.21 % after epoch 20" in other and "43.21" not in text
    assert "lowest training loss 1.234" in other and "the lowest training loss of any run is 1.234" in other


def test_a_broken_log_is_refused_with_its_name(tmp_path):
    log = tmp_path / "run.jsonl"
    log.write_text("\n".join(json.dumps({"epoch": e}) for e in (1, 3)) + "\n")
    with pytest.raises(ValueError, match="run.jsonl must hold epochs 1, 2"):
        cc.read_log(log)
    with pytest.raises(ValueError, match="missing"):
        cc.read_log(tmp_path / "absent.jsonl")


def test_the_cache_key_follows_the_logs(tmp_path, monkeypatch):
    runs = (("a.jsonl", "micheli", 50, 5),)
    monkeypatch.setattr(cc, "LOGS", tmp_path)
    (tmp_path / "a.jsonl").write_text('{"epoch": 1}\n')
    first = cc._digest(runs)
    (tmp_path / "a.jsonl").write_text('{"epoch": 1}\n{"epoch": 2}\n')
    assert cc._digest(runs) != first
    assert len(cc._digest(runs)) == 16
