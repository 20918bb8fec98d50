"""ferviz's built-in file readers, one module each (registered in :mod:`ferviz.data.builtin`):

============  ==============================================================================
kind          what it reads
============  ==============================================================================
``csv``       Kaggle's FER2013 CSV, bare or in an archive, FER+ labels (:mod:`.csvfile`)
``folder``    labelled image folders ``ROOT/<split>/<class>/*``, bare or in a .zip / .tar.gz
              (:mod:`.folders`)
``npz``       files written by :func:`ferviz.data.npzfile.save_npz` (``ferviz data synth``; :mod:`.npz`)
``images``    a folder of unlabelled face images (or one image file), for predict / explain
              (:mod:`.unlabelled`)
============  ==============================================================================

Every reader returns ``{split: Dataset}`` with lower-case class names, and handles bad input the
same way (:mod:`.common`). The ``synthetic`` source is :mod:`ferviz.data.synthetic`.
"""

from __future__ import annotations

from ferviz.lazy import exports

_READERS = {"CsvReader": "csvfile", "FolderReader": "folders", "NpzReader": "npz", "UnlabelledReader": "unlabelled"}

__all__ = sorted(_READERS)
__getattr__ = exports(__name__, _READERS)
