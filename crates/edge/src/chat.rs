//! `POST /v1/chat/completions`: peek, admit, hand to routing, relay the frames.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::Stream;
use http::{HeaderValue, header};
use tollgate_domain::RequestId;
use tollgate_proto::routing::v1 as rpc;

use crate::admission::{self, Admitted};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::settle::Settlement;
use crate::state::AppState;

/// The UUIDv7 minted for this request by the request-id layer.
#[derive(Clone, Copy, Debug)]
pub struct RequestIdExt(pub RequestId);

/// What a handler peeked from its request, whatever its wire format: all the shared flow needs.
pub(crate) struct Peeked {
    pub format: rpc::WireFormat,
    pub model: String,
    pub stream: bool,
    pub max_tokens: Option<u64>,
    pub prompt_tokens_estimate: u64,
    /// OpenAI `stream_options.include_usage`.
    pub include_usage: bool,
}

/// The request body, or the refusal for one that could not be read.
pub(crate) fn read_body(
    state: &AppState,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Bytes, ApiError> {
    body.map_err(|e| {
        if e.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::BodyTooLarge {
                limit: state.max_body,
            }
        } else {
            ApiError::bad_request("The request body could not be read.", None)
        }
    })
}

#[tracing::instrument(
    skip_all,
    fields(request_id = %rid.0, tenant_id = %caller.0.identity.tenant_id, key_id = %caller.0.identity.key_id, model, stream, deployment)
)]
pub async fn chat_completions(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(rid): Extension<RequestIdExt>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let body = read_body(&state, body)?;
    let peek = tollgate_formats::openai::peek_chat(&body).map_err(|e| ApiError::BadRequest {
        message: e.to_string(),
        param: e.param().map(str::to_owned),
        code: e.code().unwrap_or("invalid_request"),
    })?;
    let peek = Peeked {
        format: rpc::WireFormat::OpenaiChat,
        model: peek.model,
        stream: peek.stream,
        max_tokens: peek.max_tokens,
        prompt_tokens_estimate: peek.prompt_tokens_estimate,
        include_usage: peek.include_usage,
    };
    serve(state, caller, rid, body, peek).await
}

/// The flow every model call shares once its request is peeked: price check, admission, one
/// routing call, then the answer (whole or streamed), settled exactly once. Runs inside the
/// handler's span.
pub(crate) async fn serve(
    state: AppState,
    caller: Caller,
    rid: RequestIdExt,
    body: Bytes,
    peek: Peeked,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let started_at = SystemTime::now();
    let span = tracing::Span::current();
    span.record("model", peek.model.as_str());
    span.record("stream", peek.stream);

    let output_allowance = peek
        .max_tokens
        .unwrap_or(u64::from(state.limits.budget_output_tokens));
    let estimate = {
        let prices = state.prices.load();
        if !prices.knows(&peek.model) {
            return Err(ApiError::UnknownModel(peek.model));
        }
        // Refused before admission, so it spends none of the key's limits.
        if !caller.0.allows(&peek.model, |a, b| prices.same_model(a, b)) {
            return Err(ApiError::ModelNotAllowed(peek.model));
        }
        prices.estimate(&peek.model, peek.prompt_tokens_estimate, output_allowance)
    };
    let ask = admission::Ask {
        model: &peek.model,
        tokens: peek.prompt_tokens_estimate.saturating_add(output_allowance),
    };
    let Admitted { ticket, headers } =
        match admission::admit_for(&state, &caller.0, rid.0, estimate, ask).await {
            Ok(a) => a,
            // A refusal answers with the rate-limit headers that explain it.
            Err(refused) => return Ok(refused.into_response()),
        };
    let holds_budget = ticket.holds_budget();
    let mut settle = Settlement::new(
        state.clone(),
        ticket,
        caller.0.clone(),
        rid.0,
        peek.model.clone(),
        peek.stream,
        peek.prompt_tokens_estimate,
        &body,
        started,
        started_at,
    );

    let id = &caller.0.identity;
    let call = rpc::ChatCall {
        request_id: rid.0.to_string(),
        format: peek.format as i32,
        body,
        model: peek.model.clone(),
        stream: peek.stream,
        identity: Some(rpc::Identity {
            tenant_id: id.tenant_id.clone(),
            team_id: id.team_id.clone(),
            key_id: id.key_id.clone(),
            user_id: id.user_id.clone(),
        }),
        // Routing applies it to the model and to every fallback.
        policy: Some(caller.0.policy()),
        deadline_ms: state.request_timeout.as_millis() as u64,
        include_usage: peek.include_usage,
    };
    let mut req = tonic::Request::new(call);
    req.set_timeout(state.request_timeout);
    let mut frames = match state.routing.clone().chat(req).await {
        Ok(r) => r.into_inner(),
        Err(status) => {
            let err = crate::error::from_status(&status);
            settle.fail(err.status().as_u16(), err.code());
            settle.finish(false);
            return Err(err);
        }
    };

    // Before the first byte: wait for Start (success) or Failure (an HTTP error to answer with).
    let start = loop {
        match frames.message().await {
            Ok(Some(rpc::ChatFrame { kind: Some(k) })) => match k {
                rpc::chat_frame::Kind::Start(s) => break s,
                rpc::chat_frame::Kind::Failure(f) => {
                    let err = failure_to_error(&f, &peek.model);
                    settle.fail(err.status().as_u16(), err.code());
                    // The Usage frame that follows a Failure, if it comes promptly.
                    if let Ok(Some(rpc::ChatFrame {
                        kind: Some(rpc::chat_frame::Kind::Usage(u)),
                    })) = frames.message().await
                    {
                        settle.on_usage(u);
                    }
                    settle.finish(false);
                    return Err(err);
                }
                rpc::chat_frame::Kind::Usage(u) => settle.on_usage(u),
                rpc::chat_frame::Kind::Progress(p) => settle.on_progress(p),
                rpc::chat_frame::Kind::Data(_) => {}
            },
            Ok(Some(rpc::ChatFrame { kind: None })) => {}
            Ok(None) | Err(_) => {
                let err = ApiError::Unavailable("the routing service ended the call early");
                settle.fail(err.status().as_u16(), err.code());
                settle.finish(false);
                return Err(err);
            }
        }
    };
    settle.on_start(&start);
    tracing::Span::current().record("deployment", start.deployment.as_str());

    let status = http::StatusCode::from_u16(start.status as u16).unwrap_or(http::StatusCode::OK);
    let mut resp = if peek.stream {
        let overrun = crate::overrun::Overrun::start(
            &state,
            &caller.0,
            rid.0,
            holds_budget,
            &peek.model,
            &start.deployment,
            started_at,
            peek.prompt_tokens_estimate,
            estimate,
        );
        let relay = Relay {
            frames,
            settle: Some(settle),
            stream: true,
            format: peek.format,
            cost: crate::stream_cost::CostTail::new(peek.format, peek.include_usage),
            overrun,
        };
        Response::new(Body::from_stream(relay.instrument_stream()))
    } else {
        // A whole body arrives as one frame, with its usage right behind it: wait for both, so
        // the answer can carry its cost.
        let body = match collect(&mut frames, &mut settle).await {
            Ok(b) => b.freeze(),
            Err(e) => {
                settle.finish(false);
                return Err(e);
            }
        };
        let cost = settle.reported_cost();
        settle.finish(false);
        let mut resp = match cost {
            Some(c) => Response::new(Body::from(crate::cost::inject(&body, c))),
            None => Response::new(Body::from(body)),
        };
        if let Some(c) = cost
            && let Ok(v) = HeaderValue::from_str(&crate::cost::decimal(c))
        {
            resp.headers_mut().insert("x-tollgate-cost", v);
        }
        resp
    };
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    let ct = if start.content_type.is_empty() {
        if peek.stream {
            "text/event-stream"
        } else {
            "application/json"
        }
    } else {
        start.content_type.as_str()
    };
    if let Ok(v) = HeaderValue::from_str(ct) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if peek.stream {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    }
    if let Ok(v) = HeaderValue::from_str(&start.deployment) {
        h.insert("x-tollgate-deployment", v);
    }
    if let Ok(v) = HeaderValue::from_str(&start.provider) {
        h.insert("x-tollgate-provider", v);
    }
    headers.apply(h);
    Ok(resp.into_response())
}

/// Read a non-streamed answer to its end, feeding the settlement.
async fn collect(
    frames: &mut tonic::Streaming<rpc::ChatFrame>,
    settle: &mut Settlement,
) -> Result<bytes::BytesMut, ApiError> {
    let mut body = bytes::BytesMut::new();
    loop {
        match frames.message().await {
            Ok(Some(rpc::ChatFrame { kind: Some(k) })) => match k {
                rpc::chat_frame::Kind::Data(b) => {
                    settle.on_data(&b);
                    body.extend_from_slice(&b);
                }
                rpc::chat_frame::Kind::Progress(p) => settle.on_progress(p),
                rpc::chat_frame::Kind::Usage(u) => settle.on_usage(u),
                rpc::chat_frame::Kind::Start(_) | rpc::chat_frame::Kind::Failure(_) => {}
            },
            Ok(Some(rpc::ChatFrame { kind: None })) => {}
            Ok(None) => return Ok(body),
            Err(status) => {
                tracing::warn!(code = ?status.code(), "routing stream broke inside a whole response");
                settle.fail(502, "upstream_stream_interrupted");
                return Err(ApiError::Upstream(
                    "the response was interrupted inside the gateway".into(),
                ));
            }
        }
    }
}

fn failure_to_error(f: &rpc::Failure, model: &str) -> ApiError {
    use rpc::FailureKind as K;
    match K::try_from(f.kind).unwrap_or(K::Unspecified) {
        K::UnknownModel => ApiError::UnknownModel(model.to_owned()),
        K::ModelNotAllowed => ApiError::ModelNotAllowed(model.to_owned()),
        K::InvalidRequest => ApiError::UpstreamInvalid(f.message.clone()),
        K::ContextLengthExceeded => ApiError::ContextLengthExceeded(f.message.clone()),
        K::UpstreamRateLimited => ApiError::UpstreamRateLimited {
            retry_after: (f.retry_after_ms > 0)
                .then(|| std::time::Duration::from_millis(f.retry_after_ms)),
        },
        K::UpstreamTimeout => ApiError::UpstreamTimeout,
        K::UpstreamUnavailable => ApiError::Unavailable("no provider deployment is reachable"),
        K::UpstreamError | K::Unspecified => ApiError::Upstream(f.message.clone()),
    }
}

/// Writes routing's frames to the client as they come and settles when the stream ends or the
/// client goes away (the body is dropped then, and `Settlement`'s drop settles as cancelled).
struct Relay {
    frames: tonic::Streaming<rpc::ChatFrame>,
    settle: Option<Settlement>,
    stream: bool,
    format: rpc::WireFormat,
    /// Holds the usage event until its cost is known.
    cost: crate::stream_cost::CostTail,
    /// Watches the budget reservation (streams with a budget only).
    overrun: Option<crate::overrun::Overrun>,
}

impl Relay {
    fn instrument_stream(self) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
        let span = tracing::Span::current();
        RelayStream { relay: self, span }
    }
}

struct RelayStream {
    relay: Relay,
    span: tracing::Span,
}

impl Stream for RelayStream {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let _g = this.span.enter();
        let relay = &mut this.relay;
        loop {
            let Some(settle) = relay.settle.as_mut() else {
                // Anything still held goes out before the end (a stream cut after the usage event).
                return Poll::Ready(relay.cost.take().map(Ok));
            };
            // An extension of the budget reservation in flight (rare): frames wait for it.
            if let Some(o) = relay.overrun.as_mut() {
                match o.poll_pending(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(None | Some(crate::overrun::Extended::Unknown)) => {}
                    Poll::Ready(Some(crate::overrun::Extended::Yes(t))) => settle.add_extension(t),
                    Poll::Ready(Some(crate::overrun::Extended::No)) => {
                        tracing::info!("stream ended: its budget has no room left");
                        if let Some(mut s) = relay.settle.take() {
                            s.fail(200, "budget_exceeded");
                            s.finish(false);
                        }
                        let event = crate::overrun::error_event(relay.format);
                        return Poll::Ready(Some(Ok(relay.cost.before(event))));
                    }
                }
            }
            let frame = match Pin::new(&mut relay.frames).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(f) => f,
            };
            match frame {
                Some(Ok(rpc::ChatFrame { kind: Some(k) })) => match k {
                    rpc::chat_frame::Kind::Data(b) => {
                        settle.on_data(&b);
                        if let Some(out) = relay.cost.on_data(b) {
                            return Poll::Ready(Some(Ok(out)));
                        }
                    }
                    rpc::chat_frame::Kind::Progress(p) => {
                        if let Some(o) = relay.overrun.as_mut() {
                            o.on_progress(&p);
                        }
                        settle.on_progress(p);
                    }
                    rpc::chat_frame::Kind::Usage(u) => {
                        settle.on_usage(u);
                        if relay.cost.is_holding()
                            && let Some(out) = relay.cost.release(settle.reported_cost())
                        {
                            return Poll::Ready(Some(Ok(out)));
                        }
                    }
                    rpc::chat_frame::Kind::Start(_) | rpc::chat_frame::Kind::Failure(_) => {}
                },
                Some(Ok(rpc::ChatFrame { kind: None })) => {}
                Some(Err(status)) => {
                    // Routing went away mid-answer: say so in the stream, never a silent cut.
                    tracing::warn!(code = ?status.code(), "routing stream broke after the first byte");
                    if let Some(mut s) = relay.settle.take() {
                        s.fail(502, "upstream_stream_interrupted");
                        s.finish(false);
                    }
                    if relay.stream {
                        const MESSAGE: &str = "The response was interrupted inside the gateway.";
                        let event = if relay.format == rpc::WireFormat::AnthropicMessages {
                            tollgate_formats::anthropic::stream_error_event(
                                tollgate_formats::anthropic::ErrorKind::Api,
                                MESSAGE,
                            )
                        } else {
                            tollgate_formats::openai::stream_error_event(
                                MESSAGE,
                                "api_error",
                                Some("upstream_stream_interrupted"),
                                None,
                            )
                        };
                        return Poll::Ready(Some(Ok(relay.cost.before(event))));
                    }
                    return Poll::Ready(Some(Err(std::io::Error::other("stream interrupted"))));
                }
                None => {
                    if let Some(s) = relay.settle.take() {
                        s.finish(false);
                    }
                    return Poll::Ready(relay.cost.take().map(Ok));
                }
            }
        }
    }
}
