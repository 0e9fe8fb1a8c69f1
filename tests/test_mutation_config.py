"""The mutation-testing set-up stays consistent with the code (mutmut itself is not needed):
every module and test path it names exists, and every equivalent mutant listed belongs to a
mutated module and says why it is equivalent."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _config() -> dict[str, list[str]]:
    config: dict[str, list[str]] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"][
        "mutmut"
    ]
    return config


def test_every_mutated_module_and_test_path_exists() -> None:
    config = _config()

    for path in [*config["only_mutate"], *config["pytest_add_cli_args_test_selection"]]:
        assert (ROOT / path).exists(), path
    for source in config["source_paths"]:
        assert (ROOT / source).is_dir(), source


def test_every_equivalent_mutant_belongs_to_a_mutated_module_and_says_why() -> None:
    modules = {m.removesuffix(".py").replace("/", ".") for m in _config()["only_mutate"]}
    entries = tomllib.loads((ROOT / "mutation-equivalents.toml").read_text())["equivalent"]

    assert entries
    names = [entry["mutant"] for entry in entries]
    assert len(names) == len(set(names)), "an equivalent mutant is listed twice"
    for entry in entries:
        assert set(entry) == {"mutant", "change", "why"}, entry
        assert entry["mutant"].rsplit(".", 1)[0] in modules, entry["mutant"]
        assert "__mutmut_" in entry["mutant"], entry["mutant"]
        assert entry["change"].strip(), entry
        assert len(entry["why"]) > 20, entry
