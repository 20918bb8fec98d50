"""`ferviz explain` under torchrun: images split across 2 gloo ranks, same files as one process."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def explain(args, nproc=1):
    prefix = ([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
              if nproc > 1 else [sys.executable])
    cmd = [*prefix, "-m", "ferviz", "explain", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=ENV)


@pytest.mark.parametrize("method,key,extra", [("saliency", "saliency", []),
                                              ("integrated-gradients", "attributions", ["-p", "steps=8"]),
                                              ("grad-cam", "cam", []),  # every map explainer shards, extras too
                                              ("confusion", "confusion", [])])
def test_two_ranks_write_what_one_process_writes(tiny_checkpoint, tmp_path, method, key, extra):
    common = ["-m", method, "--checkpoint", tiny_checkpoint, "--data", "synthetic:count=70,val=14,test=70",
              "--per-class", "3", *extra]
    one = explain([*common, "--out", tmp_path / "one"])
    assert one.returncode == 0, one.stderr
    two = explain([*common, "--out", tmp_path / "two"], nproc=2)
    assert two.returncode == 0, two.stderr
    files = lambda d: sorted(json.loads((d / "manifest.json").read_text())["files"])  # noqa: E731
    assert files(tmp_path / "one") == files(tmp_path / "two")
    a, b = np.load(tmp_path / "one" / "arrays.npz"), np.load(tmp_path / "two" / "arrays.npz")
    assert sorted(a.files) == sorted(b.files)
    np.testing.assert_allclose(a[key], b[key], rtol=1e-4, atol=1e-6)
    assert two.stdout.count("manifest.json") == 1  # only rank 0 wrote and printed


def test_report_under_torchrun_matches_one_process(tiny_checkpoint, tmp_path):
    common = ["report", "--checkpoint", str(tiny_checkpoint), "--data", "synthetic:count=70,val=14,test=70",
              "--quick", "--quiet", "--skip", "filters", "--skip", "explorer"]  # rank 0 alone runs both
    one = subprocess.run([sys.executable, "-m", "ferviz", *common, "--out", str(tmp_path / "one")],
                         capture_output=True, text=True, timeout=300, env=ENV)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          "-m", "ferviz", *common, "--out", str(tmp_path / "two")],
                         capture_output=True, text=True, timeout=300, env=ENV)
    assert two.returncode == 0, two.stderr
    a = json.loads((tmp_path / "one" / "report.json").read_text())
    b = json.loads((tmp_path / "two" / "report.json").read_text())
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == sorted(p.name for p in (tmp_path / "two").iterdir())
    untimed = lambda section: {k: v for k, v in section.items() if k != "seconds"}  # noqa: E731
    for name in ("accuracy", "confusion"):
        assert untimed(a["sections"][name]) == untimed(b["sections"][name])
    for name in ("saliency", "integrated-gradients"):  # maps computed in shards: equal up to float rounding
        assert a["sections"][name]["figures"] == b["sections"][name]["figures"]
        assert a["sections"][name]["findings"] == b["sections"][name]["findings"]
