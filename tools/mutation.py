"""Mutation testing of the verdict code, in one command: ``python tools/mutation.py``.

Runs mutmut over the modules listed in ``[tool.mutmut]`` of ``pyproject.toml`` (the
conditional-write rules, ETags, the checker and its rules, the reference client's decisions,
the schedules and strategies) with the Hypothesis profile ``dev``, then prints a score per
module. Known equivalent mutants — changes no test can notice because behaviour does not
change — are listed with a reason in ``mutation-equivalents.toml`` and left out of the score.

    python tools/mutation.py                   # run (incrementally: changed code is re-run)
    python tools/mutation.py --report          # only print the scores of the last run
    python tools/mutation.py --fresh           # forget earlier results first
    python tools/mutation.py pytest_windchill/rules.py   # re-run every mutant of one module

Exit status 1 when a module scores below the threshold (default 90 %), or when an entry of
the equivalents file no longer matches its mutant (the code changed: check it again).

Needs the ``mutation`` extra: ``pip install -e ".[test,mutation]"``. Not part of CI: a full
run takes about half an hour on two cores.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = ROOT / "mutants"
EQUIVALENTS = ROOT / "mutation-equivalents.toml"
#: mutmut's exit codes that count as a kill: a failing test, or a timeout (an endless loop).
KILLED = frozenset({1, 3, 24, -24, 36, 152, 255})


@dataclass(frozen=True)
class Equivalent:
    mutant: str
    #: Text the mutated function contains (checked, so a stale entry is noticed).
    change: str
    why: str


def modules() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    return list(config["only_mutate"])


def load_equivalents() -> dict[str, Equivalent]:
    if not EQUIVALENTS.exists():
        return {}
    data = tomllib.loads(EQUIVALENTS.read_text())
    return {item["mutant"]: Equivalent(**item) for item in data.get("equivalent", [])}


def results(module: str) -> dict[str, int]:
    """mutant name → exit code of its test run (1 killed, 0 survived, other: timeout...)."""
    meta = MUTANTS / f"{module}.meta"
    if not meta.exists():
        return {}
    codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
    return {name: (code if code is not None else -1) for name, code in codes.items()}


def mutant_source(module: str, name: str) -> str | None:
    """The source of one mutated function, from mutmut's copy of the module."""
    tree = ast.parse((MUTANTS / module).read_text())
    function = name.rsplit(".", 1)[-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == function:
            return ast.get_source_segment((MUTANTS / module).read_text(), node)
    return None


def report(threshold: float) -> int:
    equivalents = load_equivalents()
    problems = 0
    seen: set[str] = set()
    print(f"{'module':<40} {'mutants':>7} {'equiv.':>6} {'killed':>6} {'alive':>5} {'score':>6}")
    survivors: dict[str, list[str]] = defaultdict(list)
    for module in modules():
        codes = results(module)
        if not codes:
            print(f"{module:<40} no results: run without --report first")
            problems += 1
            continue
        equivalent = [name for name in codes if name in equivalents]
        seen.update(equivalent)
        for name in equivalent:
            source = mutant_source(module, name) or ""
            if equivalents[name].change not in source:
                print(f"  stale equivalent {name}: its code no longer contains "
                      f"{equivalents[name].change!r}; check it again")  # fmt: skip
                problems += 1
        counted = {n: c for n, c in codes.items() if n not in equivalents}
        killed = sum(1 for c in counted.values() if c in KILLED)
        survivors[module] = sorted(n for n, c in counted.items() if c not in KILLED)
        score = killed / len(counted) if counted else 1.0
        flag = "" if score >= threshold else "  < threshold"
        print(
            f"{module:<40} {len(codes):>7} {len(equivalent):>6} {killed:>6} "
            f"{len(survivors[module]):>5} {score:>6.1%}{flag}"
        )
        if score < threshold:
            problems += 1
    for name in sorted(set(equivalents) - seen):
        print(f"  equivalent {name} is not among the mutants any more: remove it")
        problems += 1
    for module, names in survivors.items():
        codes = results(module)
        for name in names:
            what = "survived" if codes[name] == 0 else f"not killed (mutmut code {codes[name]})"
            print(f"  {what}: {name}  (mutmut show {name})")
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report", action="store_true", help="only print the last scores")
    parser.add_argument("--fresh", action="store_true", help="forget earlier results first")
    parser.add_argument(
        "--threshold", type=float, default=0.9, help="lowest score per module (default 0.9)"
    )
    parser.add_argument(
        "modules", nargs="*", help="re-run every mutant of these modules (paths as in pyproject)"
    )
    args = parser.parse_args()
    os.chdir(ROOT)
    if not args.report:
        if shutil.which("mutmut") is None:
            print('mutmut is not installed: pip install -e ".[test,mutation]"', file=sys.stderr)
            return 2
        if args.fresh and MUTANTS.exists():
            shutil.rmtree(MUTANTS)
        env = {**os.environ, "HYPOTHESIS_PROFILE": "dev"}
        env.pop("CI", None)
        unknown = sorted(set(args.modules) - set(modules()))
        if unknown:
            print(f"not in [tool.mutmut] only_mutate: {unknown}", file=sys.stderr)
            return 2
        names = [m.removesuffix(".py").replace("/", ".") + ".*" for m in args.modules]
        subprocess.run(["mutmut", "run", *names], env=env, check=False)
    return report(args.threshold)


if __name__ == "__main__":
    sys.exit(main())
