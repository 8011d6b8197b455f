//! The admission script's call shape: building its command and reading its reply.
//!
//! The command is built by hand (`EVALSHA` with keys written straight into the command's
//! buffer) rather than through `ScriptInvocation`, which copies every key and argument into its
//! own `Vec` first: admission runs on every request. `redis::Script` still owns the source and
//! its SHA1, and loads it when Redis answers `NOSCRIPT` (after a restart or `SCRIPT FLUSH`).

use std::time::Duration;

use redis::{Cmd, Pipeline, RedisWrite, Script, Value};

use crate::decision::{AdmitRequest, LimitKind, RateHeaders, Ticket};
use crate::error::CallError;
use crate::keys::{Family, write_key};

/// Each script that reads a per-minute window is sent with window.lua in front of it.
pub(crate) const ADMIT_LUA: &str = concat!(include_str!("window.lua"), include_str!("admit.lua"));
/// Sent with `EVAL` inside the settlement pipeline (once per request, a few hundred bytes), so a
/// flushed script cache cannot fail it the way `EVALSHA` would.
const SETTLE_LUA: &str = include_str!("settle.lua");
pub(crate) const WRITEBACK_LUA: &str =
    concat!(include_str!("window.lua"), include_str!("writeback.lua"));

/// One `EVAL` of the write-back script: `n` locally admitted requests into scope `(kind, id)`'s
/// requests-per-minute window.
pub(crate) fn writeback_cmd(
    prefix: &str,
    tenant_id: &str,
    kind: crate::decision::ScopeKind,
    id: &str,
    n: u32,
) -> Cmd {
    let mut cmd = Cmd::new();
    cmd.arg("EVAL").arg(WRITEBACK_LUA).arg(1);
    let _ = write_key(
        &mut cmd.writer_for_next_arg(),
        prefix,
        tenant_id,
        Family::Rpm,
        kind,
        id,
    );
    cmd.arg(n);
    cmd
}

/// Numbers per scope in ARGV (rpm, concurrency, tpm); the script header documents the layout.
const STRIDE: usize = 3;
/// Keys per scope (rpm window, concurrency leases, tpm window).
const KEYS_PER_SCOPE: usize = 3;

/// What the script decided, before it is matched back to the caller's scopes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Reply {
    Admitted {
        headers: RateHeaders,
        /// The server second the reservation was counted in.
        now_s: i64,
    },
    Refused {
        headers: RateHeaders,
        /// Index into the request's scopes (into its budgets for [`LimitKind::Budget`]).
        scope: usize,
        kind: LimitKind,
        retry_after: Duration,
    },
}

/// Whose requests-per-minute shares Redis must leave alone: `local_edges` edges admitting
/// locally, each a share of `limit / divisor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reserve {
    pub(crate) local_edges: u32,
    pub(crate) divisor: u32,
}

/// `EVALSHA <sha> <3n+m> <keys of the n limited scopes> <m budget keys> <request id> <lease ms>
/// <stride> <m> <tokens> <local edges> <divisor> <limits> <budget numbers>`. Scopes with no
/// limit are left out: they have nothing to count. `budget_keys` are the budgets' counter keys,
/// in the request's order.
pub(crate) fn admit_cmd(
    script: &Script,
    prefix: &str,
    req: &AdmitRequest<'_>,
    budget_keys: &[(Box<str>, i64)],
    lease: Duration,
    reserve: Reserve,
) -> Cmd {
    let limited = req.scopes.iter().filter(|s| s.is_limited());
    let n = limited.clone().count();
    let key_bytes: usize = limited
        .clone()
        .map(|s| KEYS_PER_SCOPE * (prefix.len() + req.tenant_id.len() + s.id.len() + 20))
        .sum();
    let mut cmd = Cmd::with_capacity(
        9 + KEYS_PER_SCOPE * n + STRIDE * n + 5 * budget_keys.len(),
        64 + key_bytes + req.request_id.len() + 12 * n,
    );
    cmd.arg("EVALSHA")
        .arg(script.get_hash())
        .arg(KEYS_PER_SCOPE * n + budget_keys.len());
    for scope in limited.clone() {
        for family in [Family::Rpm, Family::Conc, Family::Tpm] {
            // Writing into the command's Vec cannot fail.
            let _ = write_key(
                &mut cmd.writer_for_next_arg(),
                prefix,
                req.tenant_id,
                family,
                scope.kind,
                scope.id,
            );
        }
    }
    for (key, _) in budget_keys {
        cmd.arg(&**key);
    }
    let lease_ms = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX).max(1);
    cmd.arg(req.request_id)
        .arg(lease_ms)
        .arg(STRIDE)
        .arg(req.budgets.len())
        .arg(req.tokens)
        .arg(reserve.local_edges)
        .arg(reserve.divisor.max(1));
    for scope in limited {
        cmd.arg(scope.rpm).arg(scope.concurrency).arg(scope.tpm);
    }
    for b in req.budgets {
        let resets_ms = u64::try_from(b.resets_in.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        cmd.arg(b.limit_nanos)
            .arg(b.seed_nanos)
            .arg(b.reserve_nanos)
            // The counter outlives its period by an hour, so late settlements still find it.
            .arg(resets_ms.saturating_add(3_600_000))
            .arg(resets_ms);
    }
    cmd
}

/// `INCRBY key (actual - reserved)` for every budget a ticket holds, appended to `pipe`.
pub(crate) fn settle_budgets(pipe: &mut Pipeline, ticket: &Ticket, actual_nanos: i64) {
    for (key, reserved) in &ticket.budgets {
        let delta = actual_nanos - reserved;
        if delta != 0 {
            pipe.cmd("INCRBY").arg(&**key).arg(delta).ignore();
        }
    }
}

/// The tpm correction for a ticket's token scopes (one `EVAL`), appended to `pipe`.
pub(crate) fn settle_tokens(pipe: &mut Pipeline, prefix: &str, ticket: &Ticket, actual: u64) {
    if ticket.token_scopes.is_empty() {
        return;
    }
    let mut cmd = Cmd::with_capacity(7 + ticket.token_scopes.len(), SETTLE_LUA.len() + 256);
    cmd.arg("EVAL")
        .arg(SETTLE_LUA)
        .arg(ticket.token_scopes.len());
    for (kind, id) in &ticket.token_scopes {
        let _ = write_key(
            &mut cmd.writer_for_next_arg(),
            prefix,
            &ticket.tenant_id,
            Family::Tpm,
            *kind,
            id,
        );
    }
    cmd.arg(ticket.tokens).arg(actual).arg(ticket.counted_at);
    pipe.add_command(cmd).ignore();
}

/// One `ZREM` per held slot, sent as one pipeline. Removing an absent member is a no-op, so
/// releasing twice is harmless.
pub(crate) fn release_pipe(prefix: &str, ticket: &Ticket) -> Pipeline {
    let mut pipe = Pipeline::with_capacity(ticket.slots.len());
    for (kind, id) in &ticket.slots {
        let mut cmd = Cmd::new();
        cmd.arg("ZREM");
        let _ = write_key(
            &mut cmd.writer_for_next_arg(),
            prefix,
            &ticket.tenant_id,
            Family::Conc,
            *kind,
            id,
        );
        cmd.arg(&*ticket.request_id);
        pipe.add_command(cmd).ignore();
    }
    pipe
}

/// Reads the script's reply; `scope` in it counts limited scopes only, so it is mapped back to
/// the request's own index here.
pub(crate) fn parse_reply(value: &Value, req: &AdmitRequest<'_>) -> Result<Reply, CallError> {
    let Value::Array(items) = value else {
        return Err(CallError::BadReply);
    };
    let int = |i: usize| match items.get(i) {
        Some(Value::Int(v)) => Ok(*v),
        _ => Err(CallError::BadReply),
    };
    let headers = RateHeaders {
        limit_requests: to_u32(int(1)?),
        remaining_requests: to_u32(int(2)?),
        reset_requests: millis(int(3)?),
        limit_tokens: to_u32(int(4)?),
        remaining_tokens: to_u32(int(5)?),
        reset_tokens: millis(int(6)?),
    };
    if int(0)? == 1 {
        return Ok(Reply::Admitted {
            headers,
            now_s: int(7)?,
        });
    }
    let nth = usize::try_from(int(8)? - 1).map_err(|_| CallError::BadReply)?;
    if int(9)? == 3 {
        if nth >= req.budgets.len() {
            return Err(CallError::BadReply);
        }
        return Ok(Reply::Refused {
            headers,
            scope: nth,
            kind: LimitKind::Budget,
            retry_after: millis(int(10)?),
        });
    }
    let nth_limited = nth;
    let scope = req
        .scopes
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_limited())
        .nth(nth_limited)
        .map(|(i, _)| i)
        .ok_or(CallError::BadReply)?;
    let kind = match int(9)? {
        1 => LimitKind::Rpm,
        2 => LimitKind::Concurrency,
        4 => LimitKind::Tpm,
        _ => return Err(CallError::BadReply),
    };
    Ok(Reply::Refused {
        headers,
        scope,
        kind,
        retry_after: millis(int(10)?),
    })
}

fn to_u32(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

fn millis(v: i64) -> Duration {
    Duration::from_millis(u64::try_from(v.max(0)).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::{Scope, ScopeKind};

    fn scopes() -> [Scope<'static>; 3] {
        [
            Scope {
                kind: ScopeKind::Key,
                id: "k1",
                rpm: 10,
                concurrency: 0,
                tpm: 0,
            },
            Scope {
                kind: ScopeKind::Team,
                id: "t1",
                rpm: 0,
                concurrency: 0,
                tpm: 0,
            },
            Scope {
                kind: ScopeKind::Tenant,
                id: "acme",
                rpm: 0,
                concurrency: 5,
                tpm: 700,
            },
        ]
    }

    #[test]
    fn command_lists_only_limited_scopes() {
        let scopes = scopes();
        let req = AdmitRequest {
            tenant_id: "acme",
            request_id: "r1",
            scopes: &scopes,
            budgets: &[],
            tokens: 42,
        };
        let script = Script::new(ADMIT_LUA);
        let reserve = Reserve {
            local_edges: 1,
            divisor: 2,
        };
        let cmd = admit_cmd(&script, "tg", &req, &[], Duration::from_secs(900), reserve);
        let args: Vec<String> = cmd
            .args_iter()
            .map(|a| match a {
                redis::Arg::Simple(b) => String::from_utf8(b.to_vec()).unwrap(),
                _ => String::new(),
            })
            .collect();
        assert_eq!(
            args,
            [
                "EVALSHA",
                script.get_hash(),
                "6",
                "tg:{t:acme}:rpm:key:k1",
                "tg:{t:acme}:conc:key:k1",
                "tg:{t:acme}:tpm:key:k1",
                "tg:{t:acme}:rpm:tenant:acme",
                "tg:{t:acme}:conc:tenant:acme",
                "tg:{t:acme}:tpm:tenant:acme",
                "r1",
                "900000",
                "3",
                "0",
                "42",
                "1",
                "2",
                "10",
                "0",
                "0",
                "0",
                "5",
                "700",
            ]
        );
    }

    #[test]
    fn refusal_maps_back_to_the_callers_scope() {
        let scopes = scopes();
        let req = AdmitRequest {
            tenant_id: "acme",
            request_id: "r1",
            scopes: &scopes,
            budgets: &[],
            tokens: 42,
        };
        let reply = Value::Array(
            [0, 10, 0, 1500, 0, 0, 0, 99, 2, 2, 1000]
                .map(Value::Int)
                .to_vec(),
        );
        assert_eq!(
            parse_reply(&reply, &req).unwrap(),
            Reply::Refused {
                headers: RateHeaders {
                    limit_requests: 10,
                    remaining_requests: 0,
                    reset_requests: Duration::from_millis(1500),
                    ..RateHeaders::default()
                },
                scope: 2,
                kind: LimitKind::Concurrency,
                retry_after: Duration::from_secs(1),
            }
        );
        let bad = Value::Array(
            [0, 10, 0, 1500, 0, 0, 0, 99, 3, 2, 1000]
                .map(Value::Int)
                .to_vec(),
        );
        assert!(parse_reply(&bad, &req).is_err());
    }
}
