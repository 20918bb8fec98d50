"""Models as ferviz loads them: the wrapper, checkpoint files, foreign formats, pretrained names, preprocessing."""
