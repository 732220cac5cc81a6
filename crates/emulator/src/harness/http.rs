//! Just enough blocking HTTP/1.1 to talk to the daemon and the fakes: one
//! request per connection (`request`, `get`, `send`), a keep-alive connection
//! for load generators (`Conn`), and one that reopens itself when the server
//! closed it (`Client`). Bodies framed by `Content-Length`, `chunked` or the
//! close of the connection are all read; responses to `HEAD` have none.
//!
//! `Conn` and `Client` speak over plain TCP by default, or over any stream the
//! caller opens (`Conn::over`, `Client::with_connect`): the TLS bench wraps the
//! TCP stream in rustls itself, so this crate needs no TLS dependency.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a read may block by default: generous for a slow 2-core box, but finite.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A status, the raw header lines and the body of one response.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code (0 when the status line had none).
    pub status: u16,
    /// The header block as received, one `Name: value` per line (no status line).
    pub head: String,
    /// The body, as text (invalid UTF-8 replaced).
    pub body: String,
}

impl Response {
    /// Every header as (name, value), in order, duplicates kept.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim(), v.trim()))
    }

    /// The first value of the header `name`, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The body as JSON; panics with the body when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One keep-alive HTTP/1.1 connection, over TCP unless opened with `Conn::over`.
#[derive(Debug)]
pub struct Conn<S = TcpStream> {
    stream: BufReader<S>,
    line: String,
}

impl Conn {
    /// Connects with the default read timeout.
    pub fn open(addr: SocketAddr) -> io::Result<Conn> {
        Conn::open_with_timeout(addr, READ_TIMEOUT)
    }

    /// Connects; every read then gives up after `read_timeout`.
    pub fn open_with_timeout(addr: SocketAddr, read_timeout: Duration) -> io::Result<Conn> {
        connect_tcp(addr, read_timeout).map(Conn::over)
    }
}

/// A TCP connection to `addr` as every harness connection makes it (for a caller that wraps
/// it, e.g. in TLS, before `Conn::over`); every read gives up after `read_timeout`.
pub fn connect_tcp(addr: SocketAddr, read_timeout: Duration) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
    // A request is one small write; don't let Nagle hold it back behind an unacked one.
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(read_timeout))?;
    Ok(stream)
}

impl<S: Read + Write> Conn<S> {
    /// HTTP/1.1 over `stream`, already connected (and wrapped, if it is to be).
    pub fn over(stream: S) -> Conn<S> {
        Conn {
            stream: BufReader::with_capacity(64 * 1024, stream),
            line: String::new(),
        }
    }

    /// `GET path`, leaving the connection open for the next request.
    pub fn get(&mut self, path: &str) -> io::Result<Response> {
        self.send("GET", path, &[], b"", false)
    }

    /// Sends one request (extra `headers` are whole `Name: value` lines) and reads exactly one
    /// response. With `close`, asks the server to close afterwards.
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[&str],
        body: &[u8],
        close: bool,
    ) -> io::Result<Response> {
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        if close {
            request.push_str("Connection: close\r\n");
        }
        for header in headers {
            request.push_str(header);
            request.push_str("\r\n");
        }
        if !body.is_empty() || method != "GET" {
            request.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        request.push_str("\r\n");
        let stream = self.stream.get_mut();
        stream.write_all(request.as_bytes())?;
        stream.write_all(body)?;
        // A TLS stream holds written bytes until flushed; a TcpStream's flush does nothing.
        stream.flush()?;
        self.read_response(method == "HEAD")
    }

    fn read_response(&mut self, head_only: bool) -> io::Result<Response> {
        let status: u16 = self
            .read_line()?
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| invalid("no HTTP status line"))?;
        let mut head = String::new();
        let mut length = None;
        let mut chunked = false;
        loop {
            let line = self.read_line()?;
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().ok();
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = value.to_ascii_lowercase().contains("chunked");
                }
            }
            head.push_str(line);
            head.push('\n');
        }
        let bodiless = head_only || status < 200 || status == 204 || status == 304;
        let body = if bodiless {
            Vec::new()
        } else if chunked {
            self.read_chunked()?
        } else if let Some(length) = length {
            let mut body = vec![0; length];
            self.stream.read_exact(&mut body)?;
            body
        } else {
            // No framing: the body runs to the close of the connection.
            let mut body = Vec::new();
            self.stream.read_to_end(&mut body)?;
            body
        };
        let body = String::from_utf8(body)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        Ok(Response { status, head, body })
    }

    /// A `Transfer-Encoding: chunked` body: hex sizes, chunks, then trailers to an empty line.
    fn read_chunked(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let size = self.read_line()?;
            let size = size.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size, 16).map_err(|_| invalid("bad chunk size"))?;
            if size == 0 {
                while !self.read_line()?.is_empty() {}
                return Ok(body);
            }
            let start = body.len();
            body.resize(start + size, 0);
            self.stream.read_exact(&mut body[start..])?;
            if !self.read_line()?.is_empty() {
                return Err(invalid("no CRLF after a chunk"));
            }
        }
    }

    fn read_line(&mut self) -> io::Result<&str> {
        self.line.clear();
        if self.stream.read_line(&mut self.line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(self.line.trim_end())
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// How a `Client` opens a connection.
type Connect<S> = Box<dyn FnMut() -> io::Result<Conn<S>> + Send>;

/// A keep-alive connection that is reopened once when the server has closed it (an idle
/// keep-alive connection does not live forever); over TCP unless made `with_connect`.
pub struct Client<S = TcpStream> {
    connect: Connect<S>,
    conn: Option<Conn<S>>,
}

impl Client {
    /// A client for `addr`; it connects on the first request.
    pub fn new(addr: SocketAddr) -> Client {
        Client::with_connect(move || Conn::open(addr))
    }
}

impl<S: Read + Write> Client<S> {
    /// A client over the connections `connect` opens (on the first request, and again
    /// after the server closed one).
    pub fn with_connect(connect: impl FnMut() -> io::Result<Conn<S>> + Send + 'static) -> Self {
        Client {
            connect: Box::new(connect),
            conn: None,
        }
    }

    /// `GET path` on the kept-alive connection, reconnecting once if it was closed.
    pub fn get(&mut self, path: &str) -> io::Result<Response> {
        self.get_with(path, &[])
    }

    /// `get` with extra header lines (whole `Name: value` lines) on the request.
    pub fn get_with(&mut self, path: &str, headers: &[&str]) -> io::Result<Response> {
        if let Some(conn) = &mut self.conn
            && let Ok(response) = conn.send("GET", path, headers, b"", false)
        {
            return Ok(response);
        }
        self.conn = None;
        let conn = self.conn.insert((self.connect)()?);
        conn.send("GET", path, headers, b"", false)
    }
}

impl<S: fmt::Debug> fmt::Debug for Client<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The connector is a closure, which has no Debug of its own.
        f.debug_struct("Client")
            .field("conn", &self.conn)
            .finish_non_exhaustive()
    }
}

/// One request with a body on a connection of its own, closed after the answer.
pub fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[&str],
    body: &[u8],
) -> io::Result<Response> {
    Conn::open(addr)?.send(method, path, headers, body, true)
}

/// One request without a body on a connection of its own; extra header lines may be given.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[&str],
) -> io::Result<Response> {
    send(addr, method, path, headers, b"")
}

/// `GET path`; panics when there is no answer.
pub fn get(addr: SocketAddr, path: &str) -> Response {
    request(addr, "GET", path, &[]).unwrap_or_else(|e| panic!("GET {path}: {e}"))
}
