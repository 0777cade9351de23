"""A YAML syntax error in plain words: the line where the problem starts and what to do about it.

PyYAML reports where the parser gave up, in its own terms: an unclosed quote is "found unexpected end of
stream" at the last line of the file, a tab "found character '\\t' that cannot start any token". This
module turns the common mistakes into a sentence an operator can act on, at the line where the mistake
is:

- a quote that is not closed on its line (:func:`_open_quote`): the line of the opening quote, even when a
  later quote closed it and the parser stumbled lines further down;
- a tab in the indentation: "use spaces";
- a ``[`` or ``{`` never closed: the line that opened it;
- ``a: b: c``, a key without its ``:``, an indentation that matches no level above.

Anything else keeps PyYAML's own words, with its line and column. The text of the line is never shown:
it may hold a secret.
"""

from __future__ import annotations

import yaml

from idgate.errors import Problem

__all__ = ["yaml_problem"]

_QUOTE_HINT = (
    "close it with the same quote on that line (a quote inside a value: '' in '...', or \\\" in \"...\")"
)
_INDENT_HINT = (
    "the indentation does not match the lines above: keys of one mapping (and the '-' of one list) start "
    "in the same column, indented with spaces"
)


def _at(mark: yaml.Mark) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


def _open_quote(text: str, problem: yaml.Mark) -> yaml.Mark | None:
    """The start of the last quoted value before ``problem`` that ran past the end of its line, when the
    parser stumbled where it ended (the quote closed only by the next quote in the file)."""
    found: yaml.Mark | None = None
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if token.start_mark.index >= problem.index:
                break
            quoted = isinstance(token, yaml.ScalarToken) and token.style in ('"', "'")
            if quoted and token.end_mark.line > token.start_mark.line:
                found = token.start_mark if token.end_mark.line == problem.line else None
    except yaml.YAMLError:
        pass
    return found


def _leading_tab(text: str, mark: yaml.Mark) -> bool:
    lines = text.splitlines()
    if mark.line >= len(lines):
        return False
    line = lines[mark.line]
    return "\t" in line[: len(line) - len(line.lstrip(" \t"))] or "\t" in line[: mark.column + 1]


def _indented_under_a_value(text: str, mark: yaml.Mark) -> tuple[int, int] | None:
    """(its column, the line above) when line ``mark.line`` is indented deeper than the ``key: value`` line
    above it, so that YAML reads it as more of that value; else ``None``. Lines count from 0."""
    lines = text.splitlines()
    if not 0 < mark.line < len(lines):
        return None
    line = lines[mark.line]
    indent = len(line) - len(line.lstrip(" "))
    above = next(
        (
            i
            for i in range(mark.line - 1, -1, -1)
            if lines[i].strip() and not lines[i].lstrip().startswith("#")
        ),
        None,
    )
    if above is None:
        return None
    key_line = lines[above]
    value = key_line.partition(": ")[2].strip()
    if not value or value.startswith(("|", ">")):
        return None
    return (indent, above) if indent > len(key_line) - len(key_line.lstrip(" ")) else None


def yaml_problem(text: str, exc: yaml.MarkedYAMLError) -> Problem:
    """The problem to report for ``exc``, raised while reading ``text``."""
    problem, context = exc.problem or "", exc.context or ""
    mark = exc.problem_mark or exc.context_mark
    if mark is None:
        return Problem("", f"invalid YAML: {problem or context}")
    if "quoted scalar" in context and exc.context_mark is not None:
        return Problem(
            "", f"invalid YAML at {_at(exc.context_mark)}: this quoted value is never closed; {_QUOTE_HINT}"
        )
    opened = _open_quote(text, mark)
    if opened is not None:
        return Problem(
            "",
            f"invalid YAML at {_at(opened)}: the quoted value that starts here is not closed on its line; "
            f"{_QUOTE_HINT}",
        )
    if "'\\t'" in problem or "tab character" in problem or _leading_tab(text, mark):
        return Problem(
            "", f"invalid YAML at {_at(mark)}: a tab character; YAML indents with spaces only: use spaces"
        )
    if "flow sequence" in context or "flow mapping" in context:
        opener = "[" if "sequence" in context else "{"
        closer = "]" if opener == "[" else "}"
        where = exc.context_mark or mark
        return Problem(
            "",
            f"invalid YAML at {_at(where)}: the '{opener}' here is not closed by '{closer}' (or an item in "
            "it lacks its ',')",
        )
    if "mapping values are not allowed" in problem:
        deeper = _indented_under_a_value(text, mark)
        if deeper is not None:
            column, above = deeper
            return Problem(
                "",
                f"invalid YAML at line {mark.line + 1}, column {column + 1}: this line is indented deeper "
                f"than the key on line {above + 1}, so it reads as more of that key's value; {_INDENT_HINT}",
            )
        return Problem(
            "",
            f"invalid YAML at {_at(mark)}: a ':' followed by a space inside a value; put the value in "
            "quotes, or start the nested mapping on a new, indented line",
        )
    if "could not find expected ':'" in problem:
        where = exc.context_mark or mark
        return Problem(
            "",
            f"invalid YAML at {_at(where)}: this line is neither 'key: value' nor '- item'; add the ':', "
            "or indent it as the continuation of the value above",
        )
    if "expected <block end>" in problem or "did not find expected" in problem:
        return Problem("", f"invalid YAML at {_at(mark)}: {_INDENT_HINT}")
    if "cannot start any token" in problem:
        return Problem(
            "", f"invalid YAML at {_at(mark)}: {problem.removeprefix('found ')}; put the value in quotes"
        )
    return Problem("", f"invalid YAML at {_at(mark)}: {problem or context}")
