# terraform test: the seed-003 presets, security group rules and input validation, against a
# mocked hashicorp/aws.

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
  mock_data "aws_ssm_parameter" {
    defaults = { insecure_value = "ami-0123456789abcdef0" }
  }
}

variables {
  name        = "whatsapp-saas"
  image       = "123456789012.dkr.ecr.us-east-1.amazonaws.com/whatsapp-saas:latest"
  db_name     = "whatsapp_saas"
  db_password = "not-a-real-password"
  admin_token = "not-a-real-admin-token-0123456789abcdef"
}

run "staging_preset" {
  command = plan

  variables {
    environment = "staging"
  }

  assert {
    condition     = aws_db_instance.this.instance_class == "db.t3.micro" && aws_elasticache_replication_group.this.node_type == "cache.t3.micro" && aws_launch_template.this.instance_type == "t3.micro"
    error_message = "staging is t3.micro throughout"
  }
  assert {
    condition     = aws_db_instance.this.backup_retention_period == 7 && aws_cloudwatch_log_group.app.retention_in_days == 7 && aws_elasticache_replication_group.this.snapshot_retention_limit == 3
    error_message = "staging keeps 7 days of backups and logs, 3 days of Redis snapshots"
  }
  assert {
    condition     = aws_db_instance.this.deletion_protection == false && aws_db_instance.this.multi_az == false && aws_db_instance.this.performance_insights_enabled == false
    error_message = "staging: no deletion protection, single AZ, no Performance Insights"
  }
  assert {
    condition     = aws_db_instance.this.allocated_storage == 20 && aws_db_instance.this.max_allocated_storage == 50 && aws_db_instance.this.storage_type == "gp3" && aws_db_instance.this.monitoring_interval == 60
    error_message = "20 -> 50 GB gp3, enhanced monitoring every 60 s"
  }
  assert {
    condition     = aws_cloudwatch_log_group.app.name == "/aws/staging/whatsapp-saas/application"
    error_message = "application log group name from the seed"
  }
  assert {
    condition     = aws_secretsmanager_secret.database_url.name == "whatsapp-saas/staging/database-url" && aws_secretsmanager_secret.database_url.recovery_window_in_days == 7
    error_message = "secrets with a 7-day recovery window"
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.app_ssh.cidr_ipv4 == "0.0.0.0/0" && length(aws_vpc_security_group_ingress_rule.app_public) == 3
    error_message = "app-staging-sg: 80, 443, 3000 and SSH (seed default 0.0.0.0/0)"
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.rds_from_app.from_port == 5432 && aws_vpc_security_group_ingress_rule.redis_from_app.from_port == 6379
    error_message = "database and cache reachable from the app on 5432 and 6379"
  }
  assert {
    condition     = aws_db_instance.this.tags["stagecraft:auto-destroy"] == "enabled"
    error_message = "staging is marked for auto-destroy"
  }
}

run "production_preset" {
  command = plan

  variables {
    environment      = "production"
    allowed_ssh_cidr = "203.0.113.0/24"
  }

  assert {
    condition     = aws_db_instance.this.instance_class == "db.t4g.large" && aws_elasticache_replication_group.this.node_type == "cache.t4g.medium" && aws_launch_template.this.instance_type == "t3.large"
    error_message = "production sizes from the seed"
  }
  assert {
    condition     = aws_db_instance.this.backup_retention_period == 30 && aws_cloudwatch_log_group.app.retention_in_days == 30 && aws_elasticache_replication_group.this.snapshot_retention_limit == 7
    error_message = "production keeps 30 days, Redis snapshots 7 days"
  }
  assert {
    condition     = aws_db_instance.this.deletion_protection && aws_db_instance.this.multi_az && aws_elasticache_replication_group.this.multi_az_enabled && aws_elasticache_replication_group.this.at_rest_encryption_enabled
    error_message = "production is protected, Multi-AZ and encrypted"
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.app_ssh.cidr_ipv4 == "203.0.113.0/24"
    error_message = "SSH restricted to allowed_ssh_cidr"
  }
  assert {
    condition     = aws_db_instance.this.tags["stagecraft:auto-destroy"] == "disabled"
    error_message = "production is never auto-destroyed"
  }
}

run "apply_wires_secrets_into_task" {
  command = apply

  variables {
    environment = "staging"
  }

  assert {
    condition     = length(jsondecode(aws_ecs_task_definition.this.container_definitions)[0].secrets) == 3
    error_message = "the task reads ADMIN_TOKEN, DATABASE_URL and REDIS_URL from Secrets Manager"
  }
  assert {
    condition     = output.auto_destroy.enabled && output.auto_destroy.idle_days == 7
    error_message = "auto-destroy after 7 idle days"
  }
}

run "rejects_bad_ssh_cidr" {
  command = plan

  variables {
    environment      = "staging"
    allowed_ssh_cidr = "everyone"
  }

  expect_failures = [var.allowed_ssh_cidr]
}

run "rejects_unknown_environment" {
  command = plan

  variables {
    environment = "dev"
  }

  expect_failures = [var.environment]
}
