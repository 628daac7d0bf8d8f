"""The OpenAI-compatible client (chat and embeddings), built once per process.

Any endpoint that speaks the OpenAI API works (OpenAI, vLLM, Ollama): the base URL,
key, models and timeout are settings. `max_retries=0`: a slow or failing endpoint
must fall back to the offline answer at once, not retry while the student waits.
Tokens and money are counted here, in one place (core.observability's LLM metrics).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.observability import record_llm_call
from core.runtime import Runtime


class LLMError(Exception):
    """The endpoint failed, timed out or answered nonsense; callers fall back."""


@dataclass
class Completion:
    text: str
    tokens_in: int
    tokens_out: int
    cost_usd: float


def chat_enabled(runtime: Runtime) -> bool:
    return bool(runtime.settings.openai_api_key.get_secret_value())


def embeddings_enabled(runtime: Runtime) -> bool:
    return chat_enabled(runtime) and bool(runtime.settings.openai_embedding_model)


def _build(runtime: Runtime):
    from openai import OpenAI

    from rag.http import openai_http_client

    s = runtime.settings
    return OpenAI(api_key=s.openai_api_key.get_secret_value(), base_url=s.openai_base_url,
                  timeout=s.openai_timeout_s, max_retries=0, http_client=openai_http_client(s.openai_timeout_s))


def client(runtime: Runtime):
    return runtime.extra("openai", _build)


def cost_of(runtime: Runtime, tokens_in: int, tokens_out: int) -> float:
    s = runtime.settings
    return tokens_in / 1000 * s.llm_price_in_per_1k + tokens_out / 1000 * s.llm_price_out_per_1k


def chat(runtime: Runtime, messages: list[dict], *, max_tokens: int, temperature: float) -> Completion:
    """One chat completion; raises LLMError on any failure so the caller can fall back."""
    import openai

    model = runtime.settings.openai_model
    try:
        resp = client(runtime).chat.completions.create(
            model=runtime.settings.openai_model, messages=messages, max_tokens=max_tokens, temperature=temperature,
        )
        text = (resp.choices[0].message.content or "").strip() if resp.choices else ""
    except openai.APITimeoutError as exc:
        record_llm_call(model, "timeout")
        raise LLMError(f"chat completion timed out after {runtime.settings.openai_timeout_s}s") from exc
    except openai.OpenAIError as exc:
        record_llm_call(model, "error")
        raise LLMError(f"chat completion failed: {type(exc).__name__}: {exc}") from exc
    except (AttributeError, IndexError, TypeError, ValueError) as exc:
        record_llm_call(model, "error")
        raise LLMError(f"chat completion answered an unexpected shape: {exc}") from exc
    usage = getattr(resp, "usage", None)
    tokens_in = int(getattr(usage, "prompt_tokens", 0) or 0)
    tokens_out = int(getattr(usage, "completion_tokens", 0) or 0)
    cost = cost_of(runtime, tokens_in, tokens_out)
    record_llm_call(model, "ok" if text else "empty", prompt_tokens=tokens_in, completion_tokens=tokens_out,
                    cost_usd=cost)
    if not text:
        raise LLMError("chat completion returned no text")
    return Completion(text, tokens_in, tokens_out, cost)


def embed(runtime: Runtime, texts: list[str]) -> list[list[float]]:
    """Dense vectors for `texts` (batched); raises LLMError on failure."""
    import openai

    out: list[list[float]] = []
    model = runtime.settings.openai_embedding_model
    try:
        for start in range(0, len(texts), 128):
            batch = texts[start:start + 128]
            resp = client(runtime).embeddings.create(model=runtime.settings.openai_embedding_model, input=batch)
            vectors = [list(map(float, d.embedding)) for d in sorted(resp.data, key=lambda d: d.index)]
            if len(vectors) != len(batch):
                raise LLMError(f"embeddings returned {len(vectors)} vectors for {len(batch)} texts")
            tokens = int(getattr(getattr(resp, "usage", None), "prompt_tokens", 0) or 0)
            record_llm_call(model, "ok", embedding_tokens=tokens, cost_usd=cost_of(runtime, tokens, 0))
            out.extend(vectors)
    except openai.OpenAIError as exc:
        record_llm_call(model, "timeout" if isinstance(exc, openai.APITimeoutError) else "error")
        raise LLMError(f"embeddings failed: {type(exc).__name__}: {exc}") from exc
    return out
