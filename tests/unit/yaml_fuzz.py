"""Generated experiment files for the validate fuzz test: mutations of the shipped experiments, and hostile YAML.

Mutations work on the parsed tree (delete, replace, rename, add a key, wrap, repeat, deepen) and on the text
(a line dropped, doubled, re-indented; characters inserted), so both the parser and the models are hit.
Hostile YAML is what a fuzzer of experiment files found in the wild: deep nesting, alias bombs, recursive
aliases, huge numbers, odd types, unicode, unknown and missing keys.

Hypothesis draws one seed per example and a ``random.Random`` of that seed generates the file: generation costs
a fraction of a millisecond, so ten thousand examples fit a CI budget, and derandomized runs are reproducible
(a failing example's text is printed). Most files are compact (flow style, a short description, comments
dropped): the YAML parser's time grows with the text, and the long prose finds nothing new.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
TEXTS = {p.name: p.read_text() for p in sorted(EXPERIMENTS.glob("*.yaml"))}
COMPACT = {name: "\n".join(line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#"))
           for name, text in TEXTS.items()}
"""The shipped files without comment lines (what most text mutations start from)."""
TREES: dict[str, Any] = {name: yaml.safe_load(text) for name, text in TEXTS.items()}
DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

KEYS = sorted({"name", "description", "target", "namespace", "manifests", "selector", "replicas", "load", "rate",
               "connection", "timeout", "path", "from", "services", "types", "phases", "baseline", "chaos",
               "recovery", "faults", "kind", "schedule", "at", "every", "times", "count", "percent", "pick",
               "grace", "node", "container", "data", "volume", "expect", "slo", "availability", "p99_latency",
               "metadata", "bogus", "<<", "", "Name", "rates", "tiemout"})
NUMBERS: list[Any] = [10**18, 2**63, 10**100, -(10**30), 1e308, -1e308, 1e-308, 5e-324, float("inf"),
                      float("-inf"), float("nan"), 0, -1, 0.0, -0.0, 100_000_000, 10_001, 100_001, 86_401, 2**31,
                      0.001, 0.01, 3, 50]
TEXT: list[str] = [
    "1e308", "9" * 400 + "h", "-1s", "0s", "1ms", "24h", "24h1ms", "1h" * 30, "1.5.5s", "s", "", " ", "\u221e",
    "1e9h", "100000000s", ".5s", "5", "0x10", "1_000s", "25h", "99999999999999999999ms", "99.9%", "101%", "-5%",
    "~", "null", "yes", "no", "on", "2001-13-45", "2001-02-30", "!!int abc", "&a", "*a", "{", "[", "%", "@",
    "`", "'", '"', "\\", "\u00e9t\u00e9", "\U0001f600", "\u202e", "\ufeff", "\x85", "a" * 5000, "9" * 5000,
    "-" * 70, "UPPER", "pod-delete", "pod-kill", "node-drain", "container-restart", "ClusterIP", "NodePort",
    "Headless", "keepalive", "in-cluster", "../manifests/target.yaml", "/nonexistent", "/", "scratch",
]


def scalar(rnd: random.Random) -> Any:
    roll = rnd.random()
    if roll < 0.35:
        return rnd.choice(TEXT)
    if roll < 0.6:
        return rnd.choice(NUMBERS)
    if roll < 0.7:
        return rnd.choice([None, True, False])
    if roll < 0.8:
        return rnd.randint(-(2**70), 2**70)
    if roll < 0.9:
        return rnd.choice(KEYS)
    return "".join(chr(rnd.choice([rnd.randint(32, 126), rnd.randint(0xA0, 0x2FFF), rnd.randint(0x1F300, 0x1F6FF)]))
                   for _ in range(rnd.randint(0, 12)))


def value(rnd: random.Random, budget: int = 8) -> Any:
    """A JSON-like value of any shape (what a wrong type in any field looks like)."""
    roll = rnd.random()
    if budget <= 0 or roll < 0.6:
        return scalar(rnd)
    if roll < 0.8:
        return [value(rnd, budget // 2) for _ in range(rnd.randint(0, 4))]
    return {rnd.choice(KEYS): value(rnd, budget // 2) for _ in range(rnd.randint(0, 4))}


def tree_mutation(rnd: random.Random) -> str:
    """A shipped experiment with a few structural changes, dumped as YAML (block or flow style)."""
    tree = copy.deepcopy(TREES[rnd.choice(sorted(TREES))])
    if rnd.random() < 0.8:
        tree["description"] = "Short."  # the long block text costs parse time and finds nothing new
    for _ in range(rnd.randint(1, 4)):
        _mutate(rnd, tree)
    try:
        return str(yaml.dump(tree, Dumper=DUMPER, allow_unicode=True, sort_keys=False,
                             default_flow_style=rnd.random() < 0.7, width=200))
    except (ValueError, yaml.YAMLError):  # a value PyYAML cannot write: the repr is hostile text too
        return repr(tree)


def _mutate(rnd: random.Random, tree: Any) -> None:
    parent, key = _pick(rnd, tree)
    if parent is None:
        return
    op = rnd.choice(["replace", "replace", "delete", "rename", "add", "wrap", "repeat", "deepen"])
    if op == "replace":
        parent[key] = value(rnd)
    elif op == "delete" and isinstance(parent, dict):
        del parent[key]
    elif op == "rename" and isinstance(parent, dict):
        parent[rnd.choice(KEYS) + rnd.choice(["", "s", "_", "x"])] = parent.pop(key)
    elif op == "add" and isinstance(parent, dict):
        parent[rnd.choice(KEYS)] = value(rnd, 4)
    elif op == "wrap":
        parent[key] = [parent[key]] if rnd.random() < 0.5 else {"value": parent[key]}
    elif op == "repeat" and isinstance(parent[key], list) and parent[key]:
        parent[key] = parent[key] * rnd.randint(2, 50)
    elif op == "deepen":
        deep: Any = parent[key]
        for _ in range(rnd.randint(5, 60)):
            deep = [deep]
        parent[key] = deep


def _pick(rnd: random.Random, tree: Any) -> tuple[Any, Any]:
    """A (container, key) somewhere in the tree, by a random walk from the root."""
    parent: Any = None
    key: Any = None
    node = tree
    for _ in range(rnd.randint(1, 5)):
        if isinstance(node, dict) and node:
            parent, key = node, rnd.choice(sorted(node, key=str))
        elif isinstance(node, list) and node:
            parent, key = node, rnd.randrange(len(node))
        else:
            break
        node = parent[key]
    return parent, key


def text_mutation(rnd: random.Random) -> str:
    """A shipped experiment file's text with lines dropped, doubled, shifted or characters inserted."""
    source = TEXTS if rnd.random() < 0.2 else COMPACT
    lines = source[rnd.choice(sorted(source))].splitlines()
    for _ in range(rnd.randint(1, 4)):
        if not lines:
            break
        i = rnd.randrange(len(lines))
        op = rnd.choice(["drop", "double", "indent", "dedent", "insert", "truncate", "anchor"])
        if op == "drop":
            del lines[i]
        elif op == "double":
            lines.insert(i, lines[i])
        elif op == "indent":
            lines[i] = " " * rnd.randint(1, 3) + lines[i]
        elif op == "dedent":
            lines[i] = lines[i].lstrip()
        elif op == "insert":
            at = rnd.randint(0, len(lines[i]))
            lines[i] = lines[i][:at] + rnd.choice([":", "-", "&x ", "*x", "!!str ", "{", "]", "\t", "#", "? ", "|",
                                                   ">", "'", "%", "\u00a0", "!!int ", "<<: *x"]) + lines[i][at:]
        elif op == "truncate":
            lines = lines[:i]
        else:
            lines.append(f"x{i}: &x{i} {rnd.choice(['[1, 2]', '{a: b}', 'v'])}")
    return "\n".join(lines) + "\n"


def _deep(rnd: random.Random) -> str:
    return rnd.choice(["[", "{a: ", "- ", "a:\n "]) * rnd.randint(20, 400) + "1"


def _experiment_deep(rnd: random.Random) -> str:
    depth = rnd.randint(20, 400)
    base = yaml.dump(TREES["pod-recreate.yaml"], Dumper=DUMPER, sort_keys=False)
    return base + f"{rnd.choice(KEYS)}: " + "[" * depth + "]" * depth + "\n"


def _bomb(rnd: random.Random) -> str:
    width, levels = rnd.randint(2, 12), rnd.randint(2, 9)
    rows = ["a0: &a0 [x, x]"] + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(rows) + f"\n{rnd.choice(KEYS)}: *a{levels - 1}\n"


def _recursive(rnd: random.Random) -> str:
    return rnd.choice(["load: &r {services: [*r]}\n", "&r [*r]\n", "a: &r\n  b: *r\n"])


def _many_aliases(rnd: random.Random) -> str:
    return "v: &v 1\nlist: [" + ", ".join(["*v"] * rnd.randint(50, 500)) + "]\n"


def _merge(rnd: random.Random) -> str:
    return "base: &b {rate: 1e308}\nload:\n  <<: [*b, *b]\n  " + rnd.choice(KEYS) + ": 1\n"


def _plain(rnd: random.Random) -> str:
    data = value(rnd, 20)
    try:
        return str(yaml.dump(data, Dumper=DUMPER, allow_unicode=True))
    except (ValueError, yaml.YAMLError):
        return repr(data)


HOSTILE = (_deep, _experiment_deep, _bomb, _recursive, _many_aliases, _merge, _plain,
           lambda rnd: repr(value(rnd, 20)))


def hostile_yaml(rnd: random.Random) -> str:
    """Whole files built to break a parser or a model."""
    return str(rnd.choice(HOSTILE)(rnd))


def generate(rnd: random.Random) -> str:
    """One experiment file: most are mutations of the shipped files (the shape users start from)."""
    roll = rnd.random()
    if roll < 0.5:
        return tree_mutation(rnd)
    if roll < 0.7:
        return text_mutation(rnd)
    return hostile_yaml(rnd)


def experiment_texts() -> st.SearchStrategy[str]:
    return st.integers(0, 2**64).map(lambda seed: generate(random.Random(seed)))
