"""How text is compared when users search it."""

from __future__ import annotations

import unicodedata

__all__ = ["fold"]


def fold(text: str) -> str:
    """``text`` as searches compare it: full-width forms made ordinary (``ＡＢＣ１２`` →
    ``abc12``, ``ｶﾞ`` → ``ガ``) and lower case in every script, so ``"ACME"``,
    ``"Acme"`` and ``"ＡＣＭＥ"`` all contain ``"acme"``."""
    return unicodedata.normalize("NFKC", text).lower()
