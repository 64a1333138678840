"""Free-text detector: sentences a person or a model wrote, whole; and the
strings analytics events carry that merely contain words.

The positives are written for these tests in the six languages the
function-word list covers and in Japanese; the negatives are the shapes a
corpus of events is full of (user agents, URLs, ids, JSON, identifiers,
labels, addresses, titles of a few words).
"""

from __future__ import annotations

import pytest

from redline.detect import EntityType, FreeTextDetector, Scanner

from ._util import scanned

POSITIVES = [
    "Can you help me write a polite reminder about the overdue payment?",
    "Please make the tone a bit more formal but keep it short.",
    "I can't find the export button since the last update.",
    "Ich finde den Export-Button seit dem letzten Update nicht mehr.",
    "Je ne trouve plus le bouton d'export depuis la dernière mise à jour.",
    "Não encontro mais o botão de exportar desde a última atualização.",
    "¿Puedes explicar la diferencia entre los dos planes de precios?",
    "東京の天気を教えてください。明日は雨が降りますか\uff1f",
    "先週の会議のメモを上司のために要約してください。",
    # Chinese punctuation and no hiragana: katakana and Extension A count
    # among the characters (the trigger once looked at hiragana and kanji only)
    "\u30a2\u30a4\u30a6\u30a8\u30aa\u30ab\u30ad\u30af\u30b1\u30b3\u30b5\u30b7\u3002",
    "\u3400\u3401\u3402\u3403\u3404\u3405\u3406\u3407\u3408\u3409\u340a\u340b\u3002",
    "The answer is below.\n\n1. Open the settings page and pick the plan you want.",
    # numbers and codes quoted in a message do not make it less of one
    "Merci pour la réponse rapide, le problème est résolu. Voici les "
    "informations du client : FR76 3000 6000 0112 3456 7890 189.",
    "Please charge the card 4111 1111 1111 1111 for my order 2291 today.",
]

NEGATIVES = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
    "https://app.example.com/pricing?utm_source=newsletter&utm_medium=email",
    "0190a5c2-0000-7000-8000-00000000b101",
    '{"prompt": "a", "model": "gpt-4o", "temperature": 0.2, "max_tokens": 512}',
    "handleCheckoutSubmitButtonClick",
    "Add to cart",
    "Starter (monthly)",
    "Premium Plus",
    "Cannot read properties of undefined (reading 'map')",
    "東京都港区芝公園4丁目2-8 シーサイドパレス101",
    "山田 太郎",
    "カートに追加",
    "GET /api/v2/items 200 client=203.0.113.9 app=10.0.19045.1",
    "mixpanel-python/4.10.1 (python 3.11)",
    "Page Viewed",
    "[2025-06-01T10:00:00Z] request 7f6c: payment declined (insufficient funds)",
]


@pytest.mark.parametrize("text", POSITIVES)
def test_natural_language_is_reported_whole(text: str) -> None:
    assert scanned(FreeTextDetector(), text) == [text]


@pytest.mark.parametrize("text", NEGATIVES)
def test_strings_that_are_not_prose_are_left_alone(text: str) -> None:
    assert FreeTextDetector().find(text) == []


def test_free_text_wins_over_what_it_contains() -> None:
    from redline.detect import EmailDetector, redact

    text = "Please forward the contract to jane@example.com before the meeting."
    scanner = Scanner([EmailDetector(), FreeTextDetector()])
    spans = scanner.scan(text)
    assert [span.type for span in spans] == [EntityType.FREE_TEXT]
    assert redact(text, spans) == "[FREE_TEXT]"
