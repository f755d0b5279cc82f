# A staging mirror of the production App Runner service of modules/app-runner-app (seed 000):
# staging's own instance role and sandbox secrets, production's data sanitized with the
# default_pii preset, paused after 7 idle days with a warning a day before.
terraform {
  required_version = ">= 1.11.0"

  required_providers {
    staging = {
      source  = "stagecraft/staging"
      version = ">= 0.1.0"
    }
  }
}

provider "staging" {
  region = "us-east-1"
}

variable "staging_secret_values" {
  description = "Sandbox values of the staging config secret (pass as TF_VAR_staging_secret_values; never stored)."
  type        = map(string)
  default     = null
  sensitive   = true
  ephemeral   = true
}

module "staging" {
  source = "../.."

  name                   = "togetherhood-app-staging"
  production_service_arn = "arn:aws:apprunner:us-east-1:123456789012:service/togetherhood-app-production/0123456789abcdef0123456789abcdef"
  instance_role_arn      = "arn:aws:iam::123456789012:role/togetherhood-app-staging-instance"
  database_engine        = "mysql"

  secret_values         = var.staging_secret_values
  secret_values_version = 1

  production_database_url_secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:togetherhood-app/production/db-url-AbCdEf"
  staging_database_url_secret_arn    = "arn:aws:secretsmanager:us-east-1:123456789012:secret:togetherhood-app/staging/db-url-GhIjKl"
  exclude_tables                     = ["audit_log"]
  sync_triggers                      = { refreshed = "2026-05-01" }

  auto_destroy_action       = "pause"
  notify_topic_arn          = "arn:aws:sns:us-east-1:123456789012:stagecraft-reaper-warnings"
  idle_connection_threshold = 5
  working_hours = {
    time_zone = "Europe/Berlin"
    start     = "08:00"
    stop      = "19:00"
  }

  tags = {
    Application = "TogetherhoodApp"
  }
}

output "staging_url" {
  value = module.staging.service_url
}

output "staging_goes_at" {
  value = module.staging.destroy_after
}
