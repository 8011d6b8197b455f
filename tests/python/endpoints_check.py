"""The official OpenAI Python SDK's images, audio and moderations calls against a running
Tollgate edge, unchanged but for base URL and key: images.generate, audio.speech.create
(streamed), audio.transcriptions.create(file=...), moderations.create. Run by
tests/tests/unit_endpoints.rs; prints one JSON document of what the SDK saw (with each call's
request id), which the Rust test checks against the ledger."""

import json
import os

import openai

base = os.environ["TOLLGATE_EDGE_URL"]
key = os.environ["TOLLGATE_KEY"]
o = openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)
out = {}


def extra(model):
    return (getattr(model, "model_extra", None) or {}) if model is not None else {}


raw = o.images.with_raw_response.generate(model="image-mock", prompt="a red fox in the snow", n=2)
img = raw.parse()
out["images"] = {
    "request_id": raw.headers["x-request-id"],
    "count": len(img.data),
    "b64": all(bool(d.b64_json) for d in img.data),
    "input_tokens": img.usage.input_tokens,
    "output_tokens": img.usage.output_tokens,
    "cost": extra(img.usage).get("cost"),
}

speech_input = "Hello from the official SDK."
with o.audio.speech.with_streaming_response.create(
    model="tts-mock", voice="alloy", input=speech_input, response_format="mp3"
) as r:
    audio = b"".join(r.iter_bytes())
    out["speech"] = {
        "request_id": r.headers["x-request-id"],
        "content_type": r.headers["content-type"],
        "bytes": len(audio),
        "characters": len(speech_input),
    }

raw = o.audio.transcriptions.with_raw_response.create(
    model="whisper-mock", file=("speech.mp3", bytes(range(256)) * 40, "audio/mpeg")
)
t = raw.parse()
out["transcription"] = {
    "request_id": raw.headers["x-request-id"],
    "text": t.text,
    "seconds": t.usage.seconds if t.usage is not None else None,
    "cost": extra(t.usage).get("cost"),
}

raw = o.moderations.with_raw_response.create(
    model="moderation-mock", input=["I will kill the lights", "hello"]
)
m = raw.parse()
out["moderations"] = {
    "request_id": raw.headers["x-request-id"],
    "model": m.model,
    "flagged": [r.flagged for r in m.results],
    "violence": m.results[0].categories.violence,
}

try:
    o.images.generate(model="claude-mock", prompt="a fox")
    out["error"] = None
except openai.BadRequestError as e:
    out["error"] = {"status": e.status_code, "code": e.code}

print(json.dumps(out))
