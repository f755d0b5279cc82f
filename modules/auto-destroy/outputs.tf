output "function_name" {
  description = "Name of the reaper Lambda function."
  value       = aws_lambda_function.reaper.function_name
}

output "function_arn" {
  description = "ARN of the reaper Lambda function."
  value       = aws_lambda_function.reaper.arn
}

output "role_arn" {
  description = "ARN of the function's execution role."
  value       = aws_iam_role.reaper.arn
}

output "schedule_arn" {
  description = "ARN of the EventBridge Scheduler schedule that runs the reaper."
  value       = aws_scheduler_schedule.reaper.arn
}

output "sns_topic_arn" {
  description = "The warning topic: set it as notify_topic_arn on staging_auto_destroy_policy."
  value       = local.topic_arn
}

output "log_group_name" {
  description = "CloudWatch Logs group with the reaper's JSON lines."
  value       = aws_cloudwatch_log_group.reaper.name
}

output "kms_key_arn" {
  description = "ARN of the KMS key encrypting the created topic, the log group and the schedule's input."
  value       = aws_kms_key.reaper.arn
}
