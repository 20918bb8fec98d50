"""The shared contract: every registered explainer, on two differently shaped networks.

Parametrised over ``registry.explainers()`` at collection time, so a plugin is tested the moment
it registers. Each explainer runs with its ``quick_options`` on the untrained seed VGG and the
tiny ResNet: arrays, figures, summary, saved files and the model's state are checked. A map
explainer must also be shardable (its compute splits over shares of the images) and give
``ferviz assess`` exactly the map its explanation saves.
"""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from ferviz import registry
from ferviz.model.checkpoint import load_checkpoint
from ferviz.assess import attribution_map, explainer_fn
from ferviz.explain import Explainer, Explanation, MapExplainer, Request, explaining, predicted_classes, save

N_IMAGES = 3
FILE_MAGIC = {"png": b"\x89PNG", "pdf": b"%PDF", "svg": b"<?xml"}


def make_request(cls: type[Explainer], model, faces) -> Request:
    """A small request of the kind `cls` needs, from the random faces."""
    if cls.needs == "dataset":
        return Request(dataset=faces.subset(np.arange(21)), seed=0)
    images = faces.images[:N_IMAGES]
    if cls.needs == "model":
        return Request(seed=0)
    return Request(images=images, targets=predicted_classes(model, images), labels=faces.labels[:N_IMAGES],
                   ids=[f"face{i}" for i in range(N_IMAGES)], seed=0)


def check_declaration(cls: type[Explainer]) -> None:
    assert cls.name and cls.name == cls.name.strip().lower() and " " not in cls.name
    assert cls.summary, f"{cls.name}: empty summary"
    assert cls.needs in ("images", "dataset", "model")
    assert cls.__doc__, f"{cls.name}: the class has no docstring"
    names = [o.name for o in cls.options]
    assert len(names) == len(set(names)), f"{cls.name}: duplicate option names"
    for option in cls.options:
        assert option.name.isidentifier() and option.help
        assert option.parse(option.default, cls.name) == option.default, f"{cls.name}: default of {option.name}"
        assert option.parse(str(option.default), cls.name) == option.default
    assert set(cls.quick_options) <= set(names)


def check_explanation(cls: type[Explainer], explanation: Explanation, request: Request) -> None:
    assert isinstance(explanation, Explanation)
    assert explanation.arrays or explanation.figures, f"{cls.name} returned nothing"
    for key, array in explanation.arrays.items():
        assert key.isidentifier(), f"array name {key!r} is not a valid npz key"
        assert isinstance(array, np.ndarray), f"{cls.name}: array {key} is {type(array).__name__}"
        if array.dtype.kind == "f":
            assert np.isfinite(array).all(), f"{cls.name}: array {key} holds NaN or inf"
        if request.images is not None and cls.needs == "images" and array.ndim == 3:
            assert len(array) == len(request.images), f"{cls.name}: {key} has one entry per image"
    for key, figure in explanation.figures.items():
        assert isinstance(figure, Figure) and figure.axes, f"{cls.name}: figure {key} is empty"
        assert "/" not in key and key.strip() == key
    json.dumps(explanation.summary, default=lambda v: v.item() if isinstance(v, np.generic) else v.tolist())
    assert explanation.meta["method"] == cls.name
    assert set(explanation.meta["options"]) == {o.name for o in cls.options}


def check_saved(explanation: Explanation, out, fmt: str) -> None:
    manifest_path = save(explanation, out, fmt)
    manifest = json.loads(manifest_path.read_text())
    assert manifest_path == out / "manifest.json"
    assert sorted(p.name for p in out.iterdir()) == sorted(manifest["files"])
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")], "temporary files left beside --out"
    assert manifest["method"] == explanation.meta["method"] and manifest["ferviz_version"]
    if explanation.arrays:
        with np.load(out / "arrays.npz") as saved:
            assert sorted(saved.files) == sorted(explanation.arrays)
            for key, array in explanation.arrays.items():
                assert saved[key].shape == array.shape and list(array.shape) == manifest["arrays"][key]["shape"]
                np.testing.assert_array_equal(saved[key], array)
        assert zipfile.is_zipfile(out / "arrays.npz")
    for key, filename in manifest["figures"].items():
        assert filename == f"{key}.{fmt}"
        assert (out / filename).read_bytes()[:5].startswith(FILE_MAGIC[fmt])
    if explanation.summary:
        assert json.loads((out / "summary.json").read_text()) == manifest["summary"]


def check_map_explainer(cls: type[MapExplainer], model, request: Request, explanation: Explanation) -> None:
    """Shardable (compute + render, so it runs under torchrun), and assess's maps are explain's arrays."""
    assert cls.shardable(), f"{cls.name}: a map explainer must split into compute and render"
    explainer = cls(model, **cls.quick_options)
    declared = explanation.meta["attribution"]
    assert declared["array"] == cls.map_key and declared["signed"] == explainer.signed
    maps = explainer_fn(cls, cls.quick_options, seed=request.seed)(model, request.images, request.targets)
    assert maps.dtype == np.float32 and maps.shape == (len(request.images), model.input_size, model.input_size)
    np.testing.assert_array_equal(maps, attribution_map(explanation, cls.name))
    with explaining(model):  # as on each torchrun rank (ferviz.explain.parallel)
        shares = [explainer.compute(request.subset(part)) for part in (slice(0, 1), slice(1, None))]
        whole = explainer.compute(request)
    assert [list(share) for share in shares] == [list(whole)] * 2
    for key, array in whole.items():
        assert len(array) == len(request.images), f"{cls.name}: compute's {key} is not one row per image"
        assert np.concatenate([share[key] for share in shares]).shape == array.shape


def hooks(model) -> list[tuple[str, list]]:
    """Every module's forward, forward-pre and backward hook ids (TorchScript modules have none)."""
    kinds = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
    return [(name, [list(getattr(m, kind, {})) for kind in kinds]) for name, m in model.named_modules()]


def run_contract(cls: type[Explainer], model, faces, out, fmt: str = "png") -> Explanation:
    """Every check of the contract for one explainer class on one model (reused by plugin tests)."""
    import matplotlib.pyplot as plt

    check_declaration(cls)
    model.train()  # run() must switch to eval and restore this
    grads_before = [p.requires_grad for p in model.parameters()]
    hooks_before = hooks(model)  # a torch.export program comes with hooks of torch's own
    figures_before = plt.get_fignums()
    explainer = cls(model, **cls.quick_options)
    request = make_request(cls, model, faces)
    explanation = explainer.run(request)
    assert model.training, "the model's train/eval mode was not restored"
    assert [p.requires_grad for p in model.parameters()] == grads_before, "requires_grad not restored"
    assert hooks(model) == hooks_before, "a hook was left behind"
    check_explanation(cls, explanation, request)
    check_saved(explanation, out, fmt)
    assert plt.get_fignums() == figures_before, "figures leaked into pyplot"
    if issubclass(cls, MapExplainer):
        check_map_explainer(cls, model, request, explanation)
    model.eval()
    return explanation


@pytest.fixture(scope="module")
def models(tiny_checkpoint, resnet_checkpoint):
    return {"seed-vgg": load_checkpoint(tiny_checkpoint), "tiny-resnet": load_checkpoint(resnet_checkpoint)}


@pytest.mark.parametrize("arch", ["seed-vgg", "tiny-resnet"])
@pytest.mark.parametrize("name", sorted(registry.explainers()))
def test_explainer_contract(name, arch, models, random_faces, tmp_path):
    torch.manual_seed(0)
    run_contract(registry.explainers()[name], models[arch], random_faces, tmp_path / "out")


def test_the_per_image_builtins_are_map_explainers():
    assert {name for name, cls in registry.explainers().items() if issubclass(cls, MapExplainer)} >= {"saliency", "integrated-gradients", "grad-cam", "guided-grad-cam", "smoothgrad",
                                   "occlusion", "guided-backprop"}


def test_every_builtin_explainer_is_registered():
    assert {"saliency", "integrated-gradients", "filter-ascent", "confusion", "grad-cam", "guided-grad-cam",
            "smoothgrad", "occlusion", "guided-backprop"} <= set(registry.explainers())
