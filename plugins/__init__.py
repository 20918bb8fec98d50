"""Built-in explainer plugins, installed as ``ferviz.plugins``; one module per explainer.

They register through the same ``register_explainers`` hook as third-party plugins.
"""
