"""The sign-in web app: ``/oauth/start``, ``sign_in``, ``callback``, ``sign_out`` and ``userinfo``.

It sits behind the edge on a private socket. The edge names the deployment in ``X-Idgate-Deployment``
(stripping any client-sent ``X-Idgate-*``) and sets ``X-Forwarded-Proto``; both are trusted here.
Handlers parse the request, call the pure parts (:mod:`.redirects`, :mod:`.csrf`, :mod:`.oidc_client`)
and hand the result or a typed error to one renderer (:func:`_error_page`), which asks
:func:`idgate.proxy.failures.page_for` for the page of every failure, expected or not.
"""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import aiohttp
import jinja2
from aiohttp import web

from idgate.clock import Clock
from idgate.proxy.cookies import CookiePolicy
from idgate.proxy.csrf import LOGIN_TTL, LoginState, LoginStateCookie
from idgate.proxy.failures import (
    Clears,
    LoginStateInvalid,
    MissingCode,
    ProviderRefused,
    SignedOutHereOnly,
    UnknownDeployment,
    page_for,
)
from idgate.proxy.oidc_client import OIDCError, ProviderClient
from idgate.proxy.redirects import validate_redirect
from idgate.proxy.services import ProxyServices, keep_tokens, session_for
from idgate.sessions.base import SessionStore, SessionStoreUnavailable, new_session_id
from idgate.sessions.cookie import join_chunks, split_chunks
from idgate.sessions.store import CookieSessions
from idgate.settings import ProxySettings
from idgate.web import LOGO, Look, environment
from idgate.web.page_headers import PAGE_HEADERS, SIGN_IN_HEADERS

__all__ = ["DEPLOYMENT_HEADER", "build_signin_app"]

DEPLOYMENT_HEADER = "X-Idgate-Deployment"
log = logging.getLogger("idgate.proxy")


@dataclass(frozen=True, slots=True)
class Deployment:
    """Everything the sign-in flow needs for one protected service, built once at start-up."""

    settings: ProxySettings
    sessions: CookieSessions
    login_cookie: LoginStateCookie
    provider: ProviderClient
    services: ProxyServices | None = None

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

    def target(self, rd: str | None) -> str:
        """The validated post-login target, ``/`` when ``rd`` is absent or refused."""
        if not rd:
            return "/"
        p = self.settings
        return validate_redirect(rd, host=p.host, whitelist_domains=p.whitelist_domains) or "/"

    def redirect_uri(self, proto: str) -> str:
        """``redirect_url``, or the callback on the configured host (never the request's ``Host``)."""
        return self.settings.redirect_url or f"{proto}://{self.settings.host}/oauth/callback"

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


DEPLOYMENTS = web.AppKey("deployments", Mapping[str, Deployment])
CLOCK = web.AppKey("clock", Clock)
TEMPLATES = web.AppKey("templates", jinja2.Environment)

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


def _printable(text: str) -> str:
    return "".join(c for c in text[:64] if c.isascii() and c.isprintable())


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
    login = LoginState.new(rd=dep.target(rd), now=request.app[CLOCK].now())
    meta = await dep.provider.metadata()
    p = dep.settings
    params = {
        "response_type": "code",
        "client_id": p.client_id,
        "redirect_uri": dep.redirect_uri(proto),
        "scope": " ".join(p.scopes),
        "state": login.state,
        "nonce": login.nonce,
        "code_challenge": login.code_challenge if p.code_challenge_method == "S256" else login.verifier,
        "code_challenge_method": p.code_challenge_method,
    }
    if p.prompt:
        params["prompt"] = p.prompt
    elif p.approval_prompt == "force":
        params["prompt"] = "consent"
    endpoint = meta.authorization_endpoint
    resp = _redirect(endpoint + ("&" if "?" in endpoint else "?") + urlencode(params))
    _set_login(resp, dep, dep.login_cookie.seal(login), proto, max_age=LOGIN_TTL)
    return resp


async def sign_in(request: web.Request) -> web.Response:
    """The sign-in page with the provider button; straight to the provider with ``skip_provider_button``."""
    dep = _deployment(request)
    p = dep.settings
    if p.skip_provider_button:
        return await start(request)
    rd = dep.target(request.query.get("rd") or request.headers.get("X-Auth-Request-Redirect"))
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
    """Finish a sign-in: check state, exchange the code, verify the ID token, set the session."""
    dep = _deployment(request)
    p, proto, now = dep.settings, _proto(request), request.app[CLOCK].now()
    login = dep.login_cookie.load(request.cookies, now=now)
    if login is None:
        raise LoginStateInvalid("csrf cookie missing or invalid")
    if not login.matches(request.query.get("state", "")):
        raise LoginStateInvalid("state mismatch")
    error = request.query.get("error")
    if error is not None:
        # After the state check, so the reason is the provider's, for this browser's sign-in.
        why = _printable(request.query.get("error_description", ""))[:300]
        raise ProviderRefused(f"provider returned error {_printable(error)!r}", error[:100], why)
    code = request.query.get("code")
    if not code:
        raise MissingCode("no code")
    tokens = await dep.provider.exchange_code(
        client_id=p.client_id,
        client_secret=p.client_secret,
        code=code,
        redirect_uri=dep.redirect_uri(proto),
        verifier=login.verifier,
    )
    claims = await dep.provider.verify(tokens["id_token"], client_id=p.client_id, nonce=login.nonce)
    claims = await dep.provider.complete_claims(
        claims, tokens.get("access_token"), email_claim=p.oidc_email_claim, groups_claim=p.oidc_groups_claim
    )
    session = session_for(p, claims, now=now, sid=new_session_id())
    meta = await dep.provider.metadata()
    session = keep_tokens(p, session, tokens, id_token_hint=meta.end_session_endpoint is not None)
    resp = _redirect(dep.target(login.rd))
    policy = dep.cookies
    for name in dep.sessions.names_to_clear(request.cookies):
        resp.headers.add("Set-Cookie", policy.header(name, "", max_age=0, proto=proto))
    value = await dep.store.put(session, now)
    for name, chunk in split_chunks(dep.sessions.name, value):
        resp.headers.add("Set-Cookie", policy.header(name, chunk, max_age=p.cookie_expire, proto=proto))
    _set_login(resp, dep, "", proto, max_age=0)
    log.info("proxy %s: signed in %s", p.name, session.email)
    return resp


async def sign_out(request: web.Request) -> web.Response:
    """Clear the session (every chunk) and the CSRF cookie, end the provider's session when it offers
    ``end_session_endpoint``, and end at the validated ``rd``.

    The browser's cookies are cleared even when the session store cannot be reached; the page then
    says that the session was not ended on the server (:class:`SignedOutHereOnly`)."""
    dep = _deployment(request)
    proto = _proto(request)
    value = join_chunks(request.cookies, dep.sessions.name)
    target = dep.target(request.query.get("rd"))
    id_token: str | None = None
    if value:
        try:
            session = await dep.store.fetch(value, request.app[CLOCK].now())
            id_token = session.id_token if session is not None else None
            await dep.store.drop(value)
        except SessionStoreUnavailable as exc:
            onward = await _end_session_url(dep, target, proto, None) or target
            raise SignedOutHereOnly(f"sign-out: {exc}", onward) from exc
    resp = _redirect(await _end_session_url(dep, target, proto, id_token) or target)
    dep.clear(resp, request.cookies, proto, Clears.ALL)
    return resp


async def _end_session_url(dep: Deployment, target: str, proto: str, id_token: str | None) -> str | None:
    """The provider's ``end_session_endpoint`` (RP-Initiated Logout 1.0 §2), returning to ``target``.

    Sends ``id_token_hint`` (the session's ID token, when kept), ``client_id`` and
    ``post_logout_redirect_uri``: the validated target as an absolute URL on the deployment's host, which
    must be registered at the provider (typically ``https://<host>/``). No ``state``: the target itself
    is the return address, so there is nothing to carry.
    """
    try:
        meta = await dep.provider.metadata()
    except OIDCError:
        return None
    if not meta.end_session_endpoint:
        return None
    back = target if "://" in target else f"{proto}://{dep.settings.host}{target}"
    params = {"client_id": dep.settings.client_id, "post_logout_redirect_uri": back}
    if id_token:
        params = {"id_token_hint": id_token, **params}
    endpoint = meta.end_session_endpoint
    return endpoint + ("&" if "?" in endpoint else "?") + urlencode(params)


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


def _error_page(request: web.Request, exc: BaseException) -> web.Response:
    """The one renderer of failures: the page :func:`page_for` chooses, escaped, with the edge's request
    id (made up when there is none), the cookies it clears; the reason logged (never secrets), with the
    traceback when the failure was unexpected."""
    err = page_for(exc)
    name = request.headers.get(DEPLOYMENT_HEADER, "")
    dep = request.app[DEPLOYMENTS].get(name)
    request_id = request.headers.get("X-Request-Id", "") or secrets.token_hex(8)
    where = f"proxy {name or '-'}: {request.path} {err.status}"
    if err.unexpected:
        log.error("%s: unexpected failure", where, exc_info=exc, extra={"request_id": request_id})
    else:
        log.warning("%s: %s", where, err.reason, extra={"request_id": request_id})
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
    except Exception as exc:  # every failure gets a page; page_for logs the unexpected ones in full
        return _error_page(request, exc)


def build_signin_app(
    proxies: Sequence[ProxySettings],
    clock: Clock,
    http: aiohttp.ClientSession,
    services: Mapping[str, ProxyServices] | None = None,
) -> web.Application:
    """The sign-in app for every deployment; one :class:`ProviderClient` per issuer.

    ``services`` (shared with the edge) brings each deployment's session store (cookie or Redis).
    """
    providers: dict[str, ProviderClient] = {}
    deployments: dict[str, Deployment] = {}
    for p in proxies:
        svc = services.get(p.name) if services else None
        provider = (svc.provider if svc and svc.provider else None) or providers.setdefault(
            p.issuer_url, ProviderClient(p.issuer_url, http, clock)
        )
        deployments[p.name] = Deployment(p, CookieSessions(p, clock), LoginStateCookie(p), provider, svc)
    app = web.Application(middlewares=[_errors])
    app[DEPLOYMENTS] = deployments
    app[CLOCK] = clock
    app[TEMPLATES] = environment(Path(__file__).parent / "templates")
    app.router.add_get("/oauth/start", start)
    app.router.add_get("/oauth/sign_in", sign_in)
    app.router.add_get("/oauth/callback", callback)
    app.router.add_route("GET", "/oauth/sign_out", sign_out)
    app.router.add_route("POST", "/oauth/sign_out", sign_out)
    app.router.add_get("/oauth/userinfo", userinfo)
    return app
