"""The default-logging rows: each server's default logs in its config, and the check that a row's log file
got the lines of its requests (bench/logs.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench import configs, logs
from bench.run import IDGATE_VARIANTS, LOGGED_VARIANTS


def test_lines_and_bytes_are_counted_from_where_the_file_ended(tmp_path: Path) -> None:
    log = tmp_path / "idgate.log"
    assert logs.size(log) == 0 and logs.written_since(log, 0) == logs.Written(0, 0)
    log.write_bytes(b"start-up line\n")
    start = logs.size(log)
    with log.open("ab") as f:
        f.write(b"GET / 200\n" * 3 + b"half a line")
    assert logs.written_since(log, start) == logs.Written(3, 41)
    assert logs.Written(3, 41).per_request(3) == (1.0, pytest.approx(13.67, abs=0.01))


def test_a_default_logging_row_fails_without_a_line_per_request(tmp_path: Path) -> None:
    on = logs.LogFile(tmp_path / "access.log")
    logs.check("nginx", on, logs.Written(1000, 90_000), 1000)  # one line each: nginx, Apache
    logs.check("idgate", on, logs.Written(2032, 400_000), 1000)  # an access and an audit line, in flight too
    with pytest.raises(logs.LogsNotWritten, match=r"idgate: .*access\.log grew by 0 lines"):
        logs.check("idgate", on, logs.Written(0, 0), 1000)
    with pytest.raises(logs.LogsNotWritten, match=r"fewer than 0\.9 per request"):
        logs.check("idgate", on, logs.Written(850, 90_000), 1000)  # a batch lost


def test_a_logs_off_row_fails_when_it_logs(tmp_path: Path) -> None:
    off = logs.LogFile(tmp_path / "idgate-1w.log", on=False)
    logs.check("idgate", off, logs.Written(0, 0), 1000)
    logs.check("idgate", off, logs.Written(1, 80), 1000)  # a warning is not an access log
    with pytest.raises(logs.LogsNotWritten, match="with access logs off"):
        logs.check("idgate", off, logs.Written(1000, 90_000), 1000)


def test_nginx_logs_as_debian_configures_it_only_in_its_logging_run(tmp_path: Path) -> None:
    plain = configs.proxy_nginx_conf(tmp_path, 8080, 9000)
    logged = configs.proxy_nginx_conf(tmp_path, 8081, 9000, logs=True)
    assert "access_log off;" in plain and "access_log off;" not in logged
    # no format named: nginx's predefined "combined"; no buffer: a line written per request
    assert f"access_log {tmp_path}/nginx-proxy-log/access.log;" in logged
    assert configs.access_log_path(tmp_path, "nginx-proxy-log") == tmp_path / "nginx-proxy-log/access.log"
    assert (
        logged.replace("nginx-proxy-log", "nginx-proxy")
        .replace("8081", "8080")
        .replace(f"access_log {tmp_path}/nginx-proxy/access.log;", "access_log off;")
        == plain
    )


def test_apache_logs_in_debians_combined_format_only_in_its_logging_run(tmp_path: Path) -> None:
    kw = {"session_type": "server-cache", "port": 8444, "upstream_port": 9000, "issuer": "http://i/dex"}
    kw |= {"client_secret": "s", "passphrase": "p"}
    plain = configs.apache_conf(tmp_path, **kw)  # type: ignore[arg-type]
    logged = configs.apache_conf(tmp_path, **kw, logs=True)  # type: ignore[arg-type]
    debian = 'LogFormat "%h %l %u %t \\"%r\\" %>s %O \\"%{Referer}i\\" \\"%{User-Agent}i\\"" combined'
    assert debian in logged.splitlines()
    assert f"CustomLog {tmp_path}/apache-server-cache-log/access.log combined" in logged.splitlines()
    assert "CustomLog" not in plain and "LogFormat" not in plain
    assert f"ServerRoot {tmp_path}/apache-server-cache-log" in logged


def test_the_logging_apache_can_sign_in_at_idgate(tmp_path: Path) -> None:
    ports = configs.Ports(1, 2, {"idgate-1w": 3}, {"server-cache": 4}, 5, apache_log=7)
    values = configs.idgate_values(tmp_path, ports, configs.Secrets(), "hash")
    apache = next(c for c in values["dex"]["clients"] if c["id"] == "apache")
    assert f"http://{configs.APACHE_HOST}:7/oauth/callback" in apache["RedirectURIs"]


def test_idgate_logs_at_its_defaults_in_the_logging_rows_and_warnings_only_elsewhere() -> None:
    for variant in LOGGED_VARIANTS.values():
        env = variant.env()
        assert (env["IDGATE_LOG_LEVEL"], env["IDGATE_LOG_FORMAT"]) == ("INFO", "text")
    for variant in IDGATE_VARIANTS.values():
        assert variant.env()["IDGATE_LOG_LEVEL"] == "WARNING"
    assert {(v.workers, v.memo) for v in LOGGED_VARIANTS.values()} == {(1, True), (1, False)}
