"""``python -m ferviz``: the same as the ``ferviz`` command (torchrun starts workers this way)."""

from ferviz.cli import main

if __name__ == "__main__":
    main()
