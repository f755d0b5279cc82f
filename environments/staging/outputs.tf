output "togetherhood_service_url" {
  description = "Default App Runner URL of togetherhood-app (staging)."
  value       = module.togetherhood.service_url
}

output "togetherhood_custom_domain_validation_records" {
  description = "DNS records to create for staging.togetherhood.com."
  value       = module.togetherhood.custom_domain_validation_records
}

output "togetherhood_config_secret_arn" {
  description = "ARN of togetherhood-app/staging/config (values are never output)."
  value       = module.togetherhood.config_secret_arn
}

output "whatsapp_saas_cluster_name" {
  description = "ECS cluster of whatsapp-saas (staging)."
  value       = module.whatsapp_saas.cluster_name
}

output "whatsapp_saas_secret_arns" {
  description = "ARNs of the whatsapp-saas secrets (values are never output)."
  value       = module.whatsapp_saas.secret_arns
}

output "sns_topic_arn" {
  description = "Alerts topic of whatsapp-saas (staging)."
  value       = module.whatsapp_saas.sns_topic_arn
}

output "auto_destroy" {
  description = "Auto-destroy settings of whatsapp-saas (staging)."
  value       = module.whatsapp_saas.auto_destroy
}
