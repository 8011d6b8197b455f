use proptest::prelude::*;

use super::*;

fn decode_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<SseEvent> {
    let mut d = SseDecoder::new();
    let mut out = Vec::new();
    for c in chunks {
        d.push(c);
        while let Some(ev) = d.next_event() {
            out.push(ev);
        }
    }
    out
}

fn decode(bytes: &[u8]) -> Vec<SseEvent> {
    decode_chunks([bytes])
}

fn data(s: &str) -> SseEvent {
    SseEvent {
        data: s.into(),
        ..SseEvent::default()
    }
}

#[test]
fn openai_stream_decodes_to_its_data_lines() {
    let s = b"data: {\"a\":1}\n\ndata: {\"b\":2}\n\ndata: [DONE]\n\n";
    assert_eq!(
        decode(s),
        vec![data("{\"a\":1}"), data("{\"b\":2}"), data(DONE_DATA)]
    );
}

#[test]
fn all_three_line_endings_work() {
    assert_eq!(decode(b"data: a\r\n\r\n"), vec![data("a")]);
    assert_eq!(decode(b"data: a\r\r"), vec![data("a")]);
    assert_eq!(decode(b"data: a\n\n"), vec![data("a")]);
    assert_eq!(decode(b"data: a\r\n\n"), vec![data("a")]);
}

#[test]
fn crlf_split_across_chunks_is_one_line_end() {
    let ev = decode_chunks([b"data: a\r".as_slice(), b"\n", b"data: b\r", b"\n\r\n"]);
    assert_eq!(ev, vec![data("a\nb")]);
}

#[test]
fn multi_line_data_is_joined_with_newlines_and_empty_data_still_dispatches() {
    assert_eq!(decode(b"data: a\ndata:b\ndata\n\n"), vec![data("a\nb\n")]);
    assert_eq!(decode(b"data\n\n"), vec![data("")]);
}

#[test]
fn comments_unknown_fields_and_blank_lines_without_data_are_ignored() {
    let s = b": keep-alive\n\nretry: 10\nfoo: bar\n\n\n\nevent: x\n\ndata: ok\n\n";
    // The `event: x` with no data is discarded, and does not leak into the next event.
    assert_eq!(decode(s), vec![data("ok")]);
}

#[test]
fn only_one_space_after_the_colon_is_stripped() {
    assert_eq!(decode(b"data:  two\n\n"), vec![data(" two")]);
    assert_eq!(decode(b"data:x:y\n\n"), vec![data("x:y")]);
}

#[test]
fn event_type_and_id_are_reported_and_the_id_carries_over() {
    let s = b"event: error\nid: 7\ndata: boom\n\ndata: later\n\nid\ndata: reset\n\n";
    assert_eq!(
        decode(s),
        vec![
            SseEvent {
                event: Some("error".into()),
                data: "boom".into(),
                id: Some("7".into())
            },
            SseEvent {
                event: None,
                data: "later".into(),
                id: Some("7".into())
            },
            data("reset"),
        ]
    );
}

#[test]
fn a_leading_bom_is_skipped_even_when_split() {
    assert_eq!(decode(b"\xEF\xBB\xBFdata: a\n\n"), vec![data("a")]);
    let ev = decode_chunks([b"\xEF".as_slice(), b"\xBB", b"\xBFdata: a\n\n"]);
    assert_eq!(ev, vec![data("a")]);
    // Only at the very start: a later BOM is part of the field name, so the line is ignored.
    assert_eq!(
        decode(b"data: a\n\n\xEF\xBB\xBFdata: b\n\n"),
        vec![data("a")]
    );
}

#[test]
fn a_trailing_partial_event_waits_for_more_bytes() {
    let mut d = SseDecoder::new();
    d.push(b"data: {\"partial");
    assert_eq!(d.next_event(), None);
    assert!(d.has_partial_event());
    d.push(b"\":true}\n");
    assert_eq!(d.next_event(), None);
    assert!(d.has_partial_event());
    d.push(b"\n");
    assert_eq!(d.next_event(), Some(data("{\"partial\":true}")));
    assert!(!d.has_partial_event());
    assert_eq!(d.buffered(), 0);
}

#[test]
fn invalid_utf8_is_replaced_not_fatal() {
    assert_eq!(decode(b"data: \xFFok\n\n"), vec![data("\u{FFFD}ok")]);
}

#[test]
fn encode_data_round_trips_multi_line_payloads() {
    assert_eq!(&encode_data(b"{\"a\":1}")[..], b"data: {\"a\":1}\n\n");
    let enc = encode_data(b"a\nb\r\nc\rd");
    assert_eq!(&enc[..], b"data: a\ndata: b\ndata: c\ndata: d\n\n");
    assert_eq!(decode(&enc), vec![data("a\nb\nc\nd")]);
    assert_eq!(decode(DONE), vec![data(DONE_DATA)]);
}

/// One event as a generator sees it, plus how to write it on the wire.
#[derive(Clone, Debug)]
struct Spec {
    event: Option<String>,
    id: Option<String>,
    lines: Vec<String>,
    eol: &'static str,
    comment: bool,
    tight: bool,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        proptest::option::of("[^\r\n:]{1,8}"),
        proptest::option::of("[a-z0-9]{1,6}"),
        proptest::collection::vec("[^\r\n]{0,24}", 1..4),
        prop_oneof![Just("\n"), Just("\r\n"), Just("\r")],
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(event, id, lines, eol, comment, tight)| Spec {
            event,
            id,
            lines,
            eol,
            comment,
            tight,
        })
}

fn encode(specs: &[Spec], bom: bool) -> (Vec<u8>, Vec<SseEvent>) {
    let mut out = String::new();
    if bom {
        out.push('\u{FEFF}');
    }
    let mut expected = Vec::new();
    let mut last_id = None;
    for s in specs {
        if s.comment {
            out.push_str(": c");
            out.push_str(s.eol);
        }
        if let Some(e) = &s.event {
            out.push_str("event: ");
            out.push_str(e);
            out.push_str(s.eol);
        }
        if let Some(id) = &s.id {
            out.push_str("id:");
            out.push_str(id);
            out.push_str(s.eol);
            last_id = Some(id.clone());
        }
        for l in &s.lines {
            // Without the space only when the value cannot lose a leading space of its own.
            out.push_str(if s.tight && !l.starts_with(' ') {
                "data:"
            } else {
                "data: "
            });
            out.push_str(l);
            out.push_str(s.eol);
        }
        out.push_str(s.eol);
        expected.push(SseEvent {
            event: s.event.clone(),
            data: s.lines.join("\n"),
            id: last_id.clone(),
        });
    }
    (out.into_bytes(), expected)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_chunking_decodes_like_one_piece(
        specs in proptest::collection::vec(spec(), 0..6),
        bom in any::<bool>(),
        sizes in proptest::collection::vec(1usize..9, 1..64),
    ) {
        let (bytes, expected) = encode(&specs, bom);
        let whole = decode(&bytes);
        prop_assert_eq!(&whole, &expected);

        let mut chunks = Vec::new();
        let mut rest = bytes.as_slice();
        for n in sizes.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (a, b) = rest.split_at((*n).min(rest.len()));
            chunks.push(a);
            rest = b;
        }
        prop_assert_eq!(decode_chunks(chunks), whole.clone());
        prop_assert_eq!(decode_chunks(bytes.chunks(1)), whole);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_chunks(bytes.chunks(3));
    }

    #[test]
    fn encode_data_round_trips(s in "[^\r]{0,64}") {
        let enc = encode_data(s.as_bytes());
        prop_assert_eq!(decode(&enc), vec![data(&s)]);
    }
}
