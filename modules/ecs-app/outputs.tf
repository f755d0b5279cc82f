output "cluster_name" {
  description = "ECS cluster name (`<name>-<environment>`)."
  value       = aws_ecs_cluster.this.name
}

output "service_name" {
  description = "ECS service name."
  value       = aws_ecs_service.this.name
}

output "task_definition_family" {
  description = "Task definition family."
  value       = aws_ecs_task_definition.this.family
}

output "db_instance_identifier" {
  description = "RDS instance identifier."
  value       = aws_db_instance.this.identifier
}

output "db_endpoint" {
  description = "`host:port` of the PostgreSQL instance."
  value       = aws_db_instance.this.endpoint
}

output "redis_primary_endpoint" {
  description = "Primary endpoint address of the Redis replication group."
  value       = aws_elasticache_replication_group.this.primary_endpoint_address
}

output "secret_arns" {
  description = "ARNs of the three secrets by name (`admin-token`, `database-url`, `redis-url`); values are never output."
  value       = { for k, s in local.secrets_by_name : k => s.arn }
}

output "app_security_group_id" {
  description = "Security group of the application instances."
  value       = aws_security_group.app.id
}

output "rds_security_group_id" {
  description = "Security group of the database."
  value       = aws_security_group.rds.id
}

output "redis_security_group_id" {
  description = "Security group of the cache."
  value       = aws_security_group.redis.id
}

output "log_group_name" {
  description = "Application log group."
  value       = aws_cloudwatch_log_group.app.name
}

output "sns_topic_arn" {
  description = "SNS topic of the alerts."
  value       = aws_sns_topic.alerts.arn
}

output "kms_key_arn" {
  description = "ARN of the module's KMS key."
  value       = aws_kms_key.this.arn
}

output "auto_destroy" {
  description = "Auto-destroy settings for the reaper (modules/auto-destroy): whether it is enabled and after how many idle days."
  value = {
    enabled   = local.auto_destroy
    idle_days = var.auto_destroy_idle_days
  }
}
