"""Whether a path argument is a URL, without importing :mod:`segmetrics.remote` (fsspec
glue) for the local paths almost every run is given: the command line and both folder
engines ask here."""
from __future__ import annotations

import sys

__all__ = ["_is_url", "_remote"]


def _remote():
    """:mod:`segmetrics.remote` when it is loaded, else None.  A URL argument, a
    :class:`~segmetrics.remote.RemoteFile` made by the caller or one unpickled on a Dask
    worker all load it first, so a run on local files never imports it."""
    return sys.modules.get(__package__ + ".remote")


def _is_url(x) -> bool:
    """:func:`segmetrics.remote.is_url`, importing that module only for text holding ``://``
    (every URL does) or when it is loaded already (a RemoteFile exists only then)."""
    if _remote() is None and not (isinstance(x, str) and "://" in x):
        return False
    from .remote import is_url

    return is_url(x)
