//! RDS calls for the environment's database: describe, create (or restore), modify, stop,
//! start, delete with a final snapshot, and waiting on status.
use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_rds::types::Tag;
use aws_sdk_rds::Client;

use crate::aws::errors;
use crate::tfplugin::{Ctx, Diagnostic, Diagnostics};

/// The settings of a DB instance, as read back or as wanted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DbSpec {
    pub engine: String,
    pub engine_version: String,
    pub instance_class: String,
    pub allocated_storage: i64,
    pub max_allocated_storage: Option<i64>,
    pub storage_type: String,
    pub db_name: String,
    pub username: String,
    pub backup_retention_period: i64,
    pub backup_window: String,
    pub maintenance_window: String,
    pub storage_encrypted: bool,
    pub deletion_protection: bool,
    pub multi_az: bool,
    pub db_subnet_group_name: Option<String>,
    pub vpc_security_group_ids: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct DbView {
    pub arn: String,
    pub endpoint: String,
    pub port: i64,
    pub status: String,
    pub spec: DbSpec,
    pub tags: BTreeMap<String, String>,
}

fn err<E, R>(what: &str, e: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> Diagnostics
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    errors::diagnostic(what, e).into()
}

fn rds_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

pub async fn describe(ctx: &Ctx, client: &Client, id: &str) -> Result<Option<DbView>, Diagnostics> {
    let out = match ctx
        .run(
            client
                .describe_db_instances()
                .db_instance_identifier(id)
                .send(),
        )
        .await?
    {
        Ok(o) => o,
        Err(e) if errors::is_not_found(&e) => return Ok(None),
        Err(e) => return Err(err("describing the staging database", &e)),
    };
    let Some(db) = out.db_instances.unwrap_or_default().into_iter().next() else {
        return Ok(None);
    };
    let status = db.db_instance_status.clone().unwrap_or_default();
    if status == "deleting" {
        return Ok(None);
    }
    let spec = DbSpec {
        engine: db.engine.clone().unwrap_or_default(),
        engine_version: db.engine_version.clone().unwrap_or_default(),
        instance_class: db.db_instance_class.clone().unwrap_or_default(),
        allocated_storage: db.allocated_storage.unwrap_or_default() as i64,
        max_allocated_storage: db.max_allocated_storage.map(i64::from),
        storage_type: db.storage_type.clone().unwrap_or_default(),
        db_name: db.db_name.clone().unwrap_or_default(),
        username: db.master_username.clone().unwrap_or_default(),
        backup_retention_period: db.backup_retention_period.unwrap_or_default() as i64,
        backup_window: db.preferred_backup_window.clone().unwrap_or_default(),
        maintenance_window: db.preferred_maintenance_window.clone().unwrap_or_default(),
        storage_encrypted: db.storage_encrypted.unwrap_or(false),
        deletion_protection: db.deletion_protection.unwrap_or(false),
        multi_az: db.multi_az.unwrap_or(false),
        db_subnet_group_name: db
            .db_subnet_group
            .as_ref()
            .and_then(|g| g.db_subnet_group_name.clone()),
        vpc_security_group_ids: db
            .vpc_security_groups
            .unwrap_or_default()
            .into_iter()
            .filter_map(|g| g.vpc_security_group_id)
            .collect(),
    };
    Ok(Some(DbView {
        arn: db.db_instance_arn.unwrap_or_default(),
        endpoint: db
            .endpoint
            .as_ref()
            .and_then(|e| e.address.clone())
            .unwrap_or_default(),
        port: db
            .endpoint
            .as_ref()
            .and_then(|e| e.port)
            .unwrap_or_default() as i64,
        status,
        spec,
        tags: db
            .tag_list
            .unwrap_or_default()
            .into_iter()
            .filter_map(|t| Some((t.key?, t.value.unwrap_or_default())))
            .collect(),
    }))
}

/// Starts creating the instance (or restoring it from `snapshot`); returns its ARN.
pub async fn create(
    ctx: &Ctx,
    client: &Client,
    id: &str,
    spec: &DbSpec,
    password: &str,
    snapshot: Option<&str>,
    tags: &BTreeMap<String, String>,
) -> Result<String, Diagnostics> {
    let db = if let Some(snap) = snapshot {
        ctx.run(
            client
                .restore_db_instance_from_db_snapshot()
                .db_instance_identifier(id)
                .db_snapshot_identifier(snap)
                .db_instance_class(&spec.instance_class)
                .storage_type(&spec.storage_type)
                .multi_az(spec.multi_az)
                .deletion_protection(spec.deletion_protection)
                .publicly_accessible(false)
                .set_db_subnet_group_name(spec.db_subnet_group_name.clone())
                .set_vpc_security_group_ids(Some(spec.vpc_security_group_ids.clone()))
                .set_tags(Some(rds_tags(tags)))
                .send(),
        )
        .await?
        .map_err(|e| err("restoring the staging database from its snapshot", &e))?
        .db_instance
    } else {
        ctx.run(
            client
                .create_db_instance()
                .db_instance_identifier(id)
                .engine(&spec.engine)
                .engine_version(&spec.engine_version)
                .db_instance_class(&spec.instance_class)
                .allocated_storage(spec.allocated_storage as i32)
                .set_max_allocated_storage(spec.max_allocated_storage.map(|v| v as i32))
                .storage_type(&spec.storage_type)
                .db_name(&spec.db_name)
                .master_username(&spec.username)
                .master_user_password(password)
                .backup_retention_period(spec.backup_retention_period as i32)
                .preferred_backup_window(&spec.backup_window)
                .preferred_maintenance_window(&spec.maintenance_window)
                .storage_encrypted(spec.storage_encrypted)
                .deletion_protection(spec.deletion_protection)
                .multi_az(spec.multi_az)
                .publicly_accessible(false)
                .set_db_subnet_group_name(spec.db_subnet_group_name.clone())
                .set_vpc_security_group_ids(Some(spec.vpc_security_group_ids.clone()))
                .set_tags(Some(rds_tags(tags)))
                .send(),
        )
        .await?
        .map_err(|e| err("creating the staging database", &e))?
        .db_instance
    };
    Ok(db.and_then(|d| d.db_instance_arn).unwrap_or_default())
}

/// Waits until the instance reaches one of `wanted` statuses; a failed state is an error.
pub async fn wait_status(
    ctx: &Ctx,
    client: &Client,
    id: &str,
    wanted: &[&str],
) -> Result<DbView, Diagnostics> {
    let mut delay = Duration::from_millis(250);
    loop {
        match describe(ctx, client, id).await? {
            Some(v) if wanted.contains(&v.status.as_str()) => return Ok(v),
            Some(v)
                if matches!(
                    v.status.as_str(),
                    "failed" | "incompatible-parameters" | "incompatible-restore" | "storage-full"
                ) =>
            {
                return Err(Diagnostic::error(
                    "The staging database failed",
                    format!("RDS reports status {:?} for {id}.", v.status),
                )
                .into())
            }
            Some(_) => {}
            None => {
                return Err(Diagnostic::error(
                    "The staging database disappeared",
                    format!("{id} no longer exists."),
                )
                .into())
            }
        }
        ctx.sleep(delay).await?;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

/// Applies the changed settings at once (staging: no maintenance-window surprises).
pub async fn modify(
    ctx: &Ctx,
    client: &Client,
    id: &str,
    from: &DbSpec,
    to: &DbSpec,
) -> Result<(), Diagnostics> {
    let mut req = client
        .modify_db_instance()
        .db_instance_identifier(id)
        .apply_immediately(true);
    let mut changed = false;
    macro_rules! set {
        ($field:ident, $method:ident, $conv:expr) => {
            if from.$field != to.$field {
                req = req.$method($conv(&to.$field));
                changed = true;
            }
        };
    }
    set!(engine_version, engine_version, |v: &String| v.clone());
    set!(instance_class, db_instance_class, |v: &String| v.clone());
    set!(allocated_storage, allocated_storage, |v: &i64| *v as i32);
    set!(storage_type, storage_type, |v: &String| v.clone());
    set!(
        backup_retention_period,
        backup_retention_period,
        |v: &i64| *v as i32
    );
    set!(backup_window, preferred_backup_window, |v: &String| v
        .clone());
    set!(
        maintenance_window,
        preferred_maintenance_window,
        |v: &String| v.clone()
    );
    set!(deletion_protection, deletion_protection, |v: &bool| *v);
    set!(multi_az, multi_az, |v: &bool| *v);
    if from.max_allocated_storage != to.max_allocated_storage {
        req = req.set_max_allocated_storage(to.max_allocated_storage.map(|v| v as i32));
        changed = true;
    }
    if from.vpc_security_group_ids != to.vpc_security_group_ids {
        req = req.set_vpc_security_group_ids(Some(to.vpc_security_group_ids.clone()));
        changed = true;
    }
    if !changed {
        return Ok(());
    }
    ctx.run(req.send())
        .await?
        .map_err(|e| err("modifying the staging database", &e))?;
    Ok(())
}

pub async fn stop(ctx: &Ctx, client: &Client, id: &str) -> Result<(), Diagnostics> {
    ctx.run(client.stop_db_instance().db_instance_identifier(id).send())
        .await?
        .map_err(|e| err("stopping the staging database", &e))?;
    Ok(())
}

pub async fn start(ctx: &Ctx, client: &Client, id: &str) -> Result<(), Diagnostics> {
    ctx.run(client.start_db_instance().db_instance_identifier(id).send())
        .await?
        .map_err(|e| err("starting the staging database", &e))?;
    Ok(())
}

/// Deletes the instance with a final snapshot named `snapshot` and waits until it is gone.
pub async fn delete(
    ctx: &Ctx,
    client: &Client,
    id: &str,
    snapshot: Option<&str>,
) -> Result<(), Diagnostics> {
    let mut req = client
        .delete_db_instance()
        .db_instance_identifier(id)
        .delete_automated_backups(true);
    req = match snapshot {
        Some(s) => req
            .final_db_snapshot_identifier(s)
            .skip_final_snapshot(false),
        None => req.skip_final_snapshot(true),
    };
    match ctx.run(req.send()).await? {
        Ok(_) => {}
        Err(e) if errors::is_not_found(&e) => return Ok(()),
        Err(e) => return Err(err("deleting the staging database", &e)),
    }
    let mut delay = Duration::from_millis(250);
    while describe(ctx, client, id).await?.is_some() {
        ctx.sleep(delay).await?;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
    Ok(())
}
