"""YAML syntax errors in plain words, at the line where the mistake is (issue #20): an unclosed quote was
reported 17 lines off with parser jargon, a tab as "found character '\\t' that cannot start any token"."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

Problems = Callable[..., list[str]]

#: 20 lines; line 5 is where each test puts its mistake.
LINES = [
    "iap:",
    "  oidc_issuer_url: https://kkp.example.com/dex",
    "  deployments:",
    "    grafana:",
    "      name: grafana",
    "      client_id: grafana",
    "      client_secret: Gf5tR1eW7qA3sD9fG2hJ6kL0zX4cV8bN",
    "      encryption_key: 9c2e7a1d5f3b8c0e4a6d2f9b1c7e3a5d",
    "      upstream_service: grafana.monitoring.svc.cluster.local",
    "      upstream_port: 3000",
    "      ingress:",
    "        host: grafana.kkp.example.com",
    "      config:",
    "        scope: groups openid email",
    "        email_domains:",
    "          - example.com",
    "        skip_auth_regex:",
    "          - /api/health",
    "idgate:",
    "  listen: 127.0.0.1:4180",
]

QUOTE_HINT = (
    "close it with the same quote on that line (a quote inside a value: '' in '...', or \\\" in \"...\")"
)


def with_line_5(text: str) -> str:
    return "\n".join([*LINES[:4], text, *LINES[5:]]) + "\n"


def test_an_unclosed_quote_is_reported_at_its_line_not_at_the_end(problems: Problems) -> None:
    assert problems(with_line_5('      name: "grafana')) == [
        f"<root>: invalid YAML at line 5, column 13: this quoted value is never closed; {QUOTE_HINT}"
    ]


def test_an_unclosed_quote_closed_by_a_later_quote_is_reported_at_its_line(problems: Problems) -> None:
    text = with_line_5("      name: 'grafana").replace("client_id: grafana", "client_id: 'grafana'")
    assert problems(text) == [
        "<root>: invalid YAML at line 5, column 13: the quoted value that starts here is not closed on its "
        f"line; {QUOTE_HINT}"
    ]


def test_a_tab_says_use_spaces(problems: Problems) -> None:
    assert problems(with_line_5("\tname: grafana")) == [
        "<root>: invalid YAML at line 5, column 1: a tab character; YAML indents with spaces only: use spaces"
    ]


def test_a_tab_after_spaces_says_use_spaces_too(problems: Problems) -> None:
    [found] = problems(with_line_5("    \t  name: grafana"))
    assert found.startswith("<root>: invalid YAML at line 5, ") and found.endswith("use spaces"), found


def test_an_unclosed_bracket_is_reported_where_it_opens(problems: Problems) -> None:
    text = "\n".join(LINES).replace("- example.com", "[example.com, example.org") + "\n"
    [found] = problems(text)
    assert found.startswith(
        "<root>: invalid YAML at line 16, column 11: the '[' here is not closed by ']'"
    ), found


def test_a_wrong_indentation_says_so(problems: Problems) -> None:
    """Line 5 is one space short: line 6, where YAML stumbles, is the one that looks wrong to it."""
    [found] = problems(with_line_5("     name: grafana"))
    assert found == (
        "<root>: invalid YAML at line 6, column 7: this line is indented deeper than the key on line 5, so "
        "it reads as more of that key's value; the indentation does not match the lines above: keys of one "
        "mapping (and the '-' of one list) start in the same column, indented with spaces"
    )


def test_no_line_of_the_file_is_echoed(problems: Problems) -> None:
    """A line may hold a secret: messages name lines and columns only."""
    text = with_line_5('      client_secret: "Gf5tR1eW7qA3sD9fG2hJ6kL0zX4cV8bN')
    [found] = problems(text)
    assert "Gf5tR1" not in found and "line 5, column 22" in found, found


def test_idgate_check_prints_it_as_one_error(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from idgate.cli import main

    path = tmp_path / "values.yaml"
    path.write_text(with_line_5('      name: "grafana'))
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        f"error: <root>: invalid YAML at line 5, column 13: this quoted value is never closed; {QUOTE_HINT}",
        "1 error, 0 warnings",
    ]
