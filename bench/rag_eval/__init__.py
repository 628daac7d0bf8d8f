"""Retrieval evaluation: recall@3, off-topic precision/recall, latency on a 10,000-chunk corpus.

Run with `python -m bench.rag_eval` (embedded defaults: a temporary SQLite file and
in-memory Qdrant; `--database-url` to use PostgreSQL). Data files beside this module:
questions.yaml (on-topic questions with their expected topic, and off-topic ones) and
injection.yaml (the prompt-injection corpus, also used by tests/rag/test_guards.py).
"""
