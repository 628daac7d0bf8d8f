"""Curriculum packs, chunking, retrieval (Qdrant), grounded answers, guards."""
