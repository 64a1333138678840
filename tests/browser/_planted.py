"""The values the browser tests plant, and the search for them in what
the stand-ins received (with every transport encoding undone)."""

from __future__ import annotations

from urllib.parse import quote

# in the page URL: /<sdk>/reset?email=...&token=...
URL_EMAIL = "jane.reset@example.com"
RESET_TOKEN = "rst_Q7mZp2Lx9Vb4Nc8KwT3y"
# in the text of the button the visitor clicks (pages/*.html)
PHONE = "202-555-0143"
# what the page identifies the visitor with
SIGNIN_EMAIL = "jane.signin@example.com"

RESET_QUERY = f"email={quote(URL_EMAIL)}&token={RESET_TOKEN}"

# each planted value, and the forms it could take on the way
FORMS = {
    "URL email": [URL_EMAIL, quote(URL_EMAIL, safe=""), "jane.reset"],
    "reset token": [RESET_TOKEN],
    "phone": [PHONE, PHONE.replace("-", ""), "555-0143"],
    "sign-in email": [SIGNIN_EMAIL, quote(SIGNIN_EMAIL, safe=""), "jane.signin"],
}


def found_in(text: str) -> list[str]:
    """The planted values (by name) that occur in ``text``."""
    lowered = text.lower()
    return [
        name
        for name, forms in FORMS.items()
        if any(form.lower() in lowered for form in forms)
    ]
