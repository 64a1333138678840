"""Send a few realistic events through a running Redline gateway with the
official Mixpanel Python SDK, personal data included.

    redline serve &                      # in one terminal
    python examples/send_events.py       # in another
    redline events                       # what reached the local store

The SDK's ``api_host`` option always builds https:// URLs, so over plain
HTTP each endpoint URL is given in full.
"""

from __future__ import annotations

import argparse
import time

from mixpanel import Consumer, Mixpanel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--token", default="demo", help="the public ingest key")
    args = parser.parse_args()

    base = args.url.rstrip("/")
    consumer = Consumer(
        events_url=f"{base}/track",
        people_url=f"{base}/engage",
        groups_url=f"{base}/groups",
        import_url=f"{base}/import",
    )
    mp = Mixpanel(args.token, consumer=consumer)

    mp.track(
        "jane.doe@example.com",
        "$mp_web_page_view",
        {
            "$current_url": "https://platform.example.com/settings?email="
            "jane.doe%40example.com&utm_source=newsletter#access_token=abc",
            "$browser": "Chrome",
            "$os": "Mac OS X",
            "utm_source": "newsletter",
        },
    )
    mp.track(
        "user_3f9a2c",
        "checkout",
        {
            "plan": "pro",
            "price": 20.0,
            "currency": "USD",
            "card_hint": "4111 1111 1111 1111",
            "billing_phone": "+81 90-1234-5678",
        },
    )
    mp.track(
        "user_3f9a2c",
        "error",
        {
            "message": "401: Incorrect API key provided: "
            "sk-proj-FAKE0000000000000000000000000000000000000000TEST",
            "release": "10.0.19045.1",
        },
    )
    mp.track("user_3f9a2c", "internal_debug_dump", {"everything": "not allowlisted"})
    mp.people_set(
        "user_3f9a2c",
        {"$email": "jane.doe@example.com", "$name": "Jane Doe", "plan": "pro"},
    )
    mp.group_set(
        "company", "Example Inc", {"plan": "enterprise", "company_size": "50-200"}
    )
    print(
        f"sent 4 events, 1 profile update and 1 group update to {base} "
        f"at {time.ctime()}"
    )


if __name__ == "__main__":
    main()
