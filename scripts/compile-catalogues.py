"""Compile pycrm's translation catalogues (.po) into the .mo files shipped beside them.

Usage: python scripts/compile-catalogues.py
Uses babel's pofile/mofile API, so no gettext tools are needed. A test checks that every
shipped .mo matches its .po, so run this after editing a catalogue.
"""

from pycrm.i18n import CATALOGUES, compile_catalogue

for po in sorted(CATALOGUES.glob("*/LC_MESSAGES/pycrm.po")):
    mo = po.with_suffix(".mo")
    mo.write_bytes(compile_catalogue(po))
    print(f"compiled {mo.relative_to(CATALOGUES.parent)}")
