"""Architectures shipped with ferviz, installed as ``ferviz.models``.

Each module registers its factories through the ``register_models`` hook, like any plugin.
"""
