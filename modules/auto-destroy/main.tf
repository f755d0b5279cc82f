# The reaper (terraform-provider-staging, `reaper` mode) as a scheduled Lambda custom runtime.
# It finds staging_auto_destroy_policy tags in this account and region, reads CloudWatch,
# warns over SNS, and pauses or destroys (with final snapshots) what is due.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.region
  topic_arn = var.create_sns_topic ? aws_sns_topic.warnings[0].arn : var.sns_topic_arn
  topics    = compact(concat([local.topic_arn], var.additional_sns_topic_arns))

  log_group_name = "/aws/lambda/${var.name}"
  log_group_arn  = "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:${local.log_group_name}"

  # Mutating calls are allowed only on objects that carry a policy tag.
  tagged = {
    test     = "Null"
    variable = "aws:ResourceTag/stagecraft:auto-destroy"
    values   = ["false"]
  }
}

# --- Encryption: one key for the warning topic, the log group and the schedule's input ---------

resource "aws_kms_key" "reaper" {
  description             = "${var.name}: stagecraft reaper warnings, logs and schedule"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # IAM policies in the account decide who else uses the key (the roles below).
        Sid       = "AccountAdministers"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsEncrypt"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = { ArnEquals = { "kms:EncryptionContext:aws:logs:arn" = local.log_group_arn } }
      },
    ]
  })
  tags = var.tags
}

resource "aws_kms_alias" "reaper" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.reaper.key_id
}

resource "aws_sns_topic" "warnings" {
  count = var.create_sns_topic ? 1 : 0

  name              = "${var.name}-warnings"
  kms_master_key_id = aws_kms_key.reaper.id
  tags              = var.tags
}

resource "aws_cloudwatch_log_group" "reaper" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.reaper.arn
  tags              = var.tags
}

# --- Execution role: exactly the calls the reaper makes -------------------------------------

data "aws_iam_policy_document" "assume_lambda" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "reaper" {
  name               = var.name
  assume_role_policy = data.aws_iam_policy_document.assume_lambda.json
  tags               = var.tags
}

data "aws_iam_policy_document" "reaper" {
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.reaper.arn}:*"]
  }

  # Read-only discovery and metrics, plus X-Ray segments (tracing is on); these APIs have no
  # resource-level permissions.
  statement {
    sid = "Discover"
    actions = [
      "tag:GetResources",
      "cloudwatch:GetMetricData",
      "apprunner:ListServices",
      "xray:PutTraceSegments",
      "xray:PutTelemetryRecords",
    ]
    resources = ["*"]
  }

  statement {
    sid = "ReadTargets"
    actions = [
      "apprunner:DescribeService",
      "apprunner:ListTagsForResource",
      "rds:DescribeDBInstances",
      "secretsmanager:DescribeSecret",
      "ecs:DescribeServices",
    ]
    resources = [
      "arn:${local.partition}:apprunner:${local.region}:${local.account}:service/*",
      "arn:${local.partition}:rds:${local.region}:${local.account}:db:*",
      "arn:${local.partition}:ecs:${local.region}:${local.account}:service/*",
      "arn:${local.partition}:secretsmanager:${local.region}:${local.account}:secret:*",
    ]
  }

  statement {
    sid = "ActOnAppRunner"
    actions = [
      "apprunner:PauseService",
      "apprunner:ResumeService",
      "apprunner:DeleteService",
      "apprunner:TagResource",
      "apprunner:UntagResource",
    ]
    resources = ["arn:${local.partition}:apprunner:${local.region}:${local.account}:service/*"]
    condition {
      test     = local.tagged.test
      variable = local.tagged.variable
      values   = local.tagged.values
    }
  }

  statement {
    sid = "ActOnRds"
    actions = [
      "rds:StopDBInstance",
      "rds:StartDBInstance",
      "rds:DeleteDBInstance",
      "rds:AddTagsToResource",
      "rds:RemoveTagsFromResource",
    ]
    resources = ["arn:${local.partition}:rds:${local.region}:${local.account}:db:*"]
    condition {
      test     = local.tagged.test
      variable = local.tagged.variable
      values   = local.tagged.values
    }
  }

  # ECS services: pause = desired count 0 (the old count kept in a tag), destroy = scale to 0
  # and DeleteService.
  statement {
    sid = "ActOnEcs"
    actions = [
      "ecs:UpdateService",
      "ecs:DeleteService",
      "ecs:TagResource",
      "ecs:UntagResource",
    ]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account}:service/*"]
    condition {
      test     = local.tagged.test
      variable = local.tagged.variable
      values   = local.tagged.values
    }
  }

  # The final snapshot taken by DeleteDBInstance.
  statement {
    sid       = "FinalSnapshots"
    actions   = ["rds:CreateDBSnapshot", "rds:AddTagsToResource"]
    resources = ["arn:${local.partition}:rds:${local.region}:${local.account}:snapshot:*-auto-destroy-*"]
  }

  statement {
    sid = "ActOnSecrets"
    actions = [
      "secretsmanager:DeleteSecret",
      "secretsmanager:TagResource",
      "secretsmanager:UntagResource",
    ]
    resources = ["arn:${local.partition}:secretsmanager:${local.region}:${local.account}:secret:*"]
    condition {
      test     = local.tagged.test
      variable = local.tagged.variable
      values   = local.tagged.values
    }
  }

  dynamic "statement" {
    for_each = length(local.topics) > 0 ? [1] : []
    content {
      sid       = "Warn"
      actions   = ["sns:Publish"]
      resources = local.topics
    }
  }

  # Publishing to the created topic, which is encrypted with the module's key.
  dynamic "statement" {
    for_each = var.create_sns_topic ? [1] : []
    content {
      sid       = "WarnEncrypted"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [aws_kms_key.reaper.arn]
    }
  }
}

resource "aws_iam_role_policy" "reaper" {
  name   = "reaper"
  role   = aws_iam_role.reaper.id
  policy = data.aws_iam_policy_document.reaper.json
}

# --- The function ---------------------------------------------------------------------------

resource "aws_lambda_function" "reaper" {
  #checkov:skip=CKV_AWS_116:No dead-letter queue by design: a failed run is never replayed (retries are 0); the next scheduled run re-reads the current state, and the failure is in the log group.
  #checkov:skip=CKV_AWS_117:The reaper calls only public AWS APIs; a VPC would need a NAT gateway or one interface endpoint per service for no isolation gain.
  #checkov:skip=CKV_AWS_272:The zip is the provider binary built by the user (README, "Building the zip"); there is no AWS Signer profile to validate it against.
  function_name    = var.name
  description      = "stagecraft reaper: pauses or destroys idle staging environments (staging_auto_destroy_policy)"
  role             = aws_iam_role.reaper.arn
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = [var.architecture]
  filename         = var.lambda_zip_path
  source_code_hash = filebase64sha256(var.lambda_zip_path)
  timeout          = var.timeout
  memory_size      = var.memory_size
  # One run at a time: two overlapping runs could both act on the same policy.
  reserved_concurrent_executions = 1

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.reaper.name
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.reaper]
}

# The schedule invokes asynchronously: Lambda would retry a failed run twice on its own.
resource "aws_lambda_function_event_invoke_config" "reaper" {
  function_name          = aws_lambda_function.reaper.function_name
  maximum_retry_attempts = 0
}

# --- The schedule ---------------------------------------------------------------------------

data "aws_iam_policy_document" "assume_scheduler" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  name               = "${var.name}-scheduler"
  assume_role_policy = data.aws_iam_policy_document.assume_scheduler.json
  tags               = var.tags
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    sid       = "Invoke"
    actions   = ["lambda:InvokeFunction"]
    resources = [aws_lambda_function.reaper.arn]
  }

  # The schedule's target input is encrypted with the module's key.
  statement {
    sid       = "DecryptInput"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.reaper.arn]
  }
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "invoke-reaper"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}

resource "aws_scheduler_schedule" "reaper" {
  name                         = var.name
  description                  = "Runs the stagecraft reaper"
  schedule_expression          = var.schedule_expression
  schedule_expression_timezone = var.schedule_timezone
  state                        = var.enabled ? "ENABLED" : "DISABLED"
  kms_key_arn                  = aws_kms_key.reaper.arn

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_lambda_function.reaper.arn
    role_arn = aws_iam_role.scheduler.arn
    input    = jsonencode({ dry_run = var.dry_run })

    retry_policy {
      # A failed run is retried by the next scheduled one; never twice in a row.
      maximum_retry_attempts = 0
    }
  }

  depends_on = [aws_iam_role_policy.scheduler]
}
