//! A tiny SSE reader for tests: splits the body on blank lines and keeps each event's `data:`.

/// What a streamed response delivered before it ended.
pub struct SseRead {
    pub events: Vec<String>,
    /// The body error, if the stream did not end cleanly.
    pub error: Option<reqwest::Error>,
}

pub async fn read_events(mut response: reqwest::Response) -> SseRead {
    let mut buf = String::new();
    let mut events = Vec::new();
    let error = loop {
        match response.chunk().await {
            Ok(Some(bytes)) => {
                buf.push_str(std::str::from_utf8(&bytes).expect("utf-8 body"));
                while let Some(end) = buf.find("\n\n") {
                    let event: String = buf.drain(..end + 2).collect();
                    for line in event.lines() {
                        if let Some(data) = line.strip_prefix("data: ") {
                            events.push(data.to_owned());
                        }
                    }
                }
            }
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    assert!(buf.trim().is_empty(), "partial event left over: {buf:?}");
    SseRead { events, error }
}
