//! The loopback HTTP plumbing every emulator shares: a server task on
//! 127.0.0.1 that dies with its handle, the `Reply`/`HangUp` handler shape, and
//! the response, form, XML, date and random-id helpers the fakes answer with.

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, DATE, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// The response every emulator builds.
pub(crate) type Resp = Response<Full<Bytes>>;

/// What an emulator handler returns: a response, or `HangUp` to drop the connection unanswered.
pub(crate) type Reply = Result<Resp, HangUp>;

/// Returned by a handler to close the connection without answering (hyper drops it on a service error).
#[derive(Debug, thiserror::Error)]
#[error("emulator hung up without answering")]
pub(crate) struct HangUp;

/// A loopback HTTP/1 server task. Dropping it aborts the accept loop, which
/// drops the set of connection tasks it owns, so no connection outlives it.
#[derive(Debug)]
pub(crate) struct LocalServer {
    /// Where it listens (always 127.0.0.1).
    pub(crate) addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds 127.0.0.1 on an OS-chosen port and serves every connection with `handler` on the current runtime.
pub(crate) async fn serve_loopback<H, F>(handler: H) -> io::Result<LocalServer>
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(accept_loop(listener, handler));
    Ok(LocalServer { addr, task })
}

async fn accept_loop<H, F>(listener: TcpListener, handler: H)
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    // Owned here so that aborting this task also aborts every connection.
    let mut connections = JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Usually EMFILE; pause rather than spin, the condition is transient.
                tracing::debug!(error = %e, "emulator accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        let handler = handler.clone();
        connections.spawn(async move {
            let service = service_fn(handler);
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::trace!(error = %e, "emulator connection ended with an error");
            }
        });
    }
}

/// Locks a mutex, ignoring poisoning: the data is plain values that stay consistent.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A response with `Content-Type` and an HTTP `Date` of `date_unix` (hyper would add the true time otherwise).
pub(crate) fn response(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
    date_unix: i64,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    set_header(&mut response, DATE.as_str(), &http_date(date_unix));
    response
}

/// Sets a header; values we build are always valid header text, and anything else is skipped.
pub(crate) fn set_header(response: &mut Response<Full<Bytes>>, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(name), value);
    }
}

/// Decodes `application/x-www-form-urlencoded` text (`+` is a space, `%XX` a byte) into pairs, in order.
pub(crate) fn form_decode(input: &str) -> Vec<(String, String)> {
    input
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let hex = |b: Option<&u8>| b.and_then(|b| char::from(*b).to_digit(16));
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                if let (Some(high), Some(low)) = (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
                    // Two hex digits always fit a byte.
                    out.push(u8::try_from(high * 16 + low).unwrap_or(b'?'));
                    i += 2;
                } else {
                    // Browsers and SDKs keep a stray `%` literally; so do we.
                    out.push(b'%');
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Escapes text for an XML element or attribute.
pub(crate) fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// RFC 7231 IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) for Unix seconds.
pub(crate) fn http_date(unix: i64) -> String {
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (days, (year, month, day), (h, m, s)) = split_unix(unix);
    // 1970-01-01 was a Thursday.
    let weekday = WEEKDAYS[usize::try_from(days.rem_euclid(7)).unwrap_or(0)];
    let month = MONTHS[usize::try_from(month - 1).unwrap_or(0)];
    format!("{weekday}, {day:02} {month} {year:04} {h:02}:{m:02}:{s:02} GMT")
}

/// RFC 3339 UTC with whole seconds (`2026-11-23T11:00:00Z`), the form STS and IMDS use.
pub(crate) fn rfc3339(unix: i64) -> String {
    let (_, (year, month, day), (h, m, s)) = split_unix(unix);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
}

/// Days since the epoch, the civil date, and the time of day.
fn split_unix(unix: i64) -> (i64, (i64, i64, i64), (i64, i64, i64)) {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    (
        days,
        civil_from_days(days),
        (secs / 3600, secs / 60 % 60, secs % 60),
    )
}

/// Proleptic Gregorian date for days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `n` random characters from `A-Z2-7`, the base32 alphabet of AWS key and role ids.
pub(crate) fn random_upper_alnum(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    random_from(ALPHABET, n)
}

/// A 40-character secret access key.
pub(crate) fn random_secret() -> String {
    random_from(BASE64_ALPHABET, 40)
}

/// A session token shaped like STS's (long base64).
pub(crate) fn random_session_token() -> String {
    format!("IQoJb3JpZ2luX2Vj{}", random_from(BASE64_ALPHABET, 340))
}

const BASE64_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn random_from(alphabet: &[u8], n: usize) -> String {
    (0..n)
        .map(|_| char::from(alphabet[fastrand::usize(..alphabet.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding() {
        assert_eq!(
            form_decode("Action=Assume%52ole&Token=a+b%2Bc%3D%3D&empty=&flag&bad=%zz%4"),
            vec![
                ("Action".to_owned(), "AssumeRole".to_owned()),
                ("Token".to_owned(), "a b+c==".to_owned()),
                ("empty".to_owned(), String::new()),
                ("flag".to_owned(), String::new()),
                ("bad".to_owned(), "%zz%4".to_owned()),
            ]
        );
        assert_eq!(
            form_decode("k=%E2%9C%93"),
            vec![("k".to_owned(), "✓".to_owned())]
        );
    }

    #[test]
    fn dates() {
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(rfc3339(1_795_431_600), "2026-11-23T11:00:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! The emulators' own tests speak to them with the harness's HTTP client, run off the
    //! runtime that serves them (the client blocks; the fakes must keep running meanwhile).

    use std::io;
    use std::net::SocketAddr;
    use std::time::Duration;

    use crate::harness::http::{Conn, Response};

    /// Sends `head` (request line and extra header lines, CRLF-separated) plus `body` on a
    /// connection of its own; no answer within `timeout` is an error.
    pub(crate) async fn raw_http_within(
        addr: SocketAddr,
        head: &str,
        body: &str,
        timeout: Duration,
    ) -> io::Result<Response> {
        let mut lines = head.split("\r\n");
        let mut request_line = lines.next().unwrap_or_default().split(' ');
        let method = request_line.next().unwrap_or_default().to_owned();
        let path = request_line.next().unwrap_or_default().to_owned();
        let headers: Vec<String> = lines.map(str::to_owned).collect();
        let body = body.to_owned();
        tokio::task::spawn_blocking(move || {
            let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
            Conn::open_with_timeout(addr, timeout)?.send(
                &method,
                &path,
                &headers,
                body.as_bytes(),
                true,
            )
        })
        .await
        .map_err(io::Error::other)?
    }

    /// `raw_http_within` with 10 s to answer.
    pub(crate) async fn raw_http(addr: SocketAddr, head: &str, body: &str) -> io::Result<Response> {
        raw_http_within(addr, head, body, Duration::from_secs(10)).await
    }
}
