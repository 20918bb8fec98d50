"""Explainer throughput: ferviz vs Captum defaults, and batched vs one-filter-at-a-time ascent.

    python benchmarks/bench_explain.py [--saliency 256] [--ig 8] [--ig-steps 50]
                                       [--filters 32] [--ascent-steps 100] [--reps 3]

1. saliency maps/s for a batch: ferviz `saliency` with its defaults (fp32, and ``precision=bf16``:
   the backward pass in bf16) vs `captum.attr.Saliency(model).attribute` with default arguments on
   the same loaded model and the whole batch;
2. integrated gradients images/s: ferviz (fp32, and ``precision=bf16``: all but the input layer in
   bf16) vs Captum `IntegratedGradients` with default arguments (same steps, black baseline), and
   the largest difference between the fp32 maps;
3. occlusion with precision=bf16 against occlusion in fp32 (bf16 is offered where its maps keep
   the fp32 ones; see tests/explain/test_bf16.py);
4. filter ascent: the first --filters filters of features.conv2, all in one batch vs one filter
   per run.
Medians of --reps runs, interleaved with the baseline so that machine load hits both alike.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import torch
from captum.attr import IntegratedGradients, Saliency

from ferviz import FER2013_CLASSES
from ferviz.model.build import build_model
from ferviz.model.loaded import LoadedModel
from ferviz.explain import Request, explaining, get_explainer, run_explainer
from ferviz.model.preprocessing import Preprocessing


def seed_model() -> LoadedModel:
    torch.manual_seed(0)
    net = build_model("seed-vgg")
    g = torch.Generator().manual_seed(1)
    for m in net.modules():  # trained-like BatchNorm statistics, so folding has something to fold
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.2)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return LoadedModel(net, FER2013_CLASSES, Preprocessing("standard", 128.0, 64.0), arch="seed-vgg").eval()


def maps_only(name: str, model, images, targets, **options):
    """The explainer's map computation alone (what Captum's attribute() does), no figures."""
    explainer = get_explainer(name)(model, **options)
    request = Request(images=images, targets=targets)

    def run():
        with explaining(model):
            return explainer.maps(request)
    return run


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def compare(name, unit, count, ours, theirs, reps, bf16=None) -> dict:
    """Medians of `ours` (and `bf16`, ferviz with precision=bf16) against `theirs`, interleaved."""
    runs = {"baseline": theirs, "ferviz": ours, **({"bf16": bf16} if bf16 else {})}
    rates = {key: [] for key in runs}
    for _ in range(reps):
        for key, fn in runs.items():
            rates[key].append(count / timed(fn)[0])
    res = {key: statistics.median(r) for key, r in rates.items()}
    res["ratio"] = res["ferviz"] / res["baseline"]
    print(f"{name:<46} ferviz {res['ferviz']:9.2f}  baseline {res['baseline']:9.2f} {unit}  ratio {res['ratio']:5.2f}x")
    if bf16:
        res["bf16_ratio"] = res["bf16"] / res["baseline"]
        print(f"{name + ', precision=bf16':<46} ferviz {res['bf16']:9.2f}  baseline {res['baseline']:9.2f} {unit}  "
              f"ratio {res['bf16_ratio']:5.2f}x")
    return res


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--saliency", type=int, default=256, help="images in the saliency batch")
    p.add_argument("--ig", type=int, default=8, help="images for integrated gradients")
    p.add_argument("--ig-steps", type=int, default=50)
    p.add_argument("--filters", type=int, default=32)
    p.add_argument("--ascent-steps", type=int, default=100)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore", module="captum")
    model = seed_model().to(args.device)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (max(args.saliency, args.ig), 48, 48), dtype=np.uint8)
    targets = np.arange(len(images)) % 7
    results = {}
    print(f"seed VGG on {args.device} ({torch.get_num_threads()} CPU threads), medians of {args.reps} runs")

    x = model.pixels(images[:args.saliency])
    t = torch.as_tensor(targets[:args.saliency])
    results["saliency"] = compare(
        f"saliency, batch {args.saliency}", "maps/s", args.saliency,
        maps_only("saliency", model, images[:args.saliency], targets[:args.saliency]),
        lambda: Saliency(model).attribute(x, target=t), args.reps,
        bf16=maps_only("saliency", model, images[:args.saliency], targets[:args.saliency], precision="bf16"))
    full = statistics.median(args.saliency / timed(lambda: run_explainer(
        "saliency", model, images=images[:args.saliency], targets=targets[:args.saliency]))[0]
        for _ in range(args.reps))
    print(f"{'':46} whole explainer with figures: {full:.2f} maps/s")

    xi, ti = model.pixels(images[:args.ig]), torch.as_tensor(targets[:args.ig])
    ours_ig = maps_only("integrated-gradients", model, images[:args.ig], targets[:args.ig], steps=args.ig_steps)
    captum_ig = lambda: IntegratedGradients(model).attribute(xi, target=ti, n_steps=args.ig_steps)  # noqa: E731
    bf16_ig = maps_only("integrated-gradients", model, images[:args.ig], targets[:args.ig], steps=args.ig_steps,
                        precision="bf16")
    results["integrated_gradients"] = compare(
        f"integrated gradients, {args.ig_steps} steps", "images/s", args.ig, ours_ig, captum_ig, args.reps, bf16=bf16_ig)
    ours_map = ours_ig()
    their_map = captum_ig().sum(dim=1).detach().cpu().numpy()
    diff = float(np.abs(ours_map - their_map).max())
    scale = float(np.abs(their_map).max())
    results["integrated_gradients"]["max_abs_diff"] = diff
    print(f"{'':46} max |ferviz - captum| = {diff:.3g} (maps reach {scale:.3g})")

    results["occlusion"] = compare(  # an explainer that offers precision=bf16: against its own fp32
        "occlusion, precision=bf16 vs fp32", "images/s", args.ig,
        maps_only("occlusion", model, images[:args.ig], targets[:args.ig], precision="bf16"),
        maps_only("occlusion", model, images[:args.ig], targets[:args.ig]), args.reps)

    one_batch = lambda: run_explainer("filter-ascent", model, options={  # noqa: E731
        "layer": "features.conv2", "filters": str(args.filters), "steps": args.ascent_steps})
    one_by_one = lambda: [run_explainer("filter-ascent", model, options={  # noqa: E731
        "layer": "features.conv2", "filters": f"{k}-{k}", "steps": args.ascent_steps}) for k in range(args.filters)]
    results["filter_ascent"] = compare(
        f"filter ascent, {args.filters} filters x {args.ascent_steps}", "filters/s", args.filters,
        one_batch, one_by_one, max(1, args.reps // 2))
    return results


if __name__ == "__main__":
    main()
