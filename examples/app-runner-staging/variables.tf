variable "region" {
  description = "AWS region."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Name of the staging environment (and its App Runner service)."
  type        = string
  default     = "togetherhood-app-staging"
}

variable "production_service_arn" {
  description = "Production App Runner service to mirror; null to configure the image yourself."
  type        = string
  default     = null
}

variable "image_repository" {
  description = "ECR repository URI (used when production_service_arn is null)."
  type        = string
  default     = "123456789012.dkr.ecr.us-east-1.amazonaws.com/togetherhood-app"
}

variable "ecr_access_role_arn" {
  description = "Role App Runner uses to pull from ECR (used when production_service_arn is null)."
  type        = string
  default     = "arn:aws:iam::123456789012:role/TogetherhoodAppRunnerECRAccessRole"
}

variable "staging_secret_values" {
  description = "Sandbox values for the staging secret, by key. Pass them via TF_VAR_ or an ephemeral source, never a committed file."
  type        = map(string)
  sensitive   = true
  ephemeral   = true
}

variable "staging_secret_version" {
  description = "Bump to push new staging_secret_values."
  type        = number
  default     = 1
}
