"""Realistic sensitive values, each with the check digits its type demands.

Faker supplies names, addresses, emails, card numbers and phone numbers in
the locale's own forms; what Faker lacks or gets wrong (IBANs outside a few
locales, My Number, API key shapes, JWTs) is built here from the published
formats. Every maker returns ``(value, variant)``: the variant names the
written form, so a report can say which forms a detector misses.
"""

from __future__ import annotations

import base64
import dataclasses
import ipaddress
import json
import random
import string
from urllib.parse import quote

import phonenumbers
from faker import Faker

ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "-_"
HEX = "0123456789abcdef"

REGION = {
    "en_US": "US",
    "en_GB": "GB",
    "de_DE": "DE",
    "fr_FR": "FR",
    "ja_JP": "JP",
    "pt_BR": "BR",
    "en_IN": "IN",
}


@dataclasses.dataclass
class Ctx:
    """What one event is generated with: its locale's Faker and a seeded rng."""

    fake: Faker
    rng: random.Random
    locale: str

    @property
    def region(self) -> str:
        return REGION.get(self.locale, "US")

    @property
    def japanese(self) -> bool:
        return self.locale == "ja_JP"

    def token(self, length: int, alphabet: str = ALNUM) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(length))

    def pick(self, options: list[str] | tuple[str, ...]) -> str:
        return self.rng.choice(options)


def full_width(text: str) -> str:
    """ASCII as typed in a Japanese IME's full-width mode."""
    return "".join(
        chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else ("\u3000" if c == " " else c)
        for c in text
    )


# --- EMAIL ---------------------------------------------------------------

_IDN_DOMAINS = {
    "de_DE": ("bücher.de", "müller-bau.de", "straße.example"),
    "fr_FR": ("café-crème.fr", "société.example"),
    "pt_BR": ("pão-de-açúcar.com.br", "joão.example"),
    "ja_JP": ("例え.jp", "日本語.jp", "会社.example"),
}


def email(ctx: Ctx) -> tuple[str, str]:
    """An address in one of the forms people and SDKs write them."""
    fake = ctx.fake
    variant = ctx.pick(
        ("plain", "plain", "free-mail", "plus", "subdomain", "mixed-case", "idn")
    )
    user = fake.user_name()
    if variant == "plain":
        return fake.email(), variant
    if variant == "free-mail":
        return f"{user}@{fake.free_email_domain()}", variant
    if variant == "plus":
        tag = ctx.pick(("news", "shop", "test", "work", "2026"))
        return f"{user}+{tag}@{fake.free_email_domain()}", variant
    if variant == "subdomain":
        return (
            f"{user}@{ctx.pick(('mail', 'eu', 'corp.mail'))}.{fake.domain_name()}",
            variant,
        )
    if variant == "mixed-case":
        first, last = fake.first_name_nonbinary(), fake.last_name()
        local = (
            f"{first}.{last}" if first.isascii() and last.isascii() else user.title()
        )
        domain = fake.domain_name()
        return f"{local}@{domain[0].upper()}{domain[1:]}", variant
    domains = _IDN_DOMAINS.get(ctx.locale, ("bücher.example", "例え.jp"))
    return f"{user}@{ctx.pick(domains)}", variant


# --- PHONE ---------------------------------------------------------------

_SEPARATORS = ("-", ".", " ", "/")


def _valid_number(ctx: Ctx) -> phonenumbers.PhoneNumber:
    region = ctx.region
    for _ in range(6):
        try:
            number = phonenumbers.parse(ctx.fake.phone_number(), region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return number
    kind = ctx.rng.choice(
        (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE)
    )
    example = phonenumbers.example_number_for_type(region, kind)
    assert example is not None
    digits = str(example.national_number)
    for _ in range(50):
        tail = "".join(ctx.rng.choice(string.digits) for _ in range(4))
        candidate = phonenumbers.PhoneNumber(
            country_code=example.country_code,
            national_number=int(digits[:-4] + tail),
        )
        if phonenumbers.is_valid_number(candidate):
            return candidate
    return example


def phone(ctx: Ctx) -> tuple[str, str]:
    """A valid number of the locale's numbering plan in a common written form."""
    raw = None
    for _ in range(4):
        text = ctx.fake.phone_number()
        try:
            parsed = phonenumbers.parse(text, ctx.region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            raw = text
            break
    number = _valid_number(ctx)
    fmt = phonenumbers.PhoneNumberFormat
    choices = ["e164", "international", "national", "separators"]
    if raw is not None:
        choices.append("as-faker-writes")
    if ctx.japanese:
        choices += ["full-width", "full-width"]
    variant = ctx.pick(choices)
    if variant == "as-faker-writes" and raw is not None:
        return raw, variant
    if variant == "e164":
        return phonenumbers.format_number(number, fmt.E164), variant
    if variant == "international":
        return phonenumbers.format_number(number, fmt.INTERNATIONAL), variant
    national = phonenumbers.format_number(number, fmt.NATIONAL)
    if variant == "national":
        return national, variant
    if variant == "separators":
        separator = ctx.pick(_SEPARATORS)
        text = national.replace("(", "").replace(")", "")
        return separator.join(text.replace("-", " ").split()), variant
    # the hyphen as a Japanese keyboard types it: full-width minus, or now
    # and then the long-vowel mark
    text = full_width(national)
    if ctx.rng.random() < 0.15:
        return text.replace("\uff0d", "\u30fc"), "full-width-choonpu"
    return text, variant


# --- CREDIT_CARD -----------------------------------------------------------


def card(ctx: Ctx) -> tuple[str, str]:
    """A Luhn-valid card number, plain or grouped as printed on the card."""
    brand = ctx.pick(("visa16", "mastercard", "amex", "discover", "jcb16", "visa16"))
    number = ctx.fake.credit_card_number(card_type=brand)
    variant = ctx.pick(("plain", "spaced", "dashed"))
    if variant == "plain":
        return number, variant
    groups = (4, 6, 5) if len(number) == 15 else (4, 4, 4, 4, 3)
    parts, position = [], 0
    for size in groups:
        if position >= len(number):
            break
        parts.append(number[position : position + size])
        position += size
    separator = " " if variant == "spaced" else "-"
    grouped = separator.join(parts)
    if ctx.japanese and ctx.rng.random() < 0.25:
        return full_width(grouped), "full-width"
    return grouped, variant


def luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


# --- IBAN ----------------------------------------------------------------

# BBAN layouts (ECBS registry): n digits, a upper-case letters, c alphanumeric
_BBAN = {
    "DE": "18n",
    "GB": "4a14n",
    "FR": "10n11c2n",
    "BR": "23n1a1c",
    "NL": "4a10n",
    "IT": "1a10n12c",
    "AT": "16n",
    "CH": "5n12c",
}
# (Spain's and Belgium's BBANs carry national check digits of their own,
# which random digits would fail; they are left out rather than faked)
_IBAN_COUNTRY = {"de_DE": "DE", "en_GB": "GB", "fr_FR": "FR", "pt_BR": "BR"}


def _bban(ctx: Ctx, layout: str) -> str:
    out, count = [], ""
    for char in layout:
        if char.isdigit():
            count += char
            continue
        alphabet = {
            "n": string.digits,
            "a": string.ascii_uppercase,
            "c": string.ascii_uppercase + string.digits,
        }[char]
        out.append("".join(ctx.rng.choice(alphabet) for _ in range(int(count))))
        count = ""
    return "".join(out)


def iban_check(country: str, bban: str) -> str:
    """The two ISO 13616 check digits (mod 97) for ``country`` + ``bban``."""
    rearranged = bban + country + "00"
    numeric = "".join(str(int(c, 36)) for c in rearranged)
    return f"{98 - int(numeric) % 97:02d}"


def iban_ok(value: str) -> bool:
    compact = value.replace(" ", "").upper()
    numeric = "".join(str(int(c, 36)) for c in compact[4:] + compact[:4])
    return int(numeric) % 97 == 1


def iban(ctx: Ctx) -> tuple[str, str]:
    """A mod-97-valid IBAN of the locale's country (else a common one)."""
    country = _IBAN_COUNTRY.get(ctx.locale) or ctx.pick(sorted(_BBAN))
    bban = _bban(ctx, _BBAN[country])
    value = country + iban_check(country, bban) + bban
    if ctx.rng.random() < 0.5:
        return value, "electronic"
    return " ".join(value[i : i + 4] for i in range(0, len(value), 4)), "printed"


# --- US_SSN and JP_MY_NUMBER ----------------------------------------------


def ssn(ctx: Ctx) -> tuple[str, str]:
    """A number in the issued ranges: area 001-899 but not 666, group and
    serial not zero (SSA's rules since 2011)."""
    area = ctx.rng.choice([a for a in range(1, 900) if a != 666])
    group, serial = ctx.rng.randint(1, 99), ctx.rng.randint(1, 9999)
    if ctx.rng.random() < 0.8:
        return f"{area:03d}-{group:02d}-{serial:04d}", "dashed"
    return f"{area:03d} {group:02d} {serial:04d}", "spaced"


def my_number_check(first11: str) -> int:
    """The check digit of a Japanese Individual Number (My Number).

    Weights run from the right: 2..7 for the first six digits, then 2..6
    (the Ministry's ordinance on the check digit calculation).
    """
    total = 0
    for n, char in enumerate(reversed(first11), 1):
        weight = n + 1 if n <= 6 else n - 5
        total += int(char) * weight
    remainder = total % 11
    return 0 if remainder <= 1 else 11 - remainder


def my_number(ctx: Ctx) -> tuple[str, str]:
    first = str(ctx.rng.randint(1, 9)) + "".join(
        ctx.rng.choice(string.digits) for _ in range(10)
    )
    value = first + str(my_number_check(first))
    variant = ctx.pick(("plain", "spaced", "dashed", "full-width"))
    if variant == "plain":
        return value, variant
    if variant == "spaced":
        return f"{value[:4]} {value[4:8]} {value[8:]}", variant
    if variant == "dashed":
        return f"{value[:4]}-{value[4:8]}-{value[8:]}", variant
    return full_width(value), variant


# --- IP_ADDRESS -----------------------------------------------------------


def ip(ctx: Ctx) -> tuple[str, str]:
    variant = ctx.pick(
        (
            "v4",
            "v4",
            "v4-port",
            "v4-private",
            "v6",
            "v6-compressed",
            "v6-mapped",
            "v6-zone",
            "v6-port",
        )
    )
    fake = ctx.fake
    if variant == "v4":
        return fake.ipv4_public(), variant
    if variant == "v4-port":
        return (
            f"{fake.ipv4_public()}:{ctx.pick(('443', '8080', '5432', '6379'))}",
            variant,
        )
    if variant == "v4-private":
        return fake.ipv4_private(), variant
    v6 = ipaddress.IPv6Address(fake.ipv6())
    if variant == "v6":
        return v6.exploded, variant
    if variant == "v6-compressed":
        short = ipaddress.IPv6Address(int(v6) & ~0xFFFF_FFFF_0000_0000)
        return (short if ctx.rng.random() < 0.5 else v6).compressed, variant
    if variant == "v6-mapped":
        return f"::ffff:{fake.ipv4_public()}", variant
    if variant == "v6-zone":
        tail = ctx.token(4, HEX).lstrip("0") or "1"
        return (
            f"fe80::{ctx.token(3, HEX)}:{tail}%{ctx.pick(('eth0', 'en0', 'wlan0'))}",
            variant,
        )
    return f"[{v6.compressed}]:{ctx.pick(('443', '8443'))}", variant


# --- JWT -----------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwt(ctx: Ctx) -> tuple[str, str]:
    alg = ctx.pick(("HS256", "RS256", "ES256"))
    header: dict[str, str] = {"alg": alg, "typ": "JWT"}
    if alg != "HS256":
        header["kid"] = ctx.token(16, URLSAFE)
    issued = 1_760_000_000 + ctx.rng.randint(0, 9_000_000)
    payload = {
        "sub": ctx.token(12, ALNUM),
        "iat": issued,
        "exp": issued + 3600,
        "iss": f"https://auth.{ctx.fake.domain_name()}/",
    }
    if ctx.rng.random() < 0.3:
        payload["email"] = ctx.fake.email()
    size = {"HS256": 32, "RS256": 256, "ES256": 64}[alg]
    signature = bytes(ctx.rng.getrandbits(8) for _ in range(size))
    parts = [
        b64url(json.dumps(header, separators=(",", ":")).encode()),
        b64url(json.dumps(payload, separators=(",", ":")).encode()),
        b64url(signature),
    ]
    return ".".join(parts), alg


# --- API_KEY --------------------------------------------------------------


def api_key(ctx: Ctx) -> tuple[str, str]:
    """A key in a provider's documented shape, random body."""
    provider = ctx.pick(
        (
            "openai",
            "openai-legacy",
            "anthropic",
            "aws",
            "github",
            "github-pat",
            "gitlab",
            "stripe",
            "slack",
            "google",
            "twilio",
            "sendgrid",
            "npm",
            "private-key",
        )
    )
    t = ctx.token
    if provider == "openai":
        kind = ctx.pick(("proj", "proj", "svcacct"))
        return f"sk-{kind}-{t(74, URLSAFE)}T3BlbkFJ{t(74, URLSAFE)}", provider
    if provider == "openai-legacy":
        return f"sk-{t(20)}T3BlbkFJ{t(20)}", provider
    if provider == "anthropic":
        return f"sk-ant-api03-{t(93, URLSAFE)}AA", provider
    if provider == "aws":
        return aws_key_id(ctx), provider
    if provider == "github":
        return f"gh{ctx.pick(('p', 'o', 's', 'u'))}_{t(36)}", provider
    if provider == "github-pat":
        return (
            f"github_pat_11{t(20, string.ascii_uppercase + string.digits)}_{t(59)}",
            provider,
        )
    if provider == "gitlab":
        return f"glpat-{t(20, URLSAFE)}", provider
    if provider == "stripe":
        prefix = ctx.pick(("sk_live_", "rk_live_", "sk_test_"))
        return prefix + t(ctx.rng.choice((24, 99))), provider
    if provider == "slack":
        kind = ctx.pick(("b", "p", "a"))
        digits = string.digits
        return f"xox{kind}-{t(12, digits)}-{t(13, digits)}-{t(24)}", provider
    if provider == "google":
        return f"AIza{t(35, URLSAFE)}", provider
    if provider == "twilio":
        return f"SK{t(32, HEX)}", provider
    if provider == "sendgrid":
        return f"SG.{t(22, URLSAFE)}.{t(43, URLSAFE)}", provider
    if provider == "npm":
        return f"npm_{t(36)}", provider
    return private_key(ctx), provider


def aws_key_id(ctx: Ctx) -> str:
    return ctx.pick(("AKIA", "ASIA")) + ctx.token(16, string.ascii_uppercase + "234567")


def aws_secret(ctx: Ctx) -> str:
    return ctx.token(40, ALNUM + "/+")


def private_key(ctx: Ctx) -> str:
    kind = ctx.pick(("RSA ", "EC ", "OPENSSH ", ""))
    body = base64.b64encode(bytes(ctx.rng.getrandbits(8) for _ in range(180))).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join(
        [
            f"-----BEGIN {kind}PRIVATE KEY-----",
            *lines,
            f"-----END {kind}PRIVATE KEY-----",
        ]
    )


# --- TOKEN and URL_CREDENTIAL -----------------------------------------------


def opaque_token(ctx: Ctx) -> str:
    """A session or access token with no telling shape of its own."""
    form = ctx.pick(("base62", "hex", "urlsafe", "google"))
    if form == "base62":
        return ctx.token(ctx.rng.randint(24, 48))
    if form == "hex":
        return ctx.token(40, HEX)
    if form == "urlsafe":
        return ctx.token(ctx.rng.randint(32, 64), URLSAFE)
    return f"ya29.a0{ctx.token(60, URLSAFE)}"


def password(ctx: Ctx) -> str:
    return ctx.fake.password(length=ctx.rng.randint(10, 18), special_chars=False)


def percent(value: str) -> str:
    return quote(value, safe="")
