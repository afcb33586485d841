//! The one HTTP edge both vendor clients stand on: what an answer's status asks of us, how long
//! a `Retry-After` says to wait, what the server's clock says, and server text made safe to
//! keep (the API key scrubbed out, long bodies clipped) before anyone logs, journals or exports
//! it.

use std::time::{Duration, SystemTime};

use reqwest::header::{DATE, HeaderMap, RETRY_AFTER};
use reqwest::{Response, StatusCode};

use crate::campaign::ApiKey;

/// The longest `Retry-After` honoured. A server asking for more (a typo, 20 digits, a date next
/// year) gets this: waiting is safe, but a run that sleeps for days looks hung.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(10 * 60);
/// What stands in for the API key wherever a server quoted it back.
pub const KEY_MARKER: &str = "[API key removed]";
/// Server text kept in errors is cut after this many characters.
const CLIP_CHARS: usize = 200;

/// What an answer's status asks the client to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Success,
    /// 401/402/403: the account or key, not this request; a person must act.
    Account,
    /// 429: nothing was done; wait and retry.
    RateLimited,
    /// 5xx: the server failed; a mutating request may or may not have taken effect.
    Server,
    /// Any other status: this request was refused; nothing was done.
    Refused,
}

impl Class {
    pub fn of(status: StatusCode) -> Class {
        match status {
            s if s.is_success() => Class::Success,
            StatusCode::UNAUTHORIZED | StatusCode::PAYMENT_REQUIRED | StatusCode::FORBIDDEN => {
                Class::Account
            }
            StatusCode::TOO_MANY_REQUESTS => Class::RateLimited,
            s if s.is_server_error() => Class::Server,
            _ => Class::Refused,
        }
    }
}

/// An answer read whole, its text already scrubbed of the key.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub class: Class,
    pub retry_after: Option<Duration>,
    /// How far the server's clock is ahead of ours, from its `Date` header.
    pub clock_ahead_ms: Option<i64>,
    pub text: String,
}

/// The key a client sends, and so the one secret its servers' text must be scrubbed of.
#[derive(Clone)]
pub struct Scrubber(ApiKey);

impl Scrubber {
    pub fn new(key: ApiKey) -> Scrubber {
        Scrubber(key)
    }

    /// Reads an answer whole, its dates read against `now`; a failure to send or to read is
    /// described (scrubbed) as `Err`.
    pub async fn receive(
        &self,
        sent: reqwest::Result<Response>,
        now: SystemTime,
    ) -> Result<Answer, String> {
        let response = sent.map_err(|e| self.scrub(&describe(&e)))?;
        let status = response.status();
        let retry_after = retry_after(response.headers(), now);
        let clock_ahead_ms = clock_ahead_ms(response.headers(), now);
        let text = response
            .text()
            .await
            .map_err(|e| self.scrub(&describe(&e)))?;
        Ok(Answer {
            status,
            class: Class::of(status),
            retry_after,
            clock_ahead_ms,
            text: self.scrub(&text),
        })
    }

    /// `text` with every occurrence of the key (bare, or in its `Bearer` form) replaced by
    /// [`KEY_MARKER`]. An empty key scrubs nothing, as there is nothing to hide.
    pub fn scrub(&self, text: &str) -> String {
        let key = self.0.expose().trim();
        if key.is_empty() {
            return text.to_owned();
        }
        text.replace(key, KEY_MARKER)
    }
}

/// How a client's requests reach its server.
#[derive(Clone)]
pub enum Transport {
    /// Over the network, with the client's timeouts: production, and tests against a sandbox
    /// on a loopback port.
    Network,
    /// Handed to a router in this process, as bytes in and bytes out: `simulate`'s sandbox,
    /// with no socket and no real time (a virtual clock moves only when every task waits on
    /// a timer, and a socket's wait is not one).
    InProcess(axum::Router),
}

impl Transport {
    /// Sends `request` and returns the answer, headers and body, as the network would.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> reqwest::Result<Response> {
        let router = match self {
            Transport::Network => return request.send().await,
            Transport::InProcess(router) => router,
        };
        let request = request.build()?;
        let mut asked = axum::http::Request::new(axum::body::Body::from(
            request
                .body()
                .and_then(reqwest::Body::as_bytes)
                .map(axum::body::Bytes::copy_from_slice)
                .unwrap_or_default(),
        ));
        *asked.method_mut() = request.method().clone();
        *asked.uri_mut() = request
            .url()
            .as_str()
            .parse()
            .expect("a URL reqwest built is a valid URI");
        *asked.headers_mut() = request.headers().clone();
        let answer = tower::ServiceExt::oneshot(router.clone(), asked)
            .await
            .unwrap_or_else(|never| match never {});
        let (parts, body) = answer.into_parts();
        // An in-process body fails only if a handler's stream does; none of the sandbox's do.
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_default();
        Ok(Response::from(axum::http::Response::from_parts(
            parts, body,
        )))
    }
}

/// The server's text for a person: trimmed, cut after [`CLIP_CHARS`] characters, never empty.
pub fn clip(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(CLIP_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None if text.is_empty() => "(empty body)".to_owned(),
        None => text.to_owned(),
    }
}

/// reqwest's error text without the URL (which is ours anyway) but with its cause chain.
pub fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "connection failed"
    };
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `Retry-After` (RFC 9110 §10.2.3) as a wait from `now`: whole seconds or an HTTP date, at
/// most [`MAX_RETRY_AFTER`]. A date in the past is no wait; a value that is neither form is
/// ignored (the caller's own backoff applies), and no value, however long, can panic.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for a u64 is still "a very long time".
        Duration::from_secs(value.parse().unwrap_or(u64::MAX))
    } else {
        let at = httpdate::parse_http_date(value).ok()?;
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// How far the server's clock is ahead of ours (negative: behind), from its `Date` header, in
/// milliseconds. The header has whole seconds, so the estimate is good to about a second.
pub fn clock_ahead_ms(headers: &HeaderMap, now: SystemTime) -> Option<i64> {
    let value = headers.get(DATE)?.to_str().ok()?;
    let theirs = httpdate::parse_http_date(value).ok()?;
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    Some(match theirs.duration_since(now) {
        Ok(ahead) => ms(ahead),
        Err(behind) => -ms(behind.duration()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: reqwest::header::HeaderName, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, value.parse().unwrap());
        headers
    }

    /// `Retry-After` is read as seconds or as a date, bounded, and never panics.
    #[test]
    fn retry_after_reads_seconds_and_dates_within_the_bound() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let wait = |value: &str| retry_after(&headers(RETRY_AFTER, value), now);
        assert_eq!(wait("120"), Some(Duration::from_secs(120)));
        assert_eq!(wait(" 0 "), Some(Duration::ZERO));
        assert_eq!(wait("99999999999999999999"), Some(MAX_RETRY_AFTER));
        assert_eq!(wait("86400"), Some(MAX_RETRY_AFTER));
        let in_90_s = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(wait(&in_90_s), Some(Duration::from_secs(90)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(wait(&past), Some(Duration::ZERO));
        let next_year = httpdate::fmt_http_date(now + Duration::from_secs(365 * 86_400));
        assert_eq!(wait(&next_year), Some(MAX_RETRY_AFTER));
        for garbage in ["", "-5", "1.5e300", "soon", "NaN", "Fri, 99 Foo 2026"] {
            assert_eq!(wait(garbage), None, "{garbage:?}");
        }
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    /// The server's clock is read both ways from its `Date` header.
    #[test]
    fn the_servers_clock_is_read_ahead_or_behind() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let at = |offset: i64| {
            let then = if offset >= 0 {
                now + Duration::from_secs(offset.unsigned_abs())
            } else {
                now - Duration::from_secs(offset.unsigned_abs())
            };
            clock_ahead_ms(&headers(DATE, &httpdate::fmt_http_date(then)), now)
        };
        assert_eq!(at(5), Some(5_000));
        assert_eq!(at(-5), Some(-5_000));
        assert_eq!(clock_ahead_ms(&headers(DATE, "yesterday"), now), None);
    }

    /// The key, bare or as a bearer token, never survives scrubbing; other text does.
    #[test]
    fn scrubbing_removes_the_key_in_every_form() {
        let scrubber = Scrubber::new(ApiKey::new("sk-SECRET-1"));
        let text = r#"{"detail":"bad key sk-SECRET-1 (Authorization: Bearer sk-SECRET-1)"}"#;
        let scrubbed = scrubber.scrub(text);
        assert!(!scrubbed.contains("sk-SECRET-1"), "{scrubbed}");
        assert_eq!(scrubbed.matches(KEY_MARKER).count(), 2);
        assert_eq!(scrubber.scrub("nothing secret"), "nothing secret");
        assert_eq!(Scrubber::new(ApiKey::new("")).scrub("text"), "text");
    }

    /// Every status lands in the class that says what to do.
    #[test]
    fn statuses_are_sorted_by_what_to_do() {
        let class = |code: u16| Class::of(StatusCode::from_u16(code).unwrap());
        assert_eq!(class(200), Class::Success);
        assert_eq!(class(201), Class::Success);
        for code in [401, 402, 403] {
            assert_eq!(class(code), Class::Account);
        }
        assert_eq!(class(429), Class::RateLimited);
        assert_eq!(class(500), Class::Server);
        assert_eq!(class(503), Class::Server);
        for code in [400, 404, 409, 422, 302] {
            assert_eq!(class(code), Class::Refused);
        }
    }

    /// Long text is clipped on a character boundary; empty text says so.
    #[test]
    fn clipping_keeps_whole_characters() {
        let long = "é".repeat(500);
        let clipped = clip(&long);
        assert_eq!(clipped.chars().count(), CLIP_CHARS + 1);
        assert_eq!(clip("  "), "(empty body)");
    }
}
