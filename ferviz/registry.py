"""The plugin manager and the name registries built from its hooks.

The marker name, the entry-point group and the PluginManager name are all ``ferviz``. Set
``FERVIZ_DISABLE_PLUGINS=name1,name2`` to block named external plugins (entry-point names).
"""

from __future__ import annotations

import importlib
import inspect
import os
import traceback
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata

import pluggy

from ferviz import hookspecs
from ferviz.errors import PluginError, UnknownNameError

PROJECT = "ferviz"
hookimpl = pluggy.HookimplMarker(PROJECT)

#: Built-in plugins, registered through the same hooks as third-party ones.
BUILTIN_PLUGINS = (
    "ferviz.models.vgg",
    "ferviz.models.resnet",
    "ferviz.models.pretrained",
    "ferviz.data.builtin",
    "ferviz.plugins.saliency",
    "ferviz.plugins.integrated_gradients",
    "ferviz.plugins.filter_ascent",
    "ferviz.plugins.confusion",
    "ferviz.plugins.gradcam",
    "ferviz.plugins.smoothgrad",
    "ferviz.plugins.occlusion",
    "ferviz.plugins.guided_backprop",
    "ferviz.plugins.metrics",
    "ferviz.plugins.keras_h5",
    "ferviz.plugins.face_opencv",
)
DISABLE_ENV = "FERVIZ_DISABLE_PLUGINS"


def blocked_names() -> set[str]:
    """The entry-point names that FERVIZ_DISABLE_PLUGINS blocks."""
    return {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}


@dataclass
class PluginInfo:
    name: str
    origin: str  # "built-in" or the distribution name
    version: str
    module: str
    error: str | None = None  # traceback text when the plugin failed to import


class FervizPluginManager(pluggy.PluginManager):
    def __init__(self):
        super().__init__(PROJECT)
        self.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}

    def load_entry_points(self) -> None:
        blocked = blocked_names()
        for ep in metadata.entry_points(group=PROJECT):
            dist = ep.dist.name if ep.dist else "?"
            version = ep.dist.version if ep.dist else "?"
            if ep.name in blocked:
                self.set_blocked(ep.name)
                continue
            if self.get_plugin(ep.name) is not None or ep.name in self.infos:
                continue
            try:
                module = ep.load()
            # A broken third-party plugin must not break ferviz: record it for `ferviz plugins`.
            except Exception:  # noqa: BLE001
                self.infos[ep.name] = PluginInfo(ep.name, dist, version, ep.value, traceback.format_exc())
                continue
            self.register(module, name=ep.name)
            self.infos[ep.name] = PluginInfo(ep.name, dist, version, ep.value)

    def register_builtins(self) -> None:
        from ferviz import __version__

        for modname in BUILTIN_PLUGINS:
            module = importlib.import_module(modname)
            self.register(module, name=modname)
            self.infos[modname] = PluginInfo(modname, "built-in", __version__, modname)

    @property
    def failures(self) -> list[PluginInfo]:
        return [i for i in self.infos.values() if i.error]


@lru_cache(maxsize=None)
def get_plugin_manager() -> FervizPluginManager:
    pm = FervizPluginManager()
    pm.load_entry_points()
    pm.register_builtins()
    pm.check_pending()
    return pm


def reset() -> None:
    """Forget the plugin manager and registries (tests register plugins in-process)."""
    get_plugin_manager.cache_clear()
    _REGISTRIES.clear()


class Registry(dict):
    """name -> object, remembering which plugin registered each name."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind
        self.owner: dict[str, str] = {}

    def add(self, name: str, obj, plugin: str) -> None:
        if name in self:
            raise PluginError(
                f"{self.kind} {name!r} is registered by both {self.owner[name]!r} and {plugin!r}; "
                f"uninstall one, or disable it with {DISABLE_ENV}={plugin}"
            )
        self[name] = obj
        self.owner[name] = plugin

    def get_or_raise(self, name: str):
        if name not in self:
            raise UnknownNameError(self.kind, name, self)
        return self[name]


_REGISTRIES: dict[str, Registry] = {}


def _collect(hook_name: str, kind: str, key) -> Registry:
    if hook_name in _REGISTRIES:
        return _REGISTRIES[hook_name]
    pm = get_plugin_manager()
    registry = Registry(kind)
    for impl in reversed(getattr(pm.hook, hook_name).get_hookimpls()):

        def register(*args, _plugin=impl.plugin_name):
            registry.add(key(*args), args[-1] if len(args) > 1 else args[0], _plugin)

        impl.function(register=register)
    _REGISTRIES[hook_name] = registry
    return registry


def models() -> Registry:
    """Architecture name -> factory."""
    return _collect("register_models", "model", lambda name, factory: name)


def explainers() -> Registry:
    """Explainer name -> Explainer subclass."""
    return _collect("register_explainers", "explainer", lambda cls: cls.name)


def data_readers() -> Registry:
    """Data-source kind -> Reader."""
    return _collect("register_data_sources", "data source", lambda reader: reader.kind)


def metrics() -> Registry:
    """Metric name -> Metric subclass."""
    return _collect("register_metrics", "metric", lambda cls: cls.name)


def pretrained() -> Registry:
    """Pretrained checkpoint name -> :class:`ferviz.model.pretrained.Pretrained`."""
    return _collect("register_pretrained", "pretrained model", lambda entry: entry.name)


def face_detectors() -> Registry:
    """Face detector name -> detector (see hook ``register_face_detectors``)."""
    return _collect("register_face_detectors", "face detector", lambda detector: detector.name)


def factory_takes(arch: str, argument: str) -> bool:
    """Whether the factory of registered architecture `arch` takes keyword `argument`.

    An architecture describes itself by its factory's signature (hook ``register_models``):
    ``input_size`` and ``in_channels`` are passed to the factories that take them.
    """
    try:
        return argument in inspect.signature(models().get_or_raise(arch)).parameters
    except (TypeError, ValueError):  # a factory without a signature Python can read
        return False


#: What `ferviz plugins` lists per plugin: (kind, the registry of that kind).
KINDS = (("models", models), ("explainers", explainers), ("data sources", data_readers), ("metrics", metrics),
         ("pretrained", pretrained), ("face detectors", face_detectors))


def registrations(conflicts: list[str] | None = None) -> dict[str, dict[str, list[str]]]:
    """plugin name -> {hook kind -> names it registered}, for `ferviz plugins`.

    A name registered twice raises PluginError; given a list `conflicts`, its message is added to
    it instead and that kind is left out, so the other kinds are still listed.
    """
    out: dict[str, dict[str, list[str]]] = {}
    for kind, collect in KINDS:
        try:
            reg = collect()
        except PluginError as exc:
            if conflicts is None:
                raise
            conflicts.append(str(exc))
            continue
        for name, plugin in reg.owner.items():
            out.setdefault(plugin, {}).setdefault(kind, []).append(name)
    return out


def plugin_table() -> tuple[list[dict], list[str]]:
    """One row per plugin (loaded, failed, disabled) and the registration conflicts found.

    A row: name, version, origin (``built-in``, the distribution, ``in-process``), module, status
    (``ok``, ``failed``, ``disabled``), registers (kind -> names) and error (a failed import's
    traceback, else None). What ``ferviz plugins`` prints, as a table or as JSON.
    """
    pm = get_plugin_manager()
    conflicts: list[str] = []
    registers = registrations(conflicts)
    rows = []
    for name, info in pm.infos.items():
        rows.append({"name": name, "version": info.version, "origin": info.origin, "module": info.module,
                     "status": "failed" if info.error else "ok", "registers": registers.get(name, {}),
                     "error": info.error})
    for name, plugin in pm.list_name_plugin():
        if name not in pm.infos and plugin is not None:
            rows.append({"name": name, "version": "", "origin": "in-process", "module": repr(plugin),
                         "status": "ok", "registers": registers.get(name, {}), "error": None})
    blocked = blocked_names()
    for ep in metadata.entry_points(group=PROJECT):
        if ep.name in blocked:
            rows.append({"name": ep.name, "version": ep.dist.version if ep.dist else "?",
                         "origin": ep.dist.name if ep.dist else "?", "module": ep.value, "status": "disabled",
                         "registers": {}, "error": None})
    return rows, conflicts
