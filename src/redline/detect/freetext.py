"""Strings that read as natural language: a logged prompt, a chat message,
a model's answer, a support note.

No single value in such a string need be personal data, yet together it
often is (names, places, health, the user's own words), and a policy may
want it gone or digested whatever else is found. The detector reports the
whole string as one ``FREE_TEXT`` span when it looks like sentences:

- in scripts that separate words by spaces: at least :data:`MIN_WORDS`
  whitespace-separated tokens, most of them words (letters, with inner
  apostrophes or hyphens, and the punctuation that surrounds words; groups
  of letters and digits, the numbers and codes a message quotes, count
  neither way, so that an IBAN printed in seven groups does not make a
  message less of one, while the ``Chrome/120.0`` of a user agent still
  counts against), and at
  least two *function words* (articles, pronouns, prepositions,
  conjunctions, auxiliaries of English, German, French, Spanish, Portuguese
  and Italian), which sentences have and labels, titles of a few words,
  identifiers and keyword lists mostly lack;
- in Japanese and Chinese, which do not separate words: at least
  :data:`MIN_CJK` kana or kanji, with hiragana (the particles and endings of
  Japanese sentences) making up a fifth of them, or Chinese sentence
  punctuation.

User agents, URLs, paths, JSON, code identifiers, version strings and short
labels fail the word share or the token count; addresses and names in
Japanese hold too little hiragana. Its score is the highest of all
detectors: the span covers the whole string, and what else is in it goes
with it.
"""

from __future__ import annotations

import re

from ._span import EntityType, Span

MIN_WORDS = 8
MIN_WORD_SHARE = 0.75
MIN_FUNCTION_WORDS = 2
MIN_CJK = 12
MIN_HIRAGANA_SHARE = 0.2

_FUNCTION_WORDS = frozenset(
    """
    a an the and or but if so to of in on at by for with from as about into
    is are was were be been am do does did have has had will would can could
    should may might must not no i you he she it we they me him her us them
    my your his its our their this that these those what which who how why
    when where there here please just than then also
    der die das den dem des ein eine einen einem und oder aber ist sind war
    nicht ich du er sie es wir ihr mich mir dich dir zu mit auf für von im
    bitte wie was warum wann kann können habe hat haben noch auch
    le la les un une des du de et ou mais est sont pas je tu il elle nous
    vous ils elles me te se ce cette ces mon ma mes ton ta que qui pour avec
    sur dans par ne au aux comment pourquoi
    el los las y o pero es son no yo él ella usted nosotros mi mis su sus
    en para con por que qué como cómo del al una lo muy
    os as e ou mas é são não eu você ele ela nós meu minha um uma em do da
    dos das na no com por para
    il lo gli è sono non io tu lui lei noi voi di del della per che come mio
    """.split()  # noqa: SIM905 (a word list reads better as text)
)
# a token that is a word: letters (any script), inner apostrophes and
# hyphens, and the punctuation written before or after words
_OPENERS = "\"'([\u00ab\u00bf\u00a1\u201c\u2018"
_CLOSERS = "\"')]\u00bb,.;:!?\u2026\u201c\u201d\u2019"
_WORD = re.compile(
    f"[{re.escape(_OPENERS)}]*"
    r"[^\W\d_]+(?:['\u2019\-][^\W\d_]+)*"
    f"[{re.escape(_CLOSERS)}]*"
)
# a number or code quoted in a sentence: "4111", "FR76", "2291."
_QUOTED = re.compile(r"(?=[^\s\d]*\d)[A-Za-z0-9]+" f"[{re.escape(_CLOSERS)}]*")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")
_HIRAGANA = re.compile(r"[\u3041-\u309f]")
# ideographic full stop and comma, full-width exclamation, question, comma
_CJK_SENTENCE = re.compile("[\u3002\u3001\uff01\uff1f\uff0c]")
# what either test needs, in any case: MIN_WORDS whitespace-separated tokens
# (the probe starts with a space), or MIN_CJK kana and kanji of _CJK's ranges
_CJK_CLASS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
_TRIGGER = re.compile(
    rf"\s\S+(?:\s+\S+){{{MIN_WORDS - 1}}}"
    f"|[{_CJK_CLASS}](?:[^{_CJK_CLASS}]*[{_CJK_CLASS}]){{{MIN_CJK - 1}}}"
)


class FreeTextDetector:
    """Reports a string that reads as natural language, whole."""

    type: EntityType = EntityType.FREE_TEXT
    trigger: re.Pattern[str] = _TRIGGER

    def find(self, text: str) -> list[Span]:
        stripped = text.strip()
        if not stripped or stripped[0] in "{[<":
            return []  # JSON, markup
        reason = _spaced(stripped) or _cjk(stripped)
        if reason is None:
            return []
        return [Span(self.type, 0, len(text), 0.99, reason)]


def _spaced(text: str) -> str | None:
    tokens = text.split()
    if len(tokens) < MIN_WORDS:
        return None
    words = function = quoted = 0
    for token in tokens:
        if _QUOTED.fullmatch(token):
            quoted += 1
        elif _WORD.fullmatch(token):
            words += 1
            if token.strip(_OPENERS + _CLOSERS).lower() in _FUNCTION_WORDS:
                function += 1
    if words < MIN_WORDS or words < MIN_WORD_SHARE * (len(tokens) - quoted):
        return None
    if function < MIN_FUNCTION_WORDS:
        return None
    return "sentences of words"


def _cjk(text: str) -> str | None:
    cjk = len(_CJK.findall(text))
    if cjk < MIN_CJK:
        return None
    hiragana = len(_HIRAGANA.findall(text))
    if hiragana >= MIN_HIRAGANA_SHARE * cjk:
        return "japanese sentences"
    if _CJK_SENTENCE.search(text) and hiragana == 0:
        return "chinese sentences"
    return None
