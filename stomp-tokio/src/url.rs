//! Broker addresses: `stomp://`, `stomp+ssl://`, `ws://` and `wss://` URLs.
//!
//! ```text
//! stomp://[login[:passcode]@]host[:port]          TCP, port 61613 (also tcp://)
//! stomp+ssl://[login[:passcode]@]host[:port]      TLS, port 61614 (also stomp+tls://, ssl://)
//! ws://[login[:passcode]@]host[:port][/path]      WebSocket, port 80, path `/`
//! wss://[login[:passcode]@]host[:port][/path]     WebSocket over TLS, port 443, path `/`
//! ```
//!
//! Schemes are matched without regard to case. An IPv6 address goes in brackets
//! (`stomp://[::1]:61613`). The login and passcode may be percent-encoded (`%40` for `@`); they
//! are for the STOMP CONNECT frame, never sent in the WebSocket request. A ws path may carry a
//! query (`/ws?token=abc`); fragments are refused (RFC 6455 3).

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

/// How to reach a broker: the transport of a [`StompUrl`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// STOMP over TCP: `stomp://` or `tcp://`.
    Tcp,
    /// STOMP over TLS over TCP: `stomp+ssl://`, `stomp+tls://` or `ssl://`.
    Tls,
    /// STOMP over WebSocket: `ws://`.
    Ws,
    /// STOMP over WebSocket over TLS: `wss://`.
    Wss,
}

impl Scheme {
    /// The port used when the URL names none: 61613 (TCP), 61614 (TLS), 80 (ws), 443 (wss).
    pub const fn default_port(self) -> u16 {
        match self {
            Scheme::Tcp => 61613,
            Scheme::Tls => 61614,
            Scheme::Ws => 80,
            Scheme::Wss => 443,
        }
    }

    /// The name written by [`StompUrl`]'s `Display`: `stomp`, `stomp+ssl`, `ws` or `wss`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scheme::Tcp => "stomp",
            Scheme::Tls => "stomp+ssl",
            Scheme::Ws => "ws",
            Scheme::Wss => "wss",
        }
    }

    /// Whether the connection is encrypted (TLS or wss).
    pub const fn is_tls(self) -> bool {
        matches!(self, Scheme::Tls | Scheme::Wss)
    }

    /// Whether STOMP travels in WebSocket messages (ws or wss).
    pub const fn is_websocket(self) -> bool {
        matches!(self, Scheme::Ws | Scheme::Wss)
    }

    fn from_name(name: &str) -> Option<Scheme> {
        const NAMES: [(&str, Scheme); 7] = [
            ("stomp", Scheme::Tcp),
            ("tcp", Scheme::Tcp),
            ("stomp+ssl", Scheme::Tls),
            ("stomp+tls", Scheme::Tls),
            ("ssl", Scheme::Tls),
            ("ws", Scheme::Ws),
            ("wss", Scheme::Wss),
        ];
        NAMES
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(name))
            .map(|&(_, scheme)| scheme)
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What was wrong with a URL given to [`StompUrl::parse`].
///
/// Messages never repeat a passcode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// No `://` after a scheme name.
    #[error("missing `scheme://` (expected e.g. stomp://host:61613)")]
    MissingScheme,
    /// A scheme other than the ones this crate speaks.
    #[error("unknown scheme `{0}` (expected stomp, tcp, stomp+ssl, stomp+tls, ssl, ws or wss)")]
    UnknownScheme(String),
    /// Nothing between `://` (or `@`) and the port or path.
    #[error("missing host")]
    MissingHost,
    /// A host that is neither a name (ASCII letters, digits, `-`, `.`, `_`, `~`) nor an IPv4
    /// address nor an IPv6 address in brackets.
    #[error("bad host `{0}` (expected a name, an IPv4 address, or an IPv6 address in brackets)")]
    BadHost(String),
    /// A port that is not a number from 1 to 65535.
    #[error("bad port `{0}` (expected 1 to 65535)")]
    BadPort(String),
    /// A `%` not followed by two hex digits, or a decoded login or passcode that is not UTF-8.
    #[error("bad percent-encoding in the {0}")]
    BadPercentEncoding(&'static str),
    /// A path, query or fragment in a `stomp://` or `stomp+ssl://` URL (only ws URLs have one).
    #[error("unexpected `{path}` after the port: {scheme}:// URLs have no path")]
    UnexpectedPath {
        /// The URL's scheme.
        scheme: Scheme,
        /// What followed the host and port.
        path: String,
    },
    /// A ws path holding a fragment, a space, a control or a non-ASCII character.
    #[error("bad path `{0}` (no fragment, spaces or non-ASCII characters)")]
    BadPath(String),
}

/// A parsed broker address; see the [module docs](self) for the forms accepted.
///
/// `Display` writes the canonical form, with the scheme's canonical name and the port always
/// given, which parses back to an equal `StompUrl`. It includes the passcode; `Debug` does not.
///
/// ```
/// use stomp_tokio::url::{Scheme, StompUrl};
///
/// let url: StompUrl = "wss://guest:s%40fe@[::1]/ws".parse()?;
/// assert_eq!(url.scheme(), Scheme::Wss);
/// assert_eq!(url.host(), "::1");
/// assert_eq!(url.port(), 443);
/// assert_eq!(url.path(), Some("/ws"));
/// assert_eq!((url.login(), url.passcode()), (Some("guest"), Some("s@fe")));
/// assert_eq!(url.to_string(), "wss://guest:s%40fe@[::1]:443/ws");
/// # Ok::<(), stomp_tokio::url::UrlError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StompUrl {
    scheme: Scheme,
    host: String,
    port: u16,
    path: Option<String>,
    login: Option<String>,
    passcode: Option<String>,
}

impl StompUrl {
    /// Parses a broker URL.
    pub fn parse(input: &str) -> Result<StompUrl, UrlError> {
        let (name, rest) = input.split_once("://").ok_or(UrlError::MissingScheme)?;
        let scheme =
            Scheme::from_name(name).ok_or_else(|| UrlError::UnknownScheme(name.to_owned()))?;
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);

        // The last `@` ends the userinfo, so an unencoded `@` in a passcode still works.
        let (userinfo, host_port) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        let (login, passcode) = match userinfo {
            None => (None, None),
            Some(userinfo) => match userinfo.split_once(':') {
                Some((login, passcode)) => (
                    Some(percent_decode(login, "login")?),
                    Some(percent_decode(passcode, "passcode")?),
                ),
                None => (Some(percent_decode(userinfo, "login")?), None),
            },
        };

        let (host, port) = split_host_port(host_port)?;
        let port = match port {
            None | Some("") => scheme.default_port(),
            Some(text) => parse_port(text)?,
        };

        let path = if scheme.is_websocket() {
            Some(ws_path(tail)?)
        } else if tail.is_empty() || tail == "/" {
            None
        } else {
            return Err(UrlError::UnexpectedPath {
                scheme,
                path: tail.to_owned(),
            });
        };

        Ok(StompUrl {
            scheme,
            host: host.to_owned(),
            port,
            path,
            login,
            passcode,
        })
    }

    /// The transport.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host name or IP address, without the brackets of an IPv6 address: what to resolve,
    /// and the TLS server name.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, the scheme's default if the URL gave none.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The path and query of a ws or wss URL (`/` if it gave none); `None` for TCP and TLS.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// The login of the userinfo (`login:passcode@`), percent-decoded.
    pub fn login(&self) -> Option<&str> {
        self.login.as_deref()
    }

    /// The passcode of the userinfo, percent-decoded.
    pub fn passcode(&self) -> Option<&str> {
        self.passcode.as_deref()
    }

    /// `host:port`, with an IPv6 address in brackets: the authority of a request URI.
    pub(crate) fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl FromStr for StompUrl {
    type Err = UrlError;

    fn from_str(input: &str) -> Result<StompUrl, UrlError> {
        StompUrl::parse(input)
    }
}

impl fmt::Display for StompUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme)?;
        if let Some(login) = &self.login {
            percent_encode(f, login, false)?;
            if let Some(passcode) = &self.passcode {
                f.write_str(":")?;
                percent_encode(f, passcode, true)?;
            }
            f.write_str("@")?;
        }
        f.write_str(&self.host_port())?;
        if let Some(path) = &self.path {
            f.write_str(path)?;
        }
        Ok(())
    }
}

impl fmt::Debug for StompUrl {
    /// As `Display`, but with the passcode hidden, so that logging a URL leaks no secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.clone();
        if shown.passcode.is_some() {
            shown.passcode = Some("***".to_owned());
        }
        write!(f, "StompUrl({shown})")
    }
}

/// Splits `host[:port]` or `[v6]:port`; the port is `None` when absent.
fn split_host_port(host_port: &str) -> Result<(&str, Option<&str>), UrlError> {
    if let Some(bracketed) = host_port.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| UrlError::BadHost(host_port.to_owned()))?;
        if host.parse::<Ipv6Addr>().is_err() {
            return Err(UrlError::BadHost(host_port.to_owned()));
        }
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err(UrlError::BadHost(host_port.to_owned())),
            },
        };
    }
    if host_port.matches(':').count() > 1 {
        return Err(UrlError::BadHost(host_port.to_owned())); // an IPv6 address without brackets
    }
    let (host, port) = match host_port.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (host_port, None),
    };
    if host.is_empty() {
        return Err(UrlError::MissingHost);
    }
    let name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~');
    if !host.chars().all(name_char) {
        return Err(UrlError::BadHost(host_port.to_owned()));
    }
    Ok((host, port))
}

fn parse_port(text: &str) -> Result<u16, UrlError> {
    let bad = || UrlError::BadPort(text.to_owned());
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match text.parse::<u16>() {
        Ok(0) | Err(_) => Err(bad()),
        Ok(port) => Ok(port),
    }
}

/// The path (and query) of a ws URL: what follows the authority, `/` when nothing does.
fn ws_path(tail: &str) -> Result<String, UrlError> {
    let printable = |b: u8| b.is_ascii_graphic() && b != b'#';
    if !tail.bytes().all(printable) {
        return Err(UrlError::BadPath(tail.to_owned()));
    }
    Ok(match tail {
        "" => "/".to_owned(),
        query if query.starts_with('?') => format!("/{query}"),
        path => path.to_owned(),
    })
}

fn percent_decode(text: &str, part: &'static str) -> Result<String, UrlError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or(UrlError::BadPercentEncoding(part))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| UrlError::BadPercentEncoding(part))
}

/// Writes `text` with every byte outside RFC 3986's unreserved and sub-delims characters
/// percent-encoded; `:` stays only in the passcode (in the login it would end the login).
fn percent_encode(f: &mut fmt::Formatter<'_>, text: &str, colon_ok: bool) -> fmt::Result {
    for &b in text.as_bytes() {
        let keep =
            b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=".contains(&b) || (colon_ok && b == b':');
        if keep {
            write!(f, "{}", b as char)?;
        } else {
            write!(f, "%{b:02X}")?;
        }
    }
    Ok(())
}
