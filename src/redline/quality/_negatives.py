"""Hard negatives: values analytics events carry that resemble sensitive ones.

Each maker returns ``(value, variant)`` like the positive makers. These are
what a detector must leave alone: UUIDs and hashes look like tokens, version
strings like IP addresses, order ids and millisecond timestamps like phone
or card numbers, user agents like free text.
"""

from __future__ import annotations

import datetime
import hashlib
import uuid

from ._values import ALNUM, HEX, Ctx


def uuid_value(ctx: Ctx) -> tuple[str, str]:
    value = uuid.UUID(int=ctx.rng.getrandbits(128), version=4)
    variant = ctx.pick(("v4", "v4", "upper", "v7-like"))
    if variant == "upper":
        return str(value).upper(), variant
    if variant == "v7-like":
        millis = 1_760_000_000_000 + ctx.rng.randint(0, 10**10)
        head = f"{millis:012x}"
        rest = str(value)[14:]
        return f"{head[:8]}-{head[8:]}-7{rest[1:]}", variant
    return str(value), variant


def _moment(ctx: Ctx) -> datetime.datetime:
    start = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    return start + datetime.timedelta(seconds=ctx.rng.randint(0, 60_000_000))


def timestamp(ctx: Ctx) -> tuple[str, str]:
    moment = _moment(ctx)
    variant = ctx.pick(("iso-z", "iso-ms", "iso-offset", "date", "sql", "epoch-ms"))
    if variant == "iso-z":
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ"), variant
    if variant == "iso-ms":
        return moment.strftime(
            "%Y-%m-%dT%H:%M:%S."
        ) + f"{ctx.rng.randint(0, 999):03d}Z", variant
    if variant == "iso-offset":
        offset = ctx.pick(("+09:00", "+01:00", "-05:00", "+05:30", "-03:00"))
        return moment.strftime("%Y-%m-%dT%H:%M:%S") + offset, variant
    if variant == "date":
        return moment.strftime("%Y-%m-%d"), variant
    if variant == "sql":
        return moment.strftime("%Y-%m-%d %H:%M:%S"), variant
    return str(int(moment.timestamp() * 1000) + ctx.rng.randint(0, 999)), variant


def version(ctx: Ctx) -> tuple[str, str]:
    r = ctx.rng.randint
    variant = ctx.pick(
        ("windows-build", "chrome", "semver", "ios", "calver", "prerelease")
    )
    if variant == "windows-build":
        return (
            f"10.0.{ctx.pick(('19045', '22621', '22631', '26100'))}.{r(1, 5000)}",
            variant,
        )
    if variant == "chrome":
        return f"{r(120, 134)}.0.{r(6000, 6999)}.{r(1, 250)}", variant
    if variant == "semver":
        return f"{r(0, 9)}.{r(0, 80)}.{r(0, 30)}", variant
    if variant == "ios":
        return f"{r(15, 18)}.{r(0, 7)}.{r(1, 3)}", variant
    if variant == "calver":
        return f"{r(2023, 2026)}.{r(1, 12)}.{r(1, 9)}", variant
    return f"v{r(1, 5)}.{r(0, 30)}.{r(0, 9)}-rc.{r(1, 4)}", variant


def order_id(ctx: Ctx) -> tuple[str, str]:
    r = ctx.rng.randint
    variant = ctx.pick(("prefixed", "dashed", "shop", "marketplace", "invoice", "po"))
    if variant == "prefixed":
        return f"ord_{_moment(ctx).strftime('%Y%m%d')}_{r(0, 999999):06d}", variant
    if variant == "dashed":
        return f"ORD-{r(2023, 2026)}-{r(0, 999999):06d}", variant
    if variant == "shop":
        return f"#{r(1001, 99999)}", variant
    if variant == "marketplace":  # 3-7-7 digits, as a large marketplace writes them
        return f"{r(100, 999)}-{r(0, 9999999):07d}-{r(0, 9999999):07d}", variant
    if variant == "invoice":
        return f"INV-{r(1, 9999):04d}-{r(2023, 2026)}", variant
    return f"PO {r(4500000000, 4509999999)}", variant


def hex_hash(ctx: Ctx) -> tuple[str, str]:
    data = ctx.token(24).encode()
    variant = ctx.pick(("sha256", "sha1", "md5", "git-short"))
    if variant == "sha256":
        return hashlib.sha256(data).hexdigest(), variant
    if variant == "sha1":
        return hashlib.sha1(data).hexdigest(), variant
    if variant == "md5":
        return hashlib.md5(data).hexdigest(), variant
    return ctx.token(ctx.rng.randint(7, 12), HEX), variant


def price(ctx: Ctx) -> tuple[str, str]:
    r = ctx.rng.randint
    whole, cents = r(1, 4999), r(0, 99)
    variant = ctx.pick(("usd", "eur", "jpy", "brl", "inr", "gbp", "bare"))
    if variant == "usd":
        return f"${whole:,}.{cents:02d}", variant
    if variant == "eur":
        return f"{whole:,}.{cents:02d}".replace(",", " ").replace(
            ".", ","
        ) + " €", variant
    if variant == "jpy":
        return f"¥{whole * 100:,}", variant
    if variant == "brl":
        return f"R$ {whole:,}".replace(",", ".") + f",{cents:02d}", variant
    if variant == "inr":
        return f"₹{whole:,}", variant
    if variant == "gbp":
        return f"£{whole}.{cents:02d}", variant
    return f"{whole}.{cents:02d}", variant


def city(ctx: Ctx) -> tuple[str, str]:
    return ctx.fake.city(), ctx.locale


_CHROME_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36"
)
_SAFARI_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS {i} like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/{m}.0 Mobile/15E148 Safari/604.1"
)


def user_agent(ctx: Ctx) -> tuple[str, str]:
    variant = ctx.pick(("faker", "chrome", "safari-ios", "sdk"))
    r = ctx.rng.randint
    if variant == "faker":
        return ctx.fake.user_agent(), variant
    if variant == "chrome":
        return _CHROME_UA.format(v=r(120, 134)), variant
    if variant == "safari-ios":
        major = r(15, 18)
        return _SAFARI_UA.format(i=f"{major}_{r(0, 6)}", m=major), variant
    return (
        f"mixpanel-python/{r(4, 5)}.{r(0, 11)}.{r(0, 3)} (python {r(3, 3)}.{r(9, 13)})",
        variant,
    )


_PLANS = (
    "free",
    "pro",
    "team",
    "enterprise",
    "Starter (monthly)",
    "Business annual",
    "pro-2024",
    "growth_v2",
    "Premium Plus",
)


def plan(ctx: Ctx) -> tuple[str, str]:
    return ctx.pick(_PLANS), "plan"


_LABELS = {
    "en": (
        "Add to cart",
        "Sign up",
        "Continue",
        "Save changes",
        "Pricing",
        "Dashboard",
        "Export CSV",
        "dark_mode",
        "new-checkout-v2",
        "OK",
        "en-US",
        "Asia/Tokyo",
    ),
    "de": (
        "In den Warenkorb",
        "Weiter",
        "Speichern",
        "Preise",
        "de-DE",
        "Europe/Berlin",
    ),
    "fr": (
        "Ajouter au panier",
        "Continuer",
        "Enregistrer",
        "Tarifs",
        "fr-FR",
        "Europe/Paris",
    ),
    "pt": (
        "Adicionar ao carrinho",
        "Continuar",
        "Salvar",
        "Preços",
        "pt-BR",
        "America/Sao_Paulo",
    ),
    "ja": (
        "カートに追加",
        "次へ",
        "保存する",
        "料金プラン",
        "ja-JP",
        "Asia/Tokyo",
        "ログイン",
    ),
}


def language(locale: str) -> str:
    return {"de_DE": "de", "fr_FR": "fr", "pt_BR": "pt", "ja_JP": "ja"}.get(
        locale, "en"
    )


def label(ctx: Ctx) -> tuple[str, str]:
    return ctx.pick(_LABELS[language(ctx.locale)]), "ui-label"


def public_id(ctx: Ctx) -> tuple[str, str]:
    """Identifiers that are public by design: project tokens, publishable
    keys, SDK device ids, measurement ids."""
    variant = ctx.pick(
        (
            "mixpanel-token",
            "posthog-key",
            "stripe-publishable",
            "device-id",
            "ga-id",
            "key-prefix",
            "stripe-object",
            "ulid",
            "object-id",
            "traceparent",
            "aws-arn",
            "ga-client-id",
        )
    )
    t = ctx.token
    r = ctx.rng.randint
    if variant == "mixpanel-token":
        return t(32, HEX), variant
    if variant == "posthog-key":
        return f"phc_{t(43)}", variant
    if variant == "stripe-publishable":
        return f"pk_live_{t(24)}", variant
    if variant == "device-id":
        return (
            f"{t(11, HEX)}-{t(13, HEX)}-{t(8, HEX)}-{t(6, HEX)}-{t(11, HEX)}",
            variant,
        )
    if variant == "ga-id":
        return f"G-{t(10, ALNUM.upper()[26:] + '0123456789')}", variant
    if variant == "stripe-object":  # ids of customers, payments, prices
        prefix = ctx.pick(("cus_", "pi_", "sub_", "price_", "in_", "prod_"))
        return prefix + t(r(14, 24)), variant
    if variant == "ulid":
        return t(26, "0123456789ABCDEFGHJKMNPQRSTVWXYZ"), variant
    if variant == "object-id":  # a MongoDB ObjectId
        return t(24, HEX), variant
    if variant == "traceparent":  # a W3C trace context header
        return f"00-{t(32, HEX)}-{t(16, HEX)}-01", variant
    if variant == "aws-arn":  # a 12-digit account id inside
        role = ctx.pick(("deploy", "ci-runner", "analytics-export"))
        return f"arn:aws:iam::{r(10**11, 10**12 - 1)}:role/{role}", variant
    if variant == "ga-client-id":  # Google Analytics' _ga cookie value
        return f"GA1.1.{r(10**9, 2 * 10**9)}.{r(1_700_000_000, 1_790_000_000)}", (
            variant
        )
    return ctx.pick(("sk-proj-…", "sk-proj-TEST", "ghp_…abcd", "AKIA…")), variant


_PATHS = (
    "/pricing",
    "/docs/getting-started",
    "/blog/launch-week",
    "/products/blue-shirt",
    "/settings/billing",
    "/app/projects",
    "/ja/docs/quickstart",
    "/de/preise",
)


def clean_url(ctx: Ctx) -> tuple[str, str]:
    base = (
        f"https://{ctx.pick(('www', 'app', 'shop', 'docs'))}.{ctx.fake.domain_name()}"
    )
    path = ctx.pick(_PATHS)
    variant = ctx.pick(("plain", "utm", "paged", "ad-click"))
    if variant == "plain":
        return base + path, variant
    if variant == "ad-click":  # click ids that ad networks append to landings
        name = ctx.pick(("gclid", "fbclid", "msclkid"))
        if name == "gclid":
            value = "Cj0KCQjw" + ctx.token(80, ALNUM + "-_")
        elif name == "fbclid":
            value = "IwAR" + ctx.token(57, ALNUM + "-_")
        else:
            value = ctx.token(32, HEX)
        return f"{base}{path}?{name}={value}", variant
    if variant == "utm":
        source = ctx.pick(("newsletter", "google", "twitter"))
        return (
            f"{base}{path}?utm_source={source}&utm_medium=email&utm_campaign=dec-launch",
            variant,
        )
    return f"{base}{path}?page={ctx.rng.randint(2, 40)}&sort=price_asc", variant


def _ean13(ctx: Ctx, prefix: str) -> str:
    body = prefix + "".join(
        ctx.rng.choice("0123456789") for _ in range(12 - len(prefix))
    )
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def number_like(ctx: Ctx) -> tuple[str, str]:
    """Digits with separators that belong to things, not people."""
    r = ctx.rng.randint
    variant = ctx.pick(
        ("isbn", "ean13", "ups", "zip4", "jp-postal", "date-slash", "clock",
         "duration", "stack", "sku", "build", "coordinates", "resolution")
    )  # fmt: skip
    if variant == "isbn":
        code = _ean13(ctx, "978")
        return f"{code[:3]}-{code[3]}-{code[4:7]}-{code[7:12]}-{code[12]}", variant
    if variant == "ean13":
        return _ean13(ctx, ctx.pick(("40", "45", "49", "30", "50"))), variant
    if variant == "ups":
        return f"1Z{ctx.token(6, ALNUM.upper()[26:])}{r(10**9, 10**10 - 1)}", variant
    if variant == "zip4":
        return f"{r(10000, 99999)}-{r(1000, 9999)}", variant
    if variant == "jp-postal":
        return f"〒{r(100, 999)}-{r(0, 9999):04d}", variant
    if variant == "date-slash":
        return f"{r(1, 28):02d}/{r(1, 12):02d}/{r(2024, 2026)}", variant
    if variant == "clock":
        return f"{r(0, 23):02d}:{r(0, 59):02d}:{r(0, 59):02d}", variant
    if variant == "duration":
        return f"{r(0, 2):02d}:{r(0, 59):02d}:{r(0, 59):02d}.{r(0, 999):03d}", variant
    if variant == "stack":
        name = ctx.pick(("callApi", "render", "onSubmit", "fetchJson"))
        return (
            f"at {name} (app.{ctx.token(8, HEX)}.js:{r(1, 9999)}:{r(1, 200)})",
            variant,
        )
    if variant == "sku":
        return f"SKU-{r(1000, 9999)}-{ctx.pick(('XS', 'M', 'XL', '42'))}", variant
    if variant == "coordinates":
        lat, lon = ctx.rng.uniform(-60, 70), ctx.rng.uniform(-180, 180)
        return f"{lat:.6f}, {lon:.6f}", variant
    if variant == "resolution":
        return ctx.pick(("1920x1080", "2560x1440", "390x844", "1366x768")), variant
    return f"{r(2024, 2026)}{r(1, 12):02d}{r(1, 28):02d}.{r(1, 9)}", variant
