//! The flow every model call shares once a route has peeked its request (chat, messages,
//! embeddings, OpenRouter's chat): read [`serve`] first, it is the steps in order.
//!
//! 1. [`check_model`]: the model exists (after [`catch_up`] with the config file when this edge
//!    does not know it) and the key may use it; the most it may cost.
//! 2. [`admit`]: one Redis round trip (`admission.rs`); a refusal answers with its headers.
//! 3. [`call_routing`]: one gRPC stream to routing with the raw body.
//! 4. [`await_start`]: routing's Start, or the Failure to answer with, before any byte.
//! 5. [`answer_whole`] (the body and its usage, then the cost in the answer) or
//!    [`answer_streamed`] (the frames relayed as they come, `relay.rs`).
//!
//! From admission on, a [`Settlement`] follows the request and ends it exactly once: every
//! failing step returns the [`ApiError`] the client gets, and [`serve`] settles with that very
//! error in one place; the answers settle when they are delivered; a client hanging up settles
//! as cancelled when the settlement is dropped.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, header};
use tollgate_domain::Money;
use tollgate_proto::routing::v1 as rpc;

use crate::admission::{self, Admitted, Ask, LimitHeaders};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::hardening;
use crate::overrun::Overrun;
use crate::relay::RelayStream;
use crate::request::{ModelCall, Peeked, RequestIdExt};
use crate::settle::{Ending, Settlement};
use crate::state::AppState;
use crate::stored::Keep;

/// What routing answered with once it started: the whole body, or the frames to relay.
enum Reply {
    Whole(Bytes),
    Streamed(tonic::Streaming<rpc::ChatFrame>),
}

/// Serve one model call, inside the handler's span.
pub(crate) async fn serve(
    state: AppState,
    caller: Caller,
    rid: RequestIdExt,
    body: Bytes,
    peek: Peeked,
) -> Result<Response, ApiError> {
    let mut call = ModelCall::start(caller.0, rid.0, peek);
    let keep = call.peek.keep.take();
    let span = tracing::Span::current();
    span.record("model", call.peek.model.as_str());
    span.record("stream", call.peek.stream);

    catch_up(&state, &call.peek.model).await;
    let (estimate, ask) = check_model(&state, &call)?;
    let Admitted { ticket, headers } = match admit(&state, &call, estimate, ask).await {
        Ok(a) => a,
        // A refusal answers with the rate-limit headers that explain it.
        Err(refused) => return Ok(refused),
    };
    let holds_budget = ticket.holds_budget();
    let mut settle = Settlement::new(state.clone(), ticket, &call, &body);

    let (start, reply) = match start_reply(&state, &call, body, &mut settle).await {
        Ok(r) => r,
        Err(err) => {
            // The one place a failed call settles: with the error its client receives.
            settle.finish(Ending::Refused(&err));
            return Err(err);
        }
    };
    let mut resp = match reply {
        Reply::Whole(body) => answer_whole(body, settle, keep).await,
        Reply::Streamed(frames) => {
            let overrun = Overrun::start(&state, &call, holds_budget, &start.deployment, estimate);
            answer_streamed(&call, frames, settle, overrun, keep)
        }
    };
    describe(&mut resp, &call, &start, &headers);
    Ok(resp)
}

/// Before step 1: a model this edge does not know may have just been added to the config file;
/// look at the file now rather than at the next poll (one `stat` when it did not change).
async fn catch_up(state: &AppState, model: &str) {
    if let Some(file) = &state.config_file
        && !state.prices.load().knows(model)
    {
        file.check().await;
    }
}

/// Step 1: the model is known and the key may use it (refused before admission, so neither
/// spends the caller's limits); the request's cost estimate and what it asks of token limits.
fn check_model<'a>(state: &AppState, call: &'a ModelCall) -> Result<(Money, Ask<'a>), ApiError> {
    let peek = &call.peek;
    let output_allowance = peek
        .max_tokens
        .unwrap_or(u64::from(state.limits.budget_output_tokens));
    let prices = state.prices.load();
    if !prices.knows(&peek.model) {
        return Err(ApiError::UnknownModel(peek.model.clone()));
    }
    if !prices.allows(&call.caller, &peek.model) {
        return Err(ApiError::ModelNotAllowed(peek.model.clone()));
    }
    if let Some(model) = prices.directory().get(&peek.model) {
        hardening::body::check_model_caps(model, peek.max_tokens, peek.n)?;
    }
    let estimate = prices.estimate(
        &peek.model,
        peek.prompt_tokens_estimate,
        output_allowance,
        peek.units,
    );
    let ask = Ask {
        model: &peek.model,
        tokens: peek.prompt_tokens_estimate.saturating_add(output_allowance),
    };
    Ok((estimate, ask))
}

/// Step 2: admission; a refusal is already the response (error and rate-limit headers).
async fn admit(
    state: &AppState,
    call: &ModelCall,
    estimate: Money,
    ask: Ask<'_>,
) -> Result<Admitted, Response> {
    admission::admit_for(state, &call.caller, call.request_id, estimate, ask)
        .await
        .map_err(IntoResponse::into_response)
}

/// Steps 3 and 4, and the whole body when the call is not streamed: everything that can still
/// fail with an HTTP error, feeding `settle` as frames come.
async fn start_reply(
    state: &AppState,
    call: &ModelCall,
    body: Bytes,
    settle: &mut Settlement,
) -> Result<(rpc::Start, Reply), ApiError> {
    let mut frames = call_routing(state, call, body).await?;
    let start = await_start(&mut frames, &call.peek.model, settle).await?;
    settle.on_start(&start);
    tracing::Span::current().record("deployment", start.deployment.as_str());
    if call.peek.stream {
        return Ok((start, Reply::Streamed(frames)));
    }
    // A whole body arrives as one frame, with its usage right behind it: wait for both, so the
    // answer can carry its cost.
    let body = collect_whole(&mut frames, settle).await?;
    Ok((start, Reply::Whole(body)))
}

/// Step 3: one server-streaming call to routing carrying the raw body and who asks.
async fn call_routing(
    state: &AppState,
    call: &ModelCall,
    body: Bytes,
) -> Result<tonic::Streaming<rpc::ChatFrame>, ApiError> {
    let id = &call.caller.identity;
    let chat = rpc::ChatCall {
        request_id: call.request_id.to_string(),
        format: call.peek.format as i32,
        body,
        model: call.peek.model.clone(),
        stream: call.peek.stream,
        identity: Some(rpc::Identity {
            tenant_id: id.tenant_id.clone(),
            team_id: id.team_id.clone(),
            key_id: id.key_id.clone(),
            user_id: id.user_id.clone(),
        }),
        // Routing applies it to the model and to every fallback.
        policy: Some(call.caller.policy()),
        deadline_ms: state.request_timeout.as_millis() as u64,
        include_usage: call.peek.include_usage,
        // Routing resolves the model with the same directory (see routing's `tables.rs`).
        directory: state.prices.load().directory().fingerprint(),
        client_headers: call.peek.forward.clone(),
        content_type: call.peek.content_type.clone(),
    };
    let mut req = tonic::Request::new(chat);
    req.set_timeout(state.request_timeout);
    match state.routing.clone().chat(req).await {
        Ok(r) => Ok(r.into_inner()),
        Err(status) => Err(ApiError::from_status(&status)),
    }
}

/// Step 4: before the first byte, routing's Start (success) or Failure (the HTTP error to
/// answer with, its usage right behind it when it comes promptly).
async fn await_start(
    frames: &mut tonic::Streaming<rpc::ChatFrame>,
    model: &str,
    settle: &mut Settlement,
) -> Result<rpc::Start, ApiError> {
    use rpc::chat_frame::Kind;
    loop {
        let kind = match frames.message().await {
            Ok(Some(rpc::ChatFrame { kind: Some(k) })) => k,
            Ok(Some(rpc::ChatFrame { kind: None })) => continue,
            Ok(None) | Err(_) => {
                return Err(ApiError::Unavailable(
                    "the routing service ended the call early",
                ));
            }
        };
        match kind {
            Kind::Start(s) => return Ok(s),
            Kind::Failure(f) => {
                if let Ok(Some(rpc::ChatFrame {
                    kind: Some(Kind::Usage(u)),
                })) = frames.message().await
                {
                    settle.on_usage(u);
                }
                return Err(ApiError::from_failure(&f, model));
            }
            Kind::Usage(u) => settle.on_usage(u),
            Kind::Progress(p) => settle.on_progress(p),
            Kind::Data(_) => {}
        }
    }
}

/// Read a non-streamed answer to its end, feeding the settlement.
async fn collect_whole(
    frames: &mut tonic::Streaming<rpc::ChatFrame>,
    settle: &mut Settlement,
) -> Result<Bytes, ApiError> {
    use rpc::chat_frame::Kind;
    let mut body = BytesMut::new();
    loop {
        let kind = match frames.message().await {
            Ok(Some(rpc::ChatFrame { kind: Some(k) })) => k,
            Ok(Some(rpc::ChatFrame { kind: None })) => continue,
            Ok(None) => return Ok(body.freeze()),
            Err(status) => {
                tracing::warn!(code = ?status.code(), "routing stream broke inside a whole response");
                return Err(ApiError::Interrupted);
            }
        };
        match kind {
            Kind::Data(b) => {
                settle.on_data(&b);
                body.extend_from_slice(&b);
            }
            Kind::Progress(p) => settle.on_progress(p),
            Kind::Usage(u) => settle.on_usage(u),
            Kind::Start(_) | Kind::Failure(_) => {}
        }
    }
}

/// Step 5, whole: the body with its cost (in `usage.cost` and `x-tollgate-cost`), settled as
/// answered.
async fn answer_whole(body: Bytes, settle: Settlement, keep: Option<Keep>) -> Response {
    let cost = settle.reported_cost();
    settle.finish(Ending::Answered);
    let body = match cost {
        Some(cost) => crate::cost::inject(&body, cost),
        None => body,
    };
    if let Some(keep) = keep {
        keep.whole(&body).await;
    }
    let Some(cost) = cost else {
        return Response::new(Body::from(body));
    };
    let mut resp = Response::new(Body::from(body));
    if let Ok(v) = HeaderValue::from_str(&crate::cost::decimal(cost)) {
        resp.headers_mut().insert("x-tollgate-cost", v);
    }
    resp
}

/// Step 5, streamed: the relay owns the settlement from here.
fn answer_streamed(
    call: &ModelCall,
    frames: tonic::Streaming<rpc::ChatFrame>,
    settle: Settlement,
    overrun: Option<Overrun>,
    keep: Option<Keep>,
) -> Response {
    let relay = RelayStream::new(
        frames,
        settle,
        call.peek.format,
        call.peek.include_usage,
        overrun,
        keep,
    );
    Response::new(Body::from_stream(relay))
}

/// The answer's status and headers: routing's status and content type, the serving deployment
/// and provider, and the rate-limit headers from admission.
fn describe(resp: &mut Response, call: &ModelCall, start: &rpc::Start, limits: &LimitHeaders) {
    *resp.status_mut() =
        http::StatusCode::from_u16(start.status as u16).unwrap_or(http::StatusCode::OK);
    let h: &mut HeaderMap = resp.headers_mut();
    let ct = match (start.content_type.as_str(), call.peek.stream) {
        ("", true) => "text/event-stream",
        ("", false) => "application/json",
        (ct, _) => ct,
    };
    if let Ok(v) = HeaderValue::from_str(ct) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if call.peek.stream {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    }
    if let Ok(v) = HeaderValue::from_str(&start.deployment) {
        h.insert("x-tollgate-deployment", v);
    }
    if let Ok(v) = HeaderValue::from_str(&start.provider) {
        h.insert("x-tollgate-provider", v);
    }
    if !start.upstream_request_id.is_empty()
        && let Ok(v) = HeaderValue::from_str(&start.upstream_request_id)
    {
        h.insert("x-upstream-request-id", v);
    }
    limits.apply(h);
}
