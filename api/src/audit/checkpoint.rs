//! Signed checkpoints: "the chain had `seq` entries and ended in `hash`", signed with an Ed25519
//! key kept outside the database, so a truncated or wholesale-recomputed chain is detectable.

use super::now_string;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use entity::chain::checkpoint_message;
use entity::{audit_checkpoint, audit_entry, audit_head};
use sea_orm::{ActiveModelTrait, DatabaseConnection, DbErr, EntityTrait, Set};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Signs checkpoints with an Ed25519 key kept outside the database.
pub struct Signer {
    key: SigningKey,
}

impl Signer {
    /// Loads the key (hex seed) from `path`, creating it (mode 0600) if it does not exist.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        if !path.exists() {
            let seed: [u8; 32] = rand::random();
            crate::fsutil::write_private(path, hex::encode(seed).as_bytes())?;
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("audit key {}: cannot read: {e}", path.display()))?;
        let bytes = hex::decode(text.trim())
            .map_err(|_| anyhow::anyhow!("audit key {}: not hex", path.display()))?;
        let seed: [u8; 32] = bytes.try_into().map_err(|_| {
            anyhow::anyhow!("audit key {}: must be 32 bytes of hex", path.display())
        })?;
        Ok(Self {
            key: SigningKey::from_bytes(&seed),
        })
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }
}

/// Hex of the first 8 bytes of SHA-256 of a public key.
pub fn key_id(key: &VerifyingKey) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(key.as_bytes())[..8])
}

/// A signed statement "the chain had `seq` entries and ended in `hash`".
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    pub signed_at: String,
    pub key_id: String,
    pub public_key: String,
    pub signature: String,
}

/// Signs the current chain head and stores the checkpoint.
pub async fn checkpoint(db: &DatabaseConnection, signer: &Signer) -> Result<Checkpoint, DbErr> {
    let head = audit_head::Entity::find_by_id(1)
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("audit_head".into()))?;
    let signed_at = now_string();
    let sig = signer
        .key
        .sign(checkpoint_message(head.seq, &head.hash, &signed_at).as_bytes());
    let public = signer.verifying_key();
    let cp = Checkpoint {
        seq: head.seq,
        hash: head.hash,
        signed_at,
        key_id: key_id(&public),
        public_key: hex::encode(public.as_bytes()),
        signature: base64::engine::general_purpose::STANDARD.encode(sig.to_bytes()),
    };
    audit_checkpoint::ActiveModel {
        seq: Set(cp.seq),
        hash: Set(cp.hash.clone()),
        signed_at: Set(cp.signed_at.clone()),
        key_id: Set(cp.key_id.clone()),
        signature: Set(cp.signature.clone()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(cp)
}

/// Checks a checkpoint against the log: signed by `trusted`, and the log still holds entry
/// `seq` with exactly that hash.
pub async fn verify_checkpoint(
    db: &DatabaseConnection,
    cp: &Checkpoint,
    trusted: &VerifyingKey,
) -> anyhow::Result<()> {
    let sig_bytes = base64::engine::general_purpose::STANDARD
        .decode(&cp.signature)
        .map_err(|_| anyhow::anyhow!("checkpoint signature is not base64"))?;
    let sig = ed25519_dalek::Signature::from_slice(&sig_bytes)
        .map_err(|_| anyhow::anyhow!("checkpoint signature has the wrong length"))?;
    trusted
        .verify_strict(
            checkpoint_message(cp.seq, &cp.hash, &cp.signed_at).as_bytes(),
            &sig,
        )
        .map_err(|_| {
            anyhow::anyhow!(
                "checkpoint signature does not verify with the trusted audit key {}",
                key_id(trusted)
            )
        })?;
    if cp.seq == 0 {
        return Ok(());
    }
    let entry = audit_entry::Entity::find_by_id(cp.seq).one(db).await?;
    match entry {
        None => anyhow::bail!(
            "the signed checkpoint of {} records entry {} but the log no longer holds it (truncated)",
            cp.signed_at,
            cp.seq
        ),
        Some(e) if e.hash != cp.hash => anyhow::bail!(
            "entry {} differs from the signed checkpoint of {} (the chain was rewritten)",
            cp.seq,
            cp.signed_at
        ),
        Some(_) => Ok(()),
    }
}
