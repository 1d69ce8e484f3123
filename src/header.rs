//! Names of the standard STOMP headers, and what is wrong with a header value that
//! [`Frame`](crate::Frame)'s typed accessors parse.
//!
//! Header names are case-sensitive and matched byte for byte (H-9): use these constants rather
//! than spelling the names out.
//!
//! ```
//! use stomp_codec::header::{CONTENT_TYPE, DESTINATION};
//! use stomp_codec::{Command, Frame};
//! let frame = Frame::builder(Command::Send)
//!     .header(DESTINATION, "/queue/a")
//!     .header(CONTENT_TYPE, "text/plain")
//!     .build();
//! assert_eq!(frame.headers().get(DESTINATION), Some(&b"/queue/a"[..]));
//! assert_eq!(frame.destination(), Some(&b"/queue/a"[..]));
//! ```

use alloc::string::String;

use crate::error::shown;

/// `accept-version`: the versions a client speaks, on CONNECT/STOMP (C-3).
pub const ACCEPT_VERSION: &str = "accept-version";
/// `ack`: a subscription's acknowledgement mode on SUBSCRIBE (S-4, S-5), or the id to
/// acknowledge a MESSAGE with (S-14).
pub const ACK: &str = "ack";
/// `content-length`: the body's size in octets (H-1, D-9).
pub const CONTENT_LENGTH: &str = "content-length";
/// `content-type`: the body's MIME type (H-4).
pub const CONTENT_TYPE: &str = "content-type";
/// `destination`: where a SEND goes, what a SUBSCRIBE listens to, where a MESSAGE came from
/// (S-3, S-4, S-13).
pub const DESTINATION: &str = "destination";
/// `heart-beat`: the heart-beat offer on CONNECT and CONNECTED (B-1).
pub const HEART_BEAT: &str = "heart-beat";
/// `host`: the virtual host a CONNECT asks for (C-4).
pub const HOST: &str = "host";
/// `id`: a subscription's id on SUBSCRIBE/UNSUBSCRIBE (S-4, S-6), or the message to
/// acknowledge on a 1.2 ACK/NACK (S-7).
pub const ID: &str = "id";
/// `login`: the user name on CONNECT (C-5).
pub const LOGIN: &str = "login";
/// `message`: the short description an ERROR carries (R-10).
pub const MESSAGE: &str = "message";
/// `message-id`: a MESSAGE's unique id (S-13), and the message a 1.0/1.1 ACK/NACK names
/// (S-8, S-9).
pub const MESSAGE_ID: &str = "message-id";
/// `passcode`: the password on CONNECT (C-5).
pub const PASSCODE: &str = "passcode";
/// `receipt`: asks the server to confirm a client frame with RECEIPT (R-1, H-5).
pub const RECEIPT: &str = "receipt";
/// `receipt-id`: the `receipt` a RECEIPT (or ERROR) answers (R-2, R-11).
pub const RECEIPT_ID: &str = "receipt-id";
/// `server`: the server's product name on CONNECTED (C-7).
pub const SERVER: &str = "server";
/// `session`: the session id on CONNECTED (C-7).
pub const SESSION: &str = "session";
/// `subscription`: the subscription a MESSAGE is delivered for (S-13), and on a 1.1 ACK/NACK
/// (S-8).
pub const SUBSCRIPTION: &str = "subscription";
/// `transaction`: the transaction a frame belongs to (S-11).
pub const TRANSACTION: &str = "transaction";
/// `version`: the negotiated version on CONNECTED (C-6), or the server's versions on the ERROR
/// refusing a CONNECT (C-9).
pub const VERSION: &str = "version";

/// A header value that does not have its header's syntax, from a typed accessor of
/// [`Frame`](crate::Frame) such as [`content_length`](crate::Frame::content_length).
///
/// An absent header is not an error (the accessors return `Ok(None)`); this names the header
/// and shows the value found (at most 64 octets, escaped).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderValueError {
    /// `content-length` is not one or more ASCII digits fitting 64 bits (D-9).
    #[error("invalid content-length \"{value}\": expected decimal digits fitting 64 bits")]
    ContentLength {
        /// The value, escaped for display.
        value: String,
    },
    /// `heart-beat` is not two decimal numbers fitting 32 bits, as `x,y` (B-1, D-19).
    #[error("invalid heart-beat \"{value}\": expected `x,y`, two decimal numbers fitting 32 bits")]
    Heartbeat {
        /// The value, escaped for display.
        value: String,
    },
}

impl HeaderValueError {
    /// The name of the header whose value was wrong.
    pub fn header(&self) -> &'static str {
        match self {
            HeaderValueError::ContentLength { .. } => CONTENT_LENGTH,
            HeaderValueError::Heartbeat { .. } => HEART_BEAT,
        }
    }

    pub(crate) fn content_length(value: &[u8]) -> HeaderValueError {
        HeaderValueError::ContentLength {
            value: shown(value, 64),
        }
    }

    pub(crate) fn heartbeat(value: &[u8]) -> HeaderValueError {
        HeaderValueError::Heartbeat {
            value: shown(value, 64),
        }
    }
}
