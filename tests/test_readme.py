"""The README's promises: its plugin example runs, and CI runs the README's own test command."""

import re
import subprocess
import types
from pathlib import Path

import numpy as np

from ferviz.explain import run_explainer
from ferviz.registry import hookimpl

from tests.conftest import make_loaded

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_plugin_example_runs_as_written():
    block = re.search(r"```python\n# ferviz_example/plugin.py\n(.*?)```", README, re.S).group(1)
    module = types.ModuleType("readme_plugin")
    exec(compile(block, "README.md", "exec"), module.__dict__)
    cls = module.GradientTimesInput
    assert isinstance(module.register_explainers, types.FunctionType)
    assert hookimpl  # the example uses ferviz's own marker
    model = make_loaded(seed=0)
    images = np.random.default_rng(0).integers(0, 256, (3, 48, 48), dtype=np.uint8)
    result = run_explainer(cls, model, images=images, options={"reference": "128"})
    assert result.arrays["attributions"].shape == (3, 48, 48)
    assert np.isfinite(result.arrays["attributions"]).all()
    assert "gradient-x-input" in result.figures


def test_ci_runs_the_readme_test_command_then_the_numerical_tests_on_another_cpu():
    test, numerics = subprocess.run(["bash", ".ci/run", "--print"], cwd=ROOT, capture_output=True, text=True,
                                    check=True).stdout.strip().splitlines()
    assert "pytest" in test and "constraints.txt" in test
    assert f"<!-- ci:test -->\n```bash\n{test}\n```" in README
    assert f"<!-- ci:numerics -->\n```bash\n{numerics}\n```" in README
    assert "-m numerics" in numerics and "ATEN_CPU_CAPABILITY=avx2" in numerics and "OMP_NUM_THREADS=1" in numerics
    assert "numerics:" in (ROOT / "setup.cfg").read_text()  # the marker is registered


def test_ci_installs_what_the_browser_test_needs():
    """The browser test fails under CI without Playwright and Chromium: the CI path must install both."""
    test = subprocess.run(["bash", ".ci/run", "--print"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.splitlines()[0]
    extras = re.search(r'-e "\.\[([a-z,-]+)\]"', test).group(1).split(",")
    assert {"test", "browser-tests", "keras", "faces"} <= set(extras)  # faces: the detector tests need OpenCV
    assert re.search(r"^faces =\n    opencv-python-headless", (ROOT / "setup.cfg").read_text(), re.M)
    assert re.search(r"^opencv-python-headless==4\.", (ROOT / "constraints.txt").read_text(), re.M)
    assert re.search(r"^browser-tests =\n    playwright", (ROOT / "setup.cfg").read_text(), re.M)
    assert re.search(r"^playwright==", (ROOT / "constraints.txt").read_text(), re.M)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "apt-get install -y -qq chromium" in ci and 'export CI="${CI:-true}"' in ci
    assert ci.index("apt-get install") < ci.index('bash -euo pipefail -c "$cmd"')
