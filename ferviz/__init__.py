"""ferviz: train facial-expression CNNs and see what they see.

The Python API (docs/api.md) is here, loaded on first use so that ``import ferviz`` stays light
(no torch, no matplotlib)::

    import ferviz
    model = ferviz.load("fer2013-seed-vgg")
    faces = ferviz.read_images(["face.jpg"], model=model)
    result = ferviz.explain_faces(model, faces, methods=["saliency", "grad-cam"])
"""

__version__ = "0.1.0"

#: FER2013's label order (the Kaggle CSV's `emotion` column, 0-6).
FER2013_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

#: The public API: name -> the module that defines it (imported on first access).
_API = {
    "load": "ferviz.api",
    "read_images": "ferviz.inputs.images",
    "explain_faces": "ferviz.api",
    "methods": "ferviz.api",
    "Faces": "ferviz.inputs.images",
    "Result": "ferviz.api",
}
__all__ = ["FER2013_CLASSES", "__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        import importlib

        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'ferviz' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
