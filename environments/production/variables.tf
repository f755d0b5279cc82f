variable "region" {
  description = "AWS region."
  type        = string
  default     = "us-east-1"
}

variable "alert_email" {
  description = "E-mail address subscribed to the alerts topics; null for none."
  type        = string
  default     = null
}

variable "allowed_ssh_cidr" {
  description = "CIDR allowed to SSH to the ECS instances of whatsapp-saas."
  type        = string
}

variable "whatsapp_saas_image" {
  description = "Container image of whatsapp-saas (`<account>.dkr.ecr.<region>.amazonaws.com/whatsapp-saas:<tag>`)."
  type        = string
}

# Secrets: never in files. Pass them as environment variables from your secret store, e.g.
#   export TF_VAR_togetherhood_db_password=... TF_VAR_whatsapp_saas_db_password=... TF_VAR_whatsapp_saas_admin_token=...
# They are ephemeral: Terraform sends them to write-only arguments and never stores them.

variable "togetherhood_db_password" {
  description = "Master password of the togetherhood MySQL database."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "togetherhood_config" {
  description = "Values of the togetherhood-app/production/config secret by key (production API keys). Null leaves them to be set outside Terraform."
  type        = map(string)
  default     = null
  sensitive   = true
  ephemeral   = true
}

variable "whatsapp_saas_db_password" {
  description = "Master password of the whatsapp-saas PostgreSQL database."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "whatsapp_saas_admin_token" {
  description = "Admin token of whatsapp-saas (at least 32 characters)."
  type        = string
  sensitive   = true
  ephemeral   = true
}
