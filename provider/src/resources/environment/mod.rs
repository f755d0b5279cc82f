//! `staging_environment`: a staging mirror of a production web app in one resource — secret,
//! database and App Runner service, created in that order, destroyed in reverse, paused and
//! resumed as one.
mod apprunner;
mod mirror;
mod rds;
mod schema;
mod secrets;

use std::collections::BTreeMap;

use async_trait::async_trait;

use schema::defaults;
pub use schema::{AppRunner, Database, Environment, Secrets};

use crate::aws::Aws;
use crate::tfplugin::timeouts::Timeouts;
use crate::tfplugin::{
    ApplyError, AttributePath, Ctx, Diagnostic, Diagnostics, Plan, Resource, Schema, Tf,
};

pub struct EnvironmentResource;

type Fail = ApplyError<Environment>;

/// Secret tag recording which `values_wo_version` the secret's values come from.
const VALUES_VERSION_TAG: &str = "stagecraft:values_wo_version";

fn known_or<T: Clone>(v: &Tf<T>, default: T) -> T {
    v.known().cloned().unwrap_or(default)
}

/// Fills an optional+computed attribute the configuration leaves null.
fn fill<T: Clone + PartialEq>(planned: &mut Tf<T>, config: &Tf<T>, value: T) {
    if config.is_null() {
        *planned = Tf::Known(value);
    }
}

fn secret_name(env: &Environment) -> Option<String> {
    let name = env.name.known()?;
    Some(
        env.secrets
            .as_ref()
            .and_then(|s| s.name.known().cloned())
            .unwrap_or_else(|| format!("{name}/config")),
    )
}

fn db_identifier(name: &str) -> String {
    format!("{name}-db")
}

/// Tags sent to AWS: provider default tags, then the resource's, then Environment=Staging.
fn aws_tags(aws: &Aws, env: &Environment) -> BTreeMap<String, String> {
    let mut tags = aws.settings.default_tags.clone();
    tags.extend(env.tags.known().cloned().unwrap_or_default());
    tags.insert(
        defaults::ENVIRONMENT_TAG.0.into(),
        defaults::ENVIRONMENT_TAG.1.into(),
    );
    tags
}

fn random_password() -> String {
    let mut buf = [0u8; 24];
    rustls::crypto::aws_lc_rs::default_provider()
        .secure_random
        .fill(&mut buf)
        .expect("the system random generator works");
    hex::encode(buf)
}

/// The CPU of an App Runner instance in vCPU units, whatever the spelling (`0.5 vCPU`, `512`).
fn cpu_units(s: &str) -> Option<u64> {
    let t = s.trim().to_ascii_lowercase();
    if let Some(v) = t.strip_suffix("vcpu") {
        return v.trim().parse::<f64>().ok().map(|f| (f * 1024.0) as u64);
    }
    t.parse().ok()
}

/// Memory in MB, whatever the spelling (`1 GB`, `1024`).
fn memory_mb(s: &str) -> Option<u64> {
    let t = s.trim().to_ascii_lowercase();
    if let Some(v) = t.strip_suffix("gb") {
        return v.trim().parse::<f64>().ok().map(|f| (f * 1024.0) as u64);
    }
    t.strip_suffix("mb").unwrap_or(&t).trim().parse().ok()
}

/// Keeps the state's spelling when AWS reports the same value in another form, so a
/// normalisation never shows up as drift.
fn keep_if_same(state: &mut Tf<String>, remote: &str, same: impl Fn(&str, &str) -> bool) {
    match state.known() {
        Some(s) if same(s, remote) => {}
        _ => *state = Tf::Known(remote.to_string()),
    }
}

fn connection_string(
    engine: &str,
    host: &str,
    port: i64,
    db: &str,
    user: &str,
    password: &str,
) -> String {
    if engine == "postgres" {
        format!("Host={host};Port={port};Database={db};Username={user};Password={password}")
    } else {
        // The seed's (MySQL) form.
        format!("Server={host};Port={port};Database={db};User={user};Password={password}")
    }
}

impl EnvironmentResource {
    fn db_spec(db: &Database) -> rds::DbSpec {
        rds::DbSpec {
            engine: known_or(&db.engine, "mysql".into()),
            engine_version: known_or(&db.engine_version, String::new()),
            instance_class: known_or(&db.instance_class, defaults::INSTANCE_CLASS.into()),
            allocated_storage: known_or(&db.allocated_storage, defaults::STORAGE),
            max_allocated_storage: db.max_allocated_storage.known().copied(),
            storage_type: known_or(&db.storage_type, defaults::STORAGE_TYPE.into()),
            db_name: known_or(&db.db_name, String::new()),
            username: known_or(&db.username, "admin".into()),
            backup_retention_period: known_or(
                &db.backup_retention_period,
                defaults::BACKUP_RETENTION,
            ),
            backup_window: known_or(&db.backup_window, defaults::BACKUP_WINDOW.into()),
            maintenance_window: known_or(
                &db.maintenance_window,
                defaults::MAINTENANCE_WINDOW.into(),
            ),
            storage_encrypted: known_or(&db.storage_encrypted, true),
            deletion_protection: known_or(&db.deletion_protection, false),
            multi_az: known_or(&db.multi_az, false),
            db_subnet_group_name: db.db_subnet_group_name.known().cloned(),
            vpc_security_group_ids: {
                let mut v = known_or(&db.vpc_security_group_ids, vec![]);
                v.sort();
                v
            },
        }
    }

    /// The service as the environment wants it; secrets reference the staging secret.
    fn service_spec(env: &Environment, secret_arn: Option<&str>) -> apprunner::ServiceSpec {
        let ar = env.app_runner.clone().unwrap_or_default();
        let secrets = match (
            secret_arn,
            env.secrets.as_ref().and_then(|s| s.keys.known()),
        ) {
            (Some(arn), Some(keys)) => keys
                .iter()
                .map(|k| (k.clone(), format!("{arn}:{k}::")))
                .collect(),
            _ => BTreeMap::new(),
        };
        apprunner::ServiceSpec {
            image_identifier: format!(
                "{}:{}",
                known_or(&ar.image_repository, String::new()),
                known_or(&ar.image_tag, defaults::IMAGE_TAG.into())
            ),
            port: known_or(&ar.port, defaults::PORT.into()),
            cpu: known_or(&ar.cpu, defaults::CPU.into()),
            memory: known_or(&ar.memory, defaults::MEMORY.into()),
            auto_deployments: known_or(&ar.auto_deployments, true),
            access_role_arn: ar.access_role_arn.known().cloned(),
            instance_role_arn: ar.instance_role_arn.known().cloned(),
            env: known_or(&ar.environment_variables, BTreeMap::new()),
            secrets,
            health_protocol: known_or(&ar.health_check_protocol, defaults::HEALTH_PROTOCOL.into()),
            health_path: known_or(&ar.health_check_path, defaults::HEALTH_PATH.into()),
            health_interval: known_or(&ar.health_check_interval, defaults::HEALTH_INTERVAL),
            health_timeout: known_or(&ar.health_check_timeout, defaults::HEALTH_TIMEOUT),
            health_healthy: known_or(&ar.health_check_healthy_threshold, defaults::HEALTH_HEALTHY),
            health_unhealthy: known_or(
                &ar.health_check_unhealthy_threshold,
                defaults::HEALTH_UNHEALTHY,
            ),
        }
    }

    /// Compares two service specs the way App Runner does (CPU/memory spellings).
    fn same_service(a: &apprunner::ServiceSpec, b: &apprunner::ServiceSpec) -> bool {
        let norm = |s: &apprunner::ServiceSpec| apprunner::ServiceSpec {
            cpu: cpu_units(&s.cpu)
                .map(|c| c.to_string())
                .unwrap_or_else(|| s.cpu.clone()),
            memory: memory_mb(&s.memory)
                .map(|m| m.to_string())
                .unwrap_or_else(|| s.memory.clone()),
            ..s.clone()
        };
        norm(a) == norm(b)
    }

    /// Refuses to touch an object the production guard marks as production.
    fn guard(aws: &Aws, what: &str, tags: &BTreeMap<String, String>) -> Result<(), Diagnostics> {
        aws.settings
            .guard
            .check(what, tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .map_err(Diagnostics::from)
    }

    /// Tags of the staging secret: the environment's, plus the version of the values it holds,
    /// so an import recovers `values_wo_version` and a plan after import is empty.
    fn secret_tags(tags: &BTreeMap<String, String>, st: &Environment) -> BTreeMap<String, String> {
        let mut tags = tags.clone();
        if let Some(v) = st
            .secrets
            .as_ref()
            .and_then(|s| s.values_wo_version.known())
        {
            tags.insert(VALUES_VERSION_TAG.into(), v.to_string());
        }
        tags
    }

    /// Secret values for the staging secret: the configured ones plus the connection string.
    fn secret_values(
        config: &Environment,
        connection: Option<(String, String)>,
    ) -> BTreeMap<String, String> {
        let mut values = config
            .secrets
            .as_ref()
            .and_then(|s| s.values_wo.known().cloned())
            .unwrap_or_default();
        if let Some((k, v)) = connection {
            values.insert(k, v);
        }
        values
    }

    async fn create_database(
        ctx: &Ctx,
        aws: &Aws,
        st: &mut Environment,
        tags: &BTreeMap<String, String>,
    ) -> Result<Option<(String, String)>, Diagnostics> {
        let Some(db) = st.database.clone() else {
            return Ok(None);
        };
        let name = known_or(&st.name, String::new());
        let id = db_identifier(&name);
        let client = aws.rds().await;
        let spec = Self::db_spec(&db);
        let password = random_password();
        let arn = rds::create(
            ctx,
            &client,
            &id,
            &spec,
            &password,
            db.snapshot_identifier.known().map(String::as_str),
            tags,
        )
        .await?;
        st.database_arn = Tf::Known(arn);
        let view = rds::wait_status(ctx, &client, &id, &["available"]).await?;
        st.database_arn = Tf::Known(view.arn.clone());
        st.database_endpoint = Tf::Known(view.endpoint.clone());
        let key = st
            .secrets
            .as_ref()
            .and_then(|s| s.connection_string_key.known().cloned())
            .unwrap_or_else(|| defaults::CONNECTION_KEY.into());
        Ok(Some((
            key,
            connection_string(
                &spec.engine,
                &view.endpoint,
                view.port,
                &spec.db_name,
                &spec.username,
                &password,
            ),
        )))
    }

    async fn create_service(
        ctx: &Ctx,
        aws: &Aws,
        st: &mut Environment,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), Diagnostics> {
        let client = aws.apprunner().await;
        let spec = Self::service_spec(st, st.secret_arn.known().map(String::as_str));
        let name = known_or(&st.name, String::new());
        let (arn, url, op) = apprunner::create(ctx, &client, &name, &spec, tags).await?;
        st.service_arn = Tf::Known(arn.clone());
        st.service_url = Tf::Known(format!("https://{url}"));
        st.status = Tf::Known("OPERATION_IN_PROGRESS".into());
        apprunner::wait_operation(ctx, &client, &arn, &op, "create the staging service").await?;
        st.status = Tf::Known("RUNNING".into());
        Ok(())
    }

    /// Brings pause state in line with `want` ("running" / "paused").
    async fn apply_state(
        ctx: &Ctx,
        aws: &Aws,
        st: &mut Environment,
        want: &str,
    ) -> Result<(), Diagnostics> {
        let client = aws.apprunner().await;
        let rds_client = aws.rds().await;
        let db_id = st
            .database
            .as_ref()
            .map(|_| db_identifier(&known_or(&st.name, String::new())));
        if let Some(arn) = st.service_arn.known().cloned() {
            let current = apprunner::describe(ctx, &client, &arn)
                .await?
                .map(|v| v.status)
                .unwrap_or_default();
            match (want, current.as_str()) {
                ("paused", "RUNNING") => {
                    if let Some(op) = apprunner::pause(ctx, &client, &arn).await? {
                        apprunner::wait_operation(
                            ctx,
                            &client,
                            &arn,
                            &op,
                            "pause the staging service",
                        )
                        .await?;
                    }
                }
                ("running", "PAUSED") => {
                    if let Some(op) = apprunner::resume(ctx, &client, &arn).await? {
                        apprunner::wait_operation(
                            ctx,
                            &client,
                            &arn,
                            &op,
                            "resume the staging service",
                        )
                        .await?;
                    }
                }
                _ => {}
            }
            st.status = Tf::Known(
                if want == "paused" {
                    "PAUSED"
                } else {
                    "RUNNING"
                }
                .into(),
            );
        }
        if let Some(id) = db_id {
            if let Some(view) = rds::describe(ctx, &rds_client, &id).await? {
                match (want, view.status.as_str()) {
                    ("paused", "available") => {
                        rds::stop(ctx, &rds_client, &id).await?;
                        rds::wait_status(ctx, &rds_client, &id, &["stopped"]).await?;
                    }
                    ("running", "stopped") => {
                        rds::start(ctx, &rds_client, &id).await?;
                        rds::wait_status(ctx, &rds_client, &id, &["available"]).await?;
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Resource for EnvironmentResource {
    type State = Environment;

    fn type_name(&self) -> &'static str {
        "staging_environment"
    }

    fn schema(&self) -> Schema {
        schema::schema()
    }

    fn default_timeouts(&self) -> Timeouts {
        schema::default_timeouts()
    }

    async fn validate(&self, _ctx: &Ctx, c: &Environment) -> Diagnostics {
        let mut d = Diagnostics::new();
        if c.app_runner.is_none() {
            d.error(
                "A compute backend is required",
                "Add exactly one backend block: app_runner { … }.",
            );
        }
        if let Tf::Known(s) = &c.state {
            if s != "running" && s != "paused" {
                d.error_at(
                    AttributePath::attr("state"),
                    "Invalid state",
                    format!("{s:?}: use \"running\" or \"paused\"."),
                );
            }
        }
        if let Tf::Known(name) = &c.name {
            let ok = !name.is_empty()
                && name.len() <= 40
                && name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
                && name
                    .chars()
                    .next()
                    .is_some_and(|ch| ch.is_ascii_alphabetic());
            if !ok {
                d.error_at(
                    AttributePath::attr("name"),
                    "Invalid environment name",
                    format!("{name:?}: 1-40 letters, digits and hyphens, starting with a letter (App Runner and RDS naming rules)."),
                );
            }
        }
        if let Some(db) = &c.database {
            if let Tf::Known(e) = &db.engine {
                if e != "mysql" && e != "postgres" {
                    d.error_at(
                        AttributePath::attr("database").join_attr("engine"),
                        "Unsupported engine",
                        format!("{e:?}: use \"mysql\" or \"postgres\"."),
                    );
                }
            }
        }
        if let Some(ar) = &c.app_runner {
            for (attr, v, ok) in [
                ("cpu", &ar.cpu, cpu_units as fn(&str) -> Option<u64>),
                ("memory", &ar.memory, memory_mb as fn(&str) -> Option<u64>),
            ] {
                if let Tf::Known(s) = v {
                    if ok(s).is_none() {
                        d.error_at(
                            AttributePath::attr("app_runner").join_attr(attr),
                            format!("Invalid {attr}"),
                            format!("{s:?} is not an App Runner {attr} value (e.g. \"0.5 vCPU\" / \"1 GB\")."),
                        );
                    }
                }
            }
        }
        d
    }

    async fn plan(&self, ctx: &Ctx, plan: &mut Plan<Environment>) -> Result<(), Diagnostics> {
        let aws = ctx.data::<Aws>()?;
        let config = plan.config.clone();
        let p = &mut plan.planned;
        let Some(name) = p.name.known().cloned() else {
            return Ok(());
        };
        p.id = Tf::Known(name.clone());
        fill(&mut p.state, &config.state, "running".to_string());

        // Production guard on what we are asked to write.
        let mut our_tags = aws.settings.default_tags.clone();
        our_tags.extend(config.tags.known().cloned().unwrap_or_default());
        aws.settings
            .guard
            .check(
                "staging_environment tags",
                our_tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .map_err(|e| Diagnostics::from(e.at(AttributePath::attr("tags"))))?;

        // Mirror production.
        let production = match config.source_service_arn.known() {
            Some(arn) => Some(mirror::read(ctx, &aws, arn).await?),
            None => None,
        };

        if let (Some(ar), Some(car)) = (p.app_runner.as_mut(), config.app_runner.as_ref()) {
            let prod = production.as_ref().map(|pr| &pr.spec);
            match (&car.image_repository, &production) {
                (Tf::Null, Some(pr)) => ar.image_repository = Tf::Known(pr.image_repository.clone()),
                (Tf::Null, None) => {
                    return Err(Diagnostic::error(
                        "No image to deploy",
                        "Set app_runner.image_repository, or source_service_arn to mirror production's repository.",
                    )
                    .at(AttributePath::attr("app_runner").join_attr("image_repository"))
                    .into())
                }
                _ => {}
            }
            fill(
                &mut ar.image_tag,
                &car.image_tag,
                defaults::IMAGE_TAG.into(),
            );
            fill(
                &mut ar.port,
                &car.port,
                prod.map(|s| s.port.clone())
                    .unwrap_or_else(|| defaults::PORT.into()),
            );
            fill(&mut ar.cpu, &car.cpu, defaults::CPU.into());
            fill(&mut ar.memory, &car.memory, defaults::MEMORY.into());
            fill(&mut ar.auto_deployments, &car.auto_deployments, true);
            if car.access_role_arn.is_null() {
                ar.access_role_arn = prod.and_then(|s| s.access_role_arn.clone()).into();
            }
            fill(
                &mut ar.environment_variables,
                &car.environment_variables,
                prod.map(|s| s.env.clone()).unwrap_or_default(),
            );
            let h = |f: fn(&apprunner::ServiceSpec) -> String, d: &str| {
                prod.map(f)
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| d.to_string())
            };
            let hn = |f: fn(&apprunner::ServiceSpec) -> i64, d: i64| {
                prod.map(f).filter(|n| *n > 0).unwrap_or(d)
            };
            fill(
                &mut ar.health_check_protocol,
                &car.health_check_protocol,
                h(|s| s.health_protocol.clone(), defaults::HEALTH_PROTOCOL),
            );
            fill(
                &mut ar.health_check_path,
                &car.health_check_path,
                h(|s| s.health_path.clone(), defaults::HEALTH_PATH),
            );
            fill(
                &mut ar.health_check_interval,
                &car.health_check_interval,
                hn(|s| s.health_interval, defaults::HEALTH_INTERVAL),
            );
            fill(
                &mut ar.health_check_timeout,
                &car.health_check_timeout,
                hn(|s| s.health_timeout, defaults::HEALTH_TIMEOUT),
            );
            fill(
                &mut ar.health_check_healthy_threshold,
                &car.health_check_healthy_threshold,
                hn(|s| s.health_healthy, defaults::HEALTH_HEALTHY),
            );
            fill(
                &mut ar.health_check_unhealthy_threshold,
                &car.health_check_unhealthy_threshold,
                hn(|s| s.health_unhealthy, defaults::HEALTH_UNHEALTHY),
            );
        }

        if let (Some(db), Some(cdb)) = (p.database.as_mut(), config.database.as_ref()) {
            let engine = cdb.engine.known().cloned().unwrap_or_default();
            db.identifier = Tf::Known(db_identifier(&name));
            fill(
                &mut db.engine_version,
                &cdb.engine_version,
                if engine == "postgres" {
                    defaults::POSTGRES_VERSION
                } else {
                    defaults::MYSQL_VERSION
                }
                .into(),
            );
            fill(
                &mut db.instance_class,
                &cdb.instance_class,
                defaults::INSTANCE_CLASS.into(),
            );
            fill(
                &mut db.allocated_storage,
                &cdb.allocated_storage,
                defaults::STORAGE,
            );
            fill(
                &mut db.storage_type,
                &cdb.storage_type,
                defaults::STORAGE_TYPE.into(),
            );
            fill(&mut db.db_name, &cdb.db_name, name.replace('-', "_"));
            fill(&mut db.username, &cdb.username, "admin".into());
            fill(
                &mut db.backup_retention_period,
                &cdb.backup_retention_period,
                defaults::BACKUP_RETENTION,
            );
            fill(
                &mut db.backup_window,
                &cdb.backup_window,
                defaults::BACKUP_WINDOW.into(),
            );
            fill(
                &mut db.maintenance_window,
                &cdb.maintenance_window,
                defaults::MAINTENANCE_WINDOW.into(),
            );
            fill(&mut db.storage_encrypted, &cdb.storage_encrypted, true);
            fill(&mut db.deletion_protection, &cdb.deletion_protection, false);
            fill(&mut db.multi_az, &cdb.multi_az, false);
        }

        let has_db = p.database.is_some();
        if let (Some(s), Some(cs)) = (p.secrets.as_mut(), config.secrets.as_ref()) {
            fill(&mut s.name, &cs.name, format!("{name}/config"));
            fill(
                &mut s.connection_string_key,
                &cs.connection_string_key,
                defaults::CONNECTION_KEY.into(),
            );
            fill(&mut s.recovery_window_days, &cs.recovery_window_days, 0);
            let conn_key = known_or(&s.connection_string_key, defaults::CONNECTION_KEY.into());
            match &cs.values_wo {
                Tf::Unknown => s.keys = Tf::Unknown,
                values => {
                    let values = values.known().cloned().unwrap_or_default();
                    let mut keys: std::collections::BTreeSet<String> =
                        values.keys().cloned().collect();
                    if has_db {
                        keys.insert(conn_key.clone());
                    }
                    if let Some(prod) = &production {
                        // Sandbox credentials: every key production reads needs a staging value…
                        let missing: Vec<String> = prod
                            .secret_keys()
                            .into_iter()
                            .filter(|k| !(values.contains_key(k) || has_db && *k == conn_key))
                            .collect();
                        if !missing.is_empty() {
                            return Err(Diagnostic::error(
                                "Staging values missing for production's secret keys",
                                format!(
                                    "Production's service reads {}; give staging its own value for each in secrets.values_wo (sandbox credentials, never production's).",
                                    missing.join(", ")
                                ),
                            )
                            // The block, not the attribute: Terraform would quote the values.
                            .at(AttributePath::attr("secrets"))
                            .into());
                        }
                        // …and no staging value may equal production's (compared by hash).
                        let digests = mirror::secret_digests(ctx, &aws, prod).await?;
                        let reused = secrets::reused_keys(&values, &digests);
                        if !reused.is_empty() {
                            return Err(Diagnostic::error(
                                "Staging secret reuses production values",
                                format!(
                                    "The staging value of {} equals production's value for the same key. Use sandbox credentials for staging. (Values were compared by hash and are not shown.)",
                                    reused.join(", ")
                                ),
                            )
                            .at(AttributePath::attr("secrets"))
                            .into());
                        }
                        keys.extend(prod.secret_keys());
                    }
                    s.keys = Tf::Known(keys.into_iter().collect());
                }
            }
        }

        if let Some(prior) = &plan.prior {
            let p = &mut plan.planned;
            if prior.name != p.name {
                plan.requires_replace.push(AttributePath::attr("name"));
            }
            let engine = |e: &Environment| e.database.as_ref().map(|d| d.engine.clone());
            if engine(prior) != engine(p) {
                plan.requires_replace.push(AttributePath::attr("database"));
            }
            let snap = |e: &Environment| e.database.as_ref().map(|d| d.snapshot_identifier.clone());
            if snap(prior) != snap(p) {
                plan.requires_replace.push(AttributePath::attr("database"));
            }
            // AWS's spelling of a default ("512" for "0.5 vCPU", e.g. after import) is no change.
            if let (Some(par), Some(ar), Some(car)) = (
                prior.app_runner.as_ref(),
                p.app_runner.as_mut(),
                config.app_runner.as_ref(),
            ) {
                let same = |a: &Tf<String>, b: &Tf<String>, f: fn(&str) -> Option<u64>| match (a, b)
                {
                    (Tf::Known(a), Tf::Known(b)) => f(a).is_some() && f(a) == f(b),
                    _ => false,
                };
                if car.cpu.is_null() && same(&par.cpu, &ar.cpu, cpu_units) {
                    ar.cpu = par.cpu.clone();
                }
                if car.memory.is_null() && same(&par.memory, &ar.memory, memory_mb) {
                    ar.memory = par.memory.clone();
                }
            }
            // Objects deleted outside Terraform come back in place.
            if prior.service_arn.is_null() {
                p.service_arn = Tf::Unknown;
                p.service_url = Tf::Unknown;
            }
            if p.database.is_some() && prior.database_arn.is_null() {
                p.database_arn = Tf::Unknown;
                p.database_endpoint = Tf::Unknown;
            }
            if p.secrets.is_some() && prior.secret_arn.is_null() {
                p.secret_arn = Tf::Unknown;
            }
            if p.database.is_none() {
                p.database_arn = Tf::Null;
                p.database_endpoint = Tf::Null;
            }
            if p.secrets.is_none() {
                p.secret_arn = Tf::Null;
            }
            let service_changes = !Self::same_service(
                &Self::service_spec(prior, None),
                &Self::service_spec(p, None),
            ) || prior.secrets.as_ref().map(|s| &s.keys)
                != p.secrets.as_ref().map(|s| &s.keys);
            if service_changes || prior.state != p.state || p.service_arn.is_unknown() {
                p.status = Tf::Unknown;
            }
        } else if let Some(existing) = {
            // Creating: a production-tagged service of the same name is never taken over.
            let client = aws.apprunner().await;
            match apprunner::find_by_name(ctx, &client, &name).await? {
                Some(arn) => Some((apprunner::tags(ctx, &client, &arn).await?, arn)),
                None => None,
            }
        } {
            Self::guard(
                &aws,
                &format!("App Runner service {}", existing.1),
                &existing.0,
            )
            .map_err(|d| Diagnostics::from(d.0[0].clone().at(AttributePath::attr("name"))))?;
        }
        Ok(())
    }

    async fn create(
        &self,
        ctx: &Ctx,
        planned: Environment,
        config: &Environment,
    ) -> Result<Environment, Fail> {
        let aws = ctx.data::<Aws>()?;
        let tags = aws_tags(&aws, &planned);
        let mut st = planned;
        let name = known_or(&st.name, String::new());
        st.id = Tf::Known(name);
        // Nothing exists yet: computed values start null, so partial state is honest.
        st.service_arn = Tf::Null;
        st.service_url = Tf::Null;
        st.database_arn = Tf::Null;
        st.database_endpoint = Tf::Null;
        st.secret_arn = Tf::Null;
        st.status = Tf::Null;

        // 1. secret
        if st.secrets.is_some() {
            let sm = aws.secretsmanager().await;
            let secret = secret_name(&st).unwrap_or_default();
            let values = Self::secret_values(config, None);
            match secrets::create(ctx, &sm, &secret, &values, &Self::secret_tags(&tags, &st)).await
            {
                Ok(arn) => st.secret_arn = Tf::Known(arn),
                Err(d) => return Err(Fail::clean(d)),
            }
        }
        // 2. database (then its connection string into the secret)
        match Self::create_database(ctx, &aws, &mut st, &tags).await {
            Ok(Some(conn)) => {
                if let Some(arn) = st.secret_arn.known().cloned() {
                    let sm = aws.secretsmanager().await;
                    let values = Self::secret_values(config, Some(conn));
                    if let Err(d) = secrets::put(ctx, &sm, &arn, &values).await {
                        return Err(Fail::partial(st, d));
                    }
                }
            }
            Ok(None) => {}
            Err(d) => return Err(Fail::partial(st, d)),
        }
        // 3. service
        if let Err(d) = Self::create_service(ctx, &aws, &mut st, &tags).await {
            return Err(Fail::partial(st, d));
        }
        if st.state.known().map(String::as_str) == Some("paused") {
            if let Err(d) = Self::apply_state(ctx, &aws, &mut st, "paused").await {
                return Err(Fail::partial(st, d));
            }
        }
        Ok(st)
    }

    async fn read(
        &self,
        ctx: &Ctx,
        current: Environment,
    ) -> Result<Option<Environment>, Diagnostics> {
        let aws = ctx.data::<Aws>()?;
        // An import stub knows only the name: look everything up by it.
        let importing = current.service_arn.is_null()
            && current.database_arn.is_null()
            && current.secret_arn.is_null();
        let mut st = current;
        let Some(name) = st.name.known().cloned() else {
            return Ok(None);
        };

        // Service
        let ar_client = aws.apprunner().await;
        let arn = match st.service_arn.known() {
            Some(a) => Some(a.clone()),
            None => apprunner::find_by_name(ctx, &ar_client, &name).await?,
        };
        let service = match arn {
            Some(a) => apprunner::describe(ctx, &ar_client, &a).await?,
            None => None,
        };
        match &service {
            Some(v) => {
                st.service_arn = Tf::Known(v.arn.clone());
                st.service_url = Tf::Known(format!("https://{}", v.url));
                st.status = Tf::Known(v.status.clone());
                let ar = st.app_runner.get_or_insert_with(Default::default);
                let (repo, tag) = mirror::split_image(&v.spec.image_identifier);
                ar.image_repository = Tf::Known(repo);
                ar.image_tag = Tf::Known(tag.unwrap_or_default());
                ar.port = Tf::Known(v.spec.port.clone());
                keep_if_same(&mut ar.cpu, &v.spec.cpu, |a, b| {
                    cpu_units(a) == cpu_units(b)
                });
                keep_if_same(&mut ar.memory, &v.spec.memory, |a, b| {
                    memory_mb(a) == memory_mb(b)
                });
                ar.auto_deployments = Tf::Known(v.spec.auto_deployments);
                ar.access_role_arn = v.spec.access_role_arn.clone().into();
                ar.instance_role_arn = v.spec.instance_role_arn.clone().into();
                ar.environment_variables = Tf::Known(v.spec.env.clone());
                ar.health_check_protocol = Tf::Known(v.spec.health_protocol.clone());
                if v.spec.health_protocol == "HTTP" || ar.health_check_path.is_null() {
                    ar.health_check_path = Tf::Known(v.spec.health_path.clone());
                }
                ar.health_check_interval = Tf::Known(v.spec.health_interval);
                ar.health_check_timeout = Tf::Known(v.spec.health_timeout);
                ar.health_check_healthy_threshold = Tf::Known(v.spec.health_healthy);
                ar.health_check_unhealthy_threshold = Tf::Known(v.spec.health_unhealthy);
                st.state = Tf::Known(
                    if v.status == "PAUSED" {
                        "paused"
                    } else {
                        "running"
                    }
                    .into(),
                );
            }
            None => {
                st.service_arn = Tf::Null;
                st.service_url = Tf::Null;
                st.status = Tf::Null;
            }
        }

        // Database
        let rds_client = aws.rds().await;
        let db_id = db_identifier(&name);
        let db = if st.database.is_some() || st.database_arn.is_known() || importing {
            rds::describe(ctx, &rds_client, &db_id).await?
        } else {
            None
        };
        match &db {
            Some(v) => {
                st.database_arn = Tf::Known(v.arn.clone());
                st.database_endpoint = Tf::Known(v.endpoint.clone());
                let d = st.database.get_or_insert_with(Default::default);
                d.identifier = Tf::Known(db_id.clone());
                d.engine = Tf::Known(v.spec.engine.clone());
                d.engine_version = Tf::Known(v.spec.engine_version.clone());
                d.instance_class = Tf::Known(v.spec.instance_class.clone());
                d.allocated_storage = Tf::Known(v.spec.allocated_storage);
                d.max_allocated_storage = v.spec.max_allocated_storage.into();
                d.storage_type = Tf::Known(v.spec.storage_type.clone());
                d.db_name = Tf::Known(v.spec.db_name.clone());
                d.username = Tf::Known(v.spec.username.clone());
                d.backup_retention_period = Tf::Known(v.spec.backup_retention_period);
                d.backup_window = Tf::Known(v.spec.backup_window.clone());
                d.maintenance_window = Tf::Known(v.spec.maintenance_window.clone());
                d.storage_encrypted = Tf::Known(v.spec.storage_encrypted);
                d.deletion_protection = Tf::Known(v.spec.deletion_protection);
                d.multi_az = Tf::Known(v.spec.multi_az);
                d.db_subnet_group_name = v
                    .spec
                    .db_subnet_group_name
                    .clone()
                    .filter(|s| !s.is_empty() && s != "default")
                    .into();
                let mut remote_sgs = v.spec.vpc_security_group_ids.clone();
                remote_sgs.sort();
                let mut state_sgs = d
                    .vpc_security_group_ids
                    .known()
                    .cloned()
                    .unwrap_or_default();
                state_sgs.sort();
                // With no groups configured AWS attaches the VPC's default group: not drift.
                // With groups configured, any difference is.
                if !state_sgs.is_empty() && remote_sgs != state_sgs {
                    d.vpc_security_group_ids = Tf::Known(remote_sgs);
                }
            }
            None => {
                st.database_arn = Tf::Null;
                st.database_endpoint = Tf::Null;
            }
        }

        // Secret
        let sm = aws.secretsmanager().await;
        let secret_id = st.secret_arn.known().cloned().or_else(|| secret_name(&st));
        let secret = match secret_id {
            Some(id) => secrets::describe(ctx, &sm, &id).await?,
            None => None,
        };
        match &secret {
            Some(v) => {
                st.secret_arn = Tf::Known(v.arn.clone());
                let s = st.secrets.get_or_insert_with(Default::default);
                s.name = Tf::Known(v.name.clone());
                if s.connection_string_key.is_null() {
                    s.connection_string_key = Tf::Known(defaults::CONNECTION_KEY.into());
                }
                if let Some(v) = v.tags.get(VALUES_VERSION_TAG).and_then(|t| t.parse().ok()) {
                    s.values_wo_version = Tf::Known(v);
                }
                if s.recovery_window_days.is_null() {
                    s.recovery_window_days = Tf::Known(0);
                }
                if s.keys.is_null() {
                    // Import: the key names the service reads are the secret's keys.
                    let keys: Vec<String> = service
                        .as_ref()
                        .map(|v| v.spec.secrets.keys().cloned().collect())
                        .unwrap_or_default();
                    s.keys = Tf::Known(keys);
                }
            }
            None => st.secret_arn = Tf::Null,
        }

        if service.is_none() && db.is_none() && secret.is_none() {
            return Ok(None);
        }
        st.id = Tf::Known(name);
        if st.state.is_null() {
            st.state = Tf::Known("running".into());
        }
        Ok(Some(st))
    }

    async fn update(
        &self,
        ctx: &Ctx,
        prior: Environment,
        planned: Environment,
        config: &Environment,
    ) -> Result<Environment, Fail> {
        let aws = ctx.data::<Aws>()?;
        let tags = aws_tags(&aws, &planned);
        let mut st = planned;
        // Start from what exists; fill in as steps succeed.
        st.service_arn = prior.service_arn.clone();
        st.service_url = prior.service_url.clone();
        st.database_arn = prior.database_arn.clone();
        st.database_endpoint = prior.database_endpoint.clone();
        st.secret_arn = prior.secret_arn.clone();
        st.status = prior.status.clone();
        let partial = |st: &Environment, d: Diagnostics| Fail::partial(st.clone(), d);

        // Guard: never modify production-tagged objects (e.g. an import of the wrong id).
        if let Some(arn) = st.service_arn.known() {
            let client = aws.apprunner().await;
            let remote = apprunner::tags(ctx, &client, arn)
                .await
                .map_err(|d| partial(&prior, d))?;
            Self::guard(&aws, &format!("App Runner service {arn}"), &remote)
                .map_err(|d| partial(&prior, d))?;
        }

        // 1. secret
        let sm = aws.secretsmanager().await;
        if st.secrets.is_some() {
            let version_changed = prior.secrets.as_ref().map(|s| &s.values_wo_version)
                != st.secrets.as_ref().map(|s| &s.values_wo_version);
            match st.secret_arn.known().cloned() {
                None => {
                    let values = Self::secret_values(config, None);
                    let arn = secrets::create(
                        ctx,
                        &sm,
                        &secret_name(&st).unwrap_or_default(),
                        &values,
                        &Self::secret_tags(&tags, &st),
                    )
                    .await
                    .map_err(|d| partial(&st, d))?;
                    st.secret_arn = Tf::Known(arn);
                }
                Some(arn) if version_changed => {
                    // Keep the generated connection string; replace the configured values.
                    let current =
                        secrets::read_values(ctx, &sm, &arn, "reading the staging secret")
                            .await
                            .map_err(|d| partial(&st, d))?;
                    let key = st
                        .secrets
                        .as_ref()
                        .and_then(|s| s.connection_string_key.known().cloned())
                        .unwrap_or_default();
                    let conn = current.get(&key).map(|v| (key.clone(), v.clone()));
                    secrets::put(ctx, &sm, &arn, &Self::secret_values(config, conn))
                        .await
                        .map_err(|d| partial(&st, d))?;
                    secrets::tag(ctx, &sm, &arn, &Self::secret_tags(&BTreeMap::new(), &st))
                        .await
                        .map_err(|d| partial(&st, d))?;
                }
                Some(_) => {}
            }
        }

        // 2. database
        if let Some(db) = st.database.clone() {
            let rds_client = aws.rds().await;
            if st.database_arn.is_null() {
                let conn = Self::create_database(ctx, &aws, &mut st, &tags)
                    .await
                    .map_err(|d| partial(&st, d))?;
                if let (Some(conn), Some(arn)) = (conn, st.secret_arn.known().cloned()) {
                    let mut values =
                        secrets::read_values(ctx, &sm, &arn, "reading the staging secret")
                            .await
                            .unwrap_or_default();
                    values.insert(conn.0, conn.1);
                    secrets::put(ctx, &sm, &arn, &values)
                        .await
                        .map_err(|d| partial(&st, d))?;
                }
            } else if let Some(pdb) = &prior.database {
                let id = db_identifier(&known_or(&st.name, String::new()));
                let (from, to) = (Self::db_spec(pdb), Self::db_spec(&db));
                if from != to {
                    rds::modify(ctx, &rds_client, &id, &from, &to)
                        .await
                        .map_err(|d| partial(&st, d))?;
                    rds::wait_status(ctx, &rds_client, &id, &["available", "stopped"])
                        .await
                        .map_err(|d| partial(&st, d))?;
                }
            }
        }

        // 3. service
        let client = aws.apprunner().await;
        match st.service_arn.known().cloned() {
            None => Self::create_service(ctx, &aws, &mut st, &tags)
                .await
                .map_err(|d| partial(&st, d))?,
            Some(arn) => {
                let want = Self::service_spec(&st, st.secret_arn.known().map(String::as_str));
                let have = Self::service_spec(&prior, prior.secret_arn.known().map(String::as_str));
                if !Self::same_service(&want, &have) {
                    // A rejected or rolled-back update leaves the service as it was: record
                    // its old settings, so state and AWS agree and the next plan retries.
                    let rolled_back = |st: &Environment, d: Diagnostics| {
                        let mut st = st.clone();
                        st.app_runner = prior.app_runner.clone();
                        partial(&st, d)
                    };
                    let op = apprunner::update(ctx, &client, &arn, &want)
                        .await
                        .map_err(|d| rolled_back(&st, d))?;
                    apprunner::wait_operation(
                        ctx,
                        &client,
                        &arn,
                        &op,
                        "update the staging service",
                    )
                    .await
                    .map_err(|d| rolled_back(&st, d))?;
                }
                st.status = Tf::Known("RUNNING".into());
            }
        }

        // 4. running / paused
        let want = known_or(&st.state, "running".into());
        Self::apply_state(ctx, &aws, &mut st, &want)
            .await
            .map_err(|d| partial(&st, d))?;
        Ok(st)
    }

    async fn delete(&self, ctx: &Ctx, prior: Environment) -> Result<(), Fail> {
        let aws = ctx.data::<Aws>()?;
        let mut st = prior;
        let name = known_or(&st.name, String::new());

        // Guard first: a production-tagged object stops the whole destroy before anything goes.
        let client = aws.apprunner().await;
        if let Some(arn) = st.service_arn.known() {
            if let Ok(tags) = apprunner::tags(ctx, &client, arn).await {
                Self::guard(&aws, &format!("App Runner service {arn}"), &tags)
                    .map_err(|d| Fail::partial(st.clone(), d))?;
            }
        }
        let rds_client = aws.rds().await;
        let db_id = db_identifier(&name);
        if st.database_arn.is_known() {
            if let Some(v) = rds::describe(ctx, &rds_client, &db_id)
                .await
                .map_err(|d| Fail::partial(st.clone(), d))?
            {
                Self::guard(&aws, &format!("database {db_id}"), &v.tags)
                    .map_err(|d| Fail::partial(st.clone(), d))?;
            }
        }

        // Reverse order: service, database (final snapshot), secret.
        if let Some(arn) = st.service_arn.known().cloned() {
            apprunner::delete(ctx, &client, &arn)
                .await
                .map_err(|d| Fail::partial(st.clone(), d))?;
            st.service_arn = Tf::Null;
            st.service_url = Tf::Null;
            st.status = Tf::Null;
        }
        if st.database_arn.is_known() {
            // Unique per destroy, so destroy/apply cycles never collide on the snapshot name.
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or_default();
            let snapshot = format!("{db_id}-final-{stamp}");
            // A stopped instance cannot be deleted with a snapshot: start it first.
            if let Some(v) = rds::describe(ctx, &rds_client, &db_id)
                .await
                .map_err(|d| Fail::partial(st.clone(), d))?
            {
                if v.status == "stopped" {
                    rds::start(ctx, &rds_client, &db_id)
                        .await
                        .map_err(|d| Fail::partial(st.clone(), d))?;
                    rds::wait_status(ctx, &rds_client, &db_id, &["available"])
                        .await
                        .map_err(|d| Fail::partial(st.clone(), d))?;
                }
            }
            rds::delete(ctx, &rds_client, &db_id, Some(&snapshot))
                .await
                .map_err(|d| Fail::partial(st.clone(), d))?;
            st.database_arn = Tf::Null;
            st.database_endpoint = Tf::Null;
        }
        if let Some(arn) = st.secret_arn.known().cloned() {
            let days = st
                .secrets
                .as_ref()
                .and_then(|s| s.recovery_window_days.known().copied())
                .unwrap_or(0);
            let sm = aws.secretsmanager().await;
            secrets::delete(ctx, &sm, &arn, days)
                .await
                .map_err(|d| Fail::partial(st.clone(), d))?;
        }
        Ok(())
    }

    async fn import(&self, _ctx: &Ctx, id: &str) -> Result<Environment, Diagnostics> {
        Ok(Environment {
            id: Tf::Known(id.to_string()),
            name: Tf::Known(id.to_string()),
            app_runner: Some(AppRunner::default()),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_is_valid() {
        let errors = schema::schema().validate();
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn cpu_and_memory_spellings_compare_equal() {
        assert_eq!(cpu_units("0.5 vCPU"), cpu_units("512"));
        assert_eq!(cpu_units("1 vCPU"), Some(1024));
        assert_eq!(memory_mb("1 GB"), memory_mb("1024"));
        assert_eq!(memory_mb("0.5 GB"), Some(512));
        assert!(cpu_units("lots").is_none());
    }

    #[test]
    fn connection_strings_follow_the_engine() {
        let my = connection_string("mysql", "h", 3306, "d", "u", "p");
        assert_eq!(my, "Server=h;Port=3306;Database=d;User=u;Password=p");
        assert!(
            connection_string("postgres", "h", 5432, "d", "u", "p").starts_with("Host=h;Port=5432")
        );
    }
}
