"""The official OpenAI Python SDK's legacy Completions API (`client.completions.create`, what
older LangChain/LlamaIndex integrations and code-completion tools call) against a running
Tollgate edge, unchanged but for base URL and key, for every provider kind the mock speaks.
Run by tests/tests/completions_api.rs; prints one JSON line of what the SDK saw, which the Rust
test checks against the ledger."""

import json
import os

import openai

base = os.environ["TOLLGATE_EDGE_URL"]
key = os.environ["TOLLGATE_KEY"]
models = os.environ["TOLLGATE_MODELS"].split(",")
out = {}

o = openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)


def usage(u):
    if u is None:
        return None
    return {
        "prompt": u.prompt_tokens,
        "completion": u.completion_tokens,
        "total": u.total_tokens,
        "cost": (u.model_extra or {}).get("cost"),
    }


for model in models:
    r = {}
    raw = o.completions.with_raw_response.create(
        model=model, prompt="Say this is a test", max_tokens=32
    )
    plain = raw.parse()
    r["plain"] = {
        "request_id": raw.headers.get("x-request-id"),
        "id": plain.id,
        "object": plain.object,
        "model": plain.model,
        "text": plain.choices[0].text,
        "index": plain.choices[0].index,
        "logprobs": plain.choices[0].logprobs,
        "finish_reason": plain.choices[0].finish_reason,
        "usage": usage(plain.usage),
    }

    raw = o.completions.with_raw_response.create(
        model=model,
        prompt=["Count to five"],
        max_tokens=32,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(raw.parse())
    with_choices = [c for c in chunks if c.choices]
    r["stream"] = {
        "request_id": raw.headers.get("x-request-id"),
        "objects": sorted({c.object for c in chunks}),
        "text": "".join(c.choices[0].text for c in with_choices),
        "finish_reasons": [c.choices[0].finish_reason for c in with_choices if c.choices[0].finish_reason],
        "usage_chunks": [usage(c.usage) for c in chunks if c.usage is not None],
        "last_has_choices": bool(chunks[-1].choices),
    }
    out[model] = r

try:
    o.completions.create(model=models[0], prompt="hi", echo=True)
except openai.BadRequestError as e:
    out["error:echo"] = {"status": e.status_code, "param": (e.body or {}).get("param"), "message": e.message}

try:
    o.completions.create(model=models[0], prompt=["one", "two"])
except openai.BadRequestError as e:
    out["error:prompts"] = {"status": e.status_code, "param": (e.body or {}).get("param"), "message": e.message}

print(json.dumps(out))
