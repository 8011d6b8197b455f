"""The official Anthropic and OpenAI Python SDKs against a running Tollgate edge, unchanged but
for base URL and key. Run by tests/tests/python_sdks.rs; prints one JSON line of what the
SDKs saw, which the Rust test checks (usage, text, tool calls, stream events, errors)."""

import json
import os
import sys

import anthropic
import openai

base = os.environ["TOLLGATE_EDGE_URL"]
key = os.environ["TOLLGATE_KEY"]
out = {}

a = anthropic.Anthropic(base_url=base, api_key=key, max_retries=0)

for model in ["claude-mock", "mock", "gemini-mock", "bedrock-mock"]:
    m = a.messages.create(
        model=model,
        max_tokens=64,
        system="be brief",
        messages=[{"role": "user", "content": "hello there"}],
    )
    with a.messages.stream(
        model=model,
        max_tokens=64,
        messages=[{"role": "user", "content": "stream please"}],
    ) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    out[f"anthropic:{model}"] = {
        "text": m.content[0].text,
        "stop_reason": m.stop_reason,
        "input_tokens": m.usage.input_tokens,
        "output_tokens": m.usage.output_tokens,
        "stream_text": text,
        "stream_stop_reason": final.stop_reason,
        "stream_output_tokens": final.usage.output_tokens,
    }

tools = [
    {
        "name": "get_weather",
        "description": "Weather",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]
m = a.messages.create(
    model="claude-mock",
    max_tokens=64,
    tools=tools,
    tool_choice={"type": "any"},
    messages=[{"role": "user", "content": "weather in Rome, use the tool"}],
)
out["anthropic:tool_use"] = [b.name for b in m.content if b.type == "tool_use"]
out["anthropic:count_tokens"] = a.messages.count_tokens(
    model="claude-mock", messages=[{"role": "user", "content": "hello there"}]
).input_tokens

try:
    a.messages.create(
        model="no-such-model", max_tokens=8, messages=[{"role": "user", "content": "x"}]
    )
    out["anthropic:error"] = None
except anthropic.NotFoundError as e:
    out["anthropic:error"] = {"status": e.status_code, "type": e.body["error"]["type"]}

o = openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0)
for model in ["mock", "claude-mock", "gemini-mock", "bedrock-mock", "azure-mock"]:
    c = o.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hello there"}]
    )
    chunks = list(
        o.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "stream please"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    out[f"openai:{model}"] = {
        "text": c.choices[0].message.content,
        "prompt_tokens": c.usage.prompt_tokens,
        "completion_tokens": c.usage.completion_tokens,
        "stream_text": "".join(
            ch.choices[0].delta.content or "" for ch in chunks if ch.choices
        ),
        "stream_completion_tokens": chunks[-1].usage.completion_tokens,
    }
e = o.embeddings.create(model="text-embedding-3-small", input=["one", "two"])
out["openai:embeddings"] = [len(d.embedding) for d in e.data]
e = o.embeddings.create(model="gemini-embed", input="one")
out["openai:gemini-embeddings"] = [len(d.embedding) for d in e.data]
try:
    o.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    out["openai:error"] = None
except openai.NotFoundError as e:
    out["openai:error"] = {"status": e.status_code, "code": e.code}

json.dump(out, sys.stdout)
print()
