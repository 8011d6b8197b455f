//! How an attempt that delivered nothing failed: the client-facing `Failure`, its class (which
//! decides retries and fallbacks), whether another attempt may help, and where it happened.

use tollgate_proto::routing::v1::{self as rpc, FailureKind};

use crate::failure::{self, Class};
use crate::health::CircuitPolicy;
use crate::relay::Cut;
use crate::route_table::Deployment;

/// Where a failed attempt went, for the final Usage frame.
#[derive(Clone, Debug, Default)]
pub(crate) struct At {
    pub deployment: String,
    pub provider: String,
    pub upstream_model: String,
}

/// An attempt that delivered nothing to the client.
pub(crate) struct Failed {
    pub failure: rpc::Failure,
    pub class: Class,
    /// Another attempt may help.
    pub retry: bool,
    /// ...even on a deployment already tried (after a backoff).
    pub retry_same: bool,
    pub at: Option<At>,
    /// Public name of the model that failed (empty: the requested one).
    pub served: String,
}

impl Failed {
    pub(crate) fn new(failure: rpc::Failure, class: Class, at: Option<&Deployment>) -> Failed {
        Failed {
            failure,
            class,
            retry: false,
            retry_same: false,
            at: at.map(|d| At {
                deployment: d.id.clone(),
                provider: d.provider.name.clone(),
                upstream_model: d.upstream_model.clone(),
            }),
            served: String::new(),
        }
    }

    pub(crate) fn served(mut self, model: &str) -> Failed {
        self.served = model.to_owned();
        self
    }

    pub(super) fn retry(mut self, same: bool) -> Failed {
        self.retry = true;
        self.retry_same = same;
        self
    }
}

/// The deployment an attempt went to and the public model it served, to say so on failure.
#[derive(Clone, Copy)]
pub(super) struct Target<'a> {
    pub dep: &'a Deployment,
    pub served: &'a str,
}

impl Target<'_> {
    pub(super) fn fail(self, f: rpc::Failure, class: Class) -> Failed {
        Failed::new(f, class, Some(self.dep)).served(self.served)
    }
}

/// The deployment refused key `key`: rotate away from it and try the next key, if there is
/// one. A lone key stays, so the client keeps seeing the real cause rather than a rate limit.
pub(super) fn refused_key(
    dep: &Deployment,
    key: Option<usize>,
    now: u64,
    circuit: &CircuitPolicy,
    failed: Failed,
) -> Failed {
    let more = dep.keys.len() > 1;
    if more {
        let rest = u64::try_from(circuit.ejection.as_millis()).unwrap_or(30_000);
        dep.rest_key(key, now + rest);
    }
    failed.retry(more)
}

/// A 2xx whose body failed before anything reached the client.
pub(super) fn not_started(cut: Cut, to: Target<'_>) -> Failed {
    match cut {
        Cut::FirstByte | Cut::Timeout | Cut::Idle => {
            to.fail(failure::timeout(), Class::Timeout).retry(false)
        }
        Cut::Broken | Cut::Cancelled => to
            .fail(failure::transport(), Class::ServerError)
            .retry(true),
        Cut::Refused => to
            .fail(
                failure::failure(
                    FailureKind::UpstreamError,
                    "The upstream provider reported an error instead of an answer.",
                ),
                Class::ServerError,
            )
            .retry(true),
        Cut::TooLarge => to.fail(
            failure::failure(
                FailureKind::UpstreamError,
                "The upstream provider sent a malformed or oversized answer.",
            ),
            Class::ServerError,
        ),
    }
}
