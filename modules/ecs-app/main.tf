# ECS application, seed 003: ECS on EC2 in the default VPC, RDS PostgreSQL 15, ElastiCache
# Redis 7, three Secrets Manager secrets, CloudWatch Logs, SNS alerts and the seed's alarms.
# `environment` picks the seed's staging or production column.

locals {
  presets = {
    staging = {
      db_instance_class     = "db.t3.micro"
      cache_node_type       = "cache.t3.micro"
      instance_type         = "t3.micro"
      backup_retention      = 7
      log_retention         = 7
      cache_snapshots       = 3
      deletion_protection   = false
      multi_az              = false
      performance_insights  = false
      cache_nodes           = 1
      cache_encryption      = false
      desired_count         = 1
      auto_destroy          = true
      environment_tag       = "staging"
      kms_deletion_window   = 7
      node_env              = "staging"
      cache_url_scheme      = "redis"
      performance_retention = null
    }
    production = {
      db_instance_class     = "db.t4g.large"
      cache_node_type       = "cache.t4g.medium"
      instance_type         = "t3.large"
      backup_retention      = 30
      log_retention         = 30
      cache_snapshots       = 7
      deletion_protection   = true
      multi_az              = true
      performance_insights  = true
      cache_nodes           = 2
      cache_encryption      = true
      desired_count         = 2
      auto_destroy          = false
      environment_tag       = "production"
      kms_deletion_window   = 30
      node_env              = "production"
      cache_url_scheme      = "rediss"
      performance_retention = 7
    }
  }
  preset = local.presets[var.environment]

  prefix          = "${var.name}-${var.environment}"
  db_identifier   = "${local.prefix}-db"
  cache_id        = "${local.prefix}-redis"
  instance_type   = coalesce(var.instance_type, local.preset.instance_type)
  desired_count   = coalesce(var.desired_count, local.preset.desired_count)
  log_retention   = coalesce(var.log_retention_in_days, local.preset.log_retention)
  auto_destroy    = var.auto_destroy_enabled != null ? var.auto_destroy_enabled : local.preset.auto_destroy
  app_log_group   = "/aws/${var.environment}/${var.name}/application"
  db_log_group    = "/aws/rds/instance/${local.db_identifier}/postgresql"
  secret_prefix   = "${var.name}/${var.environment}"
  vpc_id          = var.vpc_id != null ? var.vpc_id : data.aws_vpc.default[0].id
  subnet_ids      = var.subnet_ids != null ? var.subnet_ids : data.aws_subnets.this[0].ids
  account_id      = data.aws_caller_identity.current.account_id
  region          = data.aws_region.current.region
  partition       = data.aws_partition.current.partition
  redis_url       = "${local.preset.cache_url_scheme}://${aws_elasticache_replication_group.this.primary_endpoint_address}:6379"
  public_ingress  = { http = 80, https = 443, app = var.app_port }
  secrets_by_name = { "admin-token" = aws_secretsmanager_secret.admin_token, "database-url" = aws_secretsmanager_secret.database_url, "redis-url" = aws_secretsmanager_secret.redis_url }

  tags = merge(var.tags, {
    Environment               = local.preset.environment_tag
    Application               = var.name
    "stagecraft:auto-destroy" = local.auto_destroy ? "enabled" : "disabled"
    "stagecraft:idle-days"    = tostring(var.auto_destroy_idle_days)
  })
}

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

data "aws_vpc" "default" {
  count   = var.vpc_id == null ? 1 : 0
  default = true
}

data "aws_subnets" "this" {
  count = var.subnet_ids == null ? 1 : 0

  filter {
    name   = "vpc-id"
    values = [local.vpc_id]
  }
}

data "aws_ssm_parameter" "ecs_ami" {
  name = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
}

################################################################################
# KMS
################################################################################

resource "aws_kms_key" "this" {
  description             = "${local.prefix}: secrets, database, logs and alerts"
  enable_key_rotation     = true
  deletion_window_in_days = local.preset.kms_deletion_window
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministers"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsEncrypt"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = { ArnLike = { "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*" } }
      },
      {
        Sid       = "CloudWatchAlarmsPublishToEncryptedTopic"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
      },
    ]
  })
  tags = local.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${local.prefix}"
  target_key_id = aws_kms_key.this.key_id
}

################################################################################
# Security groups (seed: app-staging-sg, rds-staging-sg, redis-staging-sg)
################################################################################

resource "aws_security_group" "app" {
  name        = "app-${var.environment}-sg"
  description = "Application instances of ${local.prefix}: HTTP, HTTPS, the app port and SSH"
  vpc_id      = local.vpc_id
  tags        = merge(local.tags, { Name = "app-${var.environment}-sg" })
}

# trivy AWS-0107: Public web application: 80, 443 and the app port are served to the internet by design (seed).
#trivy:ignore:AWS-0107
resource "aws_vpc_security_group_ingress_rule" "app_public" {
  #checkov:skip=CKV_AWS_260:Public web application: HTTP (80), HTTPS (443) and the app port are served to the internet by design (seed).
  for_each          = local.public_ingress
  security_group_id = aws_security_group.app.id
  description       = "${upper(each.key)} (${each.value}) from anywhere"
  ip_protocol       = "tcp"
  from_port         = each.value
  to_port           = each.value
  cidr_ipv4         = "0.0.0.0/0"
}

# trivy AWS-0107: Staging default from the seed is 0.0.0.0/0; production restricts allowed_ssh_cidr (asserted by tests/modules).
#trivy:ignore:AWS-0107
resource "aws_vpc_security_group_ingress_rule" "app_ssh" {
  #checkov:skip=CKV_AWS_24:Staging default from the seed is 0.0.0.0/0; the production environment restricts allowed_ssh_cidr (asserted by tests/modules).
  security_group_id = aws_security_group.app.id
  description       = "SSH (22) from ${var.allowed_ssh_cidr}"
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
  cidr_ipv4         = var.allowed_ssh_cidr
}

# trivy AWS-0104: The application calls third-party APIs (Meta, OpenAI) and AWS; seed: outbound all traffic.
#trivy:ignore:AWS-0104
resource "aws_vpc_security_group_egress_rule" "app_all" {
  security_group_id = aws_security_group.app.id
  description       = "All outbound traffic"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_security_group" "rds" {
  name        = "rds-${var.environment}-sg"
  description = "PostgreSQL of ${local.prefix}: 5432 from the application only"
  vpc_id      = local.vpc_id
  tags        = merge(local.tags, { Name = "rds-${var.environment}-sg" })
}

resource "aws_vpc_security_group_ingress_rule" "rds_from_app" {
  security_group_id            = aws_security_group.rds.id
  description                  = "PostgreSQL (5432) from app-${var.environment}-sg"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.app.id
}

# trivy AWS-0104: Seed: outbound all traffic (the instance has no public address; egress is for AWS endpoints).
#trivy:ignore:AWS-0104
resource "aws_vpc_security_group_egress_rule" "rds_all" {
  security_group_id = aws_security_group.rds.id
  description       = "All outbound traffic"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_security_group" "redis" {
  name        = "redis-${var.environment}-sg"
  description = "Redis of ${local.prefix}: 6379 from the application only"
  vpc_id      = local.vpc_id
  tags        = merge(local.tags, { Name = "redis-${var.environment}-sg" })
}

resource "aws_vpc_security_group_ingress_rule" "redis_from_app" {
  security_group_id            = aws_security_group.redis.id
  description                  = "Redis (6379) from app-${var.environment}-sg"
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
  referenced_security_group_id = aws_security_group.app.id
}

# trivy AWS-0104: Seed: outbound all traffic (the cache has no public address).
#trivy:ignore:AWS-0104
resource "aws_vpc_security_group_egress_rule" "redis_all" {
  security_group_id = aws_security_group.redis.id
  description       = "All outbound traffic"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

################################################################################
# RDS PostgreSQL 15
################################################################################

resource "aws_db_subnet_group" "this" {
  name        = local.db_identifier
  description = "${local.db_identifier} subnets"
  subnet_ids  = local.subnet_ids
  tags        = local.tags
}

resource "aws_db_parameter_group" "this" {
  name        = local.db_identifier
  family      = "postgres15"
  description = "${local.db_identifier}: TLS required, DDL and slow queries logged"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
  parameter {
    name  = "log_statement"
    value = "ddl"
  }
  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }

  tags = local.tags
}

resource "aws_iam_role" "rds_monitoring" {
  name        = "${local.db_identifier}-monitoring"
  description = "RDS enhanced monitoring of ${local.db_identifier}"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "monitoring.rds.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = local.tags
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

resource "aws_cloudwatch_log_group" "rds" {
  #checkov:skip=CKV_AWS_338:Seed table: log retention is 7 days (staging) / 30 days (production), not a year.
  name              = local.db_log_group
  retention_in_days = local.log_retention
  kms_key_id        = aws_kms_key.this.arn
  tags              = local.tags
}

# trivy AWS-0177: Staging preset: deletion protection disabled by design (seed); production enables it.
# trivy AWS-0133: Staging preset: Performance Insights disabled for cost (seed); production enables it.
#trivy:ignore:AWS-0177
#trivy:ignore:AWS-0133
resource "aws_db_instance" "this" {
  #checkov:skip=CKV_AWS_293:Staging preset: deletion protection disabled by design (seed); production enables it, asserted by tests/modules.
  #checkov:skip=CKV_AWS_157:Staging preset: single AZ for cost (seed); production is Multi-AZ, asserted by tests/modules.
  #checkov:skip=CKV_AWS_353:Staging preset: Performance Insights disabled for cost (seed); production enables it, asserted by tests/modules.
  identifier     = local.db_identifier
  engine         = "postgres"
  engine_version = var.db_engine_version
  instance_class = coalesce(var.db_instance_class, local.preset.db_instance_class)

  allocated_storage     = var.db_allocated_storage
  max_allocated_storage = var.db_max_allocated_storage
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.this.arn

  db_name             = var.db_name
  username            = var.db_username
  password_wo         = var.db_password
  password_wo_version = var.db_password_version
  port                = 5432

  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.rds.id]
  parameter_group_name   = aws_db_parameter_group.this.name
  publicly_accessible    = false
  multi_az               = local.preset.multi_az

  backup_retention_period   = coalesce(var.db_backup_retention_period, local.preset.backup_retention)
  backup_window             = var.db_backup_window
  maintenance_window        = var.db_maintenance_window
  copy_tags_to_snapshot     = true
  skip_final_snapshot       = false
  final_snapshot_identifier = "${local.db_identifier}-final"
  deletion_protection       = local.preset.deletion_protection

  auto_minor_version_upgrade          = true
  iam_database_authentication_enabled = true
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]
  monitoring_interval                 = 60
  monitoring_role_arn                 = aws_iam_role.rds_monitoring.arn

  performance_insights_enabled          = local.preset.performance_insights
  performance_insights_kms_key_id       = local.preset.performance_insights ? aws_kms_key.this.arn : null
  performance_insights_retention_period = local.preset.performance_retention

  tags = local.tags

  depends_on = [aws_cloudwatch_log_group.rds]
}

################################################################################
# ElastiCache Redis 7
################################################################################

resource "aws_elasticache_subnet_group" "this" {
  name        = local.cache_id
  description = "${local.cache_id} subnets"
  subnet_ids  = local.subnet_ids
  tags        = local.tags
}

resource "aws_elasticache_parameter_group" "this" {
  name        = local.cache_id
  family      = "redis7"
  description = "${local.cache_id}: LRU eviction, idle connections closed after 300 s"

  parameter {
    name  = "maxmemory-policy"
    value = "allkeys-lru"
  }
  parameter {
    name  = "timeout"
    value = "300"
  }

  tags = local.tags
}

# trivy AWS-0045: Staging preset: no encryption at rest (seed); production encrypts at rest.
# trivy AWS-0051: Staging preset: no TLS (seed: network isolation only); production enables it.
#trivy:ignore:AWS-0045
#trivy:ignore:AWS-0051
resource "aws_elasticache_replication_group" "this" {
  #checkov:skip=CKV_AWS_29:Staging preset: no encryption at rest (seed: single cache.t3.micro node); production encrypts with the module's KMS key, asserted by tests/modules.
  #checkov:skip=CKV_AWS_30:Staging preset: no TLS (seed: network isolation only); production enables in-transit encryption, asserted by tests/modules.
  #checkov:skip=CKV2_AWS_50:Staging preset: one node, no automatic failover (seed: single node for cost); production runs two nodes with Multi-AZ failover, asserted by tests/modules.
  #checkov:skip=CKV_AWS_31:Redis AUTH is not used (seed: access restricted to the application security group); production adds TLS.
  #checkov:skip=CKV_AWS_191:Encrypted with the module's customer-managed key when encryption at rest is on (production).
  replication_group_id = local.cache_id
  description          = "Redis of ${local.prefix}"
  engine               = "redis"
  engine_version       = var.cache_engine_version
  node_type            = coalesce(var.cache_node_type, local.preset.cache_node_type)
  num_cache_clusters   = local.preset.cache_nodes
  port                 = 6379

  parameter_group_name = aws_elasticache_parameter_group.this.name
  subnet_group_name    = aws_elasticache_subnet_group.this.name
  security_group_ids   = [aws_security_group.redis.id]

  automatic_failover_enabled = local.preset.multi_az
  multi_az_enabled           = local.preset.multi_az
  at_rest_encryption_enabled = local.preset.cache_encryption
  kms_key_id                 = local.preset.cache_encryption ? aws_kms_key.this.arn : null
  transit_encryption_enabled = local.preset.cache_encryption

  snapshot_retention_limit   = coalesce(var.cache_snapshot_retention_limit, local.preset.cache_snapshots)
  snapshot_window            = var.cache_snapshot_window
  maintenance_window         = var.cache_maintenance_window
  auto_minor_version_upgrade = true

  tags = local.tags
}

################################################################################
# Secrets (7-day recovery window)
################################################################################

resource "aws_secretsmanager_secret" "admin_token" {
  #checkov:skip=CKV2_AWS_57:Rotated by bumping secret_version with a new admin_token; no rotation Lambda (seed: rotation not enabled).
  name                    = "${local.secret_prefix}/admin-token"
  description             = "Admin authentication token of ${local.prefix}"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = var.secret_recovery_window_in_days
  tags                    = local.tags
}

resource "aws_secretsmanager_secret" "database_url" {
  #checkov:skip=CKV2_AWS_57:Derived from the database password, rotated with db_password_version; no rotation Lambda (seed: rotation not enabled).
  name                    = "${local.secret_prefix}/database-url"
  description             = "PostgreSQL connection string of ${local.prefix}"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = var.secret_recovery_window_in_days
  tags                    = local.tags
}

resource "aws_secretsmanager_secret" "redis_url" {
  #checkov:skip=CKV2_AWS_57:Holds an endpoint, not a credential; nothing to rotate.
  name                    = "${local.secret_prefix}/redis-url"
  description             = "Redis connection string of ${local.prefix}"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = var.secret_recovery_window_in_days
  tags                    = local.tags
}

# Values are write-only: sent to AWS, never stored in state or shown in plans.
resource "aws_secretsmanager_secret_version" "admin_token" {
  secret_id                = aws_secretsmanager_secret.admin_token.id
  secret_string_wo         = var.admin_token
  secret_string_wo_version = var.secret_version

  lifecycle {
    precondition {
      condition     = length(var.admin_token) >= 32
      error_message = "admin_token must be at least 32 characters."
    }
  }
}

resource "aws_secretsmanager_secret_version" "database_url" {
  secret_id                = aws_secretsmanager_secret.database_url.id
  secret_string_wo         = "postgresql://${var.db_username}:${urlencode(var.db_password)}@${aws_db_instance.this.address}:5432/${var.db_name}?sslmode=require"
  secret_string_wo_version = var.secret_version + var.db_password_version
}

resource "aws_secretsmanager_secret_version" "redis_url" {
  secret_id                = aws_secretsmanager_secret.redis_url.id
  secret_string_wo         = local.redis_url
  secret_string_wo_version = var.secret_version
}

################################################################################
# Logs and alerts
################################################################################

resource "aws_cloudwatch_log_group" "app" {
  #checkov:skip=CKV_AWS_338:Seed table: log retention is 7 days (staging) / 30 days (production), not a year.
  name              = local.app_log_group
  retention_in_days = local.log_retention
  kms_key_id        = aws_kms_key.this.arn
  tags              = local.tags
}

resource "aws_sns_topic" "alerts" {
  name              = "${local.prefix}-alerts"
  kms_master_key_id = aws_kms_key.this.id
  tags              = local.tags
}

resource "aws_sns_topic_subscription" "email" {
  count     = var.alert_email == null ? 0 : 1
  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = var.alert_email
}

resource "aws_cloudwatch_metric_alarm" "rds_cpu" {
  alarm_name          = "${local.db_identifier}-high-cpu"
  alarm_description   = "RDS high CPU utilization on ${local.db_identifier}"
  namespace           = "AWS/RDS"
  metric_name         = "CPUUtilization"
  statistic           = "Average"
  period              = var.alarm_thresholds.period_seconds
  evaluation_periods  = var.alarm_thresholds.evaluation_periods
  threshold           = var.alarm_thresholds.rds_cpu_percent
  comparison_operator = "GreaterThanThreshold"
  dimensions          = { DBInstanceIdentifier = aws_db_instance.this.identifier }
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]
  tags                = local.tags
}

resource "aws_cloudwatch_metric_alarm" "rds_storage" {
  alarm_name          = "${local.db_identifier}-low-storage"
  alarm_description   = "RDS low storage space on ${local.db_identifier}"
  namespace           = "AWS/RDS"
  metric_name         = "FreeStorageSpace"
  statistic           = "Average"
  period              = var.alarm_thresholds.period_seconds
  evaluation_periods  = var.alarm_thresholds.evaluation_periods
  threshold           = var.alarm_thresholds.rds_free_storage_bytes
  comparison_operator = "LessThanThreshold"
  dimensions          = { DBInstanceIdentifier = aws_db_instance.this.identifier }
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]
  tags                = local.tags
}

resource "aws_cloudwatch_metric_alarm" "redis_memory" {
  alarm_name          = "${local.cache_id}-high-memory"
  alarm_description   = "Redis high memory usage on ${local.cache_id}"
  namespace           = "AWS/ElastiCache"
  metric_name         = "DatabaseMemoryUsagePercentage"
  statistic           = "Average"
  period              = var.alarm_thresholds.period_seconds
  evaluation_periods  = var.alarm_thresholds.evaluation_periods
  threshold           = var.alarm_thresholds.redis_memory_percent
  comparison_operator = "GreaterThanThreshold"
  dimensions          = { ReplicationGroupId = aws_elasticache_replication_group.this.id }
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]
  tags                = local.tags
}

################################################################################
# ECS on EC2
################################################################################

resource "aws_iam_role" "instance" {
  name        = "${local.prefix}-ecs-instance"
  description = "ECS container instances of ${local.prefix}"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = local.tags
}

resource "aws_iam_role_policy_attachment" "instance_ecs" {
  role       = aws_iam_role.instance.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"
}

resource "aws_iam_role_policy_attachment" "instance_ssm" {
  role       = aws_iam_role.instance.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "instance" {
  name = "${local.prefix}-ecs-instance"
  role = aws_iam_role.instance.name
  tags = local.tags
}

resource "aws_launch_template" "this" {
  name          = "${local.prefix}-ecs"
  description   = "ECS container instances of ${local.prefix}"
  image_id      = data.aws_ssm_parameter.ecs_ami.insecure_value
  instance_type = local.instance_type
  user_data     = base64encode("#!/bin/bash\necho ECS_CLUSTER=${local.prefix} >> /etc/ecs/ecs.config\n")

  iam_instance_profile {
    arn = aws_iam_instance_profile.instance.arn
  }

  vpc_security_group_ids = [aws_security_group.app.id]

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  monitoring {
    enabled = true
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size           = 30
      volume_type           = "gp3"
      encrypted             = true
      kms_key_id            = aws_kms_key.this.arn
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.tags, { Name = "${local.prefix}-ecs" })
  }

  tags = local.tags
}

resource "aws_autoscaling_group" "this" {
  name                  = "${local.prefix}-ecs"
  min_size              = local.desired_count
  max_size              = local.desired_count + 1
  desired_capacity      = local.desired_count
  vpc_zone_identifier   = local.subnet_ids
  protect_from_scale_in = false
  health_check_type     = "EC2"

  launch_template {
    id      = aws_launch_template.this.id
    version = "$Latest"
  }

  tag {
    key                 = "AmazonECSManaged"
    value               = "true"
    propagate_at_launch = true
  }

  dynamic "tag" {
    for_each = local.tags
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  lifecycle {
    ignore_changes = [desired_capacity]
  }
}

resource "aws_ecs_cluster" "this" {
  name = local.prefix

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  tags = local.tags
}

resource "aws_ecs_capacity_provider" "this" {
  name = "${local.prefix}-ec2"

  auto_scaling_group_provider {
    auto_scaling_group_arn         = aws_autoscaling_group.this.arn
    managed_termination_protection = "DISABLED"

    managed_scaling {
      status          = "ENABLED"
      target_capacity = 100
    }
  }

  tags = local.tags
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = [aws_ecs_capacity_provider.this.name]

  default_capacity_provider_strategy {
    capacity_provider = aws_ecs_capacity_provider.this.name
    weight            = 1
  }
}

resource "aws_iam_role" "task_execution" {
  name        = "${local.prefix}-task-execution"
  description = "Pulls the image, writes logs and reads the three secrets of ${local.prefix}"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = local.tags
}

resource "aws_iam_role_policy_attachment" "task_execution_ecs" {
  role       = aws_iam_role.task_execution.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

resource "aws_iam_policy" "task_execution_secrets" {
  name        = "${local.prefix}-task-secrets"
  description = "The three secrets of ${local.prefix}, decrypted through Secrets Manager only"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ReadOwnSecrets"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue"]
        Resource = [for s in values(local.secrets_by_name) : s.arn]
      },
      {
        Sid       = "DecryptViaSecretsManager"
        Effect    = "Allow"
        Action    = ["kms:Decrypt"]
        Resource  = aws_kms_key.this.arn
        Condition = { StringEquals = { "kms:ViaService" = "secretsmanager.${local.region}.amazonaws.com" } }
      },
    ]
  })
  tags = local.tags
}

resource "aws_iam_role_policy_attachment" "task_execution_secrets" {
  role       = aws_iam_role.task_execution.name
  policy_arn = aws_iam_policy.task_execution_secrets.arn
}

resource "aws_iam_role" "task" {
  name        = "${local.prefix}-task"
  description = "Runtime role of the ${local.prefix} containers (no permissions by default)"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = local.tags
}

resource "aws_ecs_task_definition" "this" {
  family                   = local.prefix
  network_mode             = "bridge"
  requires_compatibilities = ["EC2"]
  execution_role_arn       = aws_iam_role.task_execution.arn
  task_role_arn            = aws_iam_role.task.arn

  container_definitions = jsonencode([{
    name                   = "app"
    image                  = var.image
    essential              = true
    cpu                    = var.task_cpu
    memory                 = var.task_memory
    readonlyRootFilesystem = true
    portMappings           = [{ containerPort = var.app_port, hostPort = var.app_port, protocol = "tcp" }]
    environment = [for k, v in merge({ NODE_ENV = local.preset.node_env, PORT = tostring(var.app_port) }, var.environment_variables) : {
      name  = k
      value = v
    }]
    secrets = [
      { name = "ADMIN_TOKEN", valueFrom = aws_secretsmanager_secret.admin_token.arn },
      { name = "DATABASE_URL", valueFrom = aws_secretsmanager_secret.database_url.arn },
      { name = "REDIS_URL", valueFrom = aws_secretsmanager_secret.redis_url.arn },
    ]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.app.name
        awslogs-region        = local.region
        awslogs-stream-prefix = "app"
      }
    }
  }])

  tags = local.tags
}

resource "aws_ecs_service" "this" {
  name            = "${local.prefix}-service"
  cluster         = aws_ecs_cluster.this.id
  task_definition = aws_ecs_task_definition.this.arn
  desired_count   = local.desired_count

  capacity_provider_strategy {
    capacity_provider = aws_ecs_capacity_provider.this.name
    weight            = 1
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  tags = local.tags

  depends_on = [aws_ecs_cluster_capacity_providers.this, aws_iam_role_policy_attachment.task_execution_secrets]

  lifecycle {
    ignore_changes = [desired_count]
  }
}
