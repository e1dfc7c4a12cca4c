"""A lesson file, read strictly: every mistake is refused with where and why.

A scenario is written by a teacher, not a programmer, and it runs in front of
a class. A typo that silently did nothing (``acton =``, ``{leadr}``) would
surface as a lesson that "doesn't work" mid-lecture, so the loader refuses
unknown keys, unknown actions and conditions, missing narration, badly typed
parameters and placeholders that name nothing — each with the file, the step
and a sentence that says what is allowed.

The format (docs/lessons.md has the full reference)::

    title = "Leader crash and re-election"
    summary = "Kill the leader and watch the followers elect a new one."
    concepts = ["election timeout (§5.2)"]

    [[steps]]
    narration = "Kill the leader, {leader}."
    remember = { old_leader = "{leader}" }
    action = { do = "kill", node = "{leader}" }
    wait = { until = "leader_changed", timeout_s = 10 }
    checks = [{ that = "term_rose", message = "a new election raises the term" }]

Placeholders (``{leader}``, ``{follower}``, ``{follower2}``, ``{followers}``,
``{majority}``, ``{term}``, names kept with ``remember``) are resolved against
the live cluster when the step starts (placeholders.py), so a lesson never
needs to know which node leads, nor how many nodes there are.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backend.lessons.vocabulary import (
    ACTION_COMMON,
    ACTIONS,
    BUILTIN_PLACEHOLDERS,
    CHECK_COMMON,
    CONDITIONS,
    EXPECTS,
    IDENTIFIER,
    LINK_GROUP_USERS,
    LINK_SETTINGS,
    LIST_ONLY_PLACEHOLDERS,
    NODE_FAULTS,
    NODE_LIST_PLACEHOLDERS,
    PLACEHOLDER,
    ROUTING_PROTOCOLS,
    WAIT_COMMON,
    Param,
    is_number,
    text_check,
)

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"
# A lesson is read in front of a class; past these it is a lecture, not a step.
MAX_STEPS = 40
MAX_NARRATION_CHARS = 4_000
MAX_CHECKS_PER_STEP = 12
MAX_ACTIONS_PER_STEP = 8
# A wait longer than this is a lesson that has stalled, not one that is slow.
MAX_TIMEOUT_S = 600.0
DEFAULT_TIMEOUT_S = 15.0
MAX_SCENARIO_FILE_BYTES = 256 * 1024


class ScenarioError(ValueError):
    """A scenario file the loader refuses; the message names the file and the place."""


# -- the model --------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    name: str
    params: Mapping[str, Any]
    negate: bool = False
    message: str = ""  # what the class should have seen; shown when the check fails

    def describe(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.params.items())
        text = f"{self.name}({args})" if args else self.name
        return f"not {text}" if self.negate else text


@dataclass(frozen=True)
class Wait:
    """Either a condition to wait for (with a timeout) or a plain pause."""

    condition: Condition | None
    seconds: float
    timeout_s: float

    def describe(self) -> str:
        if self.condition is None:
            return f"a pause of {self.seconds:g} s"
        return self.condition.describe()


@dataclass(frozen=True)
class Action:
    name: str
    params: Mapping[str, Any]
    save_as: str = "last"
    expect: str = "ok"  # "fail": the lesson shows a request that must be refused


@dataclass(frozen=True)
class Step:
    number: int  # 1-based, as the narration panel and error messages count
    narration: str
    title: str = ""
    remember: Mapping[str, str] = field(default_factory=dict)
    actions: tuple[Action, ...] = ()
    before: Wait | None = None  # waited for before the actions (e.g. "a leader exists")
    wait: Wait | None = None
    checks: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class Requires:
    nodes: int = 1  # at least this many nodes in the cluster
    max_nodes: int | None = None
    routing: str | None = None
    files: bool = False  # needs the hash-placed files API


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    summary: str
    concepts: tuple[str, ...]
    steps: tuple[Step, ...]
    order: int = 1000
    requires: Requires = field(default_factory=Requires)

    def summary_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "summary": self.summary,
            "concepts": list(self.concepts),
            "steps": len(self.steps),
            "requires": {
                "nodes": self.requires.nodes,
                "max_nodes": self.requires.max_nodes,
                "routing": self.requires.routing,
                "files": self.requires.files,
            },
        }


# -- loading ------------------------------------------------------------------------


class _Reader:
    """Walks one file, remembering where it is for error messages."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.known_names: set[str] = set(BUILTIN_PLACEHOLDERS)
        self.saved_names: set[str] = {"last"}  # results kept by earlier actions (save_as)
        # Names whose value is a node list: built-ins, and names remembered from one.
        self.list_names: set[str] = set(NODE_LIST_PLACEHOLDERS)

    def fail(self, where: str, message: str) -> ScenarioError:
        return ScenarioError(f"{self.origin}: {where}: {message}" if where else
                             f"{self.origin}: {message}")

    def table(self, raw: Any, where: str) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise self.fail(where, f"must be a table, got {type(raw).__name__}")
        return raw

    def only(self, raw: Mapping[str, Any], allowed: list[str], where: str) -> None:
        for key in raw:
            if key not in allowed:
                hint = ", ".join(allowed) if allowed else "none"
                raise self.fail(where, f"unknown key {key!r}; allowed here: {hint}")

    def placeholders(
        self, value: Any, where: str, list_item: bool = False, text: bool = False
    ) -> None:
        """Every ``{name}`` in ``value`` must be a built-in or remembered earlier.

        ``list_item``: ``value`` is an item of a node list; ``text``: it is a
        sentence for the class, where a node list reads "n2, n3 and n4".
        """
        if isinstance(value, str):
            for match in PLACEHOLDER.finditer(value):
                name = match.group(1)
                head, _, path = name.partition(".")
                if path and head in self.list_names:
                    if not path.isdigit():
                        raise self.fail(where, f"{{{name}}}: {{{head}}} is a node list; pick "
                                        f"one by position, from 0: {{{head}.0}}")
                    continue
                if "." in name:
                    if head not in self.saved_names:
                        raise self.fail(
                            where, f"{{{name}}}: no earlier action saved a result called "
                            f"{head!r} (results so far: {', '.join(sorted(self.saved_names))})"
                        )
                    continue
                if name not in self.known_names:
                    known = ", ".join(sorted(self.known_names - {"rest"}))
                    raise self.fail(
                        where, f"unknown placeholder {{{name}}}; known here: {known} "
                        "(keep a value for later steps with remember = { name = \"{leader}\" })"
                    )
                whole_item = list_item and value == f"{{{name}}}"
                if name in LIST_ONLY_PLACEHOLDERS and not whole_item:
                    raise self.fail(where, f"{{{name}}} must be a whole item of a node list")
                if name in self.list_names and not (whole_item or text):
                    raise self.fail(
                        where, f"{{{name}}} is a list of nodes: use it as a whole item of a "
                        f"node list (nodes = [\"{{{name}}}\"]), or one of them: {{{name}.0}}"
                    )
        elif isinstance(value, list):
            for item in value:
                self.placeholders(item, where, list_item=True)

    def params(
        self, raw: Mapping[str, Any], spec: Mapping[str, Param], common: tuple[str, ...],
        kind: str, name: str, where: str,
    ) -> dict[str, Any]:
        allowed = [*common, *spec]
        for key in raw:
            if key not in allowed:
                known = ", ".join(spec) or "none"
                raise self.fail(
                    where, f"unknown parameter {key!r} for {kind} {name!r}; its parameters: {known}"
                )
        params: dict[str, Any] = {}
        for key, param in spec.items():
            if key not in raw:
                if param.required:
                    raise self.fail(where, f"{kind} {name!r} needs {key!r}")
                continue
            problem = param.check(raw[key])
            if problem:
                raise self.fail(where, f"{key} {problem}, got {raw[key]!r}")
            self.placeholders(raw[key], f"{where}.{key}")
            params[key] = raw[key]
        return params

    def message_text(self, raw: Mapping[str, Any], key: str, where: str, required: bool) -> str:
        value = raw.get(key)
        if value is None:
            if required:
                raise self.fail(where, f"needs {key!r} (a sentence for the class)")
            return ""
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, f"{key} must be a non-empty string")
        if len(value) > MAX_NARRATION_CHARS:
            raise self.fail(where, f"{key} is longer than {MAX_NARRATION_CHARS} characters")
        self.placeholders(value, f"{where}.{key}", text=True)
        return _paragraphs(value)


def _paragraphs(text: str) -> str:
    """Lines joined into paragraphs; a blank line separates paragraphs.

    TOML's multi-line strings keep the file's line breaks, which would show
    as ragged lines in the panel's wide or narrow column.
    """
    blocks = [" ".join(block.split()) for block in text.strip().split("\n\n")]
    return "\n\n".join(b for b in blocks if b)


def _condition(reader: _Reader, raw: Any, where: str, *, check: bool) -> Condition:
    table = reader.table(raw, where)
    key = "that" if check else "until"
    name = table.get(key)
    if not isinstance(name, str):
        raise reader.fail(where, f"needs {key!r}: one of {', '.join(CONDITIONS)}")
    if name not in CONDITIONS:
        raise reader.fail(where, f"unknown condition {name!r}; known: {', '.join(CONDITIONS)}")
    common = CHECK_COMMON if check else WAIT_COMMON
    params = reader.params(table, CONDITIONS[name], common, "condition", name, where)
    for key in ("of", "before"):
        saved = params.get(key)
        if saved is not None and saved not in reader.saved_names:
            raise reader.fail(
                where, f"{key} = {saved!r} names no earlier result; results kept so far: "
                f"{', '.join(sorted(reader.saved_names))} (an action keeps one with save_as)"
            )
    if name in LINK_GROUP_USERS:
        _link_group(reader, "condition", name, params, where)
    negate = table.get("negate", False)
    if not isinstance(negate, bool):
        raise reader.fail(where, "negate must be true or false")
    message = reader.message_text(table, "message", where, required=check)
    return Condition(name, params, negate, message)


def _wait(reader: _Reader, raw: Any, where: str) -> Wait:
    table = reader.table(raw, where)
    if "seconds" in table:
        reader.only(table, ["seconds"], where)
        seconds = table["seconds"]
        if not is_number(seconds) or not 0 < seconds <= MAX_TIMEOUT_S:
            raise reader.fail(where, f"seconds must be a number from 0 to {MAX_TIMEOUT_S:g}")
        return Wait(None, float(seconds), float(seconds))
    if "until" not in table:
        raise reader.fail(where, "needs 'until' (a condition) or 'seconds' (a plain pause)")
    timeout_s = table.get("timeout_s", DEFAULT_TIMEOUT_S)
    if not is_number(timeout_s) or not 0 < timeout_s <= MAX_TIMEOUT_S:
        raise reader.fail(where, f"timeout_s must be a number from 0 to {MAX_TIMEOUT_S:g}")
    return Wait(_condition(reader, table, where, check=False), 0.0, float(timeout_s))


def _action(reader: _Reader, raw: Any, where: str) -> Action:
    table = reader.table(raw, where)
    name = table.get("do")
    if not isinstance(name, str):
        raise reader.fail(where, f"needs 'do': one of {', '.join(ACTIONS)}")
    if name not in ACTIONS:
        raise reader.fail(where, f"unknown action {name!r}; known: {', '.join(ACTIONS)}")
    params = reader.params(table, ACTIONS[name], ACTION_COMMON, "action", name, where)
    if name in NODE_FAULTS and ("node" in params) == ("nodes" in params):
        raise reader.fail(where, f"action {name!r} needs either node = \"n2\" or "
                          "nodes = [\"n1\", \"n2\"] (not both)")
    if name in LINK_GROUP_USERS:
        _link_group(reader, "action", name, params, where)
        if not set(params) & set(LINK_SETTINGS):
            raise reader.fail(where, f"action {name!r} needs something to change: one or more "
                              f"of {', '.join(LINK_SETTINGS)}")
    save_as = table.get("save_as", "last")
    if not isinstance(save_as, str) or not IDENTIFIER.fullmatch(save_as):
        raise reader.fail(where, "save_as must be a lower-case name such as 'stale_read'")
    expect = table.get("expect", "ok")
    if expect not in EXPECTS:
        raise reader.fail(where, f"expect must be one of {', '.join(EXPECTS)}, got {expect!r}")
    reader.saved_names.add(save_as)
    return Action(name, params, save_as, expect)


def _link_group(
    reader: _Reader, kind: str, name: str, params: Mapping[str, Any], where: str
) -> None:
    """A group of links is ``among`` a node list, or ``from`` one node ``to`` a list."""
    pair = "from" in params and "to" in params
    if ("among" in params) == pair or ("from" in params) != ("to" in params):
        raise reader.fail(
            where, f"{kind} {name!r} needs either among = [\"{{followers}}\"] (every link "
            "between two of them) or from = \"{leader}\" with to = [\"{followers}\"] (the "
            "link from one node to each of them), not both"
        )
    among = params.get("among")
    lists = reader.list_names | LIST_ONLY_PLACEHOLDERS
    if among is not None and len(set(among)) < 2 and not any(
        n.strip("{}") in lists for n in among
    ):
        raise reader.fail(where, "among needs two nodes or more (a link has two ends), or a "
                          "node list such as \"{followers}\"")


def _remember(reader: _Reader, raw: Any, where: str) -> dict[str, str]:
    table = reader.table(raw, where)
    kept: dict[str, str] = {}
    for name, template in table.items():
        if not IDENTIFIER.fullmatch(name) or name in BUILTIN_PLACEHOLDERS:
            raise reader.fail(
                where, f"{name!r} cannot be remembered: use a new lower-case name "
                f"(not one of the built-ins {', '.join(sorted(BUILTIN_PLACEHOLDERS))})"
            )
        if not isinstance(template, str) or not PLACEHOLDER.search(template):
            raise reader.fail(where, f"{name} must be a placeholder such as \"{{leader}}\"")
        if "{rest}" in template or "{all}" in template:
            raise reader.fail(where, "{rest} and {all} depend on the action they are in; "
                              "remember {followers}, or nodes one by one")
        # A node list is kept whole ("{followers}" alone), then used as one.
        reader.placeholders(template, f"{where}.{name}", list_item=True)
        whole = PLACEHOLDER.fullmatch(template)
        if whole is not None and whole.group(1) in reader.list_names:
            reader.list_names.add(name)
        else:
            reader.list_names.discard(name)
        kept[name] = template
    return kept


STEP_KEYS = ("narration", "title", "before", "remember", "action", "wait", "checks")


def _step(reader: _Reader, raw: Any, number: int) -> Step:
    where = f"step {number}"
    table = reader.table(raw, where)
    reader.only(table, list(STEP_KEYS), where)
    title = ""
    if "title" in table:
        title = reader.message_text(table, "title", where, required=False)
    remember = _remember(reader, table["remember"], f"{where}.remember") if "remember" in table \
        else {}
    # Names kept by this step are usable from its own action onwards.
    reader.known_names.update(remember)
    narration = reader.message_text(table, "narration", where, required=True)
    raw_actions = table.get("action", [])
    if isinstance(raw_actions, dict):
        raw_actions = [raw_actions]
    if not isinstance(raw_actions, list):
        raise reader.fail(where, "action must be a table, or a list of tables done in order")
    if len(raw_actions) > MAX_ACTIONS_PER_STEP:
        raise reader.fail(where, f"at most {MAX_ACTIONS_PER_STEP} actions per step")
    actions = tuple(
        _action(reader, a, f"{where}.action[{i + 1}]") for i, a in enumerate(raw_actions)
    )
    before = _wait(reader, table["before"], f"{where}.before") if "before" in table else None
    wait = _wait(reader, table["wait"], f"{where}.wait") if "wait" in table else None
    raw_checks = table.get("checks", [])
    if not isinstance(raw_checks, list):
        raise reader.fail(where, "checks must be a list of tables ([[steps.checks]])")
    if len(raw_checks) > MAX_CHECKS_PER_STEP:
        raise reader.fail(where, f"at most {MAX_CHECKS_PER_STEP} checks per step")
    checks = tuple(
        _condition(reader, c, f"{where}.checks[{i + 1}]", check=True)
        for i, c in enumerate(raw_checks)
    )
    return Step(number, narration, title, remember, actions, before, wait, checks)


def _requires(reader: _Reader, raw: Any) -> Requires:
    table = reader.table(raw, "requires")
    reader.only(table, ["nodes", "max_nodes", "routing", "files"], "requires")
    nodes = table.get("nodes", 1)
    max_nodes = table.get("max_nodes")
    for key, value in (("nodes", nodes), ("max_nodes", max_nodes)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                  or value < 1):
            raise reader.fail("requires", f"{key} must be a whole number of at least 1")
    routing = table.get("routing")
    if routing is not None and routing not in ROUTING_PROTOCOLS:
        raise reader.fail("requires", f"routing must be one of {', '.join(ROUTING_PROTOCOLS)}")
    files = table.get("files", False)
    if not isinstance(files, bool):
        raise reader.fail("requires", "files must be true or false")
    return Requires(nodes, max_nodes, routing, files)


TOP_KEYS = ("title", "summary", "concepts", "order", "requires", "steps")


def parse_scenario(text: str, name: str, origin: str = "") -> Scenario:
    """The scenario in ``text``; ScenarioError says where and what is wrong."""
    reader = _Reader(origin or f"{name}.toml")
    if not IDENTIFIER.fullmatch(name):
        raise reader.fail("", f"the file name {name!r} must be a lower-case name such as "
                          "'leader_election.toml' (it is the lesson's name in the CLI and API)")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise reader.fail("", f"not valid TOML: {exc}") from exc
    reader.only(raw, list(TOP_KEYS), "top level")
    title = reader.message_text(raw, "title", "top level", required=True)
    summary = reader.message_text(raw, "summary", "top level", required=True)
    concepts = raw.get("concepts")
    if not isinstance(concepts, list) or not concepts or any(text_check(c) for c in concepts):
        raise reader.fail("top level", "concepts must be a non-empty list of strings")
    order = raw.get("order", 1000)
    if not isinstance(order, int) or isinstance(order, bool):
        raise reader.fail("top level", "order must be a whole number (lessons list by it)")
    requires = _requires(reader, raw["requires"]) if "requires" in raw else Requires()
    raw_steps = raw.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise reader.fail("top level", "needs at least one [[steps]] table")
    if len(raw_steps) > MAX_STEPS:
        raise reader.fail("top level", f"at most {MAX_STEPS} steps per lesson")
    steps = tuple(_step(reader, s, i + 1) for i, s in enumerate(raw_steps))
    return Scenario(name, title, summary, tuple(concepts), steps, order, requires)


def load_scenario(path: Path) -> Scenario:
    try:
        if path.stat().st_size > MAX_SCENARIO_FILE_BYTES:
            raise ScenarioError(f"{path.name}: larger than {MAX_SCENARIO_FILE_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path.name}: cannot be read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{path.name}: not UTF-8 text") from exc
    return parse_scenario(text, path.stem, path.name)


def load_all(directory: Path = SCENARIO_DIR) -> list[Scenario]:
    """Every ``*.toml`` in ``directory``, in lesson order; the first bad file raises."""
    scenarios = [load_scenario(p) for p in sorted(directory.glob("*.toml"))]
    return sorted(scenarios, key=lambda s: (s.order, s.name))
