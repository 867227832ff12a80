"""The layout holds: no import cycles, models/ builds on the worker contract and settings only, the contract on
nothing of ours. The import graph is grimp's (import-linter's), type-only imports included."""

from __future__ import annotations

import grimp
import pytest

PACKAGES = ("bot", "handlers", "models", "contract")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, include_external_packages=True)


def ours(module: str) -> bool:
    return module.split(".")[0] in PACKAGES


def cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each a cycle of imports."""
    modules = sorted(m for m in graph.modules if ours(m))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if not ours(imported):
                continue
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in modules:
        if module not in index:
            visit(module)
    return found


def test_no_import_cycles(graph):
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    fake = grimp.ImportGraph()
    for module in ("bot.a", "bot.b", "bot.c"):
        fake.add_module(module)
    fake.add_import(importer="bot.a", imported="bot.b")
    fake.add_import(importer="bot.b", imported="bot.a")
    fake.add_import(importer="bot.b", imported="bot.c")
    assert cycles(fake) == [["bot.a", "bot.b"]]


def test_models_import_nothing_of_the_bot_but_its_settings(graph):
    leaks = {
        (importer, imported)
        for importer in graph.find_descendants("models") | {"models"}
        for imported in graph.find_modules_directly_imported_by(importer)
        if imported.split(".")[0] in ("bot", "handlers") and imported != "bot.settings"
    }
    assert leaks == set()


def test_the_contract_imports_no_ml_framework_and_nothing_of_ours(graph):
    for module in graph.find_descendants("contract") | {"contract"}:
        for imported in graph.find_modules_directly_imported_by(module):
            top = imported.split(".")[0]
            assert top not in ("torch", "transformers", "diffusers", "bot", "handlers", "models"), (module, imported)
