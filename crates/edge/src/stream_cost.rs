//! `usage.cost` in a stream's usage event, equal to what the ledger bills.
//!
//! The cost is only known once routing's Usage frame arrives, and that frame comes after the
//! last data frame. So the frame carrying the usage event (OpenAI chat and legacy completions:
//! the `include_usage` chunk;
//! Anthropic: `message_delta`, whose `usage` then carries `cost`) is held back until the Usage
//! frame, together with whatever follows it (`[DONE]`, `message_stop`), then released with the
//! cost spliced in by [`crate::cost::inject`].
//!
//! Per frame the only work is one search in the frame's last [`TAIL`] bytes (the usage event is
//! the last event but one, so it always ends there); JSON is never parsed. A Responses API
//! stream is searched whole: its usage sits inside the final Response object
//! (`response.completed`), followed by fields of any length (`metadata`), and it is the only
//! event whose `usage` is an object rather than `null`. Inside JSON strings
//! quotes are escaped, so the searched key can only match a real key.

use bytes::{Bytes, BytesMut};
use memchr::memmem;
use tollgate_domain::Money;
use tollgate_proto::routing::v1 as rpc;

/// How far from a frame's end the usage event's key can sit: the usage object, and the
/// `[DONE]` / `message_stop` that may follow it in the same frame.
const TAIL: usize = 1024;
/// A held frame never grows past this: a provider that sends more after its usage event is
/// relayed as is (without the cost) rather than buffered.
const MAX_HELD: usize = 64 * 1024;

const OPENAI_KEY: &[u8] = b"\"usage\":{";
const ANTHROPIC_KEY: &[u8] = b"\"type\":\"message_delta\"";

/// What the relay keeps back while waiting for the cost. Inactive (never holds) for formats or
/// requests with no usage event.
#[derive(Debug, Default)]
pub struct CostTail {
    key: Option<&'static [u8]>,
    /// Search the whole frame, not its tail.
    anywhere: bool,
    held: Option<BytesMut>,
}

impl CostTail {
    pub fn new(format: rpc::WireFormat, include_usage: bool) -> CostTail {
        let key = match format {
            rpc::WireFormat::AnthropicMessages => Some(ANTHROPIC_KEY),
            rpc::WireFormat::OpenaiChat
            | rpc::WireFormat::OpenaiResponses
            | rpc::WireFormat::OpenaiCompletions
                if include_usage =>
            {
                Some(OPENAI_KEY)
            }
            _ => None,
        };
        CostTail {
            key,
            anywhere: format == rpc::WireFormat::OpenaiResponses,
            held: None,
        }
    }

    pub fn is_holding(&self) -> bool {
        self.held.is_some()
    }

    fn carries_usage(&self, b: &[u8]) -> bool {
        let from = if self.anywhere {
            0
        } else {
            b.len().saturating_sub(TAIL)
        };
        self.key
            .is_some_and(|k| memmem::rfind(&b[from..], k).is_some())
    }

    /// A data frame from routing: what to write now (`None`: held, or nothing to write).
    pub fn on_data(&mut self, b: Bytes) -> Option<Bytes> {
        if self.held.is_some() {
            let repeated = self.carries_usage(&b);
            if let Some(held) = self.held.as_mut()
                && !repeated
                && held.len() + b.len() <= MAX_HELD
            {
                held.extend_from_slice(&b);
                return None;
            }
            // Not the end after all (a provider repeating usage, or too much after it): let the
            // held part go, and hold the newer usage event instead.
            let out = self.take().unwrap_or_default();
            if repeated {
                self.held = Some(BytesMut::from(&b[..]));
                return Some(out);
            }
            return Some(concat(&out, &b));
        }
        if self.carries_usage(&b) {
            self.held = Some(BytesMut::from(&b[..]));
            return None;
        }
        Some(b)
    }

    /// The Usage frame arrived: the held bytes with `cost` in their usage object.
    pub fn release(&mut self, cost: Option<Money>) -> Option<Bytes> {
        let held = self.held.take()?;
        Some(match cost {
            Some(c) => crate::cost::inject(&held, c),
            None => held.freeze(),
        })
    }

    /// Whatever is held, as is (the stream ended without a Usage frame).
    pub fn take(&mut self) -> Option<Bytes> {
        self.held.take().map(BytesMut::freeze)
    }

    /// `event`, after anything held (an error event must come last).
    pub fn before(&mut self, event: Bytes) -> Bytes {
        match self.take() {
            Some(h) => concat(&h, &event),
            None => event,
        }
    }
}

fn concat(a: &[u8], b: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(a.len() + b.len());
    out.extend_from_slice(a);
    out.extend_from_slice(b);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn data_events(out: &[u8]) -> Vec<String> {
        String::from_utf8(out.to_vec())
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("data: ").map(str::to_owned))
            .collect()
    }

    #[test]
    fn the_openai_usage_chunk_waits_for_its_cost_and_content_flows_untouched() {
        let mut t = CostTail::new(rpc::WireFormat::OpenaiChat, true);
        let content = b(
            "data: {\"choices\":[{\"delta\":{\"content\":\"say \\\"usage\\\":{\"}}],\"usage\":null}\n\n",
        );
        assert_eq!(t.on_data(content.clone()), Some(content));
        let usage = b(
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":16}}\n\n",
        );
        assert_eq!(t.on_data(usage), None);
        assert_eq!(t.on_data(b("data: [DONE]\n\n")), None);
        let out = t.release(Some(Money::from_picos(10_650_000))).unwrap();
        let events = data_events(&out);
        assert_eq!(events.len(), 2, "{events:?}");
        let v: Value = serde_json::from_str(&events[0]).unwrap();
        assert_eq!(v["usage"]["cost"].as_f64().unwrap(), 0.00001065);
        assert_eq!(v["usage"]["completion_tokens"], 16);
        assert_eq!(events[1], "[DONE]");
        assert!(!t.is_holding());
    }

    #[test]
    fn a_completions_usage_chunk_gets_its_cost_like_chat() {
        let mut t = CostTail::new(rpc::WireFormat::OpenaiCompletions, true);
        let text = b(
            "data: {\"object\":\"text_completion\",\"choices\":[{\"text\":\"hi\",\"index\":0,\"logprobs\":null,\"finish_reason\":null}]}\n\n",
        );
        assert_eq!(t.on_data(text.clone()), Some(text));
        let usage = b(
            "data: {\"object\":\"text_completion\",\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":16,\"total_tokens\":23}}\n\ndata: [DONE]\n\n",
        );
        assert_eq!(t.on_data(usage), None);
        let out = t.release(Some(Money::from_picos(10_650_000))).unwrap();
        let events = data_events(&out);
        let v: Value = serde_json::from_str(&events[0]).unwrap();
        assert_eq!(v["usage"]["cost"].as_f64().unwrap(), 0.00001065);
        assert_eq!(events[1], "[DONE]");
        // Without the usage chunk asked for, nothing is held.
        let mut t = CostTail::new(rpc::WireFormat::OpenaiCompletions, false);
        let usage = b("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7}}\n\n");
        assert_eq!(t.on_data(usage.clone()), Some(usage));
    }

    #[test]
    fn without_include_usage_nothing_is_ever_held() {
        let mut t = CostTail::new(rpc::WireFormat::OpenaiChat, false);
        let usage = b("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7}}\n\n");
        assert_eq!(t.on_data(usage.clone()), Some(usage));
        assert_eq!(t.release(Some(Money::from_picos(1))), None);
    }

    #[test]
    fn anthropic_cost_goes_into_message_delta_usage() {
        let mut t = CostTail::new(rpc::WireFormat::AnthropicMessages, false);
        let start = b(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n",
        );
        assert_eq!(t.on_data(start.clone()), Some(start));
        let end = b(
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":15}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        );
        assert_eq!(t.on_data(end), None);
        let out = t.release(Some(Money::from_picos(2_000_000))).unwrap();
        let events = data_events(&out);
        let v: Value = serde_json::from_str(&events[0]).unwrap();
        assert_eq!(v["usage"]["cost"].as_f64().unwrap(), 0.000002);
        assert_eq!(v["usage"]["output_tokens"], 15);
        assert_eq!(events[1], "{\"type\":\"message_stop\"}");
    }

    #[test]
    fn a_provider_repeating_usage_is_delayed_by_one_frame_at_most() {
        let mut t = CostTail::new(rpc::WireFormat::OpenaiChat, true);
        let f = |n: u32| {
            b(&format!(
                "data: {{\"choices\":[{{\"delta\":{{\"content\":\"{n}\"}}}}],\"usage\":{{\"completion_tokens\":{n}}}}}\n\n"
            ))
        };
        assert_eq!(t.on_data(f(1)), None);
        assert_eq!(t.on_data(f(2)), Some(f(1)));
        assert_eq!(t.on_data(f(3)), Some(f(2)));
        assert_eq!(
            t.before(b("data: [DONE]\n\n")),
            concat(&f(3), b"data: [DONE]\n\n")
        );
    }

    #[test]
    fn a_responses_stream_gets_its_cost_in_the_completed_response() {
        let mut t = CostTail::new(rpc::WireFormat::OpenaiResponses, true);
        let created = b(
            "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"usage\":null},\"sequence_number\":0}\n\n",
        );
        assert_eq!(t.on_data(created.clone()), Some(created));
        let meta = "x".repeat(4096);
        let done = format!(
            "event: response.completed\ndata: {{\"type\":\"response.completed\",\"response\":{{\"usage\":{{\"input_tokens\":3,\"output_tokens\":5}},\"metadata\":{{\"m\":\"{meta}\"}}}},\"sequence_number\":9}}\n\n"
        );
        assert_eq!(t.on_data(b(&done)), None, "held until the cost is known");
        let out = t.release(Some(Money::from_picos(1_500_000))).unwrap();
        let text = std::str::from_utf8(&out).unwrap();
        let data = text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
        let v: Value = serde_json::from_str(data).unwrap();
        assert_eq!(v["response"]["usage"]["cost"].as_f64().unwrap(), 0.0000015);
        assert_eq!(v["response"]["usage"]["output_tokens"], 5);
        assert!(text.starts_with("event: response.completed\n"));
    }
}
