"""The TLS rows' pure parts: the certificate, nginx's and Apache's TLS configs, idgate's TLS values, wrk's
https URL and the table's ratio headings."""

from __future__ import annotations

from pathlib import Path

from bench import configs
from bench.report import Sample, Summary, proxy_table, summarise
from bench.run import Config, Options, wrk_for
from bench.targets import APACHE_TLS, NGINX_TLS
from bench.wrk import WrkResult
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from idgate.config.tls import key_matches


def test_the_certificate_is_ecdsa_p256_for_loopback_and_the_bench_names(tmp_path: Path) -> None:
    tls = configs.make_certificate(tmp_path)
    cert = x509.load_pem_x509_certificate(tls.cert.read_bytes())
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(sans.get_values_for_type(x509.DNSName)) == set(configs.TLS_NAMES)
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert key_matches(tls.cert.read_bytes(), tls.key.read_bytes()) is None  # what idgate check asks


def test_nginx_tls_is_the_plain_proxy_with_ssl_on_its_listener(tmp_path: Path) -> None:
    tls = configs.Certificate(tmp_path / "c.pem", tmp_path / "k.pem")
    plain = configs.proxy_nginx_conf(tmp_path, 8443, 9000)
    text = configs.proxy_nginx_conf(tmp_path, 8443, 9000, tls=tls)
    assert "listen 127.0.0.1:8443 ssl backlog=4096;" in text
    assert f"ssl_certificate {tls.cert};" in text and f"ssl_certificate_key {tls.key};" in text
    assert " ssl" not in plain and "ssl_certificate" not in plain and "nginx-tls" in text
    pool = "upstream up { server 127.0.0.1:9000; keepalive 64; keepalive_requests 1000000; }"
    assert pool in plain and pool in text


def test_apache_with_tls_loads_its_module_and_calls_back_on_https(tmp_path: Path) -> None:
    tls = configs.Certificate(tmp_path / "c.pem", tmp_path / "k.pem")
    kw = {"session_type": "server-cache", "port": 8444, "upstream_port": 9000, "issuer": "http://i/dex"}
    kw |= {"client_secret": "s", "passphrase": "p"}
    plain = configs.apache_conf(tmp_path, **kw)  # type: ignore[arg-type]
    text = configs.apache_conf(tmp_path, **kw, tls=tls)  # type: ignore[arg-type]
    assert f"LoadModule ssl_module {configs.APACHE_MODULES}/mod_ssl.so" in text
    assert "SSLEngine on" in text and f"SSLCertificateFile {tls.cert}" in text
    assert f"OIDCRedirectURI https://{configs.APACHE_HOST}:8444/oauth/callback" in text
    assert (
        "SSL" not in plain
        and "mod_ssl" not in plain
        and f"OIDCRedirectURI http://{configs.APACHE_HOST}:8444/" in plain
    )
    assert f"{tmp_path}/apache-server-cache-tls/" in text


def test_idgate_tls_values_and_apache_tls_callback(tmp_path: Path) -> None:
    ports = configs.Ports(1, 2, {"idgate-1w": 3}, {"server-cache": 4}, 5, apache_tls=6)
    values = configs.idgate_values(tmp_path, ports, configs.Secrets(), "hash")
    apache = next(c for c in values["dex"]["clients"] if c["id"] == "apache")
    assert apache["RedirectURIs"] == [
        f"http://{configs.APACHE_HOST}:4/oauth/callback",
        f"https://{configs.APACHE_HOST}:6/oauth/callback",
    ]
    tls = configs.Certificate(tmp_path / "c.pem", tmp_path / "k.pem")
    with_tls = configs.tls_values(values, tls)
    assert with_tls["idgate"]["tls"] == {"cert": str(tls.cert), "key": str(tls.key)}
    assert "tls" not in values["idgate"] and with_tls["iap"] == values["iap"]


def test_wrk_asks_for_https_on_tls_rows(tmp_path: Path) -> None:
    plain = Config("x", 8443, "/", [], list)
    assert wrk_for(plain, 2, Options())[-1] == "http://127.0.0.1:8443/"
    tls = Config("x", 8443, "/", [], list, tls=tmp_path / "c.pem")
    assert wrk_for(tls, 2, Options())[-1] == "https://127.0.0.1:8443/"


def test_tls_table_compares_with_the_tls_references() -> None:
    def row(name: str, rps: float) -> Summary:
        return summarise(name, [Sample(WrkResult(int(rps), 1.0, rps, {50.0: 1.0, 99.0: 2.0}, {}, 0), 20.0)])

    sums = [row(NGINX_TLS, 20_000), row(APACHE_TLS, 5_000), row("idgate TLS", 10_000)]
    text = proxy_table(sums, NGINX_TLS, APACHE_TLS, refs=("× nginx TLS", "× Apache+OIDC TLS"))
    assert "| configuration | req/s | × nginx TLS | × Apache+OIDC TLS |" in text
    assert "| idgate TLS | 10,000 | 0.50× | 2.00× |" in text
