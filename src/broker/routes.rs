//! Destination patterns for application handlers: `/app/chat.{room}` matches
//! `/app/chat.5` with `room = "5"`, as Spring's `@MessageMapping("/chat.{room}")` does.
//!
//! ```
//! use stomp_codec::broker::routes::{Pattern, Routes};
//!
//! let mut routes = Routes::new();
//! routes.add(Pattern::parse("/app/chat.{room}")?, "chat");
//! routes.add(Pattern::parse("/app/rooms/{room}/typing")?, "typing");
//! let (handler, captures) = routes.find(b"/app/chat.5").unwrap();
//! assert_eq!((*handler, captures.get("room")), ("chat", Some("5")));
//! assert!(routes.find(b"/app/chat.").is_none(), "a capture is never empty");
//! assert!(routes.find(b"/app/chat.5/x").is_none(), "nor does it span a /");
//! # Ok::<(), stomp_codec::broker::routes::PatternError>(())
//! ```

use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// A part of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Capture(String),
}

/// A destination pattern: literal text with `{name}` captures. A capture matches one or more
/// characters other than `/`, up to the literal text that follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    parts: Vec<Part>,
}

/// Why a pattern does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatternError {
    /// A `{` without its `}`, a `}` without its `{`, or a `{` inside a capture.
    #[error("pattern {pattern:?}: unbalanced brace at byte {at}")]
    UnbalancedBrace {
        /// The pattern.
        pattern: String,
        /// Where.
        at: usize,
    },
    /// `{}`, or two captures with nothing between them (where would one end?).
    #[error("pattern {pattern:?}: a capture needs a name and literal text after it, before another capture")]
    AmbiguousCapture {
        /// The pattern.
        pattern: String,
    },
}

impl Pattern {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        let unbalanced = |at| PatternError::UnbalancedBrace {
            pattern: text.to_string(),
            at,
        };
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.char_indices();
        while let Some((at, c)) = chars.next() {
            match c {
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some((_, '}')) => break,
                            Some((at, '{')) => return Err(unbalanced(at)),
                            Some((_, c)) => name.push(c),
                            None => return Err(unbalanced(at)),
                        }
                    }
                    let follows_capture = matches!(parts.last(), Some(Part::Capture(_)));
                    if name.is_empty() || (literal.is_empty() && follows_capture) {
                        return Err(PatternError::AmbiguousCapture {
                            pattern: text.to_string(),
                        });
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Literal(core::mem::take(&mut literal)));
                    }
                    parts.push(Part::Capture(name));
                }
                '}' => return Err(unbalanced(at)),
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Pattern {
            text: text.to_string(),
            parts,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The captures when `destination` matches (destinations that are not UTF-8 match
    /// nothing).
    pub fn matches(&self, destination: &[u8]) -> Option<Captures> {
        let mut rest = core::str::from_utf8(destination).ok()?;
        let mut captures = Vec::new();
        let mut parts = self.parts.iter().peekable();
        while let Some(part) = parts.next() {
            match part {
                Part::Literal(l) => rest = rest.strip_prefix(l.as_str())?,
                Part::Capture(name) => {
                    // Up to the next literal, or to the end.
                    let end = match parts.peek() {
                        Some(Part::Literal(next)) => rest.get(1..)?.find(next.as_str())? + 1,
                        _ => rest.len(),
                    };
                    let value = &rest[..end];
                    if value.is_empty() || value.contains('/') {
                        return None;
                    }
                    captures.push((name.clone(), value.to_string()));
                    rest = &rest[end..];
                }
            }
        }
        rest.is_empty().then_some(Captures(captures))
    }
}

/// The values a [`Pattern`] captured, by name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Captures(Vec<(String, String)>);

impl Captures {
    /// The value of capture `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every (name, value), in pattern order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

/// Handlers (or anything) by destination pattern; the first pattern that matches wins.
#[derive(Debug, Clone)]
pub struct Routes<T> {
    routes: Vec<(Pattern, T)>,
}

impl<T> Default for Routes<T> {
    fn default() -> Routes<T> {
        Routes { routes: Vec::new() }
    }
}

impl<T> Routes<T> {
    /// No routes.
    pub fn new() -> Routes<T> {
        Routes::default()
    }

    /// Adds a route, tried after those added before.
    pub fn add(&mut self, pattern: Pattern, value: T) {
        self.routes.push((pattern, value));
    }

    /// The first route matching `destination`, with its captures.
    pub fn find(&self, destination: &[u8]) -> Option<(&T, Captures)> {
        self.routes
            .iter()
            .find_map(|(p, v)| p.matches(destination).map(|c| (v, c)))
    }

    /// The first route matching `destination`, to call it.
    pub fn find_mut(&mut self, destination: &[u8]) -> Option<(&mut T, Captures)> {
        self.routes
            .iter_mut()
            .find_map(|(p, v)| p.matches(destination).map(|c| (v, c)))
    }

    /// Whether there are no routes.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_stop_at_the_next_literal_and_never_span_a_slash() {
        let p = Pattern::parse("/app/{area}/chat.{room}.{lang}").unwrap();
        let c = p.matches(b"/app/eu/chat.5.en").unwrap();
        assert_eq!(
            c.iter().collect::<Vec<_>>(),
            [("area", "eu"), ("room", "5"), ("lang", "en")]
        );
        assert!(p.matches(b"/app/eu/x/chat.5.en").is_none());
        assert!(p.matches(b"/app/eu/chat.5").is_none());
        assert!(Pattern::parse("/app/exact")
            .unwrap()
            .matches(b"/app/exact")
            .is_some());
        assert!(Pattern::parse("/app/exact")
            .unwrap()
            .matches(b"/app/exact2")
            .is_none());
        assert!(p.matches(b"/app/\xff/chat.5.en").is_none());
    }

    #[test]
    fn bad_patterns_are_refused() {
        for bad in [
            "/app/{room",
            "/app/room}",
            "/app/{a{b}}",
            "/app/{}",
            "/app/{a}{b}",
        ] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
    }
}
