"""The import direction of docs/architecture.md, checked on the real import graph
(grimp, the engine of import-linter). If import-linter's contracts land in
pyproject.toml, "marketplace does not import tasks" belongs there too."""

from __future__ import annotations

import grimp
import pytest

PACKAGES = ("core", "marketplace", "tasks", "payouts", "reputation")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True)


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("marketplace", "tasks"),  # the requester side reads counters, not assignments
        ("payouts", "marketplace"),
        ("payouts", "tasks"),
        ("core", "marketplace"),
        ("core", "tasks"),
        ("core", "payouts"),
    ],
)
def test_layer_does_not_import(graph, importer, imported):
    chain = graph.find_shortest_chain(importer=importer, imported=imported, as_packages=True)
    assert chain is None, " -> ".join(chain or ())


def test_the_check_sees_imports(graph):
    """The checker itself works: tasks does import marketplace."""
    assert graph.chain_exists(importer="tasks", imported="marketplace", as_packages=True)
