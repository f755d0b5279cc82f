//! The schema of `staging_environment` and its state structs.
//!
//! Attributes the provider can fill in (mirrored from production or defaulted to the seed's
//! staging values) are optional+computed, so the plan shows what staging will get even when
//! the configuration leaves them out. Health-check settings are flat attributes rather than a
//! nested block because a block cannot be computed: a mirrored health check must be able to
//! appear without the user writing it.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::tfplugin::schema::{Attribute, Block, NestedBlock, Nesting, Presence, Schema};
use crate::tfplugin::timeouts::{self, Timeouts};
use crate::tfplugin::{Tf, Type, Value};

/// The seed's staging values (seed 000, "Staging vs Production").
pub mod defaults {
    pub const IMAGE_TAG: &str = "staging";
    pub const CPU: &str = "0.5 vCPU";
    pub const MEMORY: &str = "1 GB";
    pub const PORT: &str = "8080";
    pub const HEALTH_PROTOCOL: &str = "HTTP";
    pub const HEALTH_PATH: &str = "/api/health";
    pub const HEALTH_INTERVAL: i64 = 10;
    pub const HEALTH_TIMEOUT: i64 = 5;
    pub const HEALTH_HEALTHY: i64 = 1;
    pub const HEALTH_UNHEALTHY: i64 = 5;
    pub const INSTANCE_CLASS: &str = "db.t3.micro";
    pub const STORAGE: i64 = 20;
    pub const STORAGE_TYPE: &str = "gp3";
    pub const BACKUP_RETENTION: i64 = 7;
    pub const BACKUP_WINDOW: &str = "03:00-04:00";
    pub const MAINTENANCE_WINDOW: &str = "mon:04:00-mon:05:00";
    pub const MYSQL_VERSION: &str = "8.0.35";
    pub const POSTGRES_VERSION: &str = "15.4";
    pub const CONNECTION_KEY: &str = "ConnectionStrings__DefaultConnection";
    pub const ENVIRONMENT_TAG: (&str, &str) = ("Environment", "Staging");
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Environment {
    pub id: Tf<String>,
    pub name: Tf<String>,
    pub source_service_arn: Tf<String>,
    pub state: Tf<String>,
    pub tags: Tf<BTreeMap<String, String>>,
    pub service_arn: Tf<String>,
    pub service_url: Tf<String>,
    pub database_arn: Tf<String>,
    pub database_endpoint: Tf<String>,
    pub secret_arn: Tf<String>,
    pub status: Tf<String>,
    pub app_runner: Option<AppRunner>,
    pub database: Option<Database>,
    pub secrets: Option<Secrets>,
    pub timeouts: Value,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct AppRunner {
    pub image_repository: Tf<String>,
    pub image_tag: Tf<String>,
    pub port: Tf<String>,
    pub cpu: Tf<String>,
    pub memory: Tf<String>,
    pub auto_deployments: Tf<bool>,
    pub access_role_arn: Tf<String>,
    pub instance_role_arn: Tf<String>,
    pub environment_variables: Tf<BTreeMap<String, String>>,
    pub health_check_protocol: Tf<String>,
    pub health_check_path: Tf<String>,
    pub health_check_interval: Tf<i64>,
    pub health_check_timeout: Tf<i64>,
    pub health_check_healthy_threshold: Tf<i64>,
    pub health_check_unhealthy_threshold: Tf<i64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Database {
    pub engine: Tf<String>,
    pub engine_version: Tf<String>,
    pub identifier: Tf<String>,
    pub instance_class: Tf<String>,
    pub allocated_storage: Tf<i64>,
    pub max_allocated_storage: Tf<i64>,
    pub storage_type: Tf<String>,
    pub db_name: Tf<String>,
    pub username: Tf<String>,
    pub backup_retention_period: Tf<i64>,
    pub backup_window: Tf<String>,
    pub maintenance_window: Tf<String>,
    pub storage_encrypted: Tf<bool>,
    pub deletion_protection: Tf<bool>,
    pub multi_az: Tf<bool>,
    pub db_subnet_group_name: Tf<String>,
    pub vpc_security_group_ids: Tf<Vec<String>>,
    pub snapshot_identifier: Tf<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Secrets {
    pub name: Tf<String>,
    pub values_wo: Tf<BTreeMap<String, String>>,
    pub values_wo_version: Tf<i64>,
    pub keys: Tf<Vec<String>>,
    pub connection_string_key: Tf<String>,
    pub recovery_window_days: Tf<i64>,
}

pub fn default_timeouts() -> Timeouts {
    Timeouts {
        create: std::time::Duration::from_secs(60 * 60),
        update: std::time::Duration::from_secs(60 * 60),
        delete: std::time::Duration::from_secs(60 * 60),
        ..Timeouts::default()
    }
}

fn a(name: &str, ty: Type, p: Presence, doc: &str) -> Attribute {
    Attribute::new(name, ty, p, doc)
}

pub fn schema() -> Schema {
    use Presence::*;
    let app_runner = Block::new("App Runner compute backend (seed 000). Exactly one backend block is allowed.")
        .attr(a("image_repository", Type::String, OptionalComputed, "ECR repository URI (without tag). Mirrored from production when `source_service_arn` is set."))
        .attr(a("image_tag", Type::String, OptionalComputed, "Image tag staging deploys (default `staging`)."))
        .attr(a("port", Type::String, OptionalComputed, "Container port. Mirrored from production, else `8080`."))
        .attr(a("cpu", Type::String, OptionalComputed, "vCPU per instance (default `0.5 vCPU`)."))
        .attr(a("memory", Type::String, OptionalComputed, "Memory per instance (default `1 GB`)."))
        .attr(a("auto_deployments", Type::Bool, OptionalComputed, "Deploy automatically when the image tag is pushed (default `true`)."))
        .attr(a("access_role_arn", Type::String, OptionalComputed, "Role App Runner uses to pull from ECR. Mirrored from production."))
        .attr(a("instance_role_arn", Type::String, Optional, "Role the running service assumes (scope it to the staging secret)."))
        .attr(a("environment_variables", Type::map(Type::String), OptionalComputed, "Plain environment variables: production's, overlaid with these."))
        .attr(a("health_check_protocol", Type::String, OptionalComputed, "`HTTP` or `TCP`. Mirrored from production, else `HTTP`."))
        .attr(a("health_check_path", Type::String, OptionalComputed, "Health check path. Mirrored from production, else `/api/health`."))
        .attr(a("health_check_interval", Type::Number, OptionalComputed, "Seconds between checks (default 10)."))
        .attr(a("health_check_timeout", Type::Number, OptionalComputed, "Seconds before a check fails (default 5)."))
        .attr(a("health_check_healthy_threshold", Type::Number, OptionalComputed, "Successes before healthy (default 1)."))
        .attr(a("health_check_unhealthy_threshold", Type::Number, OptionalComputed, "Failures before unhealthy (default 5)."));
    let database = Block::new("The staging RDS instance (MySQL or PostgreSQL).")
        .attr(a("engine", Type::String, Required, "`mysql` or `postgres`. Changing it replaces the environment."))
        .attr(a("engine_version", Type::String, OptionalComputed, "Engine version (default MySQL `8.0.35`, PostgreSQL `15.4`)."))
        .attr(a("identifier", Type::String, Computed, "DB instance identifier (`<name>-db`)."))
        .attr(a("instance_class", Type::String, OptionalComputed, "Instance class (default `db.t3.micro`)."))
        .attr(a("allocated_storage", Type::Number, OptionalComputed, "Storage in GB (default 20)."))
        .attr(a("max_allocated_storage", Type::Number, Optional, "Upper limit for storage autoscaling in GB."))
        .attr(a("storage_type", Type::String, OptionalComputed, "Storage type (default `gp3`)."))
        .attr(a("db_name", Type::String, OptionalComputed, "Initial database name (default: the environment name with `_` for `-`)."))
        .attr(a("username", Type::String, OptionalComputed, "Master user name (default `admin`). The password is generated and kept only in the staging secret."))
        .attr(a("backup_retention_period", Type::Number, OptionalComputed, "Days of automated backups (default 7)."))
        .attr(a("backup_window", Type::String, OptionalComputed, "Daily backup window, UTC (default `03:00-04:00`)."))
        .attr(a("maintenance_window", Type::String, OptionalComputed, "Weekly maintenance window, UTC (default `mon:04:00-mon:05:00`)."))
        .attr(a("storage_encrypted", Type::Bool, OptionalComputed, "Encrypt storage (default `true`)."))
        .attr(a("deletion_protection", Type::Bool, OptionalComputed, "Deletion protection (default `false` for staging)."))
        .attr(a("multi_az", Type::Bool, OptionalComputed, "Multi-AZ (default `false`)."))
        .attr(a("db_subnet_group_name", Type::String, Optional, "DB subnet group."))
        .attr(a("vpc_security_group_ids", Type::set(Type::String), Optional, "VPC security groups."))
        .attr(a("snapshot_identifier", Type::String, Optional, "Create the database from this snapshot. Changing it replaces the environment."));
    let secrets = Block::new("The staging configuration secret (Secrets Manager). It gets every key production's service reads; every value must come from here (sandbox credentials), never from production.")
        .attr(a("name", Type::String, OptionalComputed, "Secret name (default `<name>/config`)."))
        .attr(a("values_wo", Type::map(Type::String), Optional, "Staging values by key. Write-only: never stored in state or shown in plans.").write_only().sensitive())
        .attr(a("values_wo_version", Type::Number, Optional, "Change this number to push new `values_wo` (write-only values cannot be compared)."))
        .attr(a("keys", Type::list(Type::String), Computed, "Key names in the staging secret."))
        .attr(a("connection_string_key", Type::String, OptionalComputed, "Key that receives the staging database's connection string (default `ConnectionStrings__DefaultConnection`)."))
        .attr(a("recovery_window_days", Type::Number, OptionalComputed, "Recovery window on delete; 0 (default) deletes at once so the name can be reused."));
    let block = Block::new("A staging mirror of a production web app: secret, database and service in one resource, created in order and destroyed in reverse.")
        .attr(a("id", Type::String, Computed, "The environment name."))
        .attr(a("name", Type::String, Required, "Environment name; the App Runner service is called this. Changing it replaces the environment."))
        .attr(a("source_service_arn", Type::String, Optional, "Production App Runner service to mirror (image repository, port, health check, variables, secret keys, roles)."))
        .attr(a("state", Type::String, OptionalComputed, "`running` (default) or `paused` (service paused, database stopped)."))
        .attr(a("tags", Type::map(Type::String), Optional, "Tags for every object; `Environment = Staging` is always added."))
        .attr(a("service_arn", Type::String, Computed, "ARN of the staging App Runner service."))
        .attr(a("service_url", Type::String, Computed, "HTTPS URL of the staging service."))
        .attr(a("database_arn", Type::String, Computed, "ARN of the staging database."))
        .attr(a("database_endpoint", Type::String, Computed, "Host name of the staging database."))
        .attr(a("secret_arn", Type::String, Computed, "ARN of the staging secret."))
        .attr(a("status", Type::String, Computed, "Status of the service (`RUNNING`, `PAUSED`, …)."))
        .block(NestedBlock::new("app_runner", Nesting::Single, app_runner))
        .block(NestedBlock::new("database", Nesting::Single, database))
        .block(NestedBlock::new("secrets", Nesting::Single, secrets))
        .block(timeouts::block(&default_timeouts()));
    Schema::new(0, block)
}
