output "service_name" {
  description = "Name of the App Runner service (`<name>-<environment>`)."
  value       = aws_apprunner_service.this.service_name
}

output "service_arn" {
  description = "ARN of the App Runner service."
  value       = aws_apprunner_service.this.arn
}

output "service_id" {
  description = "ID App Runner gives the service (alarm dimension `ServiceID`)."
  value       = aws_apprunner_service.this.service_id
}

output "service_url" {
  description = "Default HTTPS host of the service (`xxxx.<region>.awsapprunner.com`)."
  value       = aws_apprunner_service.this.service_url
}

output "image_identifier" {
  description = "Image App Runner deploys (`<repository>:<tag>`)."
  value       = "${local.repository_url}:${local.image_tag}"
}

output "ecr_repository_url" {
  description = "URL of the ECR repository (created or reused)."
  value       = local.repository_url
}

output "ecr_access_role_arn" {
  description = "ARN of the role App Runner uses to pull images."
  value       = var.ecr_access_role_arn != null ? var.ecr_access_role_arn : aws_iam_role.ecr_access[0].arn
}

output "instance_role_arn" {
  description = "ARN of the service's runtime (instance) role."
  value       = aws_iam_role.instance.arn
}

output "config_secret_arn" {
  description = "ARN of the config secret (its values are never output)."
  value       = aws_secretsmanager_secret.config.arn
}

output "config_secret_name" {
  description = "Name of the config secret."
  value       = aws_secretsmanager_secret.config.name
}

output "db_instance_identifier" {
  description = "Identifier of the RDS instance, or null."
  value       = var.create_database ? aws_db_instance.this[0].identifier : null
}

output "db_instance_arn" {
  description = "ARN of the RDS instance, or null."
  value       = var.create_database ? aws_db_instance.this[0].arn : null
}

output "db_endpoint" {
  description = "`host:port` of the RDS instance, or null."
  value       = var.create_database ? aws_db_instance.this[0].endpoint : null
}

output "db_security_group_id" {
  description = "Security group of the database, or null."
  value       = var.create_database ? aws_security_group.db[0].id : null
}

output "vpc_connector_arn" {
  description = "ARN of the App Runner VPC connector."
  value       = aws_apprunner_vpc_connector.this.arn
}

output "kms_key_arn" {
  description = "ARN of the module's KMS key."
  value       = aws_kms_key.this.arn
}

output "alarm_topic_arn" {
  description = "SNS topic the alarms notify, or null."
  value       = var.create_alarms ? local.alarm_topic_arn : null
}

output "custom_domain_validation_records" {
  description = "DNS records that validate the custom domain's certificate (empty without a custom domain)."
  value       = var.custom_domain_name == null ? [] : aws_apprunner_custom_domain_association.this[0].certificate_validation_records
}

output "custom_domain_dns_target" {
  description = "CNAME target for the custom domain, or null."
  value       = var.custom_domain_name == null ? null : aws_apprunner_custom_domain_association.this[0].dns_target
}
