# terraform test: the three stagecraft resources wired together, against a mocked
# stagecraft/staging (schema served by the real provider binary).

mock_provider "staging" {
  mock_resource "staging_environment" {
    defaults = {
      id                = "togetherhood-app-staging"
      service_arn       = "arn:aws:apprunner:us-east-1:123456789012:service/togetherhood-app-staging/0123456789abcdef0123456789abcdef"
      service_url       = "https://abcdefghij.us-east-1.awsapprunner.com"
      database_arn      = "arn:aws:rds:us-east-1:123456789012:db:togetherhood-app-staging-db"
      database_endpoint = "togetherhood-app-staging-db.abcdefghij.us-east-1.rds.amazonaws.com"
      secret_arn        = "arn:aws:secretsmanager:us-east-1:123456789012:secret:togetherhood-app-staging/config-AbCdEf"
      status            = "RUNNING"
    }
  }
  mock_resource "staging_sanitized_db_sync" {
    defaults = {
      id             = "togetherhood-app-staging-sync"
      last_synced_at = "2026-05-01T03:00:00Z"
    }
  }
  mock_resource "staging_auto_destroy_policy" {
    defaults = {
      id     = "togetherhood-app-staging"
      status = "active"
    }
  }
}

variables {
  name                               = "togetherhood-app-staging"
  production_service_arn             = "arn:aws:apprunner:us-east-1:123456789012:service/togetherhood-app-production/fedcba9876543210fedcba9876543210"
  instance_role_arn                  = "arn:aws:iam::123456789012:role/togetherhood-app-staging-instance"
  production_database_url_secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:togetherhood-app/production/db-url-AAAAAA"
  staging_database_url_secret_arn    = "arn:aws:secretsmanager:us-east-1:123456789012:secret:togetherhood-app/staging/db-url-BBBBBB"
  secret_values = {
    JwtSettings__Secret = "test-only-not-a-secret"
  }
}

run "environment_mirrors_production" {
  command = plan

  assert {
    condition     = staging_environment.this.name == "togetherhood-app-staging" && staging_environment.this.state == "running"
    error_message = "the environment is named after var.name and running by default"
  }
  assert {
    condition     = staging_environment.this.source_service_arn == var.production_service_arn
    error_message = "the environment mirrors the production service"
  }
  assert {
    condition     = staging_environment.this.app_runner.instance_role_arn == var.instance_role_arn && staging_environment.this.app_runner.image_tag == "staging"
    error_message = "staging's own instance role and image tag"
  }
  assert {
    condition     = staging_environment.this.app_runner.cpu == "0.5 vCPU" && staging_environment.this.app_runner.memory == "1 GB"
    error_message = "seed 000's staging size: 0.5 vCPU / 1 GB"
  }
  assert {
    condition     = staging_environment.this.database.engine == "mysql" && staging_environment.this.database.instance_class == "db.t3.micro" && staging_environment.this.database.backup_retention_period == 7
    error_message = "seed 000's staging database: MySQL on db.t3.micro, 7 days of backups"
  }
  assert {
    condition     = staging_environment.this.secrets.values_wo == null && staging_environment.this.secrets.values_wo_version == 1
    error_message = "secret values are write-only (null in the plan), version 1"
  }
}

run "sync_uses_default_pii_preset" {
  command = plan

  variables {
    exclude_tables = ["audit_log"]
  }

  assert {
    condition     = staging_sanitized_db_sync.this[0].preset == "default_pii" && staging_sanitized_db_sync.this[0].unsanitized_pii == "error"
    error_message = "the sync applies the default_pii preset and fails on unsanitized PII"
  }
  assert {
    condition     = staging_sanitized_db_sync.this[0].source_secret_arn == var.production_database_url_secret_arn && staging_sanitized_db_sync.this[0].target_secret_arn == var.staging_database_url_secret_arn
    error_message = "production's URL secret is the source, staging's the target"
  }
  assert {
    condition     = length(staging_sanitized_db_sync.this[0].rule) == 0
    error_message = "the preset alone: no extra rule blocks"
  }
  assert {
    condition     = staging_sanitized_db_sync.this[0].exclude_tables == tolist(["audit_log"])
    error_message = "excluded tables are passed through"
  }
}

run "extra_sanitize_rules_become_rule_blocks" {
  command = plan

  variables {
    sanitize_rules = [
      { table = "users", column = "ssn", transform = "hash" },
      { table = "messages", column = "body", transform = "template", value = "Test message {id}" },
    ]
  }

  assert {
    condition     = length(staging_sanitized_db_sync.this[0].rule) == 2
    error_message = "one rule block per sanitize_rules entry"
  }
  assert {
    condition     = staging_sanitized_db_sync.this[0].rule[1].value == "Test message {id}" && staging_sanitized_db_sync.this[0].rule[0].transform == "hash"
    error_message = "rule fields are passed through"
  }
}

run "rejects_template_without_value" {
  command = plan

  variables {
    sanitize_rules = [{ table = "users", column = "email", transform = "template" }]
  }

  expect_failures = [var.sanitize_rules]
}

run "auto_destroy_policy_defaults" {
  command = plan

  assert {
    condition     = staging_auto_destroy_policy.this[0].idle_days == 7 && staging_auto_destroy_policy.this[0].warn_before_hours == 24
    error_message = "seed 003: 7 idle days, warning 24 hours before"
  }
  assert {
    condition     = staging_auto_destroy_policy.this[0].action == "destroy" && staging_auto_destroy_policy.this[0].final_snapshot == true && staging_auto_destroy_policy.this[0].enabled == true
    error_message = "destroy with a final snapshot by default"
  }
  assert {
    condition     = staging_auto_destroy_policy.this[0].notify_topic_arn == null && staging_auto_destroy_policy.this[0].schedule == null
    error_message = "no topic and no working hours unless given"
  }
  assert {
    condition     = [for a in staging_auto_destroy_policy.this[0].activity : a.signal] == ["app_runner_requests", "rds_connections"]
    error_message = "activity: App Runner requests and RDS connections"
  }
  assert {
    condition     = alltrue([for a in staging_auto_destroy_policy.this[0].activity : a.missing_data == "idle"])
    error_message = "no data means idle"
  }
}

run "pause_with_working_hours" {
  command = plan

  variables {
    auto_destroy_action       = "pause"
    notify_topic_arn          = "arn:aws:sns:us-east-1:123456789012:stagecraft-reaper-warnings"
    idle_connection_threshold = 5
    working_hours             = { time_zone = "Europe/Berlin", start = "08:00", stop = "19:00" }
  }

  assert {
    condition     = staging_auto_destroy_policy.this[0].action == "pause" && staging_auto_destroy_policy.this[0].notify_topic_arn == var.notify_topic_arn
    error_message = "action and topic are passed through"
  }
  assert {
    condition     = staging_auto_destroy_policy.this[0].activity[1].threshold == 5
    error_message = "the connection threshold is the idle pool size"
  }
  assert {
    condition     = staging_auto_destroy_policy.this[0].schedule.time_zone == "Europe/Berlin" && staging_auto_destroy_policy.this[0].schedule.start == "08:00" && staging_auto_destroy_policy.this[0].schedule.stop == "19:00"
    error_message = "working hours become the schedule block"
  }
}

run "applied_outputs" {
  command = apply

  assert {
    condition     = staging_auto_destroy_policy.this[0].environment_id == staging_environment.this.id
    error_message = "the policy covers the environment"
  }
  assert {
    condition     = output.service_arn == "arn:aws:apprunner:us-east-1:123456789012:service/togetherhood-app-staging/0123456789abcdef0123456789abcdef" && output.status == "RUNNING"
    error_message = "outputs come from the environment"
  }
  assert {
    condition     = output.db_sync_id == "togetherhood-app-staging-sync" && output.auto_destroy_policy_id == "togetherhood-app-staging"
    error_message = "sync and policy IDs are output"
  }
}

run "optional_pieces_off" {
  command = plan

  variables {
    create_db_sync                     = false
    create_auto_destroy_policy         = false
    production_database_url_secret_arn = null
    staging_database_url_secret_arn    = null
    state                              = "paused"
  }

  assert {
    condition     = length(staging_sanitized_db_sync.this) == 0 && length(staging_auto_destroy_policy.this) == 0
    error_message = "sync and policy are optional"
  }
  assert {
    condition     = staging_environment.this.state == "paused"
    error_message = "state is passed through"
  }
}

run "rejects_bad_action" {
  command = plan

  variables {
    auto_destroy_action = "delete"
  }
  expect_failures = [var.auto_destroy_action]
}

run "rejects_sync_into_production" {
  command = plan

  variables {
    staging_database_url_secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:togetherhood-app/production/db-url-AAAAAA"
  }
  expect_failures = [var.staging_database_url_secret_arn]
}

run "rejects_warning_after_deadline" {
  command = plan

  variables {
    idle_days         = 1
    warn_before_hours = 24
  }
  expect_failures = [var.warn_before_hours]
}
