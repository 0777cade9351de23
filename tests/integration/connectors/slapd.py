"""A real OpenLDAP ``slapd`` for the LDAP connector's tests: its own config dir, a small directory, a
throwaway CA, listening on free loopback ports for ``ldap://`` (plain and StartTLS) and ``ldaps://``.

``start_slapd(..., verify_client=True)`` starts one with ``TLSVerifyClient demand``: every TLS handshake
(LDAPS and StartTLS) must present a client certificate signed by the same CA
(:meth:`CertAuthority.client_cert`). ``stop_slapd`` then ``restart_slapd`` bring the same directory back
on the same ports (a directory server that went away and returned).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tests.fakes.tls import CertAuthority, make_ca

SUFFIX = "dc=example,dc=org"
ADMIN_DN = f"cn=admin,{SUFFIX}"
ADMIN_PW = "admin-secret"

CONF = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
pidfile {dir}/slapd.pid
argsfile {dir}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCACertificateFile {ca}
TLSCertificateFile {cert}
TLSCertificateKeyFile {key}
TLSVerifyClient {verify_client}
database mdb
maxsize 10485760
suffix "{suffix}"
rootdn "{admin}"
rootpw {admin_pw}
directory {dir}/db
access to attrs=userPassword by anonymous auth by * none
access to * by * read
"""


def _person(uid: str, cn: str, mail: str, password: str, ou: str = "People", number: int = 1000) -> str:
    return f"""
dn: uid={uid},ou={ou},{SUFFIX}
objectClass: inetOrgPerson
objectClass: posixAccount
uid: {uid}
cn: {cn}
sn: {cn.rsplit(maxsplit=1)[-1]}
mail: {mail}
displayName: {cn}
uidNumber: {number}
gidNumber: {number}
homeDirectory: /home/{uid}
userPassword: {password}
"""


DATA = (
    f"""dn: {SUFFIX}
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=People,{SUFFIX}
objectClass: organizationalUnit
ou: People

dn: ou=Contractors,{SUFFIX}
objectClass: organizationalUnit
ou: Contractors

dn: ou=Groups,{SUFFIX}
objectClass: organizationalUnit
ou: Groups
"""
    + _person("alice", "Alice Liddell", "alice@example.org", "alice-pw", number=1001)
    + _person("bob", "Bob Builder", "bob@example.org", "bob-pw", number=1002)
    + _person("twin", "Twin One", "twin1@example.org", "twin-pw", number=1003)
    + _person("twin", "Twin Two", "twin2@example.org", "twin-pw", ou="Contractors", number=1004)
    + _person("paren(s)", "Paren Thesis", "parens@example.org", "parens-pw", number=1005)
    + f"""
dn: cn=admins,ou=Groups,{SUFFIX}
objectClass: groupOfNames
cn: admins
member: uid=alice,ou=People,{SUFFIX}

dn: cn=devs,ou=Groups,{SUFFIX}
objectClass: groupOfNames
cn: devs
member: uid=alice,ou=People,{SUFFIX}
member: uid=bob,ou=People,{SUFFIX}

dn: cn=ops,ou=Groups,{SUFFIX}
objectClass: posixGroup
cn: ops
gidNumber: 2000
memberUid: alice
memberUid: paren(s)
"""
)


@dataclass(frozen=True)
class Slapd:
    """A running slapd: ``ldap://127.0.0.1:<port>`` and ``ldaps://127.0.0.1:<tls_port>``."""

    port: int
    tls_port: int
    ca: CertAuthority
    process: subprocess.Popen[bytes]
    conf: Path
    binary: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"slapd exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"slapd did not listen on {port}:\n{log.read_text()[-3000:]}")


def start_slapd(directory: Path, *, verify_client: bool = False) -> Slapd:
    """Configure, load and start slapd under ``directory``; raises (never skips) when it cannot."""
    binary = shutil.which("slapd") or ("/usr/sbin/slapd" if Path("/usr/sbin/slapd").exists() else None)
    slapadd = shutil.which("slapadd") or "/usr/sbin/slapadd"
    if binary is None:
        raise RuntimeError(
            "slapd is not installed: run scripts/system-deps (Debian packages slapd, ldap-utils)"
        )
    ca = make_ca(directory / "tls", "slapd test")
    (directory / "db").mkdir(parents=True)
    conf = directory / "slapd.conf"
    conf.write_text(
        CONF.format(
            dir=directory,
            ca=ca.ca_file,
            cert=ca.cert_file,
            key=ca.key_file,
            suffix=SUFFIX,
            admin=ADMIN_DN,
            admin_pw=ADMIN_PW,
            verify_client="demand" if verify_client else "never",
        )
    )
    ldif = directory / "data.ldif"
    ldif.write_text(DATA)
    subprocess.run([slapadd, "-f", str(conf), "-l", str(ldif)], check=True, capture_output=True)
    port, tls_port = free_port(), free_port()
    return Slapd(port, tls_port, ca, _run(binary, conf, port, tls_port), conf, binary)


def _run(binary: str, conf: Path, port: int, tls_port: int) -> subprocess.Popen[bytes]:
    log = conf.parent / "slapd.log"
    urls = f"ldap://127.0.0.1:{port}/ ldaps://127.0.0.1:{tls_port}/"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [binary, "-f", str(conf), "-h", urls, "-d", "0"], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        _wait_for(port, process, log)
        _wait_for(tls_port, process, log)
    except BaseException:
        process.kill()
        raise
    return process


def restart_slapd(server: Slapd) -> Slapd:
    """Start a stopped ``server`` again: the same directory, on the same ports."""
    return replace(server, process=_run(server.binary, server.conf, server.port, server.tls_port))


def stop_slapd(server: Slapd) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


def connector_config(server: Slapd, mode: str = "plain", **extra: Any) -> dict[str, Any]:
    """An ``ldap`` connector config for ``server`` over ``mode`` (plain, ldaps, starttls), with
    ``extra`` keys."""
    base: dict[str, Any] = {
        "host": f"127.0.0.1:{server.tls_port if mode == 'ldaps' else server.port}",
        "insecureNoSSL": mode == "plain",
        "startTLS": mode == "starttls",
        "rootCA": str(server.ca.ca_file),
        "bindDN": ADMIN_DN,
        "bindPW": ADMIN_PW,
        "usernamePrompt": "Directory user",
        "userSearch": {
            "baseDN": SUFFIX,
            "filter": "(objectClass=inetOrgPerson)",
            "username": "uid",
            "idAttr": "uidNumber",
            "emailAttr": "mail",
            "nameAttr": "cn",
            "preferredUsernameAttr": "uid",
        },
        "groupSearch": {
            "baseDN": f"ou=Groups,{SUFFIX}",
            "filter": "(|(objectClass=groupOfNames)(objectClass=posixGroup))",
            "userMatchers": [
                {"userAttr": "DN", "groupAttr": "member"},
                {"userAttr": "uid", "groupAttr": "memberUid"},
            ],
            "nameAttr": "cn",
        },
    }
    if mode == "plain":
        del base["rootCA"]
    return {**base, **extra}
