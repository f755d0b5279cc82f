//! AutoMTLS as go-plugin does it: a fresh self-signed server certificate per process, and
//! mutual TLS that accepts exactly the client certificate Terraform passed in
//! `PLUGIN_CLIENT_CERT`.
//!
//! A standard WebPKI client verifier cannot be used: Terraform's client certificate is a
//! CA-flagged P-521 self-signed certificate, which webpki rejects as an end entity. Pinning the
//! exact DER is both simpler and stricter; handshake signatures are still verified with
//! aws-lc-rs (which, unlike ring, supports P-521).
use std::sync::Arc;

use base64::Engine;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

/// What can go wrong setting up TLS.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("PLUGIN_CLIENT_CERT holds no PEM certificate")]
    NoClientCert,
    #[error("PLUGIN_CLIENT_CERT is not valid PEM: {0}")]
    BadPem(String),
    #[error("cannot create the server certificate: {0}")]
    Cert(#[from] rcgen::Error),
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The server's identity for one process.
pub struct ServerIdentity {
    pub cert_der: CertificateDer<'static>,
    key_der: PrivatePkcs8KeyDer<'static>,
}

impl ServerIdentity {
    /// A self-signed P-256 certificate for `localhost`, shaped like go-plugin's: CA flag,
    /// SAN localhost, server and client auth usages.
    pub fn generate() -> Result<Self, TlsError> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
            KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
        };
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(vec!["localhost".to_string()])?;
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "stagecraft");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
            KeyUsagePurpose::KeyAgreement,
            KeyUsagePurpose::KeyCertSign,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params.self_signed(&key)?;
        Ok(ServerIdentity {
            cert_der: cert.der().clone(),
            key_der: PrivatePkcs8KeyDer::from(key.serialize_der()),
        })
    }

    /// The handshake line's last field: DER, standard base64 without padding.
    pub fn handshake_field(&self) -> String {
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(self.cert_der.as_ref())
    }
}

/// Accepts exactly one client certificate, byte for byte.
#[derive(Debug)]
pub struct PinnedClientCert {
    expected: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl PinnedClientCert {
    pub fn from_pem(pem: &str, provider: Arc<CryptoProvider>) -> Result<Self, TlsError> {
        let mut certs = CertificateDer::pem_slice_iter(pem.as_bytes());
        let expected = certs
            .next()
            .ok_or(TlsError::NoClientCert)?
            .map_err(|e| TlsError::BadPem(e.to_string()))?;
        Ok(PinnedClientCert { expected, provider })
    }
}

impl ClientCertVerifier for PinnedClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }
    fn client_auth_mandatory(&self) -> bool {
        true
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.expected.as_ref() {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
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
        rustls::crypto::verify_tls13_signature(
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

/// The rustls server configuration for AutoMTLS, with ALPN `h2` (newer gRPC clients refuse a
/// server that does not negotiate it).
pub fn server_config(
    identity: &ServerIdentity,
    client_cert_pem: &str,
) -> Result<rustls::ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Arc::new(PinnedClientCert::from_pem(
        client_cert_pem,
        provider.clone(),
    )?);
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![identity.cert_der.clone()],
            PrivateKeyDer::Pkcs8(identity.key_der.clone_key()),
        )?;
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_field_is_unpadded_standard_base64_of_der() {
        let id = ServerIdentity::generate().unwrap();
        let f = id.handshake_field();
        assert!(!f.contains('='));
        assert!(
            f.len() > 50,
            "go-plugin ignores the field when it is 50 characters or shorter"
        );
        let der = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(&f)
            .unwrap();
        assert_eq!(der, id.cert_der.as_ref());
    }

    #[test]
    fn pinned_verifier_accepts_only_the_pinned_cert() {
        let client = ServerIdentity::generate().unwrap();
        let other = ServerIdentity::generate().unwrap();
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            base64::engine::general_purpose::STANDARD.encode(client.cert_der.as_ref())
        );
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let v = PinnedClientCert::from_pem(&pem, provider).unwrap();
        assert!(v
            .verify_client_cert(&client.cert_der, &[], UnixTime::now())
            .is_ok());
        assert!(v
            .verify_client_cert(&other.cert_der, &[], UnixTime::now())
            .is_err());
        assert!(v
            .supported_verify_schemes()
            .contains(&SignatureScheme::ECDSA_NISTP521_SHA512));
    }

    #[test]
    fn garbage_client_cert_is_an_error() {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        assert!(PinnedClientCert::from_pem("nothing here", provider).is_err());
    }
}
