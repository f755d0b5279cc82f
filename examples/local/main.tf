# The offline demo: stagecraft against local AWS (moto + the stagecraft emulator).
# `make demo` starts local AWS, points AWS_ENDPOINT_URL at it and applies this configuration.
terraform {
  required_version = ">= 1.11"
  required_providers {
    staging = {
      source = "stagecraft/staging"
    }
  }
}

provider "staging" {
  region = var.region

  default_tags = {
    ManagedBy = "stagecraft"
  }

  production_guard {
    tag_key    = "Environment"
    tag_values = ["production", "Production", "prod"]
  }
}

variable "region" {
  description = "AWS region of the local emulation."
  type        = string
  default     = "us-east-1"
}

data "staging_caller_identity" "current" {}

# Seed 000's staging environment: secret -> database -> App Runner service.
resource "staging_environment" "app" {
  name = "togetherhood-app-staging"

  app_runner {
    image_repository = "${data.staging_caller_identity.current.account_id}.dkr.ecr.${var.region}.amazonaws.com/togetherhood-app"
    access_role_arn  = "arn:aws:iam::${data.staging_caller_identity.current.account_id}:role/TogetherhoodAppRunnerECRAccessRole"
  }

  database {
    engine = "mysql"
    # moto treats the seed's 03:00-04:00 as overlapping the mon:04:00 maintenance window.
    backup_window = "02:00-03:00"
  }

  secrets {
    values_wo = {
      JwtSettings__Secret = "demo-sandbox-secret"
      SendGrid__ApiKey    = "SG.sandbox-demo"
    }
    values_wo_version = 1
  }
}

output "account_id" {
  description = "Account the provider acts in (moto's default account offline)."
  value       = data.staging_caller_identity.current.account_id
}

output "caller_arn" {
  description = "Identity the provider acts as."
  value       = data.staging_caller_identity.current.arn
}

output "service_url" {
  description = "URL of the staging App Runner service."
  value       = staging_environment.app.service_url
}

output "database_endpoint" {
  description = "Host of the staging database."
  value       = staging_environment.app.database_endpoint
}

output "status" {
  description = "Status of the staging service."
  value       = staging_environment.app.status
}

output "region" {
  description = "Region the provider works in."
  value       = data.staging_caller_identity.current.region
}

# Auto-destroy (seed 003's Lambda as a policy): staging goes after 7 idle days. Nothing runs the
# reaper offline; the provider reads CloudWatch (through the emulator) to show when staging goes.
resource "staging_auto_destroy_policy" "app" {
  environment_id    = staging_environment.app.id
  idle_days         = 7
  warn_before_hours = 24
  action            = "destroy"
  final_snapshot    = true

  # App Runner publishes no Requests metric without traffic: no data means idle.
  activity {
    signal       = "app_runner_requests"
    missing_data = "idle"
  }
}

output "auto_destroy_status" {
  description = "Status of the auto-destroy policy (active, warning, due, snoozed, disabled, paused)."
  value       = staging_auto_destroy_policy.app.status
}

output "destroy_after" {
  description = "When the auto-destroy policy's action is due if staging stays idle."
  value       = staging_auto_destroy_policy.app.destroy_after
}
