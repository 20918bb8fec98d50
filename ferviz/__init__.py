"""ferviz: train facial-expression CNNs and see what they see."""

__version__ = "0.1.0"

#: FER2013's label order (the Kaggle CSV's `emotion` column, 0-6).
FER2013_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
