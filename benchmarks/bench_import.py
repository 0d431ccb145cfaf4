"""Import time of pycrm, in fresh processes, against importing its dependencies alone.

Times, as the median of ``--repeat`` runs each, the wall time of a fresh interpreter
(``python -c CODE``, process start and exit included) for

- ``bare python``: ``pass``, the interpreter alone,
- ``dependencies``: ``import attrs, babel.core, babel.numbers, babel.dates, pluggy,
  pydantic; from pydantic import BaseModel, TypeAdapter, ConfigDict``, the floor of any
  library built on them (the baseline),
- ``import pycrm``: the package (the public names are loaded on first use),
- ``pycrm.CRM``: ``import pycrm; pycrm.CRM``, the whole library,
- ``connect memory``: ``pycrm.CRM.connect('memory://', load_entry_points=False)``, ready
  to use,

and prints each with its ratio to the dependencies and to the bare interpreter.

    python benchmarks/bench_import.py [--repeat 21] [--python other/venv/bin/python]

``--python`` measures another interpreter, e.g. the virtual environment of an older
checkout, with the same code. The runs go round-robin (one of each snippet in turn) so
that a change in the machine's load touches every snippet alike. Every module comes from
compiled bytecode, as in an installed package: the children write and read their ``.pyc``
files in a temporary ``-X pycache_prefix`` warmed by one untimed run of each snippet
(``PYTHONDONTWRITEBYTECODE`` is ignored for them, and nothing is written next to the
sources).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DEPENDENCIES = (
    "import attrs, babel.core, babel.numbers, babel.dates, pluggy, pydantic; "
    "from pydantic import BaseModel, TypeAdapter, ConfigDict"
)
SNIPPETS = {
    "bare python": "pass",
    "dependencies": DEPENDENCIES,
    "import pycrm": "import pycrm",
    "pycrm.CRM": "import pycrm; pycrm.CRM",
    "connect memory": "import pycrm; pycrm.CRM.connect('memory://', load_entry_points=False)",
}
BASELINE, BARE = "dependencies", "bare python"


def _command(python: str, prefix: Path, code: str) -> list[str]:
    return [python, "-X", f"pycache_prefix={prefix}", "-c", code]


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # the warm-up run must leave its .pyc files
    env.pop("PYTHONPYCACHEPREFIX", None)  # -X pycache_prefix decides
    return env


def _once(command: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def where_pycrm(python: str) -> str:
    """The pycrm that ``python`` imports (checks that it has one at all)."""
    done = subprocess.run(
        [python, "-c", "import pycrm; print(pycrm.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def measure(python: str, repeat: int, warmup: int = 1) -> dict[str, dict[str, float]]:
    """Median wall time of each snippet in fresh processes, with the ratios."""
    env = _environment()
    times: dict[str, list[float]] = {name: [] for name in SNIPPETS}
    with tempfile.TemporaryDirectory() as tmp:
        prefix, cwd = Path(tmp) / "pycache", Path(tmp)  # cwd: nothing importable by accident
        commands = {name: _command(python, prefix, code) for name, code in SNIPPETS.items()}
        for _ in range(warmup):
            for command in commands.values():
                _once(command, env, cwd)
        for _ in range(repeat):
            for name, command in commands.items():
                times[name].append(_once(command, env, cwd))
    medians = {name: statistics.median(runs) for name, runs in times.items()}
    base, bare = medians[BASELINE], medians[BARE]
    return {
        name: {
            "ms": round(value * 1000, 2),
            "min_ms": round(min(times[name]) * 1000, 2),
            "above_bare_ms": round((value - bare) * 1000, 2),
            "x_dependencies": round(value / base, 2),
            "x_bare": round(value / bare, 2),
        }
        for name, value in medians.items()
    }


def report(python: str, location: str, repeat: int, results: dict[str, Any]) -> list[str]:
    lines = [
        f"import time, median of {repeat} fresh processes each ({python}; pycrm from {location})",
        f"  {'':<16} {'median ms':>10} {'min ms':>8} {'above bare':>11} "
        f"{'x dependencies':>15} {'x bare':>7}",
    ]
    for name, r in results.items():
        lines.append(
            f"  {name:<16} {r['ms']:>10.1f} {r['min_ms']:>8.1f} {r['above_bare_ms']:>11.1f} "
            f"{r['x_dependencies']:>15.2f} {r['x_bare']:>7.2f}"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=21, help="timed runs of each snippet")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs of each first")
    parser.add_argument(
        "--python", default=sys.executable, help="interpreter to measure (default: this one)"
    )
    args = parser.parse_args(argv)
    location = where_pycrm(args.python)
    results = measure(args.python, args.repeat, args.warmup)
    for line in report(args.python, location, args.repeat, results):
        print(line)
    return results


if __name__ == "__main__":
    main()
