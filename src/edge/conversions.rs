//! `/v1/conversions` on the edge's listeners (docs/contract.md §9): the
//! request read within its limits, handed to [`crate::conversion::intake`],
//! its records written through the conversions' spool, and the answer
//! given only once they are synced.
//!
//! ```text
//! GET query / POST body (≤ conversions.max_body_bytes, within the body deadline)
//!   ─► intake::parse ─► refused: 4xx {"error":…}, counted by reason
//!   ─► DurableQueue::store (written once per key, synced with the others waiting)
//!   ─► 202 {"conversion_id":…,"duplicate":…} (an array: one a record)
//! ```
//!
//! Invariants: nothing of a request (its body, query, key or any value)
//! is logged; a `202` means every record is on disk and synced; a refused
//! request writes nothing.

use crate::conversion::intake::{self, Body, Context, Refusal, Refused};
use crate::conversion::ConversionPolicy;
use crate::metrics::Metrics;
use crate::spool::{DurableQueue, Keyed, Stored};
use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::prelude::Session;
use pingora::Result;
use std::time::{Duration, SystemTime};

/// The intake's path.
pub(crate) const PATH: &str = "/v1/conversions";

/// The longest a caller waits for its records to be synced before it is
/// told to retry (`503`): a disk that stalls this long is not taking them.
const STORE_DEADLINE: Duration = Duration::from_secs(10);

/// The intake's part of the plugin: the conversions' spool and counters.
#[derive(Clone)]
pub(crate) struct Intake {
    pub(crate) queue: DurableQueue,
}

impl Intake {
    /// Answers one request on [`PATH`].
    pub(crate) async fn handle(
        &self,
        session: &mut Session,
        policy: &ConversionPolicy,
        edge_id: &str,
        metrics: &Metrics,
        body_timeout: Duration,
    ) -> Result<()> {
        let answer = match self.take(session, policy, edge_id, body_timeout).await {
            Err(r) if r.why == Refusal::BodyTimeout => {
                metrics.limits.hit(crate::metrics::Limit::BodyTimeout);
                Err(r)
            }
            other => other,
        };
        let answer = match answer {
            Ok((written, duplicate, body)) => {
                metrics.conversions_accepted.inc_by(written);
                metrics.conversions_duplicate.inc_by(duplicate);
                (202, body)
            }
            Err(r) => {
                metrics
                    .conversions_refused
                    .with_label_values(&[r.why.as_str()])
                    .inc();
                (r.why.status(), r.why.body(r.index))
            }
        };
        let allow = answer.0 == 405;
        respond_json(session, answer.0, &answer.1, allow).await
    }

    /// Reads, checks and stores a request: (records written, repeats, the
    /// answer's body).
    async fn take(
        &self,
        session: &mut Session,
        policy: &ConversionPolicy,
        edge_id: &str,
        body_timeout: Duration,
    ) -> std::result::Result<(u64, u64, String), Refused> {
        let req = session.req_header();
        let bearer = req.headers.get(http::header::AUTHORIZATION).and_then(|v| {
            let v = v.as_bytes();
            (v.len() > 7 && v[..7].eq_ignore_ascii_case(b"bearer "))
                .then(|| v[7..].trim_ascii().to_vec())
        });
        let now = SystemTime::now();
        let records = match req.method {
            http::Method::GET => {
                let query = req.uri.query().unwrap_or("").as_bytes().to_vec();
                // A GET carries no body; one sent anyway is read and dropped.
                if !session.is_body_done() {
                    drain(session, policy.max_body_bytes, body_timeout).await;
                }
                parse(policy, Body::Form(&query), bearer.as_deref(), now, edge_id)?
            }
            http::Method::POST => {
                let kind = content_kind(session)?;
                let body = read_body(session, policy.max_body_bytes, body_timeout).await?;
                let body = match kind {
                    Kind::Json => Body::Json(&body),
                    Kind::Form => Body::Form(&body),
                };
                parse(policy, body, bearer.as_deref(), now, edge_id)?
            }
            _ => {
                drain(session, policy.max_body_bytes, body_timeout).await;
                return Err(Refusal::MethodNotAllowed.into());
            }
        };
        let array = records.1;
        let records = records.0;
        let keyed = records
            .iter()
            .map(|c| Keyed {
                key: c.key_id(),
                line: c.to_line(),
            })
            .collect();
        let stored = tokio::time::timeout(STORE_DEADLINE, self.queue.store(keyed))
            .await
            .ok()
            .and_then(|r| r.ok())
            .ok_or(Refusal::Unavailable)?;
        if stored.len() != records.len() || stored.contains(&Stored::Failed) {
            return Err(Refusal::Unavailable.into());
        }
        let mut written = 0;
        let mut answers = Vec::with_capacity(records.len());
        for (c, s) in records.iter().zip(&stored) {
            let duplicate = *s == Stored::Duplicate;
            written += u64::from(!duplicate);
            answers.push(format!(
                "{{\"conversion_id\":\"{}\",\"duplicate\":{duplicate}}}",
                c.conversion_id
            ));
        }
        let body = if array {
            format!("[{}]\n", answers.join(","))
        } else {
            format!("{}\n", answers.join(""))
        };
        Ok((written, records.len() as u64 - written, body))
    }
}

/// The records, and whether the request sent an array.
fn parse(
    policy: &ConversionPolicy,
    body: Body<'_>,
    bearer: Option<&[u8]>,
    now: SystemTime,
    edge: &str,
) -> std::result::Result<(Vec<crate::conversion::record::Conversion>, bool), Refused> {
    let array = matches!(body, Body::Json(b) if b.trim_ascii_start().starts_with(b"["));
    let cx = Context { bearer, now, edge };
    intake::parse(policy, body, &cx).map(|r| (r, array))
}

enum Kind {
    Json,
    Form,
}

fn content_kind(session: &Session) -> std::result::Result<Kind, Refused> {
    let ct = session
        .req_header()
        .headers
        .get(http::header::CONTENT_TYPE)
        .map(|v| v.as_bytes())
        .unwrap_or(b"");
    let essence = ct.split(|&b| b == b';').next().unwrap_or(b"").trim_ascii();
    if essence.eq_ignore_ascii_case(b"application/json") {
        Ok(Kind::Json)
    } else if essence.eq_ignore_ascii_case(b"application/x-www-form-urlencoded") {
        Ok(Kind::Form)
    } else {
        Err(Refusal::UnsupportedMediaType.into())
    }
}

/// The whole body, within the size limit and the body deadline. Past
/// either, the connection is closed after the answer.
async fn read_body(
    session: &mut Session,
    max: usize,
    timeout: Duration,
) -> std::result::Result<Vec<u8>, Refused> {
    let declared = session
        .req_header()
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        session.set_keepalive(None);
        return Err(Refusal::BodyTooLarge.into());
    }
    let read = async {
        let mut body = Vec::new();
        while let Some(chunk) = session
            .read_request_body()
            .await
            .map_err(|_| Refusal::BadBody)?
        {
            if body.len() + chunk.len() > max {
                return Err(Refusal::BodyTooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(why)) => {
            session.set_keepalive(None);
            Err(why.into())
        }
        Err(_) => {
            session.set_keepalive(None);
            Err(Refusal::BodyTimeout.into())
        }
    }
}

/// Reads a body that will not be used, within the limits.
async fn drain(session: &mut Session, max: usize, timeout: Duration) {
    if read_body(session, max, timeout).await.is_err() {
        session.set_keepalive(None);
    }
}

async fn respond_json(session: &mut Session, status: u16, body: &str, allow: bool) -> Result<()> {
    let mut h = ResponseHeader::build(status, Some(4))?;
    h.insert_header("Content-Type", "application/json")?;
    h.insert_header("Cache-Control", "no-store")?;
    h.insert_header("Content-Length", body.len())?;
    if allow {
        h.insert_header("Allow", "GET, POST")?;
    }
    session.write_response_header(Box::new(h), false).await?;
    session
        .write_response_body(Some(Bytes::copy_from_slice(body.as_bytes())), true)
        .await
}
