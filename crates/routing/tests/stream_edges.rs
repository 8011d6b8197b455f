//! Streams from upstreams that behave unusually but legally (or not): awkward chunk boundaries,
//! error events in the stream, a clean end without `[DONE]`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use tollgate_proto::routing::v1::chat_frame::Kind;
use tollgate_proto::routing::v1::{FailureKind, Outcome};

use support::*;

fn chunk(content: &str) -> String {
    format!(
        "{{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"up\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{content}\"}}}}]}}"
    )
}

async fn routing_for(pieces: Vec<Vec<u8>>) -> Routing {
    let base = scripted_upstream(pieces).await;
    start(&(provider("p", &base, true) + &model("m", &[], &[("p", "up", 1)]))).await
}

#[tokio::test]
async fn events_cut_at_awkward_places_arrive_whole() {
    // CRLF line ends, a comment, "é" split between its two bytes, "\r\n" split in two.
    let wire = format!(
        ": keep-alive\r\n\r\ndata: {}\r\n\r\ndata: {}\r\n\r\ndata: [DONE]\r\n\r\n",
        chunk("caf\u{e9}"),
        chunk(" ok")
    )
    .into_bytes();
    let e_acute = wire.windows(2).position(|w| w == [0xC3, 0xA9]).unwrap();
    let crlf = wire.windows(2).position(|w| w == b"\r\n").unwrap();
    let cuts = [crlf + 1, 20, e_acute + 1, e_acute + 30, wire.len() - 3];
    let mut pieces = Vec::new();
    let mut at = 0;
    for c in cuts {
        pieces.push(wire[at..c].to_vec());
        at = c;
    }
    pieces.push(wire[at..].to_vec());

    let mut r = routing_for(pieces).await;
    let f = frames(&mut r, call("m", true, false)).await;
    let sse = data(&f);
    let text: String = events(&sse)
        .iter()
        .filter_map(|e| {
            e["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, "café ok");
    assert!(sse.ends_with("data: [DONE]\n\n"));
    let u = usage(&f);
    assert_eq!(u.outcome, Outcome::Completed as i32);
    // No usage chunk from this upstream: estimated from the two deltas delivered.
    assert!(!u.reported_by_provider);
    assert_eq!(u.output_tokens, 2);
}

#[tokio::test]
async fn an_error_event_after_content_is_relayed_and_the_call_fails() {
    let err = r#"{"error":{"message":"overloaded","type":"server_error","code":null}}"#;
    let pieces = vec![
        format!("data: {}\n\n", chunk("Hi")).into_bytes(),
        format!("data: {err}\n\n").into_bytes(),
    ];
    let mut r = routing_for(pieces).await;
    let f = frames(&mut r, call("m", true, false)).await;
    assert!(matches!(f[0], Kind::Start(_)));
    let events = events(&data(&f));
    assert_eq!(events.last().unwrap()["error"]["message"], "overloaded");
    let u = usage(&f);
    assert_eq!(u.outcome, Outcome::Failed as i32);
    assert_eq!(u.output_tokens, 1);
}

#[tokio::test]
async fn an_error_event_before_any_content_is_a_clean_failure() {
    let err = r#"{"error":{"message":"overloaded","type":"server_error"}}"#;
    let mut r = routing_for(vec![format!("data: {err}\n\n").into_bytes()]).await;
    let f = frames(&mut r, call("m", true, false)).await;
    let fail = failure(&f);
    assert_eq!(fail.kind, FailureKind::UpstreamError as i32);
    assert!(
        !f.iter()
            .any(|k| matches!(k, Kind::Start(_) | Kind::Data(_)))
    );
    assert_eq!(usage(&f).outcome, Outcome::Failed as i32);
}

#[tokio::test]
async fn a_clean_end_without_done_still_ends_the_clients_stream() {
    let mut r = routing_for(vec![format!("data: {}\n\n", chunk("Hi")).into_bytes()]).await;
    let f = frames(&mut r, call("m", true, false)).await;
    assert!(data(&f).ends_with("data: [DONE]\n\n"));
    assert_eq!(usage(&f).outcome, Outcome::Completed as i32);
}
