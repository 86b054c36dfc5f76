//! Deprecation notices. A platform team announces that a connector, template or contract
//! version is deprecated, when it sunsets and what replaces it. Publishing the notice moves the
//! version to `deprecated`, lists the live workflow instances it affects and notifies each of
//! their owners — all in one transaction with the audit entry. After the sunset, new
//! instantiations of an affected template version are refused (`instances::instantiate`).

use crate::audit::{self, Actor, Change, now_string};
use crate::catalog::{
    self,
    definitions::{Kind, Lifecycle, TemplateDef},
};
use crate::error::{ApiError, ApiResult};
use crate::policy::Policy;
use entity::{catalog_version, connection, deprecation, instance, notification};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set,
};
use serde_json::json;
use std::collections::BTreeMap;

/// What to announce.
pub struct Notice {
    pub kind: Kind,
    pub key: String,
    pub version: String,
    pub sunset_at: chrono::DateTime<chrono::Utc>,
    pub replacement: Option<String>,
    pub notes: String,
}

/// Live (not retired) instances a deprecation of `kind key version` touches.
pub async fn affected(
    db: &impl ConnectionTrait,
    kind: Kind,
    key: &str,
    version: &str,
) -> ApiResult<Vec<instance::Model>> {
    let live = instance::Entity::find().filter(instance::Column::Status.ne("retired"));
    if kind == Kind::Template {
        return Ok(live
            .filter(instance::Column::Template.eq(key))
            .filter(instance::Column::TemplateVersion.eq(version))
            .all(db)
            .await?);
    }
    let live = live.all(db).await?;
    Ok(match kind {
        // Answered by the query above.
        Kind::Template => Vec::new(),
        Kind::Connector => {
            let ids: Vec<i64> = connection::Entity::find()
                .filter(connection::Column::Connector.eq(key))
                .filter(connection::Column::ConnectorVersion.eq(version))
                .all(db)
                .await?
                .into_iter()
                .map(|c| c.id)
                .collect();
            live.into_iter()
                .filter(|i| {
                    serde_json::from_str::<BTreeMap<String, i64>>(&i.bindings)
                        .is_ok_and(|b| b.values().any(|id| ids.contains(id)))
                })
                .collect()
        }
        Kind::Contract => {
            let v = semver::Version::parse(version).ok();
            let mut out = Vec::new();
            let mut reads_it: BTreeMap<(String, String), bool> = BTreeMap::new();
            for i in live {
                let k = (i.template.clone(), i.template_version.clone());
                if !reads_it.contains_key(&k) {
                    let def = template_def(db, &i.template, &i.template_version).await?;
                    let yes = def.is_some_and(|d| {
                        d.reads.iter().any(|r| {
                            r.contract == key
                                && match (&v, semver::VersionReq::parse(&r.versions)) {
                                    (Some(v), Ok(req)) => req.matches(v),
                                    _ => true,
                                }
                        })
                    });
                    reads_it.insert(k.clone(), yes);
                }
                if reads_it.get(&k).copied().unwrap_or(false) {
                    out.push(i);
                }
            }
            out
        }
    })
}

async fn template_def(
    db: &impl ConnectionTrait,
    key: &str,
    version: &str,
) -> ApiResult<Option<TemplateDef>> {
    catalog::version(db, Kind::Template, key, version)
        .await?
        .map(|r| crate::catalog::definitions::template(&r.definition))
        .transpose()
}

/// The notice on a version, if any.
pub async fn find(
    db: &impl ConnectionTrait,
    kind: Kind,
    key: &str,
    version: &str,
) -> ApiResult<Option<deprecation::Model>> {
    Ok(deprecation::Entity::find()
        .filter(deprecation::Column::Kind.eq(kind.as_str()))
        .filter(deprecation::Column::Key.eq(key))
        .filter(deprecation::Column::Version.eq(version))
        .one(db)
        .await?)
}

/// Notices, newest first, optionally of one item.
pub async fn list(
    db: &DatabaseConnection,
    kind: Option<Kind>,
    key: Option<&str>,
) -> ApiResult<Vec<deprecation::Model>> {
    let mut q = deprecation::Entity::find();
    if let Some(k) = kind {
        q = q.filter(deprecation::Column::Kind.eq(k.as_str()));
    }
    if let Some(k) = key {
        q = q.filter(deprecation::Column::Key.eq(k));
    }
    let mut rows = q.all(db).await?;
    rows.sort_by_key(|r| std::cmp::Reverse(r.id));
    Ok(rows)
}

/// Whether the notice's sunset is now or past.
pub fn sunset_passed(n: &deprecation::Model) -> bool {
    chrono::DateTime::parse_from_rfc3339(&n.sunset_at)
        .is_ok_and(|t| t.with_timezone(&chrono::Utc) <= chrono::Utc::now())
}

/// `Err(CONFLICT)` when `template version` is past its sunset.
pub async fn refuse_after_sunset(
    db: &DatabaseConnection,
    key: &str,
    version: &str,
) -> ApiResult<()> {
    if let Some(n) = find(db, Kind::Template, key, version).await?
        && sunset_passed(&n)
    {
        let instead = n
            .replacement
            .map(|r| format!("; use {r} instead"))
            .unwrap_or_default();
        return Err(ApiError::Conflict(format!(
            "version: {key} {version} reached its sunset on {}{instead}",
            &n.sunset_at[..n.sunset_at.len().min(10)]
        )));
    }
    Ok(())
}

/// Publishes (or updates) the notice; returns it with the affected instances.
pub async fn publish(
    db: &DatabaseConnection,
    policy: &Policy,
    actor: &Actor,
    notice: Notice,
) -> ApiResult<(deprecation::Model, Vec<instance::Model>)> {
    let target = catalog::target(notice.kind, &notice.key, &notice.version);
    catalog::authorize(
        db,
        policy,
        actor,
        (&catalog::object(notice.kind, &notice.key), "lifecycle"),
        "deprecation.publish",
        &target,
    )
    .await?;
    if notice.notes.trim().is_empty() || notice.notes.len() > 10_000 {
        return Err(ApiError::bad_input(
            "notes",
            "migration notes are required (1 to 10,000 characters)",
        ));
    }
    if notice.sunset_at <= chrono::Utc::now() {
        return Err(ApiError::bad_input(
            "sunsetAt",
            "the sunset must be in the future",
        ));
    }
    let tx = crate::db::begin_write(db).await?;
    let item = catalog::find(&tx, notice.kind, &notice.key)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!("key: no {} `{}`", notice.kind.as_str(), notice.key))
        })?;
    let row = catalog::versions(&tx, item.id)
        .await?
        .into_iter()
        .find(|v| v.version == notice.version)
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "version: {} has no version {}",
                notice.key, notice.version
            ))
        })?;
    match Lifecycle::parse(&row.lifecycle) {
        Some(Lifecycle::Published) => {
            let mut active: catalog_version::ActiveModel = row.clone().into();
            active.lifecycle = Set(Lifecycle::Deprecated.as_str().to_string());
            active.updated_at = Set(chrono::Utc::now());
            active.update(&tx).await?;
            catalog::refresh_current(&tx, item).await?;
        }
        Some(Lifecycle::Deprecated) => {}
        _ => {
            return Err(ApiError::Conflict(format!(
                "version: {} {} is {}; only published or deprecated versions get a notice",
                notice.key, notice.version, row.lifecycle
            )));
        }
    }
    let sunset = notice
        .sunset_at
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let saved = match find(&tx, notice.kind, &notice.key, &notice.version).await? {
        Some(existing) => {
            let mut a: deprecation::ActiveModel = existing.into();
            a.sunset_at = Set(sunset.clone());
            a.replacement = Set(notice.replacement.clone());
            a.notes = Set(notice.notes.clone());
            a.update(&tx).await?
        }
        None => {
            deprecation::ActiveModel {
                kind: Set(notice.kind.as_str().to_string()),
                key: Set(notice.key.clone()),
                version: Set(notice.version.clone()),
                announced_at: Set(now_string()),
                sunset_at: Set(sunset.clone()),
                replacement: Set(notice.replacement.clone()),
                notes: Set(notice.notes.clone()),
                created_by: Set(actor.sub.clone()),
                ..Default::default()
            }
            .insert(&tx)
            .await?
        }
    };
    let hit = affected(&tx, notice.kind, &notice.key, &notice.version).await?;
    let instead = notice
        .replacement
        .as_deref()
        .map(|r| format!(" Move to {r}."))
        .unwrap_or_default();
    for inst in &hit {
        notification::ActiveModel {
            recipient: Set(inst.owner.clone()),
            topic: Set("deprecation".into()),
            target: Set(format!("instance:{}", inst.id)),
            message: Set(format!(
                "Your workflow '{}' uses {} {} {}, which is deprecated and stops on {}.{instead}",
                inst.name,
                notice.kind.as_str(),
                notice.key,
                notice.version,
                &sunset[..10]
            )),
            created_at: Set(now_string()),
            ..Default::default()
        }
        .insert(&tx)
        .await?;
    }
    audit::record(
        &tx,
        actor,
        Change {
            action: "deprecation.publish".into(),
            target,
            before: Some(json!({ "lifecycle": row.lifecycle })),
            after: Some(json!({
                "lifecycle": "deprecated", "sunset_at": sunset, "replacement": notice.replacement,
                "affected_instances": hit.iter().map(|i| i.id).collect::<Vec<_>>(),
                "notified": hit.iter().map(|i| i.owner.clone()).collect::<std::collections::BTreeSet<_>>(),
            })),
        },
    )
    .await?;
    tx.commit().await?;
    crate::catalog::changed();
    Ok((saved, hit))
}
