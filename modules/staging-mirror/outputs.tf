output "environment_id" {
  description = "ID of the staging environment (its name)."
  value       = staging_environment.this.id
}

output "service_arn" {
  description = "ARN of the staging App Runner service."
  value       = staging_environment.this.service_arn
}

output "service_url" {
  description = "HTTPS URL of the staging service."
  value       = staging_environment.this.service_url
}

output "status" {
  description = "Status of the staging service (`RUNNING`, `PAUSED`, …)."
  value       = staging_environment.this.status
}

output "database_arn" {
  description = "ARN of the staging database."
  value       = staging_environment.this.database_arn
}

output "database_identifier" {
  description = "DB instance identifier of the staging database (`<name>-db`)."
  value       = staging_environment.this.database.identifier
}

output "database_endpoint" {
  description = "Host name of the staging database."
  value       = staging_environment.this.database_endpoint
}

output "secret_arn" {
  description = "ARN of the staging config secret (its values are never output)."
  value       = staging_environment.this.secret_arn
}

output "secret_keys" {
  description = "Key names in the staging config secret (names only, no values)."
  value       = staging_environment.this.secrets.keys
}

output "db_sync_id" {
  description = "ID of the sanitized database sync (null when create_db_sync is false)."
  value       = one(staging_sanitized_db_sync.this[*].id)
}

output "db_sync_last_synced_at" {
  description = "When the last sanitized sync finished (RFC 3339)."
  value       = one(staging_sanitized_db_sync.this[*].last_synced_at)
}

output "db_sync_columns" {
  description = "Every production column (`table.column`) and what the sync does to it: the review list for new PII."
  value       = one(staging_sanitized_db_sync.this[*].columns)
}

output "auto_destroy_policy_id" {
  description = "ID of the auto-destroy policy (null when create_auto_destroy_policy is false)."
  value       = one(staging_auto_destroy_policy.this[*].id)
}

output "auto_destroy_status" {
  description = "Status of the auto-destroy policy: `active`, `warning`, `due`, `snoozed`, `disabled` or `paused`."
  value       = one(staging_auto_destroy_policy.this[*].status)
}

output "destroy_after" {
  description = "When the auto-destroy action is due (null while disabled or paused): the plan shows when staging goes."
  value       = one(staging_auto_destroy_policy.this[*].destroy_after)
}
