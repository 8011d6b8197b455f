//! A streamed answer: routing's frames written to the client as they come, settled when the
//! stream ends, is cut, or the client goes away (the body is dropped then, and the
//! [`Settlement`]'s drop settles as `499 client_closed_request`).
//!
//! Three state machines run side by side, each its own piece: the relay itself
//! ([`Relay::on_frame`]: frames → bytes and settlement), the cost tail ([`CostTail`]: the
//! usage event held back until its cost is known) and the budget watch ([`Overrun`], driven by
//! [`Relay::watch_budget`]). A stream that cannot finish ends with one explicit error
//! event ([`Cut`]), never a silent truncated 200. That includes a stream still open when
//! shutdown's drain deadline passes ([`DRAIN`]).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures::Stream;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tollgate_formats::stream_error::{Dialect, ErrorClass, stream_error_event};
use tollgate_proto::routing::v1 as rpc;

use crate::overrun::{Extended, Overrun};
use crate::settle::{Ending, Settlement};
use crate::stored::{Keep, Keeping};
use crate::stream_cost::CostTail;

tokio::task_local! {
    /// Fired when shutdown's drain deadline passes. Set by the accept loop around each
    /// connection (`hardening/serve.rs`), so every stream on it can end with its own error
    /// event rather than be dropped mid-answer; handlers need not carry it.
    pub static DRAIN: CancellationToken;
}

/// Why a streamed answer ended early. The event the client reads and the outcome settlement
/// records both come from this one value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// Routing went away mid-answer.
    Interrupted,
    /// The budget has no room left for the rest of the answer (`overrun`).
    BudgetExhausted,
    /// The edge is shutting down and the drain deadline passed.
    Drained,
}

impl Cut {
    fn code(self) -> &'static str {
        match self {
            Cut::Interrupted => "upstream_stream_interrupted",
            Cut::BudgetExhausted => "budget_exceeded",
            Cut::Drained => "server_shutting_down",
        }
    }

    /// What settlement records. An interruption is the gateway's failure (502, whatever status
    /// went out first); a budget cut is the answer the caller's budget paid for (200).
    pub fn ending(self) -> Ending<'static> {
        let status = match self {
            Cut::Interrupted => 502,
            Cut::BudgetExhausted => 200,
            // The gateway ended it, not the caller's budget: a 503, as a new request would get.
            Cut::Drained => 503,
        };
        Ending::Cut {
            status,
            code: self.code(),
        }
    }

    /// The event that ends the stream, in the client's format.
    pub fn event(self, format: rpc::WireFormat) -> Bytes {
        let (class, message) = match self {
            Cut::Interrupted => (
                ErrorClass::Server,
                "The response was interrupted inside the gateway.",
            ),
            Cut::BudgetExhausted => (
                ErrorClass::Quota,
                "The budget has no room left for the rest of this response; it was ended here \
                 and billed for what was delivered.",
            ),
            Cut::Drained => (
                ErrorClass::Server,
                "The gateway is restarting; this response was ended here. Retry the request.",
            ),
        };
        stream_error_event(dialect(format), class, message, self.code())
    }
}

/// The error-event dialect of a wire format: Anthropic's on `/v1/messages`, OpenAI's elsewhere.
pub fn dialect(format: rpc::WireFormat) -> Dialect {
    match format {
        rpc::WireFormat::AnthropicMessages => Dialect::Anthropic,
        rpc::WireFormat::OpenaiResponses => Dialect::Responses,
        _ => Dialect::OpenAi,
    }
}

/// The body of a streamed answer: the relay, polled inside the handler's span (kept apart so
/// entering it borrows only the span).
pub struct RelayStream {
    relay: Relay,
    span: tracing::Span,
}

struct Relay {
    /// `None` only once handed to the tail reader at drop.
    frames: Option<tonic::Streaming<rpc::ChatFrame>>,
    /// The answer's final event (`[DONE]`, `message_stop`) reached the client.
    delivered_end: bool,
    /// `None` once settled; what the cost tail still holds goes out, then the stream ends.
    settle: Option<Settlement>,
    format: rpc::WireFormat,
    /// Holds the usage event until its cost is known.
    cost: CostTail,
    /// Watches the budget reservation (streams with a budget only).
    overrun: Option<Overrun>,
    /// A Responses answer to store: kept from the final event the cost tail releases.
    keep: Option<Keep>,
    /// The final event, held while its Response goes to Redis (so the next turn finds it).
    keeping: Option<(Keeping, Bytes)>,
    /// Shutdown's drain deadline, when served by the accept loop.
    drain: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
}

/// What one frame from routing comes to.
enum Step {
    /// Nothing to write yet.
    Next,
    Write(Bytes),
    Cut(Cut),
    /// Routing ended the stream.
    End,
}

impl RelayStream {
    /// The relay of `frames`, settled through `settle`, inside the current (handler's) span.
    pub fn new(
        frames: tonic::Streaming<rpc::ChatFrame>,
        settle: Settlement,
        format: rpc::WireFormat,
        include_usage: bool,
        overrun: Option<Overrun>,
        keep: Option<Keep>,
    ) -> RelayStream {
        RelayStream {
            relay: Relay {
                frames: Some(frames),
                delivered_end: false,
                settle: Some(settle),
                format,
                cost: CostTail::new(format, include_usage),
                overrun,
                keep,
                keeping: None,
                drain: DRAIN
                    .try_with(|d| Box::pin(d.clone().cancelled_owned()))
                    .ok(),
            },
            span: tracing::Span::current(),
        }
    }
}

impl Relay {
    /// Whether the drain deadline passed: the stream ends now, with its error event.
    fn drained(&mut self, cx: &mut Context<'_>) -> bool {
        self.drain
            .as_mut()
            .is_some_and(|d| d.as_mut().poll(cx).is_ready())
    }

    /// Drive a budget extension in flight (rare); frames wait for it. `Some` when the budget
    /// has no room left.
    fn watch_budget(&mut self, cx: &mut Context<'_>) -> Poll<Option<Cut>> {
        let Some(o) = self.overrun.as_mut() else {
            return Poll::Ready(None);
        };
        match ready!(o.poll_pending(cx)) {
            None | Some(Extended::Unknown) => Poll::Ready(None),
            Some(Extended::Yes(t)) => {
                if let Some(s) = self.settle.as_mut() {
                    s.add_extension(t);
                }
                Poll::Ready(None)
            }
            Some(Extended::No) => {
                tracing::info!("stream ended: its budget has no room left");
                Poll::Ready(Some(Cut::BudgetExhausted))
            }
        }
    }

    /// One frame from routing: feed the settlement, the cost tail and the budget watch.
    fn on_frame(&mut self, frame: Option<Result<rpc::ChatFrame, tonic::Status>>) -> Step {
        let Some(settle) = self.settle.as_mut() else {
            return Step::End;
        };
        let kind = match frame {
            None => return Step::End,
            Some(Err(status)) => {
                tracing::warn!(code = ?status.code(), "routing stream broke after the first byte");
                return Step::Cut(Cut::Interrupted);
            }
            Some(Ok(rpc::ChatFrame { kind: Some(k) })) => k,
            Some(Ok(rpc::ChatFrame { kind: None })) => return Step::Next,
        };
        match kind {
            rpc::chat_frame::Kind::Data(b) => {
                settle.on_data(&b);
                self.cost.on_data(b).map_or(Step::Next, Step::Write)
            }
            rpc::chat_frame::Kind::Progress(p) => {
                if let Some(o) = self.overrun.as_mut() {
                    o.on_progress(&p);
                }
                settle.on_progress(p);
                Step::Next
            }
            rpc::chat_frame::Kind::Usage(u) => {
                settle.on_usage(u);
                if self.cost.is_holding() {
                    let cost = settle.reported_cost();
                    let released = self.cost.release(cost);
                    if let (Some(keep), Some(b)) = (self.keep.take(), released.as_ref())
                        && let Some(keeping) = keep.streamed(b)
                    {
                        self.keeping = Some((keeping, b.clone()));
                        return Step::Next;
                    }
                    return released.map_or(Step::Next, Step::Write);
                }
                Step::Next
            }
            rpc::chat_frame::Kind::Start(_) | rpc::chat_frame::Kind::Failure(_) => Step::Next,
        }
    }

    /// End the stream early: settle as the client saw it, and say why in the stream, after
    /// anything the cost tail held. Audio cannot carry an error event: its body ends in error
    /// instead, so the client sees a broken download rather than a short file that looks whole.
    fn cut(&mut self, cut: Cut) -> Result<Bytes, std::io::Error> {
        if let Some(s) = self.settle.take() {
            s.finish(cut.ending());
        }
        if self.format == rpc::WireFormat::OpenaiSpeech {
            return Err(std::io::Error::other(cut.code()));
        }
        Ok(self.cost.before(cut.event(self.format)))
    }
}

impl Stream for RelayStream {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let RelayStream { relay: this, span } = &mut *self;
        let _g = span.enter();
        loop {
            if let Some((keeping, _)) = this.keeping.as_mut() {
                ready!(keeping.as_mut().poll(cx));
                if let Some((_, b)) = this.keeping.take() {
                    this.delivered_end |= ends_answer(&b, this.format);
                    return Poll::Ready(Some(Ok(b)));
                }
            }
            if this.settle.is_none() {
                // Ended: anything still held goes out last (a stream cut after the usage event).
                return Poll::Ready(this.cost.take().map(Ok));
            }
            if this.drained(cx) {
                tracing::info!("stream ended: the drain deadline passed");
                return Poll::Ready(Some(this.cut(Cut::Drained)));
            }
            if let Some(cut) = ready!(this.watch_budget(cx)) {
                return Poll::Ready(Some(this.cut(cut)));
            }
            let Some(frames) = this.frames.as_mut() else {
                return Poll::Ready(None);
            };
            let frame = ready!(Pin::new(frames).poll_next(cx));
            match this.on_frame(frame) {
                Step::Next => {}
                Step::Write(b) => {
                    this.delivered_end |= ends_answer(&b, this.format);
                    return Poll::Ready(Some(Ok(b)));
                }
                Step::Cut(cut) => return Poll::Ready(Some(this.cut(cut))),
                Step::End => {
                    if let Some(s) = this.settle.take() {
                        s.finish(Ending::Answered);
                    }
                }
            }
        }
    }
}

/// Whether `b` carries the final event of an answer: OpenAI's `[DONE]` or Anthropic's
/// `message_stop` (a look at the end of the frame, where it stands), or a Responses stream's
/// final event (its name leads the event, whose Response object may be long).
/// Only a Responses stream is searched whole, so chat and Messages frames still cost one look
/// at their tail.
fn ends_answer(b: &[u8], format: rpc::WireFormat) -> bool {
    if format == rpc::WireFormat::OpenaiResponses {
        return RESPONSES_ENDS
            .iter()
            .any(|e| memchr::memmem::find(b, e).is_some());
    }
    let tail = &b[b.len().saturating_sub(128)..];
    tail.ends_with(b"data: [DONE]\n\n") || memchr::memmem::find(tail, b"message_stop").is_some()
}

/// The events that end a Responses API stream.
const RESPONSES_ENDS: [&[u8]; 3] = [
    b"event: response.completed\n",
    b"event: response.incomplete\n",
    b"event: response.failed\n",
];

/// How long a client that left with the whole answer lets routing's last frames (its exact
/// usage) arrive before the request is settled without them.
const TAIL_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

impl Drop for Relay {
    /// The body is dropped before the stream ended: the client went away. One that left right
    /// after the answer's final event (SDKs close at `[DONE]`, racing routing's usage frame)
    /// got the whole answer: read the rest of routing's frames in the background and settle as
    /// answered, with the provider's exact usage. Anyone else hung up mid-answer: the
    /// settlement's drop records 499, and dropping the frames tells routing to stop.
    fn drop(&mut self) {
        // Spawning needs the runtime; a body dropped outside it (never, in practice) settles
        // through the settlement's own drop.
        if !self.delivered_end || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let (Some(mut settle), Some(mut frames)) = (self.settle.take(), self.frames.take()) else {
            return;
        };
        let Some(tracker) = settle.tracker() else {
            return;
        };
        let tail = async move {
            let read = tokio::time::timeout(TAIL_WAIT, async {
                while let Ok(Some(frame)) = frames.message().await {
                    match frame.kind {
                        Some(rpc::chat_frame::Kind::Usage(u)) => settle.on_usage(u),
                        Some(rpc::chat_frame::Kind::Progress(p)) => settle.on_progress(p),
                        _ => {}
                    }
                }
            })
            .await;
            if read.is_err() {
                tracing::debug!("routing's tail did not arrive in time; settling without it");
            }
            settle.finish(Ending::Answered);
        };
        // Among the side effects shutdown waits for, like the settlement itself.
        tracker.spawn(tail);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answers_final_event_is_recognised_in_both_formats() {
        let chat = rpc::WireFormat::OpenaiChat;
        assert!(ends_answer(b"data: {\"x\":1}\n\ndata: [DONE]\n\n", chat));
        assert!(ends_answer(
            b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
            rpc::WireFormat::AnthropicMessages
        ));
        assert!(!ends_answer(b"data: {\"choices\":[]}\n\n", chat));
        assert!(!ends_answer(b"", chat));
        let responses = rpc::WireFormat::OpenaiResponses;
        assert!(ends_answer(
            b"event: response.completed\ndata: {\"type\":\"response.completed\"}\n\n",
            responses
        ));
        assert!(!ends_answer(
            b"event: response.output_text.delta\ndata: {}\n\n",
            responses
        ));
    }

    #[test]
    fn the_ending_event_speaks_the_clients_format() {
        let event = |f| Cut::BudgetExhausted.event(f);
        let openai = String::from_utf8(event(rpc::WireFormat::OpenaiChat).to_vec()).unwrap();
        let data = openai.strip_prefix("data: ").unwrap().trim_end();
        let v: serde_json::Value = serde_json::from_str(data).unwrap();
        assert_eq!(v["error"]["code"], "budget_exceeded");
        let anthropic =
            String::from_utf8(event(rpc::WireFormat::AnthropicMessages).to_vec()).unwrap();
        assert!(anthropic.starts_with("event: error\n"), "{anthropic}");
        assert!(anthropic.contains("rate_limit_error"), "{anthropic}");
    }

    #[test]
    fn a_drained_stream_says_so_in_its_format_and_settles_as_503() {
        let text = |f| String::from_utf8(Cut::Drained.event(f).to_vec()).unwrap();
        let openai = text(rpc::WireFormat::OpenaiChat);
        let v: serde_json::Value =
            serde_json::from_str(openai.strip_prefix("data: ").unwrap().trim_end()).unwrap();
        assert_eq!(v["error"]["code"], "server_shutting_down");
        assert!(text(rpc::WireFormat::AnthropicMessages).starts_with("event: error\n"));
        assert!(matches!(
            Cut::Drained.ending(),
            Ending::Cut {
                status: 503,
                code: "server_shutting_down"
            }
        ));
    }

    #[test]
    fn an_interrupted_stream_says_so_with_a_server_error() {
        let openai = Cut::Interrupted.event(rpc::WireFormat::OpenaiChat);
        let text = std::str::from_utf8(&openai).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(text.strip_prefix("data: ").unwrap().trim_end()).unwrap();
        assert_eq!(v["error"]["code"], "upstream_stream_interrupted");
        // The shared renderer's type for a gateway failure (it said `api_error` before).
        assert_eq!(v["error"]["type"], "server_error");
        let anthropic = Cut::Interrupted.event(rpc::WireFormat::AnthropicMessages);
        assert!(
            std::str::from_utf8(&anthropic)
                .unwrap()
                .contains("api_error")
        );
    }
}
