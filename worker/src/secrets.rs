//! Sealing connection secrets at rest with AES-256-GCM. Each seal uses a fresh random 96-bit
//! nonce. The key itself is loaded by the control plane (`api::connections::load_secret_box`:
//! `SWITCHYARD_SECRET_KEY`, or a development key file); workers get the same box to open the
//! secrets of the connections they deliver to. This module never logs or returns plaintext
//! except to the caller of `open`.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit};
use base64::Engine as _;

const PREFIX: &str = "v1:";

/// Sealing or opening failed; the message never contains the value.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct SecretError(&'static str);

pub struct SecretBox {
    cipher: Aes256Gcm,
    /// Key of [`SecretBox::keyed_hash`], derived from the sealing key.
    hash_key: [u8; 32],
}

impl SecretBox {
    /// A box from a key given as 64 hex characters.
    pub fn from_hex(hex_key: &str) -> Result<Self, SecretError> {
        let bytes: [u8; 32] = hex::decode(hex_key.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(SecretError("must be 64 hex characters (32 bytes)"))?;
        Ok(Self::from_key(&bytes))
    }

    pub fn from_key(key: &[u8; 32]) -> Self {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(b"switchyard.keyed-hash.v1\n");
        h.update(key);
        Self {
            cipher: Aes256Gcm::new(key.into()),
            hash_key: h.finalize().into(),
        }
    }

    /// A salted, irreversible name for `value` (HMAC-SHA256 under a key derived from this
    /// deployment's secret key, hex): how the audit log names a person without naming them.
    pub fn keyed_hash(&self, value: &[u8]) -> String {
        use hmac::Mac;
        let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(&self.hash_key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(value);
        hex::encode(mac.finalize().into_bytes())
    }

    /// Encrypts `plaintext`; the result is safe to store.
    pub fn seal(&self, plaintext: &[u8]) -> Result<String, SecretError> {
        let nonce: [u8; 12] = rand::random();
        let ciphertext = self
            .cipher
            .encrypt((&nonce).into(), plaintext)
            .map_err(|_| SecretError("sealing failed"))?;
        let mut out = nonce.to_vec();
        out.extend(ciphertext);
        Ok(format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(out)
        ))
    }

    /// Decrypts a value made by [`seal`](Self::seal) with the same key.
    pub fn open(&self, sealed: &str) -> Result<Vec<u8>, SecretError> {
        let body = sealed
            .strip_prefix(PREFIX)
            .ok_or(SecretError("sealed value has an unknown format"))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| SecretError("sealed value is not base64"))?;
        if bytes.len() < 12 {
            return Err(SecretError("sealed value is too short"));
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce
            .try_into()
            .map_err(|_| SecretError("sealed value is too short"))?;
        self.cipher
            .decrypt((&nonce).into(), ciphertext)
            .map_err(|_| {
                SecretError("sealed value does not decrypt with this key (wrong key or tampered)")
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
