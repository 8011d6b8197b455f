"""The official OpenAI Python SDK's Responses API (what the Codex CLI and the OpenAI Agents SDK
speak) against a running Tollgate edge, unchanged but for base URL and key, for every provider
kind the mock speaks. Run by tests/tests/responses_api.rs; prints one JSON line of what the SDK
saw, which the Rust test checks against the ledger."""

import json
import os

import openai
from openai.lib._parsing._responses import type_to_text_format_param
from pydantic import BaseModel

base = os.environ["TOLLGATE_EDGE_URL"]
key = os.environ["TOLLGATE_KEY"]
models = os.environ["TOLLGATE_MODELS"].split(",")
out = {}

o = openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)


class Weather(BaseModel):
    city: str
    temperature_c: float


def usage(u):
    return {
        "input": u.input_tokens,
        "output": u.output_tokens,
        "total": u.total_tokens,
        "cost": (u.model_extra or {}).get("cost"),
    }


weather_tool = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}

def stored_flow(model):
    """Stored conversation state: a tool call continued by previous_response_id, the stored
    response read back (retrieve, input_items), then deleted."""
    first = o.responses.create(
        model=model,
        input="What is the weather in Rome? Use the tool.",
        tools=[weather_tool],
        tool_choice="required",
        max_output_tokens=64,
    )
    calls = [i for i in first.output if i.type == "function_call"]
    second = o.responses.create(
        model=model,
        previous_response_id=first.id,
        input=[
            {"type": "function_call_output", "call_id": c.call_id, "output": '{"sky":"clear"}'}
            for c in calls
        ],
        tools=[weather_tool],
        max_output_tokens=64,
    )
    got = o.responses.retrieve(second.id)
    items = o.responses.input_items.list(second.id)
    deleted = o.responses.delete(first.id)
    try:
        o.responses.retrieve(first.id)
        gone = False
    except openai.NotFoundError:
        gone = True
    return {
        "first_id": first.id,
        "calls": [c.name for c in calls],
        "second_text": second.output_text,
        "retrieved_id": got.id,
        "retrieved_text": got.output_text,
        "retrieved_usage": usage(got.usage),
        "second_usage": usage(second.usage),
        "input_item_types": [getattr(i, "type", None) for i in items.data],
        "deleted": deleted is None or getattr(deleted, "deleted", True),
        "gone_after_delete": gone,
        "usage": [usage(first.usage), usage(second.usage)],
    }


if os.environ.get("TOLLGATE_STORED") == "1":
    print(json.dumps({m: stored_flow(m) for m in models}))
    raise SystemExit(0)

for model in models:
    r = {}
    raw = o.responses.with_raw_response.create(
        model=model,
        instructions="be brief",
        input="hello there",
        max_output_tokens=64,
        store=False,
    )
    plain = raw.parse()
    r["plain"] = {
        "request_id": raw.headers.get("x-request-id"),
        "object": plain.object,
        "status": plain.status,
        "id": plain.id,
        "text": plain.output_text,
        "output_types": [i.type for i in plain.output],
        "usage": usage(plain.usage),
    }

    with o.responses.stream(
        model=model,
        input=[{"role": "user", "content": [{"type": "input_text", "text": "stream please"}]}],
        max_output_tokens=64,
        store=False,
    ) as s:
        events = [e for e in s]
        final = s.get_final_response()
    r["stream"] = {
        "types": [e.type for e in events],
        "sequence": [e.sequence_number for e in events],
        "deltas": "".join(e.delta for e in events if e.type == "response.output_text.delta"),
        "text": final.output_text,
        "status": final.status,
        "output_types": [i.type for i in final.output],
        "usage": usage(final.usage),
    }

    try:
        parsed = o.responses.parse(
            model=model,
            input="Weather in Rome as JSON",
            text_format=Weather,
            max_output_tokens=200,
            store=False,
        )
        r["parse"] = {
            "parsed": parsed.output_parsed.model_dump() if parsed.output_parsed else None,
            "usage": usage(parsed.usage),
        }
    except Exception as e:  # the Rust test names the model and shows the raw answer
        raw = o.responses.with_raw_response.create(
            model=model,
            input="Weather in Rome as JSON",
            text={"format": type_to_text_format_param(Weather)},
            max_output_tokens=200,
            store=False,
        )
        r["parse"] = {"error": repr(e), "raw": raw.text}

    # Two turns of a tool call, the conversation carried by the client (store=False, as the
    # Codex CLI does).
    conversation = [{"role": "user", "content": "What is the weather in Rome? Use the tool."}]
    first = o.responses.create(
        model=model,
        input=conversation,
        tools=[weather_tool],
        tool_choice="required",
        max_output_tokens=64,
        store=False,
    )
    calls = [i for i in first.output if i.type == "function_call"]
    conversation += [c.model_dump(exclude_none=True) for c in calls]
    conversation += [
        {"type": "function_call_output", "call_id": c.call_id, "output": '{"sky":"clear"}'}
        for c in calls
    ]
    second = o.responses.create(
        model=model,
        input=conversation,
        tools=[weather_tool],
        max_output_tokens=64,
        store=False,
    )
    r["tools"] = {
        "calls": [c.name for c in calls],
        "arguments": [json.loads(c.arguments) for c in calls],
        "call_ids": [c.call_id for c in calls],
        "second_text": second.output_text,
        "usage": [usage(first.usage), usage(second.usage)],
    }
    out[model] = r

try:
    o.responses.create(model="no-such-model", input="hi", store=False)
except openai.NotFoundError as e:
    out["error:unknown_model"] = {"status": e.status_code, "code": e.code}

try:
    o.responses.create(
        model=models[0], input="hi", tools=[{"type": "web_search_preview"}], store=False
    )
except openai.BadRequestError as e:
    out["error:builtin_tool"] = {"status": e.status_code, "message": e.message}

print(json.dumps(out))
