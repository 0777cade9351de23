"""The one place where the provider turns outcomes and errors into HTTP responses.

:func:`render_error` decides, for every error, between three answers:

=====================  ================================================================================
where it happened      answer
=====================  ================================================================================
browser endpoint       redirect back to the client with ``error``, ``error_description``, ``state``,
(``/auth``, login,     ``iss`` -- only when the error carries a verified redirect (RFC 6749 §4.1.2.1;
callback, device,      in the fragment for the implicit flow, §4.2.2.1); otherwise an error page
logout)                (unknown client, bad ``redirect_uri``, expired login, unregistered
                       ``post_logout_redirect_uri``)
``/token``,            JSON ``{"error", "error_description"}``, ``Cache-Control: no-store``;
``/device/code``,      ``invalid_client`` is 401 with ``WWW-Authenticate: Basic``
``/token/introspect``,
``/token/revoke``
``/userinfo``          401 with ``WWW-Authenticate: Bearer error="invalid_token"``
=====================  ================================================================================

A storage :class:`~idgate.errors.Conflict` (an update that lost every retry) is
``temporarily_unavailable`` (503). Anything else that is not an :class:`~idgate.oauth2.errors.OAuthError`
is a 500 with a request id and no detail; the traceback is logged under that id (with the path, never
the query, which holds codes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiohttp import web

from idgate.oauth2.redirect_uris import add_query
from idgate.provider.answers import NO_STORE, Surface, as_oauth_error, json_error
from idgate.web import Look, environment

#: The provider's templates; each extends ``base.html``, which extends idgate's ``layout.html``.
TEMPLATES = environment(Path(__file__).parent / "templates")


def page(template: str, status: int = 200, *, look: Look | None = None, **context: Any) -> web.Response:
    """An HTML page from ``templates/`` in the provider's ``look`` (its theme: :mod:`.theme`), with the
    page security headers that look needs. Without a look: idgate's, named ``display_name`` if given."""
    if look is None:
        look = Look(name=str(context.get("display_name", "")))
    context.setdefault("display_name", look.name)
    body = TEMPLATES.get_template(template).render(ui=look, **context)
    return web.Response(
        text=body, status=status, content_type="text/html", charset="utf-8", headers=dict(look.headers)
    )


def json_response(doc: dict[str, Any], status: int = 200, *, no_store: bool = False) -> web.Response:
    headers = dict(NO_STORE) if no_store else {}
    return web.Response(
        text=json.dumps(doc, separators=(",", ":")),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def redirect(location: str, status: int = 302) -> web.Response:
    return web.Response(status=status, headers={"Location": location, "Cache-Control": "no-store"})


def render_error(
    err: BaseException,
    surface: Surface,
    *,
    issuer: str,
    display_name: str = "",
    look: Look | None = None,
    request_id: str = "",
) -> web.Response:
    """The response for ``err`` raised by an endpoint of ``surface`` (see the module table).

    ``request_id`` is the edge's (``X-Request-Id``), shown on error pages; one is made up when empty.
    """
    err = as_oauth_error(err, request_id)
    if surface is Surface.BROWSER:
        if err.redirect is not None:
            params = {"error": err.code}
            if err.description:
                params["error_description"] = err.description
            if err.redirect.state:
                params["state"] = err.redirect.state
            params["iss"] = issuer
            return redirect(add_query(err.redirect.redirect_uri, params, fragment=err.redirect.fragment))
        status = 400 if err.status in (401, 403) else err.status
        return page(
            "error.html",
            status=status,
            look=look or Look(name=display_name),
            title="Sign-in failed" if status < 500 else "Server error",
            code=err.code,
            message=err.description or err.code,
            back=err.back,
            request_id=request_id,
        )
    status, headers, doc = json_error(err, surface)
    response = json_response(doc, status=status, no_store=True)
    response.headers.update(headers)
    return response
