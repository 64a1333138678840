"""One planting function per type: a value of the type in one of its carriers.

Each function builds a whole event around one planted value (a few carry
two, as an AWS key id and its secret, or a forwarded-for list). The carrier
is drawn from the places the type turns up in real events.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from . import _negatives as neg
from . import _prose as prose
from . import _values as val
from ._builder import Builder
from ._labels import Negative, Planted
from ._shapes import (
    P,
    field,
    in_error,
    in_headers,
    in_items,
    in_json_string,
    in_search,
    in_text,
    in_url,
    in_url_host,
    profile,
    track,
)
from ._values import Ctx


def _text_or_search(
    b: Builder, kind: Planted, value: str, variant: str, carrier: str
) -> None:
    if carrier == "search":
        in_search(b, kind, value, variant)
    else:
        in_text(b, kind, value, variant, as_prompt=carrier == "prompt")


def email(ctx: Ctx) -> Builder:
    value, variant = val.email(ctx)
    if ctx.japanese and ctx.rng.random() < 0.25:
        value, variant = val.full_width(value), "full-width"
    carrier = ctx.pick(
        (
            "distinct_id",
            "field",
            "profile",
            "url",
            "search",
            "prompt",
            "message",
            "error",
            "autocapture",
            "url-base64",
            "json-string",
        )
    )
    if carrier == "profile":
        b = profile(ctx)
        field(b, "$email", Planted.EMAIL, value, variant)
        return b
    b = track(ctx)
    if carrier == "distinct_id":
        b.put((*P, "distinct_id"), value)
        b.plant((*P, "distinct_id"), Planted.EMAIL, value, variant, "distinct_id")
    elif carrier == "field":
        field(
            b,
            ctx.pick(("email", "$email", "login_email_address", "invitee")),
            Planted.EMAIL,
            value,
            variant,
        )
    elif carrier == "json-string":
        in_json_string(b, "email", Planted.EMAIL, value, variant)
    elif carrier == "url-base64":
        in_url(
            b, ctx.pick(("u", "e", "rcpt")), Planted.EMAIL, value, variant, base64=True
        )
    elif carrier == "url":
        in_url(
            b, ctx.pick(("email", "invite", "user", "e")), Planted.EMAIL, value, variant
        )
    elif carrier == "error":
        in_error(b, Planted.EMAIL, value, variant, "no account matches {v}")
    elif carrier == "autocapture":
        href = f"mailto:{value}"
        b.put((*P, "$el_attr__href"), href)
        b.plant((*P, "$el_attr__href"), Planted.EMAIL, value, variant, "autocapture")
    else:
        _text_or_search(b, Planted.EMAIL, value, variant, carrier)
    return b


def phone(ctx: Ctx) -> Builder:
    value, variant = val.phone(ctx)
    carrier = ctx.pick(
        (
            "field",
            "profile",
            "search",
            "prompt",
            "message",
            "autocapture",
            "list",
            "url",
            "json-string",
        )
    )
    if carrier == "profile":
        b = profile(ctx)
        field(b, "$phone", Planted.PHONE, value, variant)
        return b
    b = track(ctx)
    if carrier == "field":
        field(
            b,
            ctx.pick(("phone", "billing_phone", "mobile", "contact_number")),
            Planted.PHONE,
            value,
            variant,
        )
    elif carrier == "autocapture":
        b.put((*P, "$el_attr__href"), f"tel:{value}")
        b.plant((*P, "$el_attr__href"), Planted.PHONE, value, variant, "autocapture")
    elif carrier == "list":
        in_items(b, "delivery_contact", Planted.PHONE, value, variant)
    elif carrier == "url":
        in_url(b, ctx.pick(("phone", "tel", "callback")), Planted.PHONE, value, variant)
    elif carrier == "json-string":
        in_json_string(b, "phone", Planted.PHONE, value, variant)
    else:
        _text_or_search(b, Planted.PHONE, value, variant, carrier)
    return b


def credit_card(ctx: Ctx) -> Builder:
    value, variant = val.card(ctx)
    b = track(ctx)
    carrier = ctx.pick(("field", "search", "message", "error", "prompt", "number"))
    if carrier == "number":  # typed into a number field, sent as a JSON number
        digits = "".join(str(int(c)) for c in value if c.isdigit())
        key = ctx.pick(("card_number", "cc"))
        b.put((*P, key), int(digits))
        b.plant((*P, key), Planted.CREDIT_CARD, digits, "json-number", carrier)
    elif carrier == "field":
        field(
            b,
            ctx.pick(("card_number", "cc", "payment_card")),
            Planted.CREDIT_CARD,
            value,
            variant,
        )
    elif carrier == "error":
        in_error(
            b,
            Planted.CREDIT_CARD,
            value,
            variant,
            "payment declined for card {v} (insufficient funds)",
        )
    else:
        _text_or_search(b, Planted.CREDIT_CARD, value, variant, carrier)
    return b


def iban(ctx: Ctx) -> Builder:
    value, variant = val.iban(ctx)
    b = track(ctx)
    carrier = ctx.pick(("field", "message", "error", "prompt", "list"))
    if carrier == "field":
        field(
            b,
            ctx.pick(("iban", "payout_account", "bank_account")),
            Planted.IBAN,
            value,
            variant,
        )
    elif carrier == "error":
        in_error(b, Planted.IBAN, value, variant, "SEPA mandate rejected for {v}")
    elif carrier == "list":
        in_items(b, "refund_to", Planted.IBAN, value, variant)
    else:
        _text_or_search(b, Planted.IBAN, value, variant, carrier)
    return b


def us_ssn(ctx: Ctx) -> Builder:
    value, variant = val.ssn(ctx)
    b = track(ctx)
    carrier = ctx.pick(("field", "message", "search", "prompt"))
    if carrier == "field":
        field(
            b,
            ctx.pick(("ssn", "tax_id", "applicant_ssn")),
            Planted.US_SSN,
            value,
            variant,
        )
    else:
        _text_or_search(b, Planted.US_SSN, value, variant, carrier)
    return b


def jp_my_number(ctx: Ctx) -> Builder:
    value, variant = val.my_number(ctx)
    b = track(ctx)
    carrier = ctx.pick(("field", "message", "search", "prompt"))
    if carrier == "field":
        field(
            b,
            ctx.pick(("my_number", "individual_number", "kojin_bango")),
            Planted.JP_MY_NUMBER,
            value,
            variant,
        )
    else:
        _text_or_search(b, Planted.JP_MY_NUMBER, value, variant, carrier)
    return b


def ip_address(ctx: Ctx) -> Builder:
    value, variant = val.ip(ctx)
    b = track(ctx)
    carrier = ctx.pick(("field", "forwarded", "error", "log", "url-host"))
    if carrier == "field":
        field(
            b,
            ctx.pick(("ip", "client_ip", "$ip", "remote_addr")),
            Planted.IP_ADDRESS,
            value,
            variant,
        )
    elif carrier == "forwarded":
        proxy, proxy_variant = val.ip(ctx)
        in_headers(
            b,
            {"X-Forwarded-For": f"{value}, {proxy}"},
            [
                ("X-Forwarded-For", Planted.IP_ADDRESS, value, variant, "header"),
                ("X-Forwarded-For", Planted.IP_ADDRESS, proxy, proxy_variant, "header"),
            ],
        )
    elif carrier == "error":
        in_error(b, Planted.IP_ADDRESS, value, variant, "connect ECONNREFUSED {v}")
    elif carrier == "url-host":
        in_url_host(b, value, variant)
    else:
        version, version_variant = neg.version(ctx)
        text = f"GET /api/v2/items 200 client={value} app={version}"
        b.put((*P, "log_line"), text)
        b.plant((*P, "log_line"), Planted.IP_ADDRESS, value, variant, "log")
        b.avoid((*P, "log_line"), Negative.VERSION, version, version_variant)
    return b


def jwt(ctx: Ctx) -> Builder:
    value, variant = val.jwt(ctx)
    b = track(ctx)
    carrier = ctx.pick(("header", "fragment", "field", "error", "cookie", "path"))
    if carrier == "header":
        in_headers(
            b,
            {"Authorization": f"Bearer {value}"},
            [("Authorization", Planted.JWT, value, variant, "header")],
        )
    elif carrier == "fragment":
        url = f"https://app.{ctx.fake.domain_name()}/callback#id_token={value}&state={ctx.token(8)}"
        b.put((*P, "$current_url"), url)
        b.plant((*P, "$current_url"), Planted.JWT, value, variant, "url")
    elif carrier == "path":  # a reset or magic link with the token in its path
        url = f"https://app.{ctx.fake.domain_name()}/reset/{value}"
        key = ctx.pick(("$current_url", "$referrer"))
        b.put((*P, key), url)
        b.plant((*P, key), Planted.JWT, value, variant, "url-path")
    elif carrier == "field":
        field(b, ctx.pick(("id_token", "auth", "jwt")), Planted.JWT, value, variant)
    elif carrier == "cookie":
        in_headers(
            b,
            {"Cookie": f"_ga=GA1.2.{ctx.rng.randint(10**8, 10**9)}.1760; auth={value}"},
            [("Cookie", Planted.JWT, value, variant, "cookie")],
        )
    else:
        in_error(b, Planted.JWT, value, variant, "token rejected: {v} (expired)")
    return b


_KEY_ERRORS = (
    "401 Unauthorized: Incorrect API key provided: {v}",
    "config loaded with API_KEY={v}",
    "request failed (key {v} revoked)",
)


def api_key(ctx: Ctx) -> Builder:
    value, variant = val.api_key(ctx)
    b = track(ctx)
    if variant == "aws" and ctx.rng.random() < 0.6:
        secret = val.aws_secret(ctx)
        text = f"aws_access_key_id = {value}\naws_secret_access_key = {secret}"
        if ctx.rng.random() < 0.5:
            text = f'{{"AccessKeyId": "{value}", "SecretAccessKey": "{secret}"}}'
        b.put((*P, "config"), text)
        b.plant((*P, "config"), Planted.API_KEY, value, variant, "config")
        b.plant((*P, "config"), Planted.API_KEY, secret, "aws-secret", "config")
        return b
    if variant == "private-key":
        text = f"deploy failed, key was:\n{value}\n"
        b.put((*P, "error_details"), text)
        b.plant((*P, "error_details"), Planted.API_KEY, value, variant, "error")
        return b
    carrier = ctx.pick(("error", "header", "prompt", "field", "url", "curl"))
    if carrier == "error":
        in_error(b, Planted.API_KEY, value, variant, ctx.pick(_KEY_ERRORS))
    elif carrier == "header":
        header = ctx.pick(("x-api-key", "Authorization"))
        shown = value if header == "x-api-key" else f"Bearer {value}"
        in_headers(
            b, {header: shown}, [(header, Planted.API_KEY, value, variant, "header")]
        )
    elif carrier == "prompt":
        in_text(b, Planted.API_KEY, value, variant, as_prompt=True)
    elif carrier == "curl":  # a command pasted into a support form
        text = (
            f"curl https://api.{ctx.fake.domain_name()}/v1/items "
            f"-H 'Authorization: Bearer {value}' -H 'Content-Type: application/json'"
        )
        b.put((*P, "snippet"), text)
        b.plant((*P, "snippet"), Planted.API_KEY, value, variant, "curl")
    elif carrier == "field":
        field(
            b,
            ctx.pick(("api_key", "secret", "key_value")),
            Planted.API_KEY,
            value,
            variant,
        )
    else:
        in_url(b, "key", Planted.API_KEY, value, variant)
    return b


# header names that say "secret" on their own, with an opaque value
_NAMED_HEADERS = (
    "X-Session-Token",
    "X-Auth-Token",
    "X-Api-Key",
    "X-Access-Token",
    "Private-Token",
)
_NAMED_PARAMS = (
    "token",
    "access_token",
    "reset_token",
    "session_token",
    "sessionid",
    "sid",
    "auth",
    "code",
    "otp",
    "api_key",
    "X-Amz-Signature",
    "signature",
)


def token(ctx: Ctx) -> Builder:
    value = val.opaque_token(ctx)
    form = "google-oauth" if value.startswith("ya29.") else "opaque"
    b = track(ctx)
    carrier = ctx.pick(
        (
            "bearer-string",
            "bearer-header",
            "header-name-only",
            "url-param",
            "fragment",
            "cookie",
            "encoded-redirect",
            "basic",
        )
    )
    if carrier == "bearer-string":
        text = f"GET /v1/me\nAuthorization: Bearer {value}\nAccept: */*"
        b.put((*P, "raw_request"), text)
        b.plant((*P, "raw_request"), Planted.TOKEN, value, form, carrier)
    elif carrier == "bearer-header":
        in_headers(
            b,
            {"Authorization": f"Bearer {value}"},
            [("Authorization", Planted.TOKEN, value, form, carrier)],
        )
    elif carrier == "header-name-only":
        header = ctx.pick(_NAMED_HEADERS)
        in_headers(b, {header: value}, [(header, Planted.TOKEN, value, form, carrier)])
    elif carrier in ("url-param", "fragment"):
        param = ctx.pick(_NAMED_PARAMS)
        mark = "?" if carrier == "url-param" else "#"
        url = f"https://app.{ctx.fake.domain_name()}/account/confirm{mark}{param}={value}&lang=en"
        key = ctx.pick(("$current_url", "$referrer", "link"))
        b.put((*P, key), url)
        b.plant((*P, key), Planted.TOKEN, value, form, f"{carrier}:{param}")
    elif carrier == "cookie":
        name = ctx.pick(
            ("sessionid", "session", "connect.sid", "_session_id", "auth_token")
        )
        in_headers(
            b,
            {"Cookie": f"theme=dark; {name}={value}; lang=en"},
            [("Cookie", Planted.TOKEN, value, form, f"cookie:{name}")],
        )
    elif carrier == "encoded-redirect":
        inner = val.percent(f"/reset?token={value}")
        url = f"https://app.{ctx.fake.domain_name()}/login?next={inner}"
        b.put((*P, "$current_url"), url)
        b.plant((*P, "$current_url"), Planted.TOKEN, value, form, carrier)
    else:
        pair = f"{ctx.fake.user_name()}:{val.password(ctx)}"
        basic = base64.b64encode(pair.encode()).decode()
        in_headers(
            b,
            {"Authorization": f"Basic {basic}"},
            [("Authorization", Planted.TOKEN, basic, "basic", carrier)],
        )
    return b


def url_credential(ctx: Ctx) -> Builder:
    secret = val.password(ctx)
    user = ctx.fake.user_name()
    host = f"db-{ctx.rng.randint(1, 9)}.internal.{ctx.fake.domain_name()}"
    form = ctx.pick(
        ("postgres", "mysql", "mongodb+srv", "redis", "amqp", "https", "redis-no-user")
    )
    if form == "redis-no-user":
        url = f"redis://:{secret}@{host}:6379/0"
    elif form == "https":
        url = f"https://{user}:{secret}@{host}/hooks/deploy"
    else:
        url = f"{form}://{user}:{secret}@{host}/app"
    b = track(ctx)
    carrier = ctx.pick(("field", "error", "prompt"))
    if carrier == "field":
        key = ctx.pick(("database_url", "webhook_url", "dsn", "connection"))
        b.put((*P, key), url)
        b.plant((*P, key), Planted.URL_CREDENTIAL, secret, form, carrier)
    elif carrier == "error":
        template = "could not connect to {v}"
        in_error(b, Planted.URL_CREDENTIAL, url, form, template, planted=secret)
    else:
        in_text(b, Planted.URL_CREDENTIAL, url, form, as_prompt=True, planted=secret)
    return b


def free_text(ctx: Ctx) -> Builder:
    b = track(ctx)
    carrier = ctx.pick(("prompt", "message", "response", "chat"))
    lang = neg.language(ctx.locale)
    if carrier == "prompt":
        text = prose.prompt(ctx)
        key = ctx.pick(("prompt", "input", "query_text"))
    elif carrier == "message":
        text = prose.message(ctx)
        key = ctx.pick(("message", "comment", "feedback"))
    elif carrier == "response":
        text = prose.response(ctx)
        key = ctx.pick(("completion", "output", "answer"))
    else:
        text = prose.message(ctx)
        b.put((*P, "messages"), [{"role": "user", "content": text}])
        b.plant((*P, "messages", 0, "content"), Planted.FREE_TEXT, text, lang, carrier)
        return b
    b.put((*P, key), text)
    b.plant((*P, key), Planted.FREE_TEXT, text, lang, carrier)
    return b


def person(ctx: Ctx) -> Builder:
    name = ctx.fake.name()
    carrier = ctx.pick(("field", "profile", "message", "prompt", "list"))
    if carrier == "profile":
        b = profile(ctx)
        field(b, "$name", Planted.PERSON, name, ctx.locale)
        return b
    b = track(ctx)
    if carrier == "field":
        field(
            b,
            ctx.pick(("customer_name", "$name", "recipient", "full_name")),
            Planted.PERSON,
            name,
            ctx.locale,
        )
    elif carrier == "list":
        in_items(b, "gift_recipient", Planted.PERSON, name, ctx.locale)
    else:
        in_text(b, Planted.PERSON, name, ctx.locale, as_prompt=carrier == "prompt")
    return b


def address(ctx: Ctx) -> Builder:
    text = ctx.fake.address().replace("\n", ", ")
    carrier = ctx.pick(("field", "profile", "message", "search", "list"))
    if carrier == "profile":
        b = profile(ctx)
        field(b, "address", Planted.ADDRESS, text, ctx.locale)
        return b
    b = track(ctx)
    if carrier == "field":
        field(
            b,
            ctx.pick(("shipping_address", "billing_address", "address")),
            Planted.ADDRESS,
            text,
            ctx.locale,
        )
    elif carrier == "list":
        in_items(b, "ship_to", Planted.ADDRESS, text, ctx.locale)
    else:
        _text_or_search(b, Planted.ADDRESS, text, ctx.locale, carrier)
    return b


PLANTERS: dict[Planted, Callable[[Ctx], Builder]] = {
    Planted.EMAIL: email,
    Planted.PHONE: phone,
    Planted.CREDIT_CARD: credit_card,
    Planted.IBAN: iban,
    Planted.US_SSN: us_ssn,
    Planted.JP_MY_NUMBER: jp_my_number,
    Planted.IP_ADDRESS: ip_address,
    Planted.JWT: jwt,
    Planted.API_KEY: api_key,
    Planted.TOKEN: token,
    Planted.URL_CREDENTIAL: url_credential,
    Planted.FREE_TEXT: free_text,
    Planted.PERSON: person,
    Planted.ADDRESS: address,
}
