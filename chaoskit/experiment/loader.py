"""Load experiment YAML into a validated Experiment, reporting every problem as file:line:column with a hint.

ruamel's round-trip loader keeps the position of every key and value, so each pydantic error's ``loc`` can be
pointed back at the YAML text that caused it.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from chaoskit.experiment.crosscheck import cross_check
from chaoskit.experiment.diagnostics import Loc, diagnose, path_of
from chaoskit.experiment.errors import SpecError, SpecIssue
from chaoskit.experiment.model import Experiment
from chaoskit.yamllimits import EXPERIMENT_LIMITS, YamlLimitError, check_byte_count, check_text


def load_experiment(path: Path, *, model: type[Experiment]) -> Experiment:
    """Read, validate and cross-check one experiment file. Raises SpecError with every issue found.

    ``model`` knows the fault kinds (``FaultRegistry.experiment_model()``; ``chaoskit.kinds`` has the default).
    """
    try:
        check_byte_count(path.stat().st_size, EXPERIMENT_LIMITS)  # before reading: it may be huge
        text = path.read_text(encoding="utf-8")
    except YamlLimitError as err:
        raise SpecError([SpecIssue(str(path), None, None, err.message, err.hint)]) from None
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError([SpecIssue(str(path), None, None, f"cannot read: {err}")]) from None
    return load_experiment_text(text, str(path), model=model, base_dir=path.parent)


def load_experiment_text(text: str, source: str, *, model: type[Experiment],
                         base_dir: Path | None = None) -> Experiment:
    """Validate YAML ``text``; ``source`` names it in messages, manifests resolve against ``base_dir``.

    ``base_dir`` defaults to the directory of ``source``.
    """
    tree = _parse(text, source)
    base = (base_dir if base_dir is not None else Path(source).parent).resolve()
    try:
        experiment = model.model_validate(_plain(tree), context={"base_dir": base}, by_name=False)
    except ValidationError as err:
        found = [diagnose(e, model) for e in err.errors()]
        issues = [
            _issue(
                source, tree, d.loc[:-1] if d.missing else d.loc, d.message, d.hint, key=d.points_at_key or d.missing
            )
            for d in found
        ]
        raise SpecError(sorted(issues, key=_order)) from None
    problems = cross_check(experiment)
    if problems:
        issues = [
            _issue(source, tree, p.loc, f"{path_of(model, p.loc)}: {p.message}", p.hint, key=False)
            for p in problems
        ]
        raise SpecError(sorted(issues, key=_order))
    return experiment


def _parse(text: str, source: str) -> CommentedMap:
    try:
        check_text(text, EXPERIMENT_LIMITS, fallback=lambda t: YAML(typ="rt").parse(t))
        with warnings.catch_warnings():
            # ruamel warns (does not fail) on legal oddities such as a reused anchor: the later one wins.
            warnings.simplefilter("ignore")
            tree = YAML(typ="rt").load(text)
    except YamlLimitError as err:
        raise SpecError([SpecIssue(source, err.line, err.column, err.message, err.hint)]) from None
    except YAMLError as err:
        raise SpecError([_syntax_issue(source, err)]) from None
    except (ValueError, OverflowError) as err:
        # A constructor's own error: a date like 2001-13-45, an int of 5,000 digits, `!!int abc`.
        raise SpecError([_value_issue(source, err)]) from None
    if not isinstance(tree, CommentedMap):
        got = "an empty document" if tree is None else "a list" if isinstance(tree, list) else "a scalar"
        raise SpecError(
            [
                SpecIssue(
                    source,
                    1,
                    1,
                    f"an experiment must be a mapping, got {got}",
                    "start with `name: my-experiment` (see `chaoskit schema`)",
                )
            ]
        )
    return tree


def _syntax_issue(source: str, err: YAMLError) -> SpecIssue:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    problem = getattr(err, "problem", None) or str(err)
    hint = "check indentation (spaces, not tabs), quotes and the ':' after each key"
    if type(err).__name__ == "DuplicateKeyError":
        hint = "each key may appear once per mapping: remove or merge the repeated one"
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
    return SpecIssue(source, line, col, f"YAML syntax error: {problem}", hint)


def _value_issue(source: str, err: Exception) -> SpecIssue:
    """Locate a value ruamel could not build: the innermost constructor frame holds the YAML ``node``."""
    mark, tb = None, err.__traceback__
    while tb is not None:
        mark = getattr(tb.tb_frame.f_locals.get("node"), "start_mark", None) or mark
        tb = tb.tb_next
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
    problem = str(err).split("; use sys.set_int_max_str_digits")[0]
    return SpecIssue(source, line, col, f"YAML value cannot be read: {problem}",
                     "numbers, dates (YYYY-MM-DD) and tagged values (!!int ...) must be valid; quote it for a string")


def _plain(node: Any) -> Any:
    """ruamel's round-trip types -> plain Python values (so models never hold YAML objects)."""
    if isinstance(node, dict):
        return {_plain(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    for plain in (str, int, float):
        if isinstance(node, plain):
            return plain(node)
    return node


def _issue(source: str, tree: CommentedMap, loc: Loc, message: str, hint: str, *, key: bool) -> SpecIssue:
    line, column = position(tree, loc, key=key)
    return SpecIssue(source, line, column, message, hint)


def position(tree: CommentedMap, loc: Loc, *, key: bool = False) -> tuple[int, int]:
    """1-based (line, column) of the YAML node at ``loc``, or of its deepest existing ancestor.

    ``key=True`` points at the last key itself instead of its value. Discriminator tags in ``loc``
    (e.g. ``faults[0].pod-delete``) are skipped: they name the fault's ``kind``, not a YAML key.
    """
    node: Any = tree
    pos: tuple[int, int] = (tree.lc.line, tree.lc.col)
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, CommentedMap) and part in node:
            try:
                pos = node.lc.key(part) if (key and last) else node.lc.value(part)
            except KeyError:  # a key merged in from an alias (`<<: *base`) has no position here: the mapping's
                break
            node = node[part]
        elif isinstance(node, CommentedMap) and node.get("kind") == part:
            continue
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            pos = node.lc.item(part)
            node = node[part]
        else:
            break
    return pos[0] + 1, pos[1] + 1


def _order(issue: SpecIssue) -> tuple[int, int]:
    return (issue.line or 0, issue.column or 0)
