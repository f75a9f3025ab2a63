//! JSON Web Tokens (RFC 7519, JWS compact form of RFC 7515) signed with ring: RS256 for Google
//! service-account assertions, ES256 (the raw 64-byte `r‖s` form RFC 7518 §3.4 requires) for
//! APNs provider tokens. Two algorithms and one encoding: ring, already here for rustls, does
//! the cryptography, so no JWT crate with a crypto backend of its own is needed.

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use rustls::pki_types::PrivatePkcs8KeyDer;
use rustls::pki_types::pem::PemObject as _;
use serde_json::Value;

/// The DER of a PKCS #8 private key in PEM (`-----BEGIN PRIVATE KEY-----`), as Google key files
/// and Apple `.p8` files hold it.
fn pkcs8_der(pem: &str, what: &str) -> anyhow::Result<Vec<u8>> {
    let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| anyhow::anyhow!("{what} is not a PKCS #8 private key in PEM: {e}"))?;
    Ok(der.secret_pkcs8_der().to_vec())
}

/// `base64url(header).base64url(claims)`, the part a JWS signs.
fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// An RSA key signing RS256 tokens.
pub struct Rs256 {
    key: RsaKeyPair,
    rng: SystemRandom,
}

impl Rs256 {
    pub fn from_pem(pem: &str, what: &str) -> anyhow::Result<Self> {
        let der = pkcs8_der(pem, what)?;
        let key = RsaKeyPair::from_pkcs8(&der)
            .map_err(|e| anyhow::anyhow!("{what} is not a usable RSA key: {e}"))?;
        Ok(Rs256 {
            key,
            rng: SystemRandom::new(),
        })
    }

    /// A signed token; `header` gets `"alg": "RS256"` and `"typ": "JWT"`.
    pub fn sign(&self, mut header: Value, claims: &Value) -> anyhow::Result<String> {
        header["alg"] = "RS256".into();
        header["typ"] = "JWT".into();
        let input = signing_input(&header, claims);
        let mut sig = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &self.rng, input.as_bytes(), &mut sig)
            .map_err(|_| anyhow::anyhow!("RS256 signing failed"))?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }
}

/// A P-256 key signing ES256 tokens.
pub struct Es256 {
    key: EcdsaKeyPair,
    rng: SystemRandom,
}

impl Es256 {
    pub fn from_pem(pem: &str, what: &str) -> anyhow::Result<Self> {
        let der = pkcs8_der(pem, what)?;
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng)
            .map_err(|e| anyhow::anyhow!("{what} is not a P-256 (ES256) key: {e}"))
            .context("APNs keys are the .p8 file Apple issues")?;
        Ok(Es256 { key, rng })
    }

    /// A signed token; `header` gets `"alg": "ES256"`.
    pub fn sign(&self, mut header: Value, claims: &Value) -> anyhow::Result<String> {
        header["alg"] = "ES256".into();
        let input = signing_input(&header, claims);
        let sig = self
            .key
            .sign(&self.rng, input.as_bytes())
            .map_err(|_| anyhow::anyhow!("ES256 signing failed"))?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref())))
    }
}
