"""Where sensitive values turn up in analytics events, one carrier at a time.

An event starts as a Mixpanel-style track event (or, now and then, a
profile update) with the properties the JavaScript SDK sends and the hard
negatives that go with them. Then one planted type is put into it by a
carrier chosen for that type: a form field, a URL parameter, a search box,
an error message, a logged prompt, a request's headers, a list of items.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from . import _negatives as neg
from . import _prose as prose
from . import _values as val
from ._builder import Builder, Maker
from ._labels import Negative, Path_, Planted
from ._values import Ctx

P = ("properties",)

_BROWSERS = ("Chrome", "Safari", "Firefox", "Edge", "Mobile Safari", "Samsung Internet")
_OSES = ("Windows", "Mac OS X", "iOS", "Android", "Linux")
_EVENTS = (
    "Page Viewed",
    "Button Clicked",
    "Form Submitted",
    "Search",
    "Checkout Started",
    "Error Shown",
    "Prompt Sent",
    "Message Sent",
    "Settings Saved",
    "$mp_web_page_view",
)

# optional hard negatives: (property, kind, maker)
_EXTRA: tuple[tuple[str, Negative, Callable[[Ctx], tuple[str, str]]], ...] = (
    ("request_id", Negative.UUID, neg.uuid_value),
    ("experiment_started_at", Negative.TIMESTAMP, neg.timestamp),
    ("app_version", Negative.VERSION, neg.version),
    ("os_build", Negative.VERSION, neg.version),
    ("order_id", Negative.ORDER_ID, neg.order_id),
    ("content_hash", Negative.HEX_HASH, neg.hex_hash),
    ("price", Negative.PRICE, neg.price),
    ("plan", Negative.PLAN, neg.plan),
    ("button_text", Negative.LABEL, neg.label),
    ("user_agent", Negative.USER_AGENT, neg.user_agent),
    ("publishable_key", Negative.PUBLIC_ID, neg.public_id),
    ("created_at", Negative.TIMESTAMP, neg.timestamp),
    ("trace_id", Negative.HEX_HASH, neg.hex_hash),
    ("reference", Negative.NUMBER_LIKE, neg.number_like),
    ("barcode", Negative.NUMBER_LIKE, neg.number_like),
    ("position", Negative.NUMBER_LIKE, neg.number_like),
)


def track(ctx: Ctx) -> Builder:
    """A track event with the SDK's default properties and a few negatives."""
    rng = ctx.rng
    b = Builder(ctx, {"event": ctx.pick(_EVENTS), "properties": {}})
    # the properties every event has are labelled now and then only, so
    # that they do not outnumber the harder negatives below
    labelled = _Sometimes(b, share=0.25)
    labelled((*P, "token"), Negative.PUBLIC_ID, _project_token)
    labelled((*P, "time"), Negative.TIMESTAMP, _epoch_ms)
    labelled((*P, "distinct_id"), Negative.UUID, neg.uuid_value)
    labelled((*P, "$device_id"), Negative.PUBLIC_ID, _device_id)
    b.put((*P, "$insert_id"), ctx.token(16, "abcdefghijklmnopqrstuvwxyz0123456789"))
    b.put((*P, "$browser"), ctx.pick(_BROWSERS))
    b.put((*P, "$browser_version"), rng.randint(110, 134))
    b.put((*P, "$os"), ctx.pick(_OSES))
    b.put((*P, "$screen_width"), rng.choice((390, 1280, 1440, 1728, 1920)))
    b.put((*P, "mp_lib"), "web")
    labelled((*P, "$lib_version"), Negative.VERSION, neg.version)
    labelled((*P, "$city"), Negative.CITY, neg.city)
    b.put((*P, "mp_country_code"), ctx.region)
    labelled((*P, "$current_url"), Negative.CLEAN_URL, neg.clean_url)
    if rng.random() < 0.5:
        labelled((*P, "$referrer"), Negative.CLEAN_URL, neg.clean_url)
    for name, kind, maker in rng.sample(_EXTRA, rng.randint(2, 5)):
        b.negative((*P, name), kind, maker)
    return b


def profile(ctx: Ctx) -> Builder:
    """A profile update ($set) as the SDKs send to the engage endpoint."""
    b = Builder(ctx, {"$set": {}})
    labelled = _Sometimes(b, share=0.25)
    labelled(("$token",), Negative.PUBLIC_ID, _project_token)
    labelled(("$distinct_id",), Negative.UUID, neg.uuid_value)
    b.put(("$time",), 1_760_000_000_000 + ctx.rng.randint(0, 10**10))
    b.negative(("$set", "plan"), Negative.PLAN, neg.plan)
    b.negative(("$set", "$city"), Negative.CITY, neg.city)
    return b


class _Sometimes:
    """Puts a negative's value always, its label with probability ``share``."""

    def __init__(self, builder: Builder, share: float) -> None:
        self.builder, self.share = builder, share

    def __call__(self, path: Path_, kind: Negative, maker: Maker) -> None:
        if self.builder.ctx.rng.random() < self.share:
            self.builder.negative(path, kind, maker)
        else:
            self.builder.put(path, maker(self.builder.ctx)[0])


def _project_token(ctx: Ctx) -> tuple[str, str]:
    return ctx.token(32, val.HEX), "mixpanel-token"


def _epoch_ms(ctx: Ctx) -> tuple[str | int, str]:
    return 1_760_000_000_000 + ctx.rng.randint(0, 10**10), "epoch-ms-number"


def _device_id(ctx: Ctx) -> tuple[str, str]:
    t = ctx.token
    h = val.HEX
    return f"{t(11, h)}-{t(13, h)}-{t(8, h)}-{t(6, h)}-{t(11, h)}", "device-id"


# --- carriers shared by several types ---------------------------------------


def field(b: Builder, key: str, kind: Planted, value: str, variant: str) -> None:
    path = (*P, key) if "properties" in b.document else ("$set", key)
    b.put(path, value)
    b.plant(path, kind, value, variant, "field")


def in_url(
    b: Builder,
    param: str,
    kind: Planted,
    value: str,
    variant: str,
    *,
    base64: bool = False,
) -> None:
    """In the page URL's query, percent-encoded as a browser sends it, or
    base64url-encoded as tracking links carry an address."""
    ctx = b.ctx
    if base64:
        encoded = val.b64url(value.encode())
        variant = "base64url"
    else:
        encoded = val.percent(value)
    page = ctx.pick(("/signup", "/reset", "/invite", "/search"))
    url = f"https://app.{ctx.fake.domain_name()}{page}"
    url += f"?{param}={encoded}&utm_source=newsletter"
    key = ctx.pick(("$current_url", "$current_url", "$referrer"))
    b.put((*P, key), url)
    b.plant(
        (*P, key),
        kind,
        encoded,
        variant if encoded == value or base64 else "percent-encoded",
        "url",
    )


def in_search(b: Builder, kind: Planted, value: str, variant: str) -> None:
    words = {"ja": "検索 ", "de": "suche ", "fr": "recherche ", "pt": "busca "}
    lead = words.get(neg.language(b.ctx.locale), "") if b.ctx.rng.random() < 0.3 else ""
    key = b.ctx.pick(("query", "search_term", "$search_query"))
    b.put((*P, key), lead + value)
    b.plant((*P, key), kind, value, variant, "search")


def in_text(
    b: Builder,
    kind: Planted,
    value: str,
    variant: str,
    *,
    as_prompt: bool,
    planted: str | None = None,
) -> None:
    """Woven into a logged prompt or a support message (also FREE_TEXT);
    ``planted`` is the part of ``value`` to label, if not all of it."""
    ctx = b.ctx
    text = prose.prompt(ctx, value) if as_prompt else prose.message(ctx, value)
    key = (
        ctx.pick(("prompt", "input", "messages"))
        if as_prompt
        else ctx.pick(("message", "comment", "ticket_body"))
    )
    carrier = "prompt" if as_prompt else "message"
    if key == "messages":  # the chat-completions shape
        path: Path_ = (*P, "messages", 1, "content")
        b.put(
            (*P, "messages"),
            [
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": text},
            ],
        )
    else:
        path = (*P, key)
        b.put(path, text)
    b.plant(path, kind, planted or value, variant, carrier)
    b.plant(path, Planted.FREE_TEXT, text, neg.language(ctx.locale), carrier)


def in_error(
    b: Builder,
    kind: Planted,
    value: str,
    variant: str,
    template: str,
    *,
    planted: str | None = None,
) -> None:
    """In an exception message, beside a timestamp and a request id."""
    ctx = b.ctx
    when, when_variant = neg.timestamp(ctx)
    request, request_variant = neg.uuid_value(ctx)
    text = f"[{when}] request {request}: " + template.format(v=value)
    key = ctx.pick(("$exception_message", "error_message", "error"))
    b.put((*P, key), text)
    b.plant((*P, key), kind, planted or value, variant, "error")
    b.avoid((*P, key), Negative.TIMESTAMP, when, when_variant)
    b.avoid((*P, key), Negative.UUID, request, request_variant)


def in_headers(
    b: Builder,
    headers: dict[str, str],
    plants: list[tuple[str, Planted, str, str, str]],
) -> None:
    """A logged outgoing request: URL, method, status and its headers."""
    ctx = b.ctx
    url, url_variant = neg.clean_url(ctx)
    request: dict[str, Any] = {
        "method": ctx.pick(("GET", "POST")),
        "url": url,
        "status": ctx.rng.choice((200, 401, 403, 500)),
        "headers": {"Accept": "application/json", **headers},
    }
    b.put((*P, "request"), request)
    b.avoid((*P, "request", "url"), Negative.CLEAN_URL, url, url_variant)
    for header, kind, value, variant, carrier in plants:
        b.plant((*P, "request", "headers", header), kind, value, variant, carrier)


def in_items(b: Builder, key: str, kind: Planted, value: str, variant: str) -> None:
    """In the second element of a list of objects (line items)."""
    ctx = b.ctx
    items: list[dict[str, Any]] = [
        {"sku": f"SKU-{ctx.rng.randint(1000, 9999)}", "qty": 1, key: ""},
        {"sku": f"SKU-{ctx.rng.randint(1000, 9999)}", "qty": 2, key: value},
    ]
    b.put((*P, "line_items"), items)
    b.plant((*P, "line_items", 1, key), kind, value, variant, "list")


def in_json_string(
    b: Builder, key: str, kind: Planted, value: str, variant: str
) -> None:
    """Inside a JSON document logged as one string (a GraphQL or REST
    response body), so the value sits in quotes among other fields."""
    ctx = b.ctx
    order, order_variant = neg.order_id(ctx)
    document = {"id": order, "status": "shipped", "customer": {key: value}}
    body = json.dumps({"data": {"order": document}}, ensure_ascii=False)
    b.put((*P, "response_body"), body)
    b.plant((*P, "response_body"), kind, value, variant, "json-string")
    b.avoid((*P, "response_body"), Negative.ORDER_ID, order, order_variant)


def in_url_host(b: Builder, value: str, variant: str) -> None:
    """As the host of a URL (an admin page reached by address)."""
    if "%" in value:  # a zone id has no place in a URL host here
        value, variant = b.ctx.fake.ipv4_public(), "v4"
    bare = value.count(":") > 1 and not value.startswith("[")
    host = f"[{value}]" if bare else value
    url = f"http://{host}/admin/login?next=%2Fdashboard"
    b.put((*P, "$referrer"), url)
    b.plant((*P, "$referrer"), Planted.IP_ADDRESS, value, variant, "url-host")
