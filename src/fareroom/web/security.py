"""What every response says about itself (CSP, framing, sniffing, referrers) and which
requests count as coming from this installation's own pages.

The policy allows scripts, styles and connections from this origin only (plus Stripe.js
in Stripe mode); no page has inline scripts or event handlers. Pages are framed by nobody
(``frame-ancestors 'none'``) except the client's chat page, which lists the sites its room
allows to embed it. The API documentation (/docs, /redoc) gets a policy of its own: its
pages start with an inline script.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from fareroom.config import Settings
from fareroom.kit.errors import Forbidden, ValidationFailed

DOCS_PATHS = ("/docs", "/redoc")
_STRIPE_JS = "https://js.stripe.com"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an absolute http(s) URL, lower case, the default port
    dropped; None for anything else."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    shown = "" if port in (None, _DEFAULT_PORTS[parts.scheme]) else f":{port}"
    return f"{parts.scheme}://{parts.hostname}{shown}"


def content_security_policy(settings: Settings, *,
                            frame_ancestors: Sequence[str] = ()) -> str:  # fmt: skip
    """The pages' policy; ``frame_ancestors`` are the origins that may frame the page."""
    own = origin_of(settings.base_url) or ""
    sockets = own.replace("http", "ws", 1)
    stripe = settings.gateway == "stripe"
    directives = {
        "default-src": "'self'",
        "script-src": f"'self' {_STRIPE_JS}" if stripe else "'self'",
        "style-src": "'self'",
        "img-src": "'self' data:",
        "connect-src": f"'self' {sockets}" + (" https://api.stripe.com" if stripe else ""),
        "frame-src": f"{_STRIPE_JS} https://hooks.stripe.com" if stripe else "'none'",
        "object-src": "'none'",
        "base-uri": "'self'",
        # Connecting a Stripe account posts a form that Stripe's onboarding answers.
        "form-action": "'self' https://connect.stripe.com" if stripe else "'self'",
        "frame-ancestors": " ".join(frame_ancestors) or "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


# Swagger UI and ReDoc (their files served from /static/docs) start with an inline script
# and style their pages inline; ReDoc runs a worker from a blob. Only these two pages get
# 'unsafe-inline', and nothing on them comes from another site.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; worker-src 'self' blob:; connect-src 'self'; "
    "object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
)


def security_headers(settings: Settings, path: str) -> list[tuple[bytes, bytes]]:
    """The headers every response to ``path`` carries unless it set them itself."""
    policy = DOCS_POLICY if path.startswith(DOCS_PATHS) else content_security_policy(settings)
    return [
        (b"content-security-policy", policy.encode()),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"strict-origin-when-cross-origin"),
    ]


def check_same_origin(headers: Mapping[str, str], settings: Settings) -> None:
    """Refuse a form post a browser sent from another site.

    Browsers send ``Origin`` with every POST (``Referer`` where a privacy setting removed
    it); a request with neither came from no browser page and is judged by its CSRF token.
    """
    sent = headers.get("origin") or headers.get("referer")
    if sent is None:
        return
    if origin_of(sent) != origin_of(settings.base_url):
        raise Forbidden(
            f"This form was sent from another site; open {settings.base_url} and send it "
            "from there.", code="cross_site_post")  # fmt: skip


def own_url(url: str, settings: Settings) -> str:
    """``url`` when it leads to a page of this installation (a path, or an absolute URL on
    its own origin); refuses anything else (``//evil.example``, ``javascript:``…)."""
    text = url.strip()
    # Browsers read a backslash as a slash and drop tabs and line breaks: "/\\evil" and
    # "/\t/evil" lead to another site.
    if "\\" not in text and not any(ord(c) < 0x21 for c in text):
        if text.startswith("/") and not text.startswith("//"):
            return text
        if origin_of(text) == origin_of(settings.base_url):
            return text
    raise ValidationFailed("The return address must be a page of this Fareroom.",
                           code="invalid_return_url")  # fmt: skip
