"""SHA-256 for segmetrics' digests, fingerprints and keys: the compiled one of the kernels
(``sm_sha256.h``, :class:`segmetrics._kernels.folder.Sha256`), so that no run loads OpenSSL's
libcrypto through ``hashlib`` (about 3.5 MB of resident memory).  Same digests as
``hashlib.sha256``; tests compare them."""
from __future__ import annotations

__all__ = ["sha256"]


def sha256(data=None):
    """A new SHA-256 object (``update``, ``digest``, ``hexdigest``, ``copy``), fed ``data`` when given."""
    from ._kernels.folder import Sha256

    return Sha256(data)
