# terraform test: the seed-000 presets, wiring and input validation, against a mocked
# hashicorp/aws (schema served by the stand-in in tests, by the real provider elsewhere).

mock_provider "aws" {

  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_region" {
    defaults = { region = "us-east-1" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_subnets" {
    defaults = { ids = ["subnet-aaaa", "subnet-bbbb"] }
  }
  mock_data "aws_ecr_repository" {
    defaults = {
      arn            = "arn:aws:ecr:us-east-1:123456789012:repository/togetherhood-app"
      repository_url = "123456789012.dkr.ecr.us-east-1.amazonaws.com/togetherhood-app"
    }
  }
  mock_resource "aws_secretsmanager_secret" {
    defaults = { arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:togetherhood-app/staging/config-AbCdEf" }
  }
  mock_resource "aws_ecr_repository" {
    defaults = {
      arn            = "arn:aws:ecr:us-east-1:123456789012:repository/togetherhood-app"
      repository_url = "123456789012.dkr.ecr.us-east-1.amazonaws.com/togetherhood-app"
    }
  }
}

variables {
  name            = "togetherhood-app"
  application_tag = "TogetherhoodApp"
  db_name         = "togetherhood_staging"
  db_password     = "not-a-real-password"
  # Ephemeral inputs must be set in plan and apply alike.
  config_secret_values = { JwtSettings__Secret = "not-a-real-jwt-secret" }
}

run "staging_preset" {
  command = plan

  variables {
    environment = "staging"
  }

  assert {
    condition     = aws_apprunner_service.this.service_name == "togetherhood-app-staging"
    error_message = "service name must be <name>-<environment>"
  }
  assert {
    condition     = aws_apprunner_service.this.instance_configuration[0].cpu == "0.5 vCPU" && aws_apprunner_service.this.instance_configuration[0].memory == "1 GB"
    error_message = "staging runs at 0.5 vCPU / 1 GB"
  }
  assert {
    condition     = aws_db_instance.this[0].instance_class == "db.t3.micro" && aws_db_instance.this[0].backup_retention_period == 7
    error_message = "staging database is db.t3.micro with 7 days of backups"
  }
  assert {
    condition     = aws_db_instance.this[0].deletion_protection == false && aws_db_instance.this[0].multi_az == false
    error_message = "staging database has no deletion protection and a single AZ"
  }
  assert {
    condition     = aws_db_instance.this[0].engine == "mysql" && aws_db_instance.this[0].engine_version == "8.0.35" && aws_db_instance.this[0].storage_type == "gp3" && aws_db_instance.this[0].storage_encrypted
    error_message = "MySQL 8.0.35 on encrypted gp3"
  }
  assert {
    condition     = aws_db_instance.this[0].password_wo == null
    error_message = "the password is write-only: never in the plan"
  }
  assert {
    condition     = aws_apprunner_service.this.health_check_configuration[0].path == "/api/health" && aws_apprunner_service.this.health_check_configuration[0].interval == 10 && aws_apprunner_service.this.health_check_configuration[0].unhealthy_threshold == 5
    error_message = "health check is the seed's: /api/health every 10 s, 5 failures"
  }
  assert {
    condition     = aws_apprunner_service.this.source_configuration[0].image_repository[0].image_configuration[0].runtime_environment_variables["ASPNETCORE_ENVIRONMENT"] == "Staging"
    error_message = "ASPNETCORE_ENVIRONMENT=Staging"
  }
  assert {
    condition     = aws_secretsmanager_secret.config.name == "togetherhood-app/staging/config" && aws_secretsmanager_secret.config.recovery_window_in_days == 7
    error_message = "config secret name and recovery window"
  }
  assert {
    condition     = aws_db_instance.this[0].tags["Environment"] == "Staging" && aws_db_instance.this[0].tags["Application"] == "TogetherhoodApp"
    error_message = "seed tags Environment=Staging, Application=TogetherhoodApp"
  }
}

run "production_preset" {
  command = plan

  variables {
    environment           = "production"
    db_name               = "togetherhood_production"
    create_ecr_repository = false # the repository URL comes from a data source: known at plan
  }

  assert {
    condition     = aws_apprunner_service.this.instance_configuration[0].cpu == "1 vCPU" && aws_apprunner_service.this.instance_configuration[0].memory == "2 GB"
    error_message = "production runs at 1 vCPU / 2 GB"
  }
  assert {
    condition     = aws_db_instance.this[0].instance_class == "db.t3.large" && aws_db_instance.this[0].backup_retention_period == 30
    error_message = "production database is db.t3.large with 30 days of backups"
  }
  assert {
    condition     = aws_db_instance.this[0].deletion_protection && aws_db_instance.this[0].multi_az && aws_db_instance.this[0].performance_insights_enabled
    error_message = "production database is protected, Multi-AZ, with Performance Insights"
  }
  assert {
    condition     = endswith(aws_apprunner_service.this.source_configuration[0].image_repository[0].image_identifier, ":prod")
    error_message = "production deploys the prod tag"
  }
}

run "apply_wires_secret_keys_and_alarm" {
  command = apply

  variables {
    environment        = "staging"
    custom_domain_name = "staging.togetherhood.com"
  }

  assert {
    condition     = length(aws_apprunner_service.this.source_configuration[0].image_repository[0].image_configuration[0].runtime_environment_secrets) == 5
    error_message = "the seed's five RuntimeEnvironmentSecrets"
  }
  assert {
    condition     = aws_apprunner_service.this.source_configuration[0].image_repository[0].image_configuration[0].runtime_environment_secrets["JwtSettings__Secret"] == "arn:aws:secretsmanager:us-east-1:123456789012:secret:togetherhood-app/staging/config-AbCdEf:JwtSettings__Secret::"
    error_message = "secrets reference the config secret by key"
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.health_check_failed[0].metric_name == "HealthChecksFailed" && aws_cloudwatch_metric_alarm.health_check_failed[0].period == 300 && aws_cloudwatch_metric_alarm.health_check_failed[0].evaluation_periods == 2
    error_message = "health-check alarm as in the seed"
  }
  assert {
    condition     = aws_apprunner_custom_domain_association.this[0].domain_name == "staging.togetherhood.com"
    error_message = "custom domain associated"
  }
  assert {
    condition     = strcontains(aws_iam_policy.instance.policy, "togetherhood-app/staging/config") && strcontains(aws_iam_policy.instance.policy, "kms:ViaService")
    error_message = "instance role: its own secret, KMS only via Secrets Manager"
  }
}

run "reuses_existing_repository" {
  command = plan

  variables {
    environment           = "staging"
    create_ecr_repository = false
  }

  assert {
    condition     = length(aws_ecr_repository.this) == 0
    error_message = "no repository is created"
  }
  assert {
    condition     = aws_apprunner_service.this.source_configuration[0].image_repository[0].image_identifier == "123456789012.dkr.ecr.us-east-1.amazonaws.com/togetherhood-app:staging"
    error_message = "staging deploys the staging tag of the existing repository"
  }
}

run "rejects_unknown_environment" {
  command = plan

  variables {
    environment = "qa"
  }

  expect_failures = [var.environment]
}

run "rejects_invalid_cpu" {
  command = plan

  variables {
    environment = "staging"
    cpu         = "3 vCPU"
  }

  expect_failures = [var.cpu]
}

run "rejects_short_backup_retention" {
  command = plan

  variables {
    environment                = "staging"
    db_backup_retention_period = 0
  }

  expect_failures = [var.db_backup_retention_period]
}
