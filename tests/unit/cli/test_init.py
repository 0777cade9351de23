"""``idgate init``: the values file it writes loads, passes ``idgate check`` and builds what was asked for."""

from __future__ import annotations

import itertools
import stat
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from idgate.cli import main
from idgate.config import build_settings, check, load_config_text
from idgate.config.starter import Generated, InitOptions, Service, parse_service, render, scalar, validate
from idgate.errors import ConfigError
from idgate.secrets import new_secret

GITHUB_ENV = {"GITHUB_CLIENT_ID": "0a1b2c3d4e5f60718293", "GITHUB_CLIENT_SECRET": "gh-secret"}
PROMETHEUS = Service("prometheus", "prometheus.monitoring.svc.cluster.local", 9090)
ALERTMANAGER = Service("alertmanager", "alertmanager.monitoring.svc.cluster.local", 9093)
GRAFANA = Service("grafana", "grafana.monitoring.svc.cluster.local", 3000)
DEMO = Service("demo", "127.0.0.1", 8080)


def make(**kw: Any) -> Generated:
    kw.setdefault("services", (PROMETHEUS, ALERTMANAGER))
    if not kw.get("local"):
        kw.setdefault("domain", "example.com")
    return render(InitOptions(**kw), make_secret=new_secret, bcrypt_rounds=4)


def messages(exc: pytest.ExceptionInfo[ConfigError]) -> list[str]:
    return [str(p) for p in exc.value.problems]


class TestParseService:
    def test_name_host_port(self) -> None:
        assert parse_service("prometheus=prometheus.monitoring.svc.cluster.local:9090") == PROMETHEUS

    @pytest.mark.parametrize(
        ("spec", "host"),
        [
            ("demo=127.0.0.1:8080", "127.0.0.1"),
            ("demo=[::1]:8080", "[::1]"),
            ("demo=Web.Local:8080", "web.local"),
        ],
    )
    def test_ip_addresses_and_upper_case_hosts(self, spec: str, host: str) -> None:
        assert parse_service(spec) == Service("demo", host, 8080)

    @pytest.mark.parametrize("spec", ["prometheus", "prometheus=host", "=host:80", "prometheus=:9090"])
    def test_bad_syntax_names_the_expected_form(self, spec: str) -> None:
        with pytest.raises(ConfigError) as exc:
            parse_service(spec)
        assert messages(exc) == [
            f"--service: '{spec}': expected NAME=HOST:PORT, e.g. "
            "prometheus=prometheus.monitoring.svc.cluster.local:9090"
        ]

    @pytest.mark.parametrize("name", ["Prometheus", "my_app", "9lives", "a-", "x" * 64])
    def test_name_must_be_a_dns_label(self, name: str) -> None:
        with pytest.raises(ConfigError) as exc:
            parse_service(f"{name}=svc:80")
        assert f"the name '{name}' must be a DNS label" in messages(exc)[0]

    @pytest.mark.parametrize("port", ["0", "65536", "http", "-1"])
    def test_port_must_be_1_to_65535(self, port: str) -> None:
        with pytest.raises(ConfigError) as exc:
            parse_service(f"demo=svc:{port}")
        assert messages(exc) == [
            f"--service: 'demo=svc:{port}': the port '{port}' must be a number from 1 to 65535"
        ]

    @pytest.mark.parametrize("host", ["bad_host.svc", "-svc", "a..b", "[not-ip]"])
    def test_bad_upstream_host(self, host: str) -> None:
        with pytest.raises(ConfigError) as exc:
            parse_service(f"demo={host}:80")
        assert host in messages(exc)[0]

    def test_ipv6_needs_brackets(self) -> None:
        with pytest.raises(ConfigError) as exc:
            parse_service("demo=::1:80")
        assert "in brackets, e.g. [::1]:9090" in messages(exc)[0]

    def test_every_problem_at_once(self) -> None:
        with pytest.raises(ConfigError) as exc:
            parse_service("Demo=bad_host:0")
        assert len(exc.value.problems) == 3


class TestValidate:
    def test_good_options_have_no_problems(self) -> None:
        assert validate(InitOptions((PROMETHEUS,), domain="kkp.example.com")) == []
        assert validate(InitOptions((DEMO,), local=True, port=5000)) == []

    @pytest.mark.parametrize(
        ("options", "expected"),
        [
            (InitOptions((), domain="example.com"), "--service: give at least one service"),
            (
                InitOptions((PROMETHEUS, PROMETHEUS), domain="example.com"),
                "--service: 'prometheus' is given twice",
            ),
            (InitOptions((PROMETHEUS,)), "--domain: is required (or --local"),
            (
                InitOptions((PROMETHEUS,), domain="example.com", local=True),
                "--domain: is not used with --local",
            ),
            (
                InitOptions((PROMETHEUS,), domain="exa_mple.com"),
                "--domain: 'exa_mple.com' is not a valid DNS name",
            ),
            (
                InitOptions((PROMETHEUS,), domain="Example.com"),
                "--domain: 'Example.com' is not a valid DNS name",
            ),
            (InitOptions((PROMETHEUS,), domain="10.0.0.1"), "--domain: '10.0.0.1' is an IP address"),
            (InitOptions((PROMETHEUS,), domain="example.com", port=80), "--port: only applies with --local"),
            (
                InitOptions((PROMETHEUS,), domain="example.com", github_team="ops"),
                "--github-team: needs --github-org",
            ),
            (
                InitOptions((PROMETHEUS,), domain="example.com", github_org="-bad-"),
                "--github-org: '-bad-' is not a GitHub organisation name",
            ),
            (
                InitOptions((PROMETHEUS,), domain="example.com", github_org="org", github_team="a b"),
                "--github-team: 'a b' is not a GitHub team slug",
            ),
            (
                InitOptions((PROMETHEUS,), domain=".".join(["a" * 61] * 4)),
                "is longer than 253 characters",
            ),
        ],
    )
    def test_refuses(self, options: InitOptions, expected: str) -> None:
        found = [str(p) for p in validate(options)]
        assert len(found) == 1 and expected in found[0], found

    def test_render_refuses_what_validate_finds(self) -> None:
        with pytest.raises(ConfigError):
            render(InitOptions((PROMETHEUS,)), make_secret=new_secret)


OPTION_SETS = [
    {},
    {"github_org": "mygithuborg"},
    {"github_org": "mygithuborg", "github_team": "mygroup"},
    {"kkp_client": True},
    {"services": (PROMETHEUS, ALERTMANAGER, GRAFANA), "github_org": "o", "kkp_client": True},
    {"domain": "kkp.example.com", "services": (GRAFANA,)},
    {"local": True},
    {"local": True, "port": 5123, "services": (DEMO, GRAFANA)},
    {"local": True, "github_org": "mygithuborg", "github_team": "mygroup", "kkp_client": True},
]


@pytest.mark.parametrize(
    "kw", OPTION_SETS, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "plain"
)
class TestWrittenFile:
    def test_check_finds_no_problems(self, kw: dict[str, Any]) -> None:
        assert check(load_config_text(make(**kw).text, env=GITHUB_ENV)) == []

    def test_settings_match_the_options(self, kw: dict[str, Any]) -> None:
        made = make(**kw)
        options = InitOptions(
            **{
                "domain": None if kw.get("local") else "example.com",
                **kw,
                "services": kw.get("services", (PROMETHEUS, ALERTMANAGER)),
            }
        )
        settings = build_settings(load_config_text(made.text, env=GITHUB_ENV))
        scheme, base = (
            ("http", f"localhost:{options.port or 4180}") if options.local else ("https", options.domain)
        )
        assert settings.provider is not None
        assert settings.provider.issuer == f"{scheme}://{base}/dex"
        assert settings.listen == (f"127.0.0.1:{options.port or 4180}")
        proxies = {p.name: p for p in settings.proxies}
        clients = {c.id: c for c in settings.provider.clients}
        assert sorted(proxies) == sorted(s.name for s in options.services)
        assert sorted(clients) == sorted(
            [s.name for s in options.services] + ["kubermatic"] * options.kkp_client
        )
        for service in options.services:
            proxy, client = proxies[service.name], clients[service.name]
            assert proxy.host == f"{service.name}.{base}"
            assert proxy.upstream == f"http://{service.upstream_host}:{service.upstream_port}"
            assert proxy.issuer_url == settings.provider.issuer
            assert proxy.client_id == client.id and proxy.client_secret == client.secret
            assert client.redirect_uris == (f"{scheme}://{service.name}.{base}/oauth/callback",)
            # 32 alphanumerics; OAuth2-Proxy (and idgate) read that as base64 of a 24-byte key
            assert len(proxy.encryption_key) in (24, 32)
            assert proxy.scopes == ("groups", "openid", "email")
            assert proxy.email_domains == ("*",)
            assert (proxy.github_org, proxy.github_team) == (options.github_org, options.github_team)
        keys = [d["encryption_key"] for d in yaml.safe_load(made.text)["iap"]["deployments"].values()]
        assert all(len(k) == 32 and k.isalnum() for k in keys)
        secrets = [c.secret for c in clients.values()] + keys
        assert len(set(secrets)) == len(secrets), "every secret and key is its own"

    def test_login_is_github_or_a_generated_admin(self, kw: dict[str, Any]) -> None:
        made = make(**kw)
        dex = yaml.safe_load(made.text)["dex"]
        if kw.get("github_org"):
            assert (made.admin_email, made.admin_password) == (None, None)
            assert "staticPasswords" not in dex
            [connector] = dex["connectors"]
            issuer = "http://localhost:4180/dex" if kw.get("local") else "https://example.com/dex"
            org: dict[str, Any] = {"name": kw["github_org"]}
            if kw.get("github_team"):
                org["teams"] = [kw["github_team"]]
            assert connector == {
                "type": "github",
                "id": "github",
                "name": "GitHub",
                "config": {
                    "clientID": "${GITHUB_CLIENT_ID}",
                    "clientSecret": "${GITHUB_CLIENT_SECRET}",
                    "redirectURI": f"{issuer}/callback",
                    "orgs": [org],
                },
            }
            assert f"authorization callback URL {issuer}/callback" in made.text
        else:
            assert "connectors" not in dex
            [user] = dex["staticPasswords"]
            assert made.admin_password is not None and len(made.admin_password) == 20
            assert user["email"] == made.admin_email
            assert bcrypt.checkpw(made.admin_password.encode(), user["hash"].encode())
            assert made.admin_password not in made.text


class TestContent:
    def test_health_paths_and_grafana_headers_by_service_name(self) -> None:
        services = (
            PROMETHEUS,
            Service("mla-alertmanager", "am", 9093),
            GRAFANA,
            Service("prometheus-user", "p", 9090),
            Service("loki", "loki", 3100),
        )
        deployments = yaml.safe_load(make(services=services).text)["iap"]["deployments"]
        config = {name: d["config"] for name, d in deployments.items()}
        assert config["prometheus"]["skip_auth_regex"] == ["^/-/healthy$"]
        assert config["mla-alertmanager"]["skip_auth_regex"] == ["^/-/healthy$"]
        assert config["prometheus-user"]["skip_auth_regex"] == ["^/-/healthy$"]
        assert config["grafana"]["skip_auth_regex"] == ["^/api/health$"]
        assert "skip_auth_regex" not in config["loki"]
        assert [n for n, c in config.items() if "pass_user_headers" in c] == ["grafana"]
        assert config["grafana"]["pass_user_headers"] is True

    def test_health_paths_are_skipped_and_nothing_else(self) -> None:
        from idgate.policy import compile_policy

        settings = build_settings(load_config_text(make(services=(PROMETHEUS, GRAFANA)).text))
        policies = {p.name: compile_policy(p) for p in settings.proxies}
        assert policies["prometheus"].skips("/-/healthy")
        assert not policies["prometheus"].skips("/-/healthy/x")
        assert not policies["prometheus"].skips("/api/v1/query?x=/-/healthy")
        assert policies["grafana"].skips("/api/health")
        assert not policies["grafana"].skips("/api/healthz")

    def test_kkp_client_has_the_dashboard_redirects(self) -> None:
        clients = yaml.safe_load(make(kkp_client=True).text)["dex"]["clients"]
        assert clients[0]["id"] == "kubermatic"
        assert clients[0]["RedirectURIs"] == ["https://example.com", "https://example.com/projects"]

    def test_without_kkp_client_a_comment_says_to_keep_it(self) -> None:
        text = make().text
        assert "kubermatic" not in yaml.safe_load(text)["dex"]["clients"]
        assert "keep the dashboard's `kubermatic` client" in text

    def test_chart_layout_like_the_kkp_example(self) -> None:
        values = yaml.safe_load(make(github_org="mygithuborg", github_team="mygroup").text)
        assert values["dex"]["ingress"] == {"host": "example.com", "path": "/dex", "scheme": "https"}
        assert values["iap"]["oidc_issuer_url"] == "https://example.com/dex"
        prometheus = values["iap"]["deployments"]["prometheus"]
        assert set(prometheus) == {
            "name",
            "client_id",
            "client_secret",
            "encryption_key",
            "upstream_service",
            "upstream_port",
            "ingress",
            "config",
        }
        assert prometheus["config"] == {
            "scope": "groups openid email",
            "email_domains": ["*"],
            "github_org": "mygithuborg",
            "github_team": "mygroup",
            "skip_auth_regex": ["^/-/healthy$"],
        }

    def test_local_variant(self) -> None:
        values = yaml.safe_load(make(local=True, port=5000, services=(DEMO,)).text)
        assert values["dex"]["ingress"] == {"host": "localhost:5000", "path": "/dex", "scheme": "http"}
        assert values["iap"]["deployments"]["demo"]["ingress"]["host"] == "demo.localhost:5000"
        assert values["idgate"]["listen"] == "127.0.0.1:5000"

    def test_comments_say_what_to_edit(self) -> None:
        # comments survive: the file is written as text, not dumped from a dict
        text = make().text
        assert "# Who may pass" in text and "# the id of a dex client above" in text


class TestScalar:
    @given(st.text())
    def test_any_string_reads_back_as_itself(self, value: str) -> None:
        assert yaml.safe_load(f"k: {scalar(value)}  # note") == {"k": value}

    @pytest.mark.parametrize(
        "value",
        ["yes", "No", "null", "~", "1", "1.5", "0x1f", "12:30", "2024-01-01", ".inf", "*", "a: b", "#x"],
    )
    def test_look_alikes_of_other_types_are_quoted(self, value: str) -> None:
        assert scalar(value).startswith('"')
        assert yaml.safe_load(f"k: {scalar(value)}") == {"k": value}

    def test_ordinary_values_stay_plain(self) -> None:
        for value in (
            "example.com",
            "https://example.com/dex",
            "127.0.0.1:4180",
            "^/-/healthy$",
            "admin@x.io",
        ):
            assert scalar(value) == value


class TestCommand:
    ARGS = (
        "init",
        "--domain",
        "example.com",
        "--service",
        "prometheus=prometheus.monitoring.svc.cluster.local:9090",
        "--service",
        "alertmanager=alertmanager.monitoring.svc.cluster.local:9093",
    )

    def test_writes_a_private_file_that_check_passes(self, tmp_path: Path) -> None:
        out = tmp_path / "values.yaml"
        result = CliRunner().invoke(main, [*self.ARGS, "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert lines[0].startswith("Generating fresh secrets for 2 services ... done in ")  # progress
        assert lines[1] == f"wrote {out}; check it with: idgate check {out}"
        password = lines[2].removeprefix("log in as admin@example.com with password ")
        assert password != lines[2] and password not in out.read_text()
        checked = CliRunner().invoke(main, ["check", str(out)])
        assert (checked.exit_code, checked.output) == (0, "no problems found\n")

    def test_without_out_prints_the_file_on_stdout_and_the_password_on_stderr(self) -> None:
        result = CliRunner().invoke(main, [*self.ARGS, "--github-org", "o", "--github-team", "t"])
        assert result.exit_code == 0
        assert (
            yaml.safe_load(result.stdout)["iap"]["deployments"]["alertmanager"]["config"]["github_team"]
            == "t"
        )
        assert "password" not in result.stderr  # no password: GitHub logs people in
        quiet = CliRunner().invoke(main, ["--quiet", *self.ARGS, "--github-org", "o"])
        assert (quiet.exit_code, quiet.stderr) == (0, "")

    def test_github_file_passes_check_once_the_credentials_are_exported(self, tmp_path: Path) -> None:
        out = tmp_path / "values.yaml"
        assert CliRunner().invoke(main, [*self.ARGS, "--github-org", "o", "--out", str(out)]).exit_code == 0
        assert CliRunner(env=GITHUB_ENV).invoke(main, ["check", str(out)]).exit_code == 0

    def test_local_variant_with_port(self, tmp_path: Path) -> None:
        out = tmp_path / "values.yaml"
        result = CliRunner().invoke(
            main, ["init", "--local", "--port", "5001", "--service", "demo=127.0.0.1:8080", "--out", str(out)]
        )
        assert result.exit_code == 0, result.output
        assert "log in as admin@example.com with password" in result.stderr
        assert CliRunner().invoke(main, ["check", str(out)]).exit_code == 0
        assert "http://demo.localhost:5001/" in out.read_text()

    def test_existing_out_is_refused_without_force(self, tmp_path: Path) -> None:
        out = tmp_path / "values.yaml"
        out.write_text("mine\n")
        result = CliRunner().invoke(main, [*self.ARGS, "--out", str(out)])
        assert result.exit_code == 2
        assert f"error: --out: {out} exists; give --force to overwrite it" in result.stderr
        assert out.read_text() == "mine\n"
        out.chmod(0o644)
        result = CliRunner().invoke(main, [*self.ARGS, "--out", str(out), "--force"])
        assert result.exit_code == 0
        assert out.read_text().startswith("# idgate values file")
        assert stat.S_IMODE(out.stat().st_mode) == 0o600

    def test_bad_input_reports_every_problem_and_writes_nothing(self, tmp_path: Path) -> None:
        out = tmp_path / "values.yaml"
        result = CliRunner().invoke(
            main,
            [
                "init",
                "--domain",
                "bad_domain",
                "--github-team",
                "t",
                "--out",
                str(out),
                "--service",
                "prometheus",
                "--service",
                "a=b:1",
                "--service",
                "a=c:2",
            ],
        )
        assert result.exit_code == 2
        assert result.stderr.splitlines() == [
            "error: --service: 'prometheus': expected NAME=HOST:PORT, e.g. "
            "prometheus=prometheus.monitoring.svc.cluster.local:9090",
            "error: --service: 'a' is given twice; service names are unique",
            "error: --domain: 'bad_domain' is not a valid DNS name (lower-case labels of letters, digits "
            "and '-', separated by dots, such as kkp.example.com)",
            "error: --github-team: needs --github-org (teams belong to an organisation)",
            "4 errors, 0 warnings",
        ]
        assert not out.exists()

    def test_port_is_range_checked(self) -> None:
        result = CliRunner().invoke(main, ["init", "--local", "--port", "0", "--service", "a=b:1"])
        assert result.exit_code == 2 and "--port" in result.stderr

    def test_secrets_differ_between_runs(self) -> None:
        runs = [CliRunner().invoke(main, list(self.ARGS)).stdout for _ in range(2)]
        first, second = (yaml.safe_load(r)["dex"]["clients"] for r in runs)
        assert all(a["secret"] != b["secret"] for a, b in itertools.product(first, second))
