output "service_url" {
  description = "HTTPS URL of the staging service."
  value       = staging_environment.app.service_url
}

output "database_endpoint" {
  description = "Host of the staging database."
  value       = staging_environment.app.database_endpoint
}

output "secret_arn" {
  description = "ARN of the staging secret."
  value       = staging_environment.app.secret_arn
}
