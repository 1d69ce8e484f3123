//! The TLS client configuration: which roots to trust, which protocol versions to speak.

use std::path::Path;
use std::sync::Arc;

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use super::TransportError;

/// A connector trusting exactly the certificates of `ca_file` (PEM), or the Mozilla roots of
/// `webpki-roots` when there is none; TLS 1.3 and 1.2 on the `ring` provider.
/// `server` only names the peer in an error.
pub(super) fn connector(
    ca_file: Option<&Path>,
    server: &str,
) -> Result<TlsConnector, TransportError> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Some(path) => {
            let invalid = |reason: String| TransportError::InvalidCa {
                path: path.to_owned(),
                reason,
            };
            // A blocking read, but of a small local file, once per connection attempt.
            let pem = std::fs::read(path).map_err(|err| invalid(err.to_string()))?;
            // Sections other than CERTIFICATE (a key in the same file) are skipped.
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|err| invalid(format!("bad PEM: {err}")))?;
                roots
                    .add(cert)
                    .map_err(|err| invalid(format!("unusable certificate: {err}")))?;
            }
            if roots.is_empty() {
                return Err(invalid("no PEM CERTIFICATE in it".to_owned()));
            }
        }
    }
    // rustls 0.23.48 deprecates the ring provider for lacking post-quantum key exchange; it is
    // still supported, and aws-lc-rs (which has it) needs cmake and a C toolchain to build.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|err| TransportError::Tls {
            server: server.to_owned(),
            source: Box::new(err),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// The name the server's certificate must match: the URL's host, a DNS name or an IP address.
pub(super) fn server_name(host: &str) -> Result<ServerName<'static>, TransportError> {
    ServerName::try_from(host.to_owned()).map_err(|err| TransportError::Tls {
        server: host.to_owned(),
        source: Box::new(err),
    })
}

/// A failed handshake: a rustls error (untrusted certificate, no common cipher suite, an alert
/// from the server) is [`TransportError::Tls`]; anything else (the peer hung up) is I/O.
pub(super) fn handshake_error(server: &str, err: std::io::Error) -> TransportError {
    let is_tls = err
        .get_ref()
        .is_some_and(|inner| inner.is::<rustls::Error>());
    if !is_tls {
        return TransportError::Io {
            context: format!("TLS handshake with {server}"),
            source: err,
        };
    }
    // An error that holds an inner error always gives it back; the fallback keeps this
    // panic-free all the same.
    let source = err
        .into_inner()
        .unwrap_or_else(|| Box::new(std::io::Error::other("TLS error without details")));
    TransportError::Tls {
        server: server.to_owned(),
        source,
    }
}
