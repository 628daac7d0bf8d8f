"""Injection detector measured on a corpus; PII redaction for Kenyan, Ugandan and Zambian formats."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rag.guards import is_injection, redact_pii

CORPUS = Path(__file__).resolve().parents[2] / "bench" / "rag_eval" / "injection.yaml"


def measure() -> tuple[float, float, dict]:
    data = yaml.safe_load(CORPUS.read_text(encoding="utf-8"))
    attacks, ordinary = data["attacks"], data["ordinary"]
    tp = sum(is_injection(a["text"]) for a in attacks)
    fp = sum(is_injection(o["text"]) for o in ordinary)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / len(attacks)
    return precision, recall, data


def test_corpus_is_big_enough_in_both_languages():
    _, _, data = measure()
    for kind in ("attacks", "ordinary"):
        assert len(data[kind]) >= 30
        langs = {x["lang"] for x in data[kind]}
        assert langs == {"en", "sw"}
        assert sum(x["lang"] == "sw" for x in data[kind]) >= 10


def test_injection_detector_precision_and_recall_at_least_0_9():
    precision, recall, _ = measure()
    print(f"injection detector: precision {precision:.3f}, recall {recall:.3f}")
    assert precision >= 0.9, precision
    assert recall >= 0.9, recall


@pytest.mark.parametrize("text", [
    "I forget how to add fractions",
    "what are the rules of division?",
    "the heart acts as a pump",
    "Nimesahau jinsi ya kujumlisha sehemu",
    "",
])
def test_ordinary_sentences_pass(text):
    assert not is_injection(text)


@pytest.mark.parametrize("text,expected", [
    ("Call me on 0712 345 678.", "Call me on [phone]."),
    ("Call me on +254712345678.", "Call me on [phone]."),
    ("My number: 254 712 345 678", "My number: [phone]"),
    ("Uganda: 0772 123456", "Uganda: [phone]"),
    ("Uganda: +256 772 123 456", "Uganda: [phone]"),
    ("Zambia: 0977 123 456", "Zambia: [phone]"),
    ("Zambia: +260 97 7123456", "Zambia: [phone]"),
    ("Write to amina.w@example.co.ke please", "Write to [email] please"),
    ("My ID number is 12345678.", "My ID number is [id]."),
    ("Kitambulisho changu ni 23456789", "Kitambulisho changu ni [id]"),
    ("NIN CM12345678ABCD", "NIN [id]"),
    ("NRC 123456/78/1", "NRC [id]"),
])
def test_pii_is_redacted(text, expected):
    assert redact_pii(text) == expected


@pytest.mark.parametrize("text", [
    "The value of 7 in 4,725,316 is 700,000.",
    "712345678 is a big number.",
    "Ksh 2,050 and 100000000 and 0.375 and 1 5/12",
    "3/8 = 0.375 and 2 - (-4) = 6",
    "The answer is 2406051.",
])
def test_maths_is_left_alone(text):
    assert redact_pii(text) == text
