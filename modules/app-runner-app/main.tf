# App Runner application, seed 000: ECR image -> App Runner service, RDS MySQL 8, a Secrets
# Manager config secret, least-privilege IAM roles, a health-check alarm and an optional custom
# domain. `environment` picks the seed's staging or production column.

locals {
  presets = {
    staging = {
      cpu                  = "0.5 vCPU"
      memory               = "1 GB"
      db_instance_class    = "db.t3.micro"
      backup_retention     = 7
      image_tag            = "staging"
      environment_tag      = "Staging"
      aspnetcore           = "Staging"
      recovery_window      = 7
      deletion_protection  = false
      multi_az             = false
      performance_insights = false
      kms_deletion_window  = 7
    }
    production = {
      cpu                  = "1 vCPU"
      memory               = "2 GB"
      db_instance_class    = "db.t3.large"
      backup_retention     = 30
      image_tag            = "prod"
      environment_tag      = "Production"
      aspnetcore           = "Production"
      recovery_window      = 30
      deletion_protection  = true
      multi_az             = true
      performance_insights = true
      kms_deletion_window  = 30
    }
  }
  preset = local.presets[var.environment]

  service_name     = "${var.name}-${var.environment}"
  repository_name  = coalesce(var.ecr_repository_name, var.name)
  repository_url   = var.create_ecr_repository ? aws_ecr_repository.this[0].repository_url : data.aws_ecr_repository.existing[0].repository_url
  repository_arn   = var.create_ecr_repository ? aws_ecr_repository.this[0].arn : data.aws_ecr_repository.existing[0].arn
  image_tag        = coalesce(var.image_tag, local.preset.image_tag)
  secret_name      = coalesce(var.config_secret_name, "${var.name}/${var.environment}/config")
  db_identifier    = coalesce(var.db_identifier, "${var.name}-${var.environment}-db")
  db_instance      = coalesce(var.db_instance_class, local.preset.db_instance_class)
  backup_retention = coalesce(var.db_backup_retention_period, local.preset.backup_retention)
  recovery_window  = var.secret_recovery_window_in_days != null ? var.secret_recovery_window_in_days : local.preset.recovery_window

  vpc_id     = var.vpc_id != null ? var.vpc_id : data.aws_vpc.default[0].id
  subnet_ids = var.subnet_ids != null ? var.subnet_ids : data.aws_subnets.this[0].ids

  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.region
  partition  = data.aws_partition.current.partition

  create_alarm_topic = var.create_alarms && var.alarm_sns_topic_arn == null
  alarm_topic_arn    = local.create_alarm_topic ? aws_sns_topic.alerts[0].arn : var.alarm_sns_topic_arn

  tags = merge(var.tags, {
    Environment = local.preset.environment_tag
    Application = var.application_tag
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

################################################################################
# KMS: one key for the secret, the database, Performance Insights, ECR and alerts
################################################################################

resource "aws_kms_key" "this" {
  description             = "${local.service_name}: secrets, database, image repository and alerts"
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
  name          = "alias/${local.service_name}"
  target_key_id = aws_kms_key.this.key_id
}

################################################################################
# Image repository
################################################################################

data "aws_ecr_repository" "existing" {
  count = var.create_ecr_repository ? 0 : 1
  name  = local.repository_name
}

# trivy AWS-0031: Deploy-by-tag is the seed's workflow: CI re-pushes the `staging`/`prod` tag, so tags must be mutable.
#trivy:ignore:AWS-0031
resource "aws_ecr_repository" "this" {
  #checkov:skip=CKV_AWS_51:Deploy-by-tag is the seed's workflow: CI re-pushes the `staging`/`prod` tag and App Runner redeploys it, so tags must be mutable.
  count                = var.create_ecr_repository ? 1 : 0
  name                 = local.repository_name
  image_tag_mutability = "MUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.this.arn
  }

  tags = local.tags
}

resource "aws_ecr_lifecycle_policy" "this" {
  count      = var.create_ecr_repository ? 1 : 0
  repository = aws_ecr_repository.this[0].name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Expire untagged images after 14 days"
      selection = {
        tagStatus   = "untagged"
        countType   = "sinceImagePushed"
        countUnit   = "days"
        countNumber = 14
      }
      action = { type = "expire" }
    }]
  })
}

################################################################################
# IAM: ECR access role (build.apprunner) and instance role (tasks.apprunner)
################################################################################

resource "aws_iam_role" "ecr_access" {
  count       = var.ecr_access_role_arn == null ? 1 : 0
  name        = "${local.service_name}-ecr-access"
  description = "App Runner pulls ${local.repository_name} images"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "build.apprunner.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = local.tags
}

resource "aws_iam_policy" "ecr_access" {
  count       = var.ecr_access_role_arn == null ? 1 : 0
  name        = "${local.service_name}-ecr-access"
  description = "Pull ${local.repository_name} images (and nothing else)"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "Authenticate"
        Effect   = "Allow"
        Action   = ["ecr:GetAuthorizationToken"]
        Resource = "*"
      },
      {
        Sid      = "PullThisRepository"
        Effect   = "Allow"
        Action   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:DescribeImages", "ecr:GetDownloadUrlForLayer"]
        Resource = local.repository_arn
      },
      {
        Sid      = "DecryptLayers"
        Effect   = "Allow"
        Action   = ["kms:Decrypt"]
        Resource = aws_kms_key.this.arn
      },
    ]
  })
  tags = local.tags
}

resource "aws_iam_role_policy_attachment" "ecr_access" {
  count      = var.ecr_access_role_arn == null ? 1 : 0
  role       = aws_iam_role.ecr_access[0].name
  policy_arn = aws_iam_policy.ecr_access[0].arn
}

resource "aws_iam_role" "instance" {
  name        = "${local.service_name}-instance"
  description = "Runtime role of the ${local.service_name} App Runner service"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "tasks.apprunner.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = local.tags
}

resource "aws_iam_policy" "instance" {
  name        = "${local.service_name}-instance"
  description = "${local.service_name}: its own config secret, its uploads bucket, KMS only via Secrets Manager"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [{
        Sid      = "ReadOwnConfigSecret"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
        Resource = aws_secretsmanager_secret.config.arn
      }],
      var.uploads_bucket_name == null ? [] : [{
        Sid      = "UploadsBucketObjects"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
        Resource = "arn:${local.partition}:s3:::${var.uploads_bucket_name}/*"
      }],
      [{
        Sid       = "DecryptViaSecretsManager"
        Effect    = "Allow"
        Action    = ["kms:Decrypt", "kms:DescribeKey"]
        Resource  = aws_kms_key.this.arn
        Condition = { StringEquals = { "kms:ViaService" = "secretsmanager.${local.region}.amazonaws.com" } }
      }],
    )
  })
  tags = local.tags
}

resource "aws_iam_role_policy_attachment" "instance" {
  role       = aws_iam_role.instance.name
  policy_arn = aws_iam_policy.instance.arn
}

################################################################################
# Config secret
################################################################################

resource "aws_secretsmanager_secret" "config" {
  #checkov:skip=CKV2_AWS_57:Holds third-party API keys (SendGrid, Twilio, Tipalti) rotated by their issuers; Secrets Manager rotation would need one rotation Lambda per issuer.
  name                    = local.secret_name
  description             = "${title(var.environment)} configuration for ${var.name}"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = local.recovery_window
  tags                    = local.tags
}

# Values are write-only: sent to AWS, never stored in state or shown in plans.
resource "aws_secretsmanager_secret_version" "config" {
  secret_id = aws_secretsmanager_secret.config.id
  secret_string_wo = jsonencode(merge(
    var.config_secret_values == null ? {} : var.config_secret_values,
    var.create_database ? {
      ConnectionStrings__DefaultConnection = "Server=${aws_db_instance.this[0].address};Port=3306;Database=${var.db_name};User=${var.db_username};Password=${var.db_password == null ? "" : var.db_password};SslMode=Required"
    } : {},
  ))
  secret_string_wo_version = var.config_secret_version
}

################################################################################
# Database: RDS MySQL 8
################################################################################

resource "aws_db_subnet_group" "this" {
  count       = var.create_database ? 1 : 0
  name        = local.db_identifier
  description = "${local.db_identifier} subnets"
  subnet_ids  = local.subnet_ids
  tags        = local.tags
}

resource "aws_db_parameter_group" "this" {
  count       = var.create_database ? 1 : 0
  name        = local.db_identifier
  family      = "mysql8.0"
  description = "${local.db_identifier}: TLS required"

  parameter {
    name  = "require_secure_transport"
    value = "1"
  }

  tags = local.tags
}

resource "aws_security_group" "connector" {
  name        = "${local.service_name}-connector"
  description = "App Runner VPC connector of ${local.service_name}"
  vpc_id      = local.vpc_id
  tags        = merge(local.tags, { Name = "${local.service_name}-connector" })
}

resource "aws_vpc_security_group_egress_rule" "connector_to_db" {
  count                        = var.create_database ? 1 : 0
  security_group_id            = aws_security_group.connector.id
  description                  = "MySQL to the ${local.db_identifier} database"
  ip_protocol                  = "tcp"
  from_port                    = 3306
  to_port                      = 3306
  referenced_security_group_id = aws_security_group.db[0].id
}

# trivy AWS-0104: the service calls third-party HTTPS APIs (SendGrid, Twilio, Tipalti) and AWS endpoints.
#trivy:ignore:AWS-0104
resource "aws_vpc_security_group_egress_rule" "connector_https" {
  security_group_id = aws_security_group.connector.id
  description       = "HTTPS to AWS APIs and the third-party services in the config secret"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_security_group" "db" {
  count       = var.create_database ? 1 : 0
  name        = "${local.db_identifier}-sg"
  description = "MySQL of ${local.service_name}, reachable from its App Runner VPC connector only"
  vpc_id      = local.vpc_id
  tags        = merge(local.tags, { Name = "${local.db_identifier}-sg" })
}

resource "aws_vpc_security_group_ingress_rule" "db_from_connector" {
  count                        = var.create_database ? 1 : 0
  security_group_id            = aws_security_group.db[0].id
  description                  = "MySQL from the ${local.service_name} VPC connector"
  ip_protocol                  = "tcp"
  from_port                    = 3306
  to_port                      = 3306
  referenced_security_group_id = aws_security_group.connector.id
}

resource "aws_iam_role" "monitoring" {
  count       = var.create_database ? 1 : 0
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

resource "aws_iam_role_policy_attachment" "monitoring" {
  count      = var.create_database ? 1 : 0
  role       = aws_iam_role.monitoring[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

# trivy AWS-0177: Staging preset: no deletion protection by design; production enables it (asserted by tests/modules).
# trivy AWS-0133: Staging preset: Performance Insights off for cost; production enables it (asserted by tests/modules).
#trivy:ignore:AWS-0177
#trivy:ignore:AWS-0133
resource "aws_db_instance" "this" {
  #checkov:skip=CKV_AWS_293:Staging preset: no deletion protection by design (staging is torn down and rebuilt); the production preset enables it, asserted by tests/modules.
  #checkov:skip=CKV_AWS_157:Staging preset: single AZ for cost (seed); the production preset is Multi-AZ, asserted by tests/modules.
  #checkov:skip=CKV_AWS_353:Staging preset: Performance Insights off for cost (db.t3.micro); the production preset enables it, asserted by tests/modules.
  count = var.create_database ? 1 : 0

  identifier     = local.db_identifier
  engine         = "mysql"
  engine_version = var.db_engine_version
  instance_class = local.db_instance

  allocated_storage = var.db_allocated_storage
  storage_type      = "gp3"
  storage_encrypted = true
  kms_key_id        = aws_kms_key.this.arn

  db_name             = var.db_name
  username            = var.db_username
  password_wo         = var.db_password
  password_wo_version = var.db_password_version

  db_subnet_group_name   = aws_db_subnet_group.this[0].name
  vpc_security_group_ids = [aws_security_group.db[0].id]
  parameter_group_name   = aws_db_parameter_group.this[0].name
  publicly_accessible    = false
  multi_az               = local.preset.multi_az

  backup_retention_period   = local.backup_retention
  backup_window             = var.db_backup_window
  maintenance_window        = var.db_maintenance_window
  copy_tags_to_snapshot     = true
  skip_final_snapshot       = false
  final_snapshot_identifier = "${local.db_identifier}-final"
  deletion_protection       = local.preset.deletion_protection

  auto_minor_version_upgrade          = true
  iam_database_authentication_enabled = true
  enabled_cloudwatch_logs_exports     = ["error", "general", "slowquery"]
  monitoring_interval                 = 60
  monitoring_role_arn                 = aws_iam_role.monitoring[0].arn

  performance_insights_enabled          = local.preset.performance_insights
  performance_insights_kms_key_id       = local.preset.performance_insights ? aws_kms_key.this.arn : null
  performance_insights_retention_period = local.preset.performance_insights ? 7 : null

  tags = local.tags

  lifecycle {
    precondition {
      condition     = var.db_password != null
      error_message = "db_password is required when create_database is true (pass it as TF_VAR_db_password; it is ephemeral and never stored)."
    }
  }
}

################################################################################
# App Runner service
################################################################################

resource "aws_apprunner_vpc_connector" "this" {
  vpc_connector_name = local.service_name
  subnets            = local.subnet_ids
  security_groups    = [aws_security_group.connector.id]
  tags               = local.tags
}

resource "aws_apprunner_service" "this" {
  service_name = local.service_name

  source_configuration {
    auto_deployments_enabled = var.auto_deployments_enabled

    authentication_configuration {
      access_role_arn = var.ecr_access_role_arn != null ? var.ecr_access_role_arn : aws_iam_role.ecr_access[0].arn
    }

    image_repository {
      image_identifier      = "${local.repository_url}:${local.image_tag}"
      image_repository_type = "ECR"

      image_configuration {
        port = tostring(var.port)
        runtime_environment_variables = merge(
          { ASPNETCORE_ENVIRONMENT = local.preset.aspnetcore },
          var.runtime_environment_variables,
        )
        runtime_environment_secrets = {
          for key in var.runtime_secret_keys : key => "${aws_secretsmanager_secret.config.arn}:${key}::"
        }
      }
    }
  }

  instance_configuration {
    cpu               = coalesce(var.cpu, local.preset.cpu)
    memory            = coalesce(var.memory, local.preset.memory)
    instance_role_arn = aws_iam_role.instance.arn
  }

  health_check_configuration {
    protocol            = var.health_check.protocol
    path                = var.health_check.path
    interval            = var.health_check.interval
    timeout             = var.health_check.timeout
    healthy_threshold   = var.health_check.healthy_threshold
    unhealthy_threshold = var.health_check.unhealthy_threshold
  }

  network_configuration {
    egress_configuration {
      egress_type       = "VPC"
      vpc_connector_arn = aws_apprunner_vpc_connector.this.arn
    }
    ingress_configuration {
      is_publicly_accessible = true
    }
  }

  encryption_configuration {
    kms_key = aws_kms_key.this.arn
  }

  tags = local.tags

  depends_on = [aws_iam_role_policy_attachment.instance, aws_iam_role_policy_attachment.ecr_access]
}

resource "aws_apprunner_custom_domain_association" "this" {
  count                = var.custom_domain_name == null ? 0 : 1
  domain_name          = var.custom_domain_name
  service_arn          = aws_apprunner_service.this.arn
  enable_www_subdomain = false
}

################################################################################
# Alarms
################################################################################

resource "aws_sns_topic" "alerts" {
  count             = local.create_alarm_topic ? 1 : 0
  name              = "${local.service_name}-alerts"
  kms_master_key_id = aws_kms_key.this.id
  tags              = local.tags
}

resource "aws_sns_topic_subscription" "email" {
  count     = local.create_alarm_topic && var.alarm_email != null ? 1 : 0
  topic_arn = aws_sns_topic.alerts[0].arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

resource "aws_cloudwatch_metric_alarm" "health_check_failed" {
  count               = var.create_alarms ? 1 : 0
  alarm_name          = "${local.service_name}-health-check-failed"
  alarm_description   = "${title(var.environment)} health check failing"
  namespace           = "AWS/AppRunner"
  metric_name         = "HealthChecksFailed"
  statistic           = "Average"
  period              = 300
  threshold           = 1
  comparison_operator = "GreaterThanThreshold"
  evaluation_periods  = 2
  treat_missing_data  = "notBreaching"
  dimensions = {
    ServiceName = aws_apprunner_service.this.service_name
    ServiceID   = aws_apprunner_service.this.service_id
  }
  alarm_actions = [local.alarm_topic_arn]
  ok_actions    = [local.alarm_topic_arn]
  tags          = local.tags
}
