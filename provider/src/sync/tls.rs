//! TLS for PostgreSQL connections: libpq's `sslmode` / `sslrootcert` on top of rustls (aws-lc-rs
//! provider), as a `tokio_postgres` [`MakeTlsConnect`].
//!
//! | `sslmode`     | TLS                        | certificate check                              |
//! |---------------|----------------------------|------------------------------------------------|
//! | `disable`     | never                      | -                                              |
//! | `prefer`      | if the server offers it    | none (like libpq)                              |
//! | `require`     | always                     | none (like libpq without a root file)          |
//! | `verify-ca`   | always                     | chain to `sslrootcert` (else webpki roots)     |
//! | `verify-full` | always                     | chain, and the host name/IP in the certificate |
//!
//! `prefer` is the default, as in libpq. tokio-postgres itself knows only `disable`, `prefer`
//! and `require` and no `sslrootcert`, so [`pg_config`] takes both out of the URL first.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::config::SslMode as PgMode;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use tokio_postgres::Config;

use super::{percent_decode, redact_url, SyncError};

/// libpq's `sslmode` values (`allow` is treated as `prefer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(v: &str) -> Option<SslMode> {
        Some(match v.to_ascii_lowercase().as_str() {
            "disable" => SslMode::Disable,
            "allow" | "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" | "verify_ca" => SslMode::VerifyCa,
            "verify-full" | "verify_full" => SslMode::VerifyFull,
            _ => return None,
        })
    }
}

/// A PostgreSQL URL (or libpq `key=value` string) split into what tokio-postgres understands
/// and the TLS settings it does not.
pub(crate) struct PgTarget {
    pub config: Config,
    pub mode: SslMode,
    pub rootcert: Option<String>,
}

/// Parse a connection string, taking `sslmode` and `sslrootcert` out of it.
pub(crate) fn pg_config(url: &str) -> Result<PgTarget, SyncError> {
    let mut mode = SslMode::Prefer;
    let mut rootcert = None;
    let mut bad_mode = None;
    let mut take = |k: &str, v: &str| -> bool {
        match k {
            "sslmode" => {
                match SslMode::parse(v) {
                    Some(m) => mode = m,
                    None => bad_mode = Some(v.to_string()),
                }
                true
            }
            "sslrootcert" => {
                rootcert = Some(v.to_string()).filter(|s| !s.is_empty());
                true
            }
            _ => false,
        }
    };
    let rest = if url.contains("://") {
        match url.split_once('?') {
            Some((base, query)) => {
                let kept: Vec<&str> = query
                    .split('&')
                    .filter(|kv| {
                        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                        !take(&percent_decode(k), &percent_decode(v))
                    })
                    .collect();
                if kept.is_empty() {
                    base.to_string()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
            None => url.to_string(),
        }
    } else {
        // key=value form (values with spaces must be quoted; those are kept as they are).
        url.split_whitespace()
            .filter(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                !take(k, v.trim_matches('\''))
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    if let Some(v) = bad_mode {
        return Err(SyncError::UnsupportedUrl(format!(
            "{} (sslmode={v:?}: expected disable, allow, prefer, require, verify-ca or verify-full)",
            redact_url(url)
        )));
    }
    let mut config = Config::from_str(&rest)
        .map_err(|e| SyncError::UnsupportedUrl(format!("{} ({e})", redact_url(url))))?;
    config.ssl_mode(match mode {
        SslMode::Disable => PgMode::Disable,
        SslMode::Prefer => PgMode::Prefer,
        _ => PgMode::Require,
    });
    Ok(PgTarget {
        config,
        mode,
        rootcert,
    })
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The rustls client configuration for a mode.
pub(crate) fn client_config(
    mode: SslMode,
    rootcert: Option<&str>,
) -> Result<Arc<ClientConfig>, SyncError> {
    let tls_err = |m: String| SyncError::Database {
        context: "setting up TLS".into(),
        message: m,
    };
    let provider = provider();
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        SslMode::Disable | SslMode::Prefer | SslMode::Require => Arc::new(NoCertCheck {
            provider: provider.clone(),
        }),
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let mut roots = RootCertStore::empty();
            match rootcert {
                Some(path) => {
                    let pem = std::fs::read(path)
                        .map_err(|e| tls_err(format!("reading sslrootcert {path}: {e}")))?;
                    let mut n = 0;
                    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                        let cert =
                            cert.map_err(|e| tls_err(format!("parsing sslrootcert {path}: {e}")))?;
                        roots
                            .add(cert)
                            .map_err(|e| tls_err(format!("sslrootcert {path}: {e}")))?;
                        n += 1;
                    }
                    if n == 0 {
                        return Err(tls_err(format!(
                            "sslrootcert {path} holds no PEM certificate"
                        )));
                    }
                }
                None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            }
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| tls_err(format!("building the certificate verifier: {e}")))?;
            if mode == SslMode::VerifyCa {
                Arc::new(ChainOnly(webpki))
            } else {
                webpki
            }
        }
    };
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    // PostgreSQL 17 checks the ALPN protocol when a client sends one; older servers ignore it.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(Arc::new(config))
}

/// `prefer` / `require`: encrypted, but any certificate is accepted (handshake signatures are
/// still checked, so the peer holds the key of the certificate it shows).
#[derive(Debug)]
struct NoCertCheck {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for NoCertCheck {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `verify-ca`: the full webpki check except the host name (rustls checks the chain before the
/// name, so a name mismatch means the chain was good).
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The [`MakeTlsConnect`] handed to tokio-postgres.
#[derive(Clone)]
pub(crate) struct MakeRustls {
    config: Arc<ClientConfig>,
}

impl MakeRustls {
    pub(crate) fn new(config: Arc<ClientConfig>) -> MakeRustls {
        MakeRustls { config }
    }
}

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = rustls::pki_types::InvalidDnsNameError;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsConnect, Self::Error> {
        Ok(RustlsConnect {
            config: self.config.clone(),
            name: ServerName::try_from(domain.to_string())?,
        })
    }
}

pub(crate) struct RustlsConnect {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let s = tokio_rustls::TlsConnector::from(self.config)
                .connect(self.name, stream)
                .await?;
            Ok(RustlsStream(s))
        })
    }
}

pub(crate) struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    /// No `tls-server-end-point` binding: SCRAM runs without channel binding (what
    /// `channel_binding=prefer`, the default, falls back to).
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_is_taken_out_of_the_url() {
        let t = pg_config(
            "postgres://u:p@h:5433/db?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem&application_name=x",
        )
        .unwrap();
        assert_eq!(t.mode, SslMode::VerifyFull);
        assert_eq!(t.rootcert.as_deref(), Some("/tmp/ca.pem"));
        assert_eq!(t.config.get_ssl_mode(), PgMode::Require);
        assert_eq!(t.config.get_application_name(), Some("x"));
        let t = pg_config("postgres://u@h/db").unwrap();
        assert_eq!(t.mode, SslMode::Prefer);
        let t = pg_config("host=h dbname=db sslmode=disable").unwrap();
        assert_eq!(t.mode, SslMode::Disable);
        let e = pg_config("postgres://u:secret@h/db?sslmode=bogus")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("bogus") && !e.contains("secret"), "{e}");
    }
}
