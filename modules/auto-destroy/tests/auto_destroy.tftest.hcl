# terraform test: the reaper's function, schedule and least-privilege role, against a mocked
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
  mock_resource "aws_sns_topic" {
    defaults = { arn = "arn:aws:sns:us-east-1:123456789012:stagecraft-reaper-warnings" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/stagecraft-reaper" }
  }
  mock_resource "aws_lambda_function" {
    defaults = { arn = "arn:aws:lambda:us-east-1:123456789012:function:stagecraft-reaper" }
  }
}

variables {
  # A placeholder zip: the module only hashes it.
  lambda_zip_path = "tests/fixtures/reaper.zip"
}

run "function_runtime_and_handler" {
  command = plan

  assert {
    condition     = aws_lambda_function.reaper.runtime == "provided.al2023" && aws_lambda_function.reaper.handler == "bootstrap"
    error_message = "the reaper is the provider binary as `bootstrap` on the provided.al2023 custom runtime"
  }
  assert {
    condition     = aws_lambda_function.reaper.function_name == "stagecraft-reaper" && aws_lambda_function.reaper.architectures == tolist(["x86_64"])
    error_message = "default name stagecraft-reaper, x86_64"
  }
  assert {
    condition     = aws_lambda_function.reaper.reserved_concurrent_executions == 1
    error_message = "one run at a time"
  }
  assert {
    condition     = aws_lambda_function.reaper.timeout == 900 && aws_lambda_function.reaper.memory_size == 256
    error_message = "defaults: 900 s, 256 MB"
  }
  assert {
    condition     = aws_lambda_function.reaper.tracing_config[0].mode == "Active"
    error_message = "X-Ray tracing is active"
  }
  assert {
    condition     = aws_lambda_function.reaper.source_code_hash == filebase64sha256("tests/fixtures/reaper.zip")
    error_message = "a new zip redeploys the function"
  }
  assert {
    condition     = aws_lambda_function_event_invoke_config.reaper.maximum_retry_attempts == 0
    error_message = "Lambda must not retry a failed asynchronous run"
  }
  assert {
    condition     = aws_cloudwatch_log_group.reaper.name == "/aws/lambda/stagecraft-reaper" && aws_cloudwatch_log_group.reaper.retention_in_days == 365
    error_message = "the function's log group, kept a year"
  }
}

run "schedule_defaults" {
  command = plan

  assert {
    condition     = aws_scheduler_schedule.reaper.schedule_expression == "rate(1 hour)" && aws_scheduler_schedule.reaper.schedule_expression_timezone == "UTC"
    error_message = "hourly by default, UTC"
  }
  assert {
    condition     = aws_scheduler_schedule.reaper.state == "ENABLED" && aws_scheduler_schedule.reaper.flexible_time_window[0].mode == "OFF"
    error_message = "enabled, on time"
  }
  assert {
    condition     = aws_scheduler_schedule.reaper.target[0].retry_policy[0].maximum_retry_attempts == 0
    error_message = "the scheduler never retries a run"
  }
  assert {
    condition     = jsondecode(aws_scheduler_schedule.reaper.target[0].input) == { dry_run = false }
    error_message = "the event carries dry_run = false by default"
  }
}

run "schedule_custom_disabled_dry_run" {
  command = plan

  variables {
    schedule_expression = "cron(0 7-19 ? * MON-FRI *)"
    schedule_timezone   = "Europe/Paris"
    enabled             = false
    dry_run             = true
  }

  assert {
    condition     = aws_scheduler_schedule.reaper.schedule_expression == "cron(0 7-19 ? * MON-FRI *)" && aws_scheduler_schedule.reaper.schedule_expression_timezone == "Europe/Paris"
    error_message = "schedule_expression and schedule_timezone reach the schedule"
  }
  assert {
    condition     = aws_scheduler_schedule.reaper.state == "DISABLED"
    error_message = "enabled = false disables the schedule"
  }
  assert {
    condition     = jsondecode(aws_scheduler_schedule.reaper.target[0].input).dry_run == true
    error_message = "dry_run reaches the event"
  }
}

run "least_privilege_role" {
  command = apply

  # Every action the execution role grants, exactly: the calls the reaper makes.
  assert {
    condition = toset(flatten([for s in data.aws_iam_policy_document.reaper.statement : tolist(s.actions)])) == toset([
      "logs:CreateLogStream", "logs:PutLogEvents",
      "tag:GetResources", "cloudwatch:GetMetricData", "apprunner:ListServices",
      "xray:PutTraceSegments", "xray:PutTelemetryRecords",
      "apprunner:DescribeService", "apprunner:ListTagsForResource", "rds:DescribeDBInstances", "secretsmanager:DescribeSecret",
      "apprunner:PauseService", "apprunner:ResumeService", "apprunner:DeleteService", "apprunner:TagResource", "apprunner:UntagResource",
      "rds:StopDBInstance", "rds:StartDBInstance", "rds:DeleteDBInstance", "rds:AddTagsToResource", "rds:RemoveTagsFromResource",
      "rds:CreateDBSnapshot",
      "ecs:DescribeServices", "ecs:UpdateService", "ecs:DeleteService", "ecs:TagResource", "ecs:UntagResource",
      "secretsmanager:DeleteSecret", "secretsmanager:TagResource", "secretsmanager:UntagResource",
      "sns:Publish",
      "kms:GenerateDataKey", "kms:Decrypt",
    ])
    error_message = "the execution role grants exactly the reaper's calls"
  }
  assert {
    condition     = alltrue([for s in data.aws_iam_policy_document.reaper.statement : alltrue([for a in s.actions : !strcontains(a, "*")])])
    error_message = "no wildcard actions"
  }
  # Only read-only calls without resource-level permissions may use Resource "*".
  assert {
    condition = alltrue([for s in data.aws_iam_policy_document.reaper.statement :
      !contains(tolist(s.resources), "*") || s.actions == toset(["tag:GetResources", "cloudwatch:GetMetricData", "apprunner:ListServices", "xray:PutTraceSegments", "xray:PutTelemetryRecords"])
    ])
    error_message = "only discovery, metrics and X-Ray may use Resource \"*\""
  }
  # Pausing, deleting and re-tagging need the stagecraft:auto-destroy tag on the target.
  assert {
    condition = alltrue([for s in data.aws_iam_policy_document.reaper.statement :
      length(s.condition) == 1 && one(s.condition).test == "Null" && one(s.condition).variable == "aws:ResourceTag/stagecraft:auto-destroy" && one(s.condition).values == tolist(["false"])
      if contains(["ActOnAppRunner", "ActOnRds", "ActOnSecrets", "ActOnEcs"], s.sid)
    ])
    error_message = "mutating calls are conditioned on the policy tag"
  }
  assert {
    condition     = length([for s in data.aws_iam_policy_document.reaper.statement : s if contains(["ActOnAppRunner", "ActOnRds", "ActOnSecrets", "ActOnEcs"], s.sid)]) == 4
    error_message = "App Runner, RDS, secrets and ECS each have their tag-conditioned statement"
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.reaper.statement : s.resources if s.sid == "FinalSnapshots"]) == toset(["arn:aws:rds:us-east-1:123456789012:snapshot:*-auto-destroy-*"])
    error_message = "snapshots only under the reaper's naming"
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.reaper.statement : s.resources if s.sid == "Warn"]) == toset(["arn:aws:sns:us-east-1:123456789012:stagecraft-reaper-warnings"])
    error_message = "sns:Publish only on the warning topic"
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.reaper.statement : s.resources if s.sid == "Logs"]) == toset(["arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/stagecraft-reaper:*"])
    error_message = "logs only in the function's own log group"
  }
  assert {
    condition     = toset(flatten([for s in data.aws_iam_policy_document.scheduler.statement : tolist(s.actions)])) == toset(["lambda:InvokeFunction", "kms:Decrypt"]) && one([for s in data.aws_iam_policy_document.scheduler.statement : s.resources if s.sid == "Invoke"]) == toset([aws_lambda_function.reaper.arn])
    error_message = "the scheduler role may only invoke the reaper (and read its encrypted input)"
  }
  assert {
    condition     = aws_scheduler_schedule.reaper.target[0].arn == aws_lambda_function.reaper.arn && aws_scheduler_schedule.reaper.target[0].role_arn == aws_iam_role.scheduler.arn
    error_message = "the schedule invokes the reaper with its own role"
  }
  assert {
    condition     = aws_sns_topic.warnings[0].kms_master_key_id == aws_kms_key.reaper.id && aws_cloudwatch_log_group.reaper.kms_key_id == aws_kms_key.reaper.arn && aws_scheduler_schedule.reaper.kms_key_arn == aws_kms_key.reaper.arn
    error_message = "topic, logs and schedule input are encrypted with the module's key"
  }
  assert {
    condition     = output.sns_topic_arn == aws_sns_topic.warnings[0].arn
    error_message = "sns_topic_arn is the created topic"
  }
}

run "existing_topic" {
  command = apply

  variables {
    create_sns_topic          = false
    sns_topic_arn             = "arn:aws:sns:us-east-1:123456789012:ops-warnings"
    additional_sns_topic_arns = ["arn:aws:sns:us-east-1:123456789012:team-chat"]
  }

  assert {
    condition     = length(aws_sns_topic.warnings) == 0 && output.sns_topic_arn == "arn:aws:sns:us-east-1:123456789012:ops-warnings"
    error_message = "an existing topic creates none"
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.reaper.statement : s.resources if s.sid == "Warn"]) == toset(["arn:aws:sns:us-east-1:123456789012:ops-warnings", "arn:aws:sns:us-east-1:123456789012:team-chat"])
    error_message = "sns:Publish on the given topics only"
  }
  assert {
    condition     = length([for s in data.aws_iam_policy_document.reaper.statement : s if s.sid == "WarnEncrypted"]) == 0
    error_message = "no KMS grant for the module's key when no topic is created"
  }
}

run "rejects_bad_schedule_expression" {
  command = plan

  variables {
    schedule_expression = "every hour"
  }

  expect_failures = [var.schedule_expression]
}

run "rejects_long_name" {
  command = plan

  variables {
    name = "a-name-that-is-far-too-long-for-the-scheduler-role-suffix"
  }

  expect_failures = [var.name]
}

run "rejects_no_topic" {
  command = plan

  variables {
    create_sns_topic = false
  }

  expect_failures = [var.sns_topic_arn]
}
