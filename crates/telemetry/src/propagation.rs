//! W3C trace context (`traceparent`, `tracestate`) across the edge → routing/billing/logging hops.
//!
//! Clients inject the current span's context into gRPC metadata; servers extract it from the
//! HTTP/2 headers and make it the parent of the RPC's span, so one request is one trace.

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector};
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tracing_opentelemetry::OpenTelemetrySpanExt;

struct MetadataInjector<'a>(&'a mut MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) = (
            MetadataKey::from_bytes(key.as_bytes()),
            MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(k, v);
        }
    }
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Write the current span's context into outgoing gRPC metadata.
pub fn inject_current(metadata: &mut MetadataMap) {
    let cx = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&cx, &mut MetadataInjector(metadata))
    });
}

/// Read a remote parent context from incoming headers (HTTP or gRPC).
pub fn extract(headers: &http::HeaderMap) -> Context {
    opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)))
}

struct StringCarrier(Option<String>);

impl Injector for StringCarrier {
    fn set(&mut self, key: &str, value: String) {
        if key == "traceparent" {
            self.0 = Some(value);
        }
    }
}

impl Extractor for StringCarrier {
    fn get(&self, key: &str) -> Option<&str> {
        (key == "traceparent")
            .then_some(self.0.as_deref())
            .flatten()
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent"]
    }
}

/// The current span's context as a W3C `traceparent` value ("" when there is none), for work
/// that leaves the request in a batch (usage events, log records).
pub fn current_traceparent() -> String {
    let cx = tracing::Span::current().context();
    let mut carrier = StringCarrier(None);
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut carrier));
    carrier.0.unwrap_or_default()
}

/// Where the current span sits in its trace, kept for work that may or may not leave the request
/// later (routing's usage receipts): taking it costs a context lookup, and the `traceparent`
/// string is only rendered when it is needed.
#[derive(Clone, Debug, Default)]
pub struct TraceRef(Option<opentelemetry::trace::SpanContext>);

impl TraceRef {
    pub fn current() -> TraceRef {
        use opentelemetry::trace::TraceContextExt;
        let cx = tracing::Span::current().context();
        let sc = cx.span().span_context().clone();
        TraceRef(sc.is_valid().then_some(sc))
    }

    /// The W3C `traceparent` value ("" when there was no trace), as the propagator writes it.
    pub fn traceparent(&self) -> String {
        use opentelemetry::trace::TraceFlags;
        match &self.0 {
            Some(sc) => format!(
                "00-{}-{}-{:02x}",
                sc.trace_id(),
                sc.span_id(),
                (sc.trace_flags() & TraceFlags::SAMPLED).to_u8()
            ),
            None => String::new(),
        }
    }
}

/// Make `span` a child of the request whose `traceparent` is given (no-op when empty or bad).
pub fn set_parent_from_traceparent(span: &tracing::Span, traceparent: &str) {
    if traceparent.is_empty() {
        return;
    }
    let carrier = StringCarrier(Some(traceparent.to_owned()));
    let cx = opentelemetry::global::get_text_map_propagator(|p| p.extract(&carrier));
    let _ = span.set_parent(cx);
}

/// A tonic interceptor for clients: every call carries the caller's trace context.
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceInterceptor;

impl tonic::service::Interceptor for TraceInterceptor {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        inject_current(req.metadata_mut());
        Ok(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };
    use opentelemetry_sdk::propagation::TraceContextPropagator;

    #[test]
    fn a_context_injected_into_metadata_is_extracted_from_the_headers() {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let sc = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        let cx = Context::new().with_remote_span_context(sc);
        let mut md = MetadataMap::new();
        opentelemetry::global::get_text_map_propagator(|p| {
            p.inject_context(&cx, &mut MetadataInjector(&mut md))
        });
        let tp = md.get("traceparent").unwrap().to_str().unwrap();
        assert_eq!(
            tp,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );

        let headers = md.into_headers();
        let back = extract(&headers);
        assert_eq!(
            back.span().span_context().trace_id(),
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap()
        );
    }

    #[test]
    fn a_trace_ref_renders_what_the_propagator_writes() {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        for flags in [TraceFlags::SAMPLED, TraceFlags::default()] {
            let sc = SpanContext::new(
                TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
                SpanId::from_hex("00f067aa0ba902b7").unwrap(),
                flags,
                true,
                TraceState::default(),
            );
            let cx = Context::new().with_remote_span_context(sc.clone());
            let mut carrier = StringCarrier(None);
            opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut carrier));
            assert_eq!(TraceRef(Some(sc)).traceparent(), carrier.0.unwrap());
        }
        assert_eq!(TraceRef::default().traceparent(), "");
    }
}
