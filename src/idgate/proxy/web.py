"""The sign-in web app, the proxy's one aiohttp layer: ``/oauth/start``, ``sign_in``, ``callback``,
``sign_out`` and ``userinfo``.

It sits behind the edge on a private socket. The edge names the deployment in ``X-Idgate-Deployment``
(stripping any client-sent ``X-Idgate-*``) and sets ``X-Forwarded-Proto``; both are trusted here.
Handlers parse the request, call the core (:mod:`.signin` for the sign-in steps, :mod:`.csrf` for the
sign-in state cookie, the session store) and render: a redirect with its cookies, a page, or a typed error
handed to one renderer (:func:`_error_page`), which asks :func:`page_of` for the page of every failure,
expected or not.

A sign-in is logged on ``idgate.proxy`` with ``event: sign_in``: ``result: success`` with the email, or
``failure`` with the reason in the message (from the renderer), each with the ``deployment``
and the ``client_ip`` behind the deployment's trusted proxies (:meth:`~idgate.edge.trust.Trust.client`).
"""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

import aiohttp
from aiohttp import web

from idgate.clock import Clock
from idgate.edge.trust import DEFAULT_TRUST, Trust
from idgate.oidc.client import ProviderClient
from idgate.proxy.cookies import CookiePolicy
from idgate.proxy.csrf import LOGIN_TTL, LoginStateCookie
from idgate.proxy.failures import (
    Clears,
    LoginStateInvalid,
    Page,
    SignedOutHereOnly,
    UnknownDeployment,
    not_found,
    page_for,
)
from idgate.proxy.headers import DEPLOYMENT_HEADER
from idgate.proxy.services import ProxyServices
from idgate.proxy.signin import SignIn
from idgate.sessions.base import SessionStore, SessionStoreUnavailable, new_session_id
from idgate.sessions.cookie_store import CookieSessions
from idgate.sessions.sealing import join_chunks, split_chunks
from idgate.settings import ProxySettings
from idgate.web import LOGO, Look, environment
from idgate.web.page_headers import PAGE_HEADERS, SIGN_IN_HEADERS, hide_server_software

if TYPE_CHECKING:
    import jinja2

__all__ = ["build_signin_app", "page_of"]

log = logging.getLogger("idgate.proxy")


@dataclass(frozen=True, slots=True)
class Deployment:
    """Everything the sign-in flow needs for one protected service, built once at start-up."""

    settings: ProxySettings
    sessions: CookieSessions
    login_cookie: LoginStateCookie
    signin: SignIn
    services: ProxyServices | None = None
    trust: Trust = DEFAULT_TRUST  # whom the edge believes X-Forwarded-For from, for this deployment

    @property
    def cookies(self) -> CookiePolicy:
        """The attributes of the session cookies (``cookie_*`` options)."""
        return CookiePolicy.of(self.settings)

    @property
    def login_cookies(self) -> CookiePolicy:
        """The attributes of the sign-in state cookie (see :meth:`CookiePolicy.for_login`)."""
        return self.cookies.for_login()

    @property
    def store(self) -> SessionStore:
        return self.services.store if self.services is not None else self.sessions

    def clear(self, resp: web.StreamResponse, cookies: Mapping[str, str], proto: str, what: Clears) -> None:
        """Delete ``what`` in the browser: the sign-in state cookie, and for :attr:`Clears.ALL` the
        session cookie and every chunk of it that ``cookies`` (the request's) holds, each with the
        ``Domain`` and ``Path`` it was set with."""
        if what is Clears.NOTHING:
            return
        if what is Clears.ALL:
            policy = self.cookies
            for name in sorted({self.sessions.name, *self.sessions.names_to_clear(cookies)}):
                resp.headers.add("Set-Cookie", policy.header(name, "", max_age=0, proto=proto))
        _set_login(resp, self, "", proto, max_age=0)


class Templates:
    """The app's templates, their Jinja2 environment made on first use: a proxy whose sign-ins go straight
    to the provider shows no page of its own, and never loads Jinja2 (~2 MB of every process)."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._env: jinja2.Environment | None = None

    def get_template(self, name: str) -> jinja2.Template:
        if self._env is None:
            self._env = environment(self._directory)
        return self._env.get_template(name)


DEPLOYMENTS = web.AppKey("deployments", Mapping[str, Deployment])
CLOCK = web.AppKey("clock", Clock)
TEMPLATES = web.AppKey("templates", Templates)

#: The look of the proxy's pages (:mod:`idgate.web`): idgate's, with the sign-in page's logo and the
#: headers that allow it.
ERROR_LOOK = Look(headers=PAGE_HEADERS)
#: OAuth2-Proxy shows its own footer unless ``footer: "-"``; idgate says what it is.
DEFAULT_FOOTER = "Secured by idgate"


def _deployment(request: web.Request) -> Deployment:
    dep = request.app[DEPLOYMENTS].get(request.headers.get(DEPLOYMENT_HEADER, ""))
    if dep is None:
        raise UnknownDeployment("unknown deployment")
    return dep


def _client(request: web.Request, dep: Deployment | None) -> str:
    """The client's address for the log, behind the proxies ``dep`` trusts, from the ``X-Forwarded-For``
    the edge wrote (its last entry is the peer the edge saw)."""
    forwarded = request.headers.get("X-Forwarded-For", "")
    if not forwarded:
        return request.remote or ""
    trust = dep.trust if dep is not None else DEFAULT_TRUST
    return trust.forwarded_client(forwarded, request.headers.get("X-Real-IP", ""))


def _proto(request: web.Request) -> str:
    proto = request.headers.get("X-Forwarded-Proto", "https").strip().lower()
    return proto if proto in ("http", "https") else "https"


def _set_login(resp: web.StreamResponse, dep: Deployment, value: str, proto: str, *, max_age: float) -> None:
    """Set (or with ``max_age`` 0 clear) the sign-in state cookie, with the deployment's attributes."""
    resp.headers.add(
        "Set-Cookie", dep.login_cookies.header(dep.login_cookie.name, value, max_age=max_age, proto=proto)
    )


def _redirect(location: str) -> web.Response:
    return web.Response(status=302, headers={"Location": location, "Cache-Control": "no-store"})


async def start(request: web.Request) -> web.Response:
    """Begin a sign-in: seal a fresh state into the CSRF cookie and send the browser to the provider."""
    dep = _deployment(request)
    proto = _proto(request)
    rd = request.query.get("rd") or request.headers.get("X-Auth-Request-Redirect")
    started = await dep.signin.start(rd, proto=proto, now=request.app[CLOCK].now())
    resp = _redirect(started.location)
    _set_login(resp, dep, dep.login_cookie.seal(started.login), proto, max_age=LOGIN_TTL)
    return resp


async def sign_in(request: web.Request) -> web.Response:
    """The sign-in page with the provider button; straight to the provider with ``skip_provider_button``."""
    dep = _deployment(request)
    p = dep.settings
    if p.skip_provider_button:
        return await start(request)
    rd = dep.signin.target(request.query.get("rd") or request.headers.get("X-Auth-Request-Redirect"))
    look = Look(logo=_logo(p.custom_sign_in_logo) or "", headers=SIGN_IN_HEADERS)
    html = (
        request.app[TEMPLATES]
        .get_template("sign_in.html")
        .render(
            ui=look,
            start_url="/oauth/start?" + urlencode({"rd": rd}),
            # Text, escaped like everything on the page: the page is on the protected origin, so no
            # configured string may become markup there (OAuth2-Proxy renders them as HTML).
            banner=p.banner if p.banner and p.banner != "-" else None,
            footer=DEFAULT_FOOTER if not p.footer else p.footer if p.footer != "-" else None,
            host=p.host,
            provider=urlsplit(p.issuer_url).netloc or "the identity provider",
        )
    )
    return web.Response(text=html, content_type="text/html", headers=look.headers)


def _logo(value: str) -> str | None:
    """``custom_sign_in_logo``: an https URL as is, a file as a data: URL, ``-`` for none; unset:
    idgate's logo (as OAuth2-Proxy shows its own)."""
    if value == "-":
        return None
    if not value:
        return LOGO
    if value.startswith("https://"):
        return value
    kind = "image/svg+xml" if value.endswith(".svg") else "image/png"
    try:
        data = Path(value).read_bytes()
    except OSError:
        log.warning("custom_sign_in_logo %s cannot be read", value)
        return None
    return f"data:{kind};base64," + base64.b64encode(data).decode("ascii")


async def callback(request: web.Request) -> web.Response:
    """Finish a sign-in: the state cookie opened here, the rest by :meth:`SignIn.finish`; then the
    session stored and its cookies set."""
    dep = _deployment(request)
    p, proto, now = dep.settings, _proto(request), request.app[CLOCK].now()
    login = dep.login_cookie.load(request.cookies, now=now)
    if login is None:
        raise LoginStateInvalid("csrf cookie missing or invalid")
    session = await dep.signin.finish(login, request.query, proto=proto, now=now, sid=new_session_id())
    resp = _redirect(dep.signin.target(login.rd))
    policy = dep.cookies
    for name in dep.sessions.names_to_clear(request.cookies):
        resp.headers.add("Set-Cookie", policy.header(name, "", max_age=0, proto=proto))
    value = await dep.store.put(session, now)
    for name, chunk in split_chunks(dep.sessions.name, value):
        resp.headers.add("Set-Cookie", policy.header(name, chunk, max_age=p.cookie_expire, proto=proto))
    _set_login(resp, dep, "", proto, max_age=0)
    log.info(
        "proxy %s: signed in %s",
        p.name,
        session.email,
        extra={
            "event": "sign_in",
            "result": "success",
            "deployment": p.name,
            "email": session.email,
            "client_ip": _client(request, dep),
        },
    )
    return resp


async def sign_out(request: web.Request) -> web.Response:
    """Clear the session (every chunk) and the CSRF cookie, end the provider's session when it offers
    ``end_session_endpoint``, and end at the validated ``rd``.

    The browser's cookies are cleared even when the session store cannot be reached; the page then
    says that the session was not ended on the server (:class:`SignedOutHereOnly`)."""
    dep = _deployment(request)
    proto = _proto(request)
    value = join_chunks(request.cookies, dep.sessions.name)
    target = dep.signin.target(request.query.get("rd"))
    id_token: str | None = None
    if value:
        try:
            session = await dep.store.fetch(value, request.app[CLOCK].now())
            id_token = session.id_token if session is not None else None
            await dep.store.drop(value)
            if session is not None and dep.services is not None:
                dep.services.revocations.here(session.sid, session.expires_at)  # this edge's memo of it
        except SessionStoreUnavailable as exc:
            onward = await dep.signin.end_session_url(target, proto, None) or target
            raise SignedOutHereOnly(f"sign-out: {exc}", onward) from exc
    resp = _redirect(await dep.signin.end_session_url(target, proto, id_token) or target)
    dep.clear(resp, request.cookies, proto, Clears.ALL)
    return resp


async def userinfo(request: web.Request) -> web.Response:
    """Who is signed in (never tokens); 401 without a session."""
    dep = _deployment(request)
    value = join_chunks(request.cookies, dep.sessions.name)
    session = await dep.store.fetch(value, request.app[CLOCK].now()) if value else None
    if session is None:
        return web.json_response({"error": "unauthorized"}, status=401)
    return web.json_response(
        {
            "user": session.user,
            "email": session.email,
            "preferredUsername": session.preferred_username,
            "groups": list(session.groups),
        },
        headers={"Cache-Control": "no-store"},
    )


def page_of(exc: BaseException) -> Page:
    """The page of ``exc``: aiohttp's own refusals here, every other failure as
    :func:`~idgate.proxy.failures.page_for` says."""
    if isinstance(exc, web.HTTPNotFound):
        return not_found(str(exc))
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return Page(405, "Method not allowed", "This method is not supported here.", f"method {exc.method}")
    if isinstance(exc, web.HTTPException):  # aiohttp's own refusals (a malformed request, a size limit)
        return Page(exc.status, exc.reason, "The request could not be served.", exc.reason)
    return page_for(exc)


def _error_page(request: web.Request, exc: BaseException) -> web.Response:
    """The one renderer of failures: the page :func:`page_of` chooses, escaped, with the edge's request
    id (made up when there is none), the cookies it clears; the reason logged (never secrets), with the
    traceback when the failure was unexpected."""
    err = page_of(exc)
    name = request.headers.get(DEPLOYMENT_HEADER, "")
    dep = request.app[DEPLOYMENTS].get(name)
    request_id = request.headers.get("X-Request-Id", "") or secrets.token_hex(8)
    where = f"proxy {name or '-'}: {request.path} {err.status}"
    fields = {"request_id": request_id, "deployment": name, "client_ip": _client(request, dep)}
    if request.path == "/oauth/callback":  # a sign-in that did not finish
        fields.update(event="sign_in", result="failure")
    if err.unexpected:
        log.error("%s: unexpected failure", where, exc_info=exc, extra=fields)
    else:
        log.warning("%s: %s", where, err.reason, extra=fields)
    html = (
        request.app[TEMPLATES]
        .get_template("error.html")
        .render(
            ui=ERROR_LOOK,
            request_id=request_id,
            title=err.title,
            message=err.message,
            retry=err.retry,
            onward=err.onward,
            error_code=err.error_code,
            status=err.status,
            deployment=dep.settings.name if dep else None,
        )
    )
    headers = {**PAGE_HEADERS, "X-Request-Id": request_id}
    if isinstance(exc, web.HTTPMethodNotAllowed):
        headers["Allow"] = ",".join(sorted(exc.allowed_methods))
    resp = web.Response(status=err.status, text=html, content_type="text/html", headers=headers)
    if dep is not None:
        dep.clear(resp, request.cookies, _proto(request), err.clears)
    return resp


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:  # a redirect raised by aiohttp is an answer, not a failure
            raise
        return _error_page(request, exc)
    except Exception as exc:  # every failure gets a page; the unexpected ones are logged in full
        return _error_page(request, exc)


def build_signin_app(
    proxies: Sequence[ProxySettings],
    clock: Clock,
    http: aiohttp.ClientSession,
    services: Mapping[str, ProxyServices] | None = None,
) -> web.Application:
    """The sign-in app for every deployment; one :class:`ProviderClient` per issuer.

    ``services`` (shared with the edge) brings each deployment's session store (cookie or Redis) and
    sign-in.
    """
    providers: dict[str, ProviderClient] = {}
    deployments: dict[str, Deployment] = {}
    for p in proxies:
        svc = services.get(p.name) if services else None
        signin = svc.signin if svc and svc.signin else None
        if signin is None:
            provider = providers.get(p.issuer_url)
            if provider is None:
                provider = providers[p.issuer_url] = ProviderClient(p.issuer_url, http, clock)
            signin = SignIn(p, provider)
        trust = Trust(p.trusted_proxy_ips, enabled=p.reverse_proxy)
        deployments[p.name] = Deployment(p, CookieSessions(p, clock), LoginStateCookie(p), signin, svc, trust)
    app = web.Application(middlewares=[_errors])
    hide_server_software(app)
    app[DEPLOYMENTS] = deployments
    app[CLOCK] = clock
    app[TEMPLATES] = Templates(Path(__file__).parent / "templates")
    app.router.add_get("/oauth/start", start)
    app.router.add_get("/oauth/sign_in", sign_in)
    app.router.add_get("/oauth/callback", callback)
    app.router.add_route("GET", "/oauth/sign_out", sign_out)
    app.router.add_route("POST", "/oauth/sign_out", sign_out)
    app.router.add_get("/oauth/userinfo", userinfo)
    return app
