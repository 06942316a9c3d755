"""The import direction of docs/architecture.md, checked by import-linter with the
contracts in pyproject.toml ([tool.importlinter]): ``core`` imports no app, ``payouts``
imports none of marketplace, tasks and reputation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
    assert "core imports no app" in result.stdout
    assert "payouts knows accounts and amounts" in result.stdout


def test_a_forbidden_import_is_reported(tmp_path: Path) -> None:
    # The same contracts over a copy of core with one forbidden import added: the check
    # must see it (so a green result above means something).
    pkg = tmp_path / "core"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "bad.py").write_text("import payouts.ledger\n")
    payouts = tmp_path / "payouts"
    payouts.mkdir()
    (payouts / "__init__.py").write_text("")
    (payouts / "ledger.py").write_text("")
    (tmp_path / ".importlinter").write_text(
        "[importlinter]\nroot_packages =\n    core\n    payouts\n\n"
        "[importlinter:contract:core-bottom]\nname = core imports no app\ntype = forbidden\n"
        "source_modules =\n    core\nforbidden_modules =\n    payouts\n"
    )
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "core.bad -> payouts.ledger" in result.stdout
