//! Sealing connection secrets at rest with AES-256-GCM. The key comes from
//! `SWITCHYARD_SECRET_KEY` (64 hex characters) or, for development, is generated once into
//! `<data-dir>/secret.key` (mode 0600). Each seal uses a fresh random 96-bit nonce. This module
//! never logs or returns plaintext except to the caller of `open`.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit};
use base64::Engine as _;
use std::path::Path;

pub const DEV_KEY_FILE: &str = "secret.key";
const PREFIX: &str = "v1:";

pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl SecretBox {
    /// The configured key, or the development key in `data_dir` (created on first use).
    pub fn load(data_dir: &Path) -> anyhow::Result<Self> {
        let hex_key = match std::env::var("SWITCHYARD_SECRET_KEY") {
            Ok(k) => k,
            Err(_) => {
                let path = data_dir.join(DEV_KEY_FILE);
                if !path.exists() {
                    let key: [u8; 32] = rand::random();
                    crate::fsutil::write_private(&path, hex::encode(key).as_bytes())?;
                }
                std::fs::read_to_string(&path)
                    .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", path.display()))?
            }
        };
        let bytes: [u8; 32] = hex::decode(hex_key.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                anyhow::anyhow!("SWITCHYARD_SECRET_KEY: must be 64 hex characters (32 bytes)")
            })?;
        Ok(Self::from_key(&bytes))
    }

    pub fn from_key(key: &[u8; 32]) -> Self {
        Self {
            cipher: Aes256Gcm::new(key.into()),
        }
    }

    /// Encrypts `plaintext`; the result is safe to store.
    pub fn seal(&self, plaintext: &[u8]) -> anyhow::Result<String> {
        let nonce: [u8; 12] = rand::random();
        let ciphertext = self
            .cipher
            .encrypt((&nonce).into(), plaintext)
            .map_err(|_| anyhow::anyhow!("sealing failed"))?;
        let mut out = nonce.to_vec();
        out.extend(ciphertext);
        Ok(format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(out)
        ))
    }

    /// Decrypts a value made by [`seal`](Self::seal) with the same key.
    pub fn open(&self, sealed: &str) -> anyhow::Result<Vec<u8>> {
        let body = sealed
            .strip_prefix(PREFIX)
            .ok_or_else(|| anyhow::anyhow!("sealed value has an unknown format"))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| anyhow::anyhow!("sealed value is not base64"))?;
        if bytes.len() < 12 {
            anyhow::bail!("sealed value is too short");
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce
            .try_into()
            .map_err(|_| anyhow::anyhow!("sealed value is too short"))?;
        self.cipher
            .decrypt((&nonce).into(), ciphertext)
            .map_err(|_| {
                anyhow::anyhow!(
                    "sealed value does not decrypt with this key (wrong key or tampered)"
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::SecretBox;

    #[test]
    fn seal_and_open_round_trip_with_fresh_nonces() {
        let b = SecretBox::from_key(&[1u8; 32]);
        let a = b.seal(b"whsec_topsecret").expect("seal");
        let c = b.seal(b"whsec_topsecret").expect("seal");
        assert_ne!(a, c, "a fresh nonce per seal");
        assert!(!a.contains("topsecret"));
        assert_eq!(b.open(&a).expect("open"), b"whsec_topsecret");
    }

    #[test]
    fn a_wrong_key_or_tampering_is_detected() {
        let sealed = SecretBox::from_key(&[1u8; 32]).seal(b"x").expect("seal");
        assert!(SecretBox::from_key(&[2u8; 32]).open(&sealed).is_err());
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(SecretBox::from_key(&[1u8; 32]).open(&tampered).is_err());
    }
}
