"""The run directory: one folder per run, every file written atomically (temp file + rename)."""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd


def run_dir_name(experiment: str, now: dt.datetime | None = None) -> str:
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{experiment}"


class RunDir:
    """``runs/<UTC time>-<experiment>/``: resolved spec, requests/events parquet, summary.json, report.md."""

    def __init__(self, root: Path, experiment: str) -> None:
        base = root / run_dir_name(experiment)
        path, n = base, 1
        while path.exists():
            n += 1
            path = base.with_name(f"{base.name}-{n}")
        path.mkdir(parents=True)
        self.path = path
        self.run_id = path.name

    def _atomic(self, name: str, write: Callable[[Path], None]) -> Path:
        target = self.path / name
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=f".{name}.", suffix=".tmp")
        os.close(fd)
        try:
            write(Path(tmp))
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def write_text(self, name: str, text: str) -> Path:
        def write(path: Path) -> None:
            path.write_text(text, encoding="utf-8")

        return self._atomic(name, write)

    def write_json(self, name: str, data: Any) -> Path:
        return self.write_text(name, json.dumps(data, indent=2, sort_keys=False) + "\n")

    def write_parquet(self, name: str, frame: pd.DataFrame) -> Path:
        return self._atomic(name, lambda p: frame.to_parquet(p, index=False))
