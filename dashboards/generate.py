"""Writes the dashboards' JSON into dashboards/json/ (`python -m dashboards.generate`; `--check`: fail if stale)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders.dashboard import Dashboard

from dashboards import continuity, recovery
from dashboards.common import to_json

OUT_DIR = Path(__file__).parent / "json"
BUILDERS: dict[str, Callable[[], Dashboard]] = {
    "chaoskit-continuity.json": continuity.build,
    "chaoskit-recovery.json": recovery.build,
}


def render(build: Callable[[], Dashboard]) -> str:
    """Stable text: sorted keys, two-space indent, a final newline (so a diff shows real changes only)."""
    data: dict[str, Any] = to_json(build())
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def rendered() -> dict[str, str]:
    return {name: render(build) for name, build in BUILDERS.items()}


def stale(out_dir: Path = OUT_DIR) -> list[str]:
    """Names of the committed JSON files that differ from what the generator makes now."""
    problems = []
    for name, text in rendered().items():
        path = out_dir / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            problems.append(name)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if a committed file is stale; write nothing")
    args = parser.parse_args(argv)
    if args.check:
        problems = stale()
        for name in problems:
            print(f"stale: dashboards/json/{name} (run `python -m dashboards.generate`)", file=sys.stderr)
        return 1 if problems else 0
    OUT_DIR.mkdir(exist_ok=True)
    for name, text in rendered().items():
        (OUT_DIR / name).write_text(text, encoding="utf-8")
        print(f"wrote dashboards/json/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
