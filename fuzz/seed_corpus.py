"""Regenerates the seed corpus in fuzz/corpus/ from the golden translation fixtures in
crates/formats/tests/fixtures (real documented provider examples) plus a few hand-written edge
cases. Run from the repository root: python3 fuzz/seed_corpus.py. The output is committed; the
fuzzer's own finds go to fuzz/target/corpus (scripts/fuzz.sh), not here."""

import glob
import json
import os
import struct
import zlib

FIX = "crates/formats/tests/fixtures"
OUT = "fuzz/corpus"


def write(target, name, data):
    os.makedirs(f"{OUT}/{target}", exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(f"{OUT}/{target}/{name}", "wb") as f:
        f.write(data)


def compact(v):
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def sse_openai(events):
    return "".join(f"data: {compact(e)}\n\n" for e in events) + "data: [DONE]\n\n"


def sse_anthropic(events):
    return "".join(f"event: {e['type']}\ndata: {compact(e)}\n\n" for e in events)


def sse_plain(events):
    return "".join(f"data: {compact(e)}\r\n\r\n" for e in events)


def frame(message_type, event_type, payload):
    """One application/vnd.amazon.eventstream message, as Bedrock sends it."""
    type_header = {"exception": ":exception-type", "error": ":error-code"}.get(
        message_type, ":event-type"
    )
    headers = b""
    for name, value in [
        (":message-type", message_type),
        (type_header, event_type),
        (":content-type", "application/json"),
    ]:
        n, v = name.encode(), value.encode()
        headers += bytes([len(n)]) + n + b"\x07" + struct.pack(">H", len(v)) + v
    body = compact(payload).encode()
    total = 12 + len(headers) + len(body) + 4
    prelude = struct.pack(">II", total, len(headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    msg = prelude + headers + body
    return msg + struct.pack(">I", zlib.crc32(msg))


def main():
    fixtures = {}
    for path in sorted(glob.glob(f"{FIX}/*/*.json")):
        name = os.path.splitext(os.path.basename(path))[0]
        with open(path) as f:
            fixtures[name] = json.load(f)

    for name, fx in fixtures.items():
        kind = fx.get("kind") or fx.get("direction", "")
        inp = fx.get("input")
        if name.startswith("request") or "request" in kind:
            write("translate_request", name, json.dumps(inp, indent=1))
            write("request_peek", name, compact(inp))
        elif name.startswith("response") or "response" in name:
            write("translate_response", name, json.dumps(inp, indent=1))
            write("request_peek", name, compact(inp))
        elif kind == "stream_a2o":
            write("translate_stream", name, sse_anthropic(inp))
            write("sse_decoder", name, sse_anthropic(inp))
        elif kind == "stream_o2a":
            write("translate_stream", name, sse_openai(inp))
            write("sse_decoder", name, sse_openai(inp))
        elif kind == "stream_c2o":
            body = b"".join(frame(*f) for f in fx["frames"])
            write("bedrock_eventstream", name, body)
        elif "stream" in name:
            body = inp if isinstance(inp, str) else sse_plain(inp)
            write("translate_stream", name, body)
            write("sse_decoder", name, body)

    # SSE edge cases: CRLF and bare CR line ends, comments, BOM, multi-line data, id/retry.
    write("sse_decoder", "crlf_comments", ": keep-alive\r\nevent: ping\r\ndata: {}\r\n\r\n")
    write("sse_decoder", "bom_cr_multiline", b"\xef\xbb\xbfdata: a\rdata:b\r\rid: 7\nretry: 10\ndata\n\n")
    write("sse_decoder", "unterminated", 'data: {"choices":[{"delta":{"content":"cut')

    # Bedrock: a truncated frame, a frame with a bad CRC, and an error frame.
    ok = frame("event", "messageStart", {"role": "assistant"})
    write("bedrock_eventstream", "truncated", ok[: len(ok) - 5])
    write("bedrock_eventstream", "bad_crc", ok[:-1] + bytes([ok[-1] ^ 0xFF]))
    write(
        "bedrock_eventstream",
        "throttling",
        frame("exception", "throttlingException", {"message": "Too many requests"}),
    )

    # Bodies the peeks see on the hot path.
    write("request_peek", "chat_stream", '{"model":"gpt-4o","stream":true,"stream_options":{},'
          '"messages":[{"role":"user","content":"hi"}],"max_tokens":5}')
    write("request_peek", "chat_dup_model", '{"model":"a","model":"b","stream":true,'
          '"stream_options":null,"messages":[]}')
    write("request_peek", "embeddings", '{"model":"text-embedding-3-small","input":["a","b"],'
          '"encoding_format":"base64"}')
    write("request_peek", "messages", '{"model":"claude-sonnet-4-5","max_tokens":1024,'
          '"messages":[{"role":"user","content":"Hello"}],"stream":true}')
    write("request_peek", "router", '{"model":"openrouter/auto","provider":{"order":["openai"],'
          '"sort":"price","max_price":{"prompt":1}},"models":["a","b"],"messages":[]}')

    # Error bodies the error translations read.
    write("translate_response", "openai_error", '{"error":{"message":"Rate limit reached",'
          '"type":"requests","param":null,"code":"rate_limit_exceeded"}}')
    write("translate_response", "anthropic_error", '{"type":"error","error":'
          '{"type":"overloaded_error","message":"Overloaded"}}')


if __name__ == "__main__":
    main()
