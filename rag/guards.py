"""Guards: prompt-injection detection on student input, PII redaction on every answer.

Injection: students type freely, and a message that tries to re-program the tutor
("ignore your instructions", "puuza maagizo yako") must never reach the LLM. The
detector is a set of patterns in English and Kiswahili, each needing both a verb of
overriding and an object that is the tutor's own instructions, so ordinary sentences
("I forget how to add fractions", "what are the rules of division?") pass. Its
precision and recall are measured on a corpus (tests/rag/test_guards.py).

PII: generated or extracted text can echo a phone number, an e-mail address or a
national ID (from a student's question, or a careless pack). Phone numbers are found
with phonenumbers' matcher for Kenyan, Ugandan and Zambian formats; a match must
look like a phone number (leading + or 0, or a country code) so that a sum like
"712345678" in a maths answer is left alone.
"""

from __future__ import annotations

import re

import phonenumbers

_FLAGS = re.I | re.S
_OVERRIDE = r"(?:ignore|disregard|forget|override|bypass|skip|drop|delete|erase|abandon)"
_THEIR = r"(?:all|any|every|the|your|my|previous|prior|above|earlier|preceding|system|original|these|those|\s)*"
_INSTR = r"(?:instructions?|rules?|prompts?|guidelines?|directions?|directives?|polic(?:y|ies)|programming|guardrails?|restrictions?|system message|constraints?)"
_SW_OVERRIDE = r"(?:puuza|sahau|acha|achana na|futa|vunja|kaidi|usifuate|usizingatie|pita)"
_SW_INSTR = r"(?:maagizo|maelekezo|sheria|amri|kanuni|masharti|mipaka|mfumo)"

INJECTION_PATTERNS: tuple[re.Pattern, ...] = tuple(re.compile(p, _FLAGS) for p in (
    rf"\b{_OVERRIDE}\b.{{0,40}}?\b{_THEIR}\b{_INSTR}\b",
    r"\b(?:reveal|show|print|repeat|display|tell|give|output|leak|write out|what (?:is|are))\b.{0,30}\b(?:your\s+(?:system\s+|hidden\s+|secret\s+|initial\s+|original\s+)*|the\s+(?:system|hidden|secret|initial|original)\s+)(?:prompt|instructions|rules|system message|configuration)\b",
    r"\bsystem\s*prompt\b",
    r"\byou are (?:now|no longer)\b",
    r"\bfrom now on,? (?:you|u)\b",
    r"\b(?:pretend|imagine) (?:to be|you are|you're|that you)\b",
    r"(?:^|[.!?,]\s*|\b(?:you|now|please)\s+)(?:act|behave|respond|answer) as (?:if|an? |my |though|the )",
    r"\brole[- ]?play\b",
    r"\b(?:developer|god|admin|debug|unrestricted|jailbreak) mode\b",
    r"\bjailbr[eo]a?k",
    r"\bDAN\b|\bdo anything now\b",
    r"\bnew (?:instructions|rules|persona|role)\b",
    r"</?\s*(?:system|assistant|user|instructions?)\s*>|\[/?INST\]|###\s*(?:system|instruction)|<\|im_start\|>",
    r"\bwithout (?:any )?(?:restrictions|rules|filters|limits|censorship)\b",
    r"\b(?:no longer|not) (?:bound|restricted|limited) by\b",
    rf"\b{_SW_OVERRIDE}\b.{{0,40}}?\b{_SW_INSTR}\b",
    rf"\b{_SW_INSTR}\b.{{0,25}}\b(?:yako|zako|ya mfumo|za mfumo|ya awali|za awali|ulizopewa|uliyopewa)\b.{{0,30}}\b(?:nionyeshe|onyesha|niambie|andika|rudia|toa|sema|ni gani|ni zipi)\b",
    rf"\b(?:nionyeshe|onyesha|niambie|andika|rudia|toa|sema|nipe)\b.{{0,30}}\b{_SW_INSTR}\b.{{0,20}}\b(?:yako|zako|ya mfumo|za mfumo|ya siri|za siri|ulizopewa|uliyopewa)\b",
    r"\b(?:wewe )?sasa wewe ni\b|\bwewe sasa ni\b",
    r"\bkuanzia sasa,? (?:wewe|utakuwa|u?tajibu|jibu)\b",
    r"\bjifanye (?:kuwa|ni|wewe)\b",
    r"\bbila (?:vikwazo|sheria|masharti|mipaka|kanuni)\b",
))


def is_injection(text: str) -> bool:
    """True when the message tries to override, reveal or replace the tutor's instructions."""
    return any(p.search(text) for p in INJECTION_PATTERNS)


# --- PII ------------------------------------------------------------------------------

PHONE_REGIONS = ("KE", "UG", "ZM")
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
_NATIONAL_IDS = (
    re.compile(r"\b(?:national\s+id|id\s*(?:no\.?|number|card)?|kitambulisho(?:\s+cha\s+taifa)?|nambari\s+ya\s+kitambulisho)"
               r"\b[^\d\n]{0,14}?(\d{7,9})\b", re.I),  # Kenyan ID: 7-8 digits after the word ID
    re.compile(r"\bC[MF][A-Z0-9]{12}\b"),  # Ugandan NIN: CM/CF + 12
    re.compile(r"\b\d{6}/\d{2}/\d\b"),  # Zambian NRC: 123456/78/1
)
_PHONE_PREFIX = re.compile(r"^\s*(?:\+|00|0|254|256|260)")
REDACTED = {"phone": "[phone]", "email": "[email]", "id": "[id]"}


def _phone_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for region in PHONE_REGIONS:
        for m in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
            digits = sum(ch.isdigit() for ch in m.raw_string)
            if digits < 9 or "," in m.raw_string or not _PHONE_PREFIX.match(m.raw_string):
                continue
            spans.append((m.start, m.end))
    return spans


def redact_pii(text: str) -> str:
    """Replace phone numbers, e-mail addresses and national IDs with [phone], [email], [id]."""
    spans: list[tuple[int, int, str]] = [(m.start(), m.end(), "email") for m in _EMAIL.finditer(text)]
    for pattern in _NATIONAL_IDS:
        for m in pattern.finditer(text):
            start, end = (m.start(1), m.end(1)) if m.groups() else (m.start(), m.end())
            spans.append((start, end, "id"))
    spans.extend((s, e, "phone") for s, e in _phone_spans(text))
    if not spans:
        return text
    spans.sort(key=lambda s: (s[0], -(s[1] - s[0])))
    out, cursor = [], 0
    for start, end, kind in spans:
        if start < cursor:
            continue  # overlaps a span already redacted (an e-mail holding digits, say)
        out.append(text[cursor:start])
        out.append(REDACTED[kind])
        cursor = end
    out.append(text[cursor:])
    return "".join(out)
