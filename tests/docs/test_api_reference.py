"""The API reference (mkdocs.yml, docs/reference/) builds with warnings as errors.

``mkdocs build --strict`` fails on a broken link, anchor or cross-reference (a Sphinx role
in a docstring naming something that does not exist is one: docs/hooks/sphinx_markup.py),
on a page left out of the nav, and on a public name of the reference without a docstring
(docs/hooks/public_docstrings.py). The tests below also prove that the docstring check and
the cross-reference check can fail, and that every name ``pycrm`` exports has a place in
the reference.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import subprocess
import sys
import textwrap
import types

import pytest

import pycrm

ROOT = pathlib.Path(__file__).resolve().parents[2]
HOOKS = ROOT / "docs" / "hooks"
REFERENCE = ROOT / "docs" / "reference"


def _load_checker() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(
        "public_docstrings", HOOKS / "public_docstrings.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


checker = _load_checker()


def mkdocs_build(config: pathlib.Path, site: pathlib.Path) -> subprocess.CompletedProcess[str]:
    """``mkdocs build --strict`` of ``config`` into ``site``; output is kept for messages."""
    # Material prints a banner about MkDocs 2 on every build unless told not to.
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        cwd=config.parent,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_the_site_builds_with_warnings_as_errors(tmp_path: pathlib.Path) -> None:
    result = mkdocs_build(ROOT / "mkdocs.yml", tmp_path / "site")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNING" not in output, output
    assert (tmp_path / "site" / "reference" / "money" / "index.html").is_file()


def test_every_name_pycrm_exports_is_in_the_reference() -> None:
    shown: set[int] = set()
    for page in REFERENCE.glob("*.md"):
        for identifier, options in checker.directives(page.read_text(encoding="utf-8")):
            obj = checker.resolve(identifier)
            shown.add(id(obj))
            if isinstance(obj, types.ModuleType):
                members = options.get("members") or getattr(obj, "__all__", [])
                shown.update(id(getattr(obj, name)) for name in members)
    missing = [
        name
        for name in pycrm.__all__
        if not name.startswith("__") and id(getattr(pycrm, name)) not in shown
    ]
    assert missing == [], f"add these to a page of docs/reference/: {missing}"


SAMPLE = '''
    """A module for the checker."""

    #: Documented by a comment.
    LIMIT = 3
    UNDOCUMENTED = 4

    def documented():
        """Says what it does."""

    def shout():
        return "!"

    def _private():
        pass

    class Box:
        """Holds things."""

        def open(self):
            """Opens the box."""

        def close(self):
            pass

        def _latch(self):
            pass

    class Bare:
        pass
'''


def test_the_checker_reports_each_undocumented_public_name() -> None:
    module = types.ModuleType("sample")
    exec(textwrap.dedent(SAMPLE), module.__dict__)  # a module built in memory, no file
    module.__all__ = ["documented", "shout", "Box", "Bare"]
    assert checker.undocumented(module, "sample") == [
        "sample.shout",
        "sample.Box.close",
        "sample.Bare",
    ]
    # What a directive's options leave out is not checked.
    options = {"filters": ["!^_", "!^close$"]}
    assert checker.undocumented(module.Box, "sample.Box", options) == []


def test_the_checker_reads_constants_from_the_source(tmp_path: pathlib.Path) -> None:
    (tmp_path / "sample_constants.py").write_text(textwrap.dedent(SAMPLE), encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    try:
        module = importlib.import_module("sample_constants")
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("sample_constants", None)
    module.__all__ = ["LIMIT", "UNDOCUMENTED", "documented"]
    assert checker.undocumented(module, "sample_constants") == ["sample_constants.UNDOCUMENTED"]


def test_the_build_fails_on_a_missing_docstring_and_a_broken_reference(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "sample_api.py").write_text(
        textwrap.dedent('''
            """A sample API."""

            __all__ = ["shout", "whisper"]


            def shout():
                return "!"


            def whisper():
                """Quieter than :func:`shout`, louder than :func:`vanished`."""
        '''),
        encoding="utf-8",
    )
    (tmp_path / "docs" / "index.md").write_text("# Sample\n\n::: sample_api\n", encoding="utf-8")
    config = tmp_path / "mkdocs.yml"
    config.write_text(
        textwrap.dedent(f"""
            site_name: sample
            plugins:
              - mkdocstrings:
                  handlers:
                    python:
                      paths: [src]
                      options:
                        docstring_style: sphinx
                        extensions:
                          - {HOOKS / "sphinx_markup.py"}:SphinxMarkup
            hooks:
              - {HOOKS / "public_docstrings.py"}
        """),
        encoding="utf-8",
    )
    # The hook imports what the page documents.
    paths = [str(tmp_path / "src"), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, paths)))
    result = mkdocs_build(config, tmp_path / "site")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "sample_api.shout has no docstring" in output, output
    assert "sample_api.whisper has no docstring" not in output, output
    assert "Could not find cross-reference target 'vanished'" in output, output
    assert "target 'shout'" not in output, output  # a role naming a real function is no error
