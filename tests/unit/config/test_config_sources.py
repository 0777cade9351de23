"""Where values come from: YAML syntax, ``$VAR`` expansion, ``*_file`` secrets, ``--set`` overrides."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from idgate.config import load_config, load_config_text
from idgate.errors import ConfigError

Problems = Callable[..., list[str]]
Analyse = Callable[..., Any]

BCRYPT = "$2a$10$zMJhg/3axbm/m0KmoVxJiO1eO5gtNrgKDysy5GafQFrXY93OE9LsK"


class TestYaml:
    def test_syntax_error_reports_line_and_column(self, problems: Problems) -> None:
        text = "dex:\n  ingress:\n    host: a: b\n"
        assert problems(text) == [
            "<root>: invalid YAML at line 3, column 12: a ':' followed by a space inside a value; put the "
            "value in quotes, or start the nested mapping on a new, indented line"
        ]

    def test_key_given_twice_is_an_error(self, problems: Problems) -> None:
        text = "idgate:\n  listen: 127.0.0.1:1\n  listen: 127.0.0.1:2\n"
        assert problems(text) == ["<root>: line 3, column 3: key 'listen' is given twice in the same mapping"]

    def test_root_must_be_a_mapping(self, problems: Problems) -> None:
        assert problems("- a\n- b\n") == [
            "<root>: expected a mapping with dex:, iap: and idgate: sections, got a list"
        ]

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError) as caught:
            load_config(tmp_path / "nope.yaml")
        [problem] = caught.value.problems
        assert problem.message == f"cannot read {tmp_path / 'nope.yaml'}: No such file or directory"

    def test_load_config_raises_with_every_problem(self) -> None:
        with pytest.raises(ConfigError) as caught:
            load_config_text("idgate: {workers: 0, listen: x}\n")
        assert [p.path for p in caught.value.problems] == ["idgate.listen", "idgate.workers"]
        assert caught.value.exit_code == 2


class TestEnv:
    def test_braced_and_whole_value_references_expand(
        self, analyse: Analyse, example: dict[str, Any]
    ) -> None:
        dep = example["iap"]["deployments"]["grafana"]
        dep["client_secret"] = "$GRAFANA_SECRET"
        dep["upstream_service"] = "${SVC}.monitoring.svc"
        config, found = analyse(
            example, env={"GRAFANA_SECRET": "Gf5tR1eW7qA3sD9fG2hJ6kL0zX4cV8bN", "SVC": "grafana"}
        )
        assert found == []
        grafana = config.iap.deployments["grafana"]
        assert grafana.client_secret == "Gf5tR1eW7qA3sD9fG2hJ6kL0zX4cV8bN"
        assert grafana.upstream_service == "grafana.monitoring.svc"

    def test_bcrypt_hash_is_left_alone(self, analyse: Analyse, example: dict[str, Any]) -> None:
        config, found = analyse(example, env={"zMJhg": "boom", "2a": "boom"})
        assert found == []
        assert config.dex.staticPasswords[0].hash == BCRYPT

    def test_bare_reference_inside_a_value_is_literal(self, analyse: Analyse) -> None:
        config, found = analyse({"idgate": {"data_dir": "/srv/$HOME/x"}}, env={"HOME": "/root"})
        assert found == []
        assert config.idgate.data_dir == "/srv/$HOME/x"

    def test_double_dollar_is_a_literal_dollar(self, analyse: Analyse) -> None:
        config, _ = analyse({"idgate": {"data_dir": "/srv/$${HOME}"}}, env={"HOME": "/root"})
        assert config.idgate.data_dir == "/srv/${HOME}"

    def test_unset_variable_names_path_and_variable(
        self, problems: Problems, example: dict[str, Any]
    ) -> None:
        example["iap"]["deployments"]["prometheus"]["encryption_key"] = "${PROM_KEY}"
        assert problems(example) == [
            "iap.deployments.prometheus.encryption_key: environment variable PROM_KEY is not set"
        ]

    def test_malformed_reference(self, problems: Problems) -> None:
        assert problems({"idgate": {"data_dir": "${1x}"}}) == [
            "idgate.data_dir: '${' must be followed by NAME} (write $$ for a literal $)"
        ]

    def test_keys_are_not_expanded(self, problems: Problems) -> None:
        assert problems({"idgate": {"$X": 1}}, env={"X": "workers"})[0].startswith("idgate.$X: unknown key")


class TestSecretFiles:
    def test_file_replaces_the_secret_without_trailing_newline(
        self, analyse: Analyse, example: dict[str, Any], tmp_path: Path
    ) -> None:
        (tmp_path / "secret").write_text("Pq7wE3rT9yU1iO5pA2sD8fG4hJ6kL0zX\n")
        (tmp_path / "key").write_text("0123456789abcdef\n")
        (tmp_path / "hash").write_text(BCRYPT + "\n")
        dep = example["iap"]["deployments"]["prometheus"]
        dep["client_secret_file"] = str(tmp_path / "secret")
        del dep["client_secret"]
        dep["encryption_key_file"] = str(tmp_path / "key")
        del dep["encryption_key"]
        client = example["dex"]["clients"][2]
        client["secretFile"] = str(tmp_path / "secret")
        del client["secret"]
        password = example["dex"]["staticPasswords"][0]
        password["hash_file"] = str(tmp_path / "hash")
        del password["hash"]
        config, found = analyse(example)
        assert found == []
        prometheus = config.iap.deployments["prometheus"]
        assert prometheus.client_secret == "Pq7wE3rT9yU1iO5pA2sD8fG4hJ6kL0zX"
        assert prometheus.encryption_key == "0123456789abcdef"
        assert config.dex.clients[2].secret == "Pq7wE3rT9yU1iO5pA2sD8fG4hJ6kL0zX"
        assert config.dex.staticPasswords[0].hash == BCRYPT

    def test_file_in_connector_config(
        self, analyse: Analyse, example: dict[str, Any], tmp_path: Path
    ) -> None:
        (tmp_path / "gh").write_text("s3cret")
        github = example["dex"]["connectors"][0]["config"]
        del github["clientSecret"]
        github["clientSecretFile"] = str(tmp_path / "gh")
        config, _ = analyse(example)
        assert config.dex.connectors[0].config["clientSecret"] == "s3cret"

    def test_missing_file_is_one_problem_at_the_file_key(
        self, problems: Problems, example: dict[str, Any], tmp_path: Path
    ) -> None:
        dep = example["iap"]["deployments"]["prometheus"]
        del dep["client_secret"]
        dep["client_secret_file"] = str(tmp_path / "missing")
        assert problems(example) == [
            f"iap.deployments.prometheus.client_secret_file: cannot read {tmp_path / 'missing'}: "
            "No such file or directory"
        ]

    def test_key_and_file_together(self, problems: Problems, example: dict[str, Any], tmp_path: Path) -> None:
        (tmp_path / "s").write_text("x")
        example["iap"]["deployments"]["prometheus"]["client_secret_file"] = str(tmp_path / "s")
        assert problems(example) == [
            "iap.deployments.prometheus.client_secret: "
            "give either client_secret or client_secret_file, not both"
        ]

    def test_file_path_from_env(self, analyse: Analyse, example: dict[str, Any], tmp_path: Path) -> None:
        (tmp_path / "s").write_text("Pq7wE3rT9yU1iO5pA2sD8fG4hJ6kL0zX")
        dep = example["iap"]["deployments"]["prometheus"]
        del dep["client_secret"]
        dep["client_secret_file"] = "${SECRETS}/s"
        _, found = analyse(example, env={"SECRETS": str(tmp_path)})
        assert found == []


class TestSet:
    def test_nested_map_key(self, analyse: Analyse, example: dict[str, Any]) -> None:
        config, found = analyse(example, sets=["iap.deployments.prometheus.upstream_port=9091"])
        assert found == []
        assert config.iap.deployments["prometheus"].upstream_port == 9091

    def test_list_index(self, analyse: Analyse, example: dict[str, Any]) -> None:
        config, _ = analyse(example, sets=["dex.clients[0].RedirectURIs[1]=https://kkp.example.com/x"])
        assert config.dex.clients[0].redirect_uris == ["https://kkp.example.com", "https://kkp.example.com/x"]

    def test_creates_missing_maps_and_parses_yaml(self, analyse: Analyse) -> None:
        config, found = analyse({}, sets=["idgate.workers=4", "idgate.listen=0.0.0.0:8080"])
        assert found == []
        assert (config.idgate.workers, config.idgate.listen) == (4, "0.0.0.0:8080")

    def test_escaped_dot_in_key(self, analyse: Analyse, example: dict[str, Any]) -> None:
        key = r"iap.deployments.grafana.ingress.annotations.nginx\.ingress\.kubernetes\.io/x=y"
        config, _ = analyse(example, sets=[key])
        assert config.iap.deployments["grafana"].ingress.annotations == {"nginx.ingress.kubernetes.io/x": "y"}

    def test_set_value_is_validated(self, problems: Problems, example: dict[str, Any]) -> None:
        assert problems(example, sets=["iap.deployments.prometheus.encryption_key=short"]) == [
            "iap.deployments.prometheus.encryption_key: must be 16, 24 or 32 characters, got 5 "
            "(`idgate secret` makes one of 32)"
        ]

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("{example.com,example.org}", ["example.com", "example.org"]),
            ("{example.com, example.org }", ["example.com", "example.org"]),
            ("{example.com}", ["example.com"]),
            ("{}", []),
            ("[example.com, example.org]", ["example.com", "example.org"]),  # YAML's own list still works
        ],
    )
    def test_helms_list_syntax(
        self, analyse: Analyse, example: dict[str, Any], value: str, expected: list[str]
    ) -> None:
        """``helm --set a.b={x,y}``: before, ``{x,y}`` read as a YAML mapping ("expected a list")."""
        config, found = analyse(example, sets=[f"iap.deployments.grafana.config.email_domains={value}"])
        assert found == []
        assert config.iap.deployments["grafana"].config.email_domains == expected

    def test_helms_list_items_are_typed_and_escaped_commas_kept(self, analyse: Analyse) -> None:
        config, found = analyse(
            {}, sets=[r"dex.ingress.annotations.a={1,true,x\,y}", "dex.ingress.annotations.b={c: d}"]
        )
        assert found == []
        assert config.dex.ingress.annotations == {"a": [1, True, "x,y"], "b": {"c": "d"}}

    @pytest.mark.parametrize(
        ("item", "expected"),
        [
            ("novalue", "novalue: --set 'novalue': expected PATH=VALUE such as a.b[0].c=value"),
            ("a..b=1", "a..b: --set 'a..b=1': expected PATH=VALUE such as a.b[0].c=value"),
            (
                "dex.clients[9].id=x",
                "dex.clients[9].id: --set: index 9 is past the end of dex.clients (5 items)",
            ),
            ("dex.ingress[0]=x", "dex.ingress[0]: --set: dex.ingress is a mapping, not a list"),
        ],
    )
    def test_bad_set(self, problems: Problems, example: dict[str, Any], item: str, expected: str) -> None:
        assert problems(example, sets=[item]) == [expected]


class TestChartCompat:
    def test_client_keys_are_case_insensitive(self, analyse: Analyse, example: dict[str, Any]) -> None:
        example["dex"]["clients"][0] = {
            "ID": "kubermatic",
            "Name": "K",
            "SECRET": "Xk4pQ9sLmT2vW8zR1yB6nC3dF7gH5jK0",
            "redirecturis": ["https://kkp.example.com"],
            "TrustedPeers": ["a"],
            "Public": False,
            "LogoURL": "https://x/logo.svg",
        }
        config, found = analyse(example)
        assert found == []
        client = config.dex.clients[0]
        assert (client.id, client.name, client.redirect_uris, client.trusted_peers) == (
            "kubermatic",
            "K",
            ["https://kkp.example.com"],
            ["a"],
        )
        assert client.logo_url == "https://x/logo.svg"

    def test_errors_use_the_written_spelling(self, problems: Problems, example: dict[str, Any]) -> None:
        example["dex"]["clients"][1]["RedirectURIs"].append(7)
        assert problems(example) == ["dex.clients[1].RedirectURIs[1]: expected a string, got an integer"]

    def test_same_key_in_two_spellings(self, problems: Problems, example: dict[str, Any]) -> None:
        example["dex"]["clients"][1]["redirectURIs"] = []
        assert problems(example) == [
            "dex.clients[1].redirectURIs: 'redirectURIs' is given twice (as 'RedirectURIs' and "
            "'redirectURIs'); Dex matches these keys ignoring case"
        ]

    def test_static_password_and_connector_keys_are_case_insensitive(
        self, analyse: Analyse, example: dict[str, Any]
    ) -> None:
        example["dex"]["staticPasswords"][0] = {
            "Email": "a@b",
            "HASH": BCRYPT,
            "userid": "1",
            "UserName": "a",
        }
        example["dex"]["connectors"][0] = {"Type": "local", "ID": "local", "Name": "Email"}
        config, found = analyse(example)
        assert found == []
        assert config.dex.staticPasswords[0].userID == "1"
        assert config.dex.connectors[0].type == "local"

    def test_static_password_logins_is_an_alias(self, analyse: Analyse, example: dict[str, Any]) -> None:
        example["dex"]["staticPasswordLogins"] = example["dex"].pop("staticPasswords")
        config, found = analyse(example)
        assert found == []
        assert config.dex.staticPasswords[0].email == "kubermatic@example.com"

    def test_static_password_logins_errors_use_the_legacy_name(
        self, problems: Problems, example: dict[str, Any]
    ) -> None:
        example["dex"]["staticPasswordLogins"] = example["dex"].pop("staticPasswords")
        del example["dex"]["staticPasswordLogins"][0]["userID"]
        assert problems(example) == ["dex.staticPasswordLogins[0].userID: required key is missing"]

    def test_both_password_keys(self, problems: Problems, example: dict[str, Any]) -> None:
        example["dex"]["staticPasswordLogins"] = []
        assert problems(example) == [
            "dex.staticPasswordLogins: give staticPasswords or its legacy name staticPasswordLogins, not both"
        ]

    def test_deployments_as_a_list(self, analyse: Analyse, example: dict[str, Any]) -> None:
        items = list(example["iap"]["deployments"].values())
        del items[1]["client_id"]
        example["iap"]["deployments"] = items
        _, found = analyse(example)
        assert found == ["iap.deployments[1].client_id: required key is missing"]

    def test_deployment_map_is_sorted_by_key(self, analyse: Analyse, example: dict[str, Any]) -> None:
        config, _ = analyse(example)
        assert list(config.iap.deployments) == ["alertmanager", "grafana", "prometheus"]

    def test_map_key_is_not_the_name(self, analyse: Analyse, example: dict[str, Any]) -> None:
        example["iap"]["deployments"]["zzz"] = example["iap"]["deployments"].pop("grafana")
        config, _ = analyse(example)
        assert config.iap.deployments["zzz"].name == "grafana"

    def test_empty_sections_are_absent(self, analyse: Analyse) -> None:
        config, found = analyse("dex:\niap:\nidgate:\n")
        assert found == []
        assert (config.dex, config.iap) == (None, None)

    def test_chart_keys_are_accepted_and_kept(self, analyse: Analyse, example: dict[str, Any]) -> None:
        example["dex"].update(
            image={"repository": "quay.io/dexidp/dex", "tag": "v2.24.0"},
            replicas=1,
            env=[{"name": "X", "value": "y"}],
            resources={"requests": {"cpu": "200m"}},
            affinity={},
            tolerations=[],
            nodeSelector={},
            extraVolumes=[],
            extraVolumeMounts=[],
            theme={"logo.svg": "PHN2Zz4="},
            nameOverride="oauth",
            frontend={"issuer": "KKP"},
            grpc={"api": {"addr": "0.0.0.0:5557"}, "certs": {"caCert": "x"}, "certMount": [{"name": "c"}]},
            imagePullSecrets=[{"name": "r"}],
            certIssuer=None,
        )
        example["iap"].update(
            image={
                "repository": "quay.io/oauth2-proxy/oauth2-proxy",
                "tag": "v6.1.1",
                "pullPolicy": "Always",
            },
            customProviderCA={"secretName": "ca-cert", "secretKey": "ca.crt"},
            extraArgs=["--x"],
            resources={},
            affinity={},
            nodeSelector={},
            tolerations=[],
            imagePullSecrets=[],
        )
        example["iap"]["deployments"]["grafana"].update(
            replicas=3,
            extraArgs=["--y"],
            existingSecret="s",
            ingress={"host": "grafana.kkp.example.com", "tlsSecretName": "t", "class": "nginx"},
        )
        example.update(migrateGatewayAPI=True, httpRoute={"gatewayName": "g", "timeout": "60s"})
        config, found = analyse(example)
        assert found == []
        assert config.dex.certIssuer is None
        assert config.dex.frontend.issuer == "KKP"
        assert config.iap.customProviderCA.secretKey == "ca.crt"
