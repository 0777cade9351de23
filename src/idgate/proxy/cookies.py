"""How the proxy's cookies are set: ``cookie_domains``, ``cookie_path``, ``cookie_samesite``,
``cookie_httponly``, ``cookie_secure``, computed once per deployment. Pure.

The sign-in state (CSRF) cookie follows the same ``Domain``, ``Path`` and ``Secure``
(:meth:`CookiePolicy.for_login`).

``cookie_domains``: the longest listed domain that the deployment's host equals or ends with (none
matches: a host-only cookie). ``cookie_secure`` unset: ``Secure`` unless the request came over plain http.

Cookie name prefixes (RFC 6265bis §4.1.3): a ``cookie_name`` starting with ``__Host-`` makes every cookie of
the deployment (the session, its chunks ``__Host-..._0``, the sign-in state ``__Host-..._csrf``) ``Secure``,
``Path=/`` and without ``Domain``, so a sibling subdomain cannot toss a cookie over it; ``__Secure-`` makes
them ``Secure`` (over a ``cookie_secure: false``). The prefixes are matched case-insensitively, as browsers
do. ``idgate check`` and ``serve`` refuse ``cookie_domains``, a ``cookie_path`` other than ``/`` and
``cookie_secure: false`` with ``__Host-`` (:mod:`idgate.config.checks`); the forcing here is the backstop.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from idgate.settings import ProxySettings, hostname
from idgate.wire import HOST_PREFIX, SECURE_PREFIX, has_prefix


def pick_domain(host: str, domains: tuple[str, ...]) -> str | None:
    """The ``Domain`` attribute for ``host``: the longest matching entry of ``domains``, or ``None``."""
    name = hostname(host)
    matching = [d for d in domains if d and (name == d or name.endswith("." + d))]
    return max(matching, key=len) if matching else None


@dataclass(frozen=True, slots=True)
class CookiePolicy:
    """The attributes of one deployment's cookies."""

    domain: str | None
    path: str
    httponly: bool
    samesite: str
    secure: bool | None

    @classmethod
    def of(cls, p: ProxySettings) -> CookiePolicy:
        """The deployment's options, with what the cookie name's prefix demands (see the module docstring)."""
        name = p.session_cookie
        if has_prefix(name, HOST_PREFIX):
            return cls(
                domain=None,
                path="/",
                httponly=p.cookie_httponly,
                samesite=p.cookie_samesite,
                secure=True,
            )
        return cls(
            domain=pick_domain(p.host, p.cookie_domains),
            path=p.cookie_path or "/",
            httponly=p.cookie_httponly,
            samesite=p.cookie_samesite,
            secure=True if has_prefix(name, SECURE_PREFIX) else p.cookie_secure,
        )

    def for_login(self) -> CookiePolicy:
        """The sign-in state cookie's attributes: the same ``Domain``, ``Path`` and ``Secure``, always
        ``HttpOnly``, and ``SameSite=Strict`` relaxed to ``Lax``: the callback is a navigation that
        starts at the provider's site, so a strict cookie would never come back with it."""
        samesite = "lax" if self.samesite.lower() == "strict" else self.samesite
        return dataclasses.replace(self, httponly=True, samesite=samesite)

    def is_secure(self, proto: str) -> bool:
        return self.secure if self.secure is not None else proto != "http"

    def header(self, name: str, value: str, *, max_age: float, proto: str) -> str:
        """A ``Set-Cookie`` value; ``max_age`` <= 0 deletes the cookie."""
        parts = [f"{name}={value}", f"Path={self.path}"]
        if self.domain:
            parts.append(f"Domain={self.domain}")
        if max_age <= 0:
            parts += ["Max-Age=0", "Expires=Thu, 01 Jan 1970 00:00:00 GMT"]
        else:
            parts.append(f"Max-Age={int(max_age)}")
        if self.is_secure(proto):
            parts.append("Secure")
        if self.httponly:
            parts.append("HttpOnly")
        if self.samesite:
            parts.append(f"SameSite={self.samesite.capitalize()}")
        return "; ".join(parts)
