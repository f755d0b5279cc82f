################################################################################
# Identity and presets
################################################################################

variable "name" {
  description = "Application name (e.g. `togetherhood-app`). The service is named `<name>-<environment>`."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,28}[a-z0-9]$", var.name))
    error_message = "name must be 3-30 characters of lowercase letters, digits and hyphens, starting with a letter (App Runner service names are at most 40 characters)."
  }
}

variable "environment" {
  description = "Which preset of the seed's table to apply: `staging` (0.5 vCPU / 1 GB, db.t3.micro, 7 days of backups, `staging` image tag) or `production` (1 vCPU / 2 GB, db.t3.large, 30 days, `prod` tag)."
  type        = string

  validation {
    condition     = contains(["staging", "production"], var.environment)
    error_message = "environment must be \"staging\" or \"production\"."
  }
}

variable "application_tag" {
  description = "Value of the `Application` tag on every resource (the seed uses `TogetherhoodApp`)."
  type        = string
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}

################################################################################
# Image
################################################################################

variable "create_ecr_repository" {
  description = "Create the ECR repository (production usually does). When false, `ecr_repository_name` must name an existing repository (staging reuses production's)."
  type        = bool
  default     = true
}

variable "ecr_repository_name" {
  description = "Name of the ECR repository to create or reuse. Defaults to `name`."
  type        = string
  default     = null
}

variable "image_tag" {
  description = "Image tag App Runner deploys. Defaults to the preset: `staging` or `prod`."
  type        = string
  default     = null

  validation {
    condition     = var.image_tag == null || can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag))
    error_message = "image_tag must be a valid Docker tag."
  }
}

variable "ecr_access_role_arn" {
  description = "ARN of an existing App Runner ECR access role (`build.apprunner.amazonaws.com`). When null the module creates one."
  type        = string
  default     = null
}

################################################################################
# Service
################################################################################

variable "port" {
  description = "Port the container listens on."
  type        = number
  default     = 8080

  validation {
    condition     = var.port >= 1 && var.port <= 65535
    error_message = "port must be between 1 and 65535."
  }
}

variable "cpu" {
  description = "App Runner vCPU. Defaults to the preset: `0.5 vCPU` (staging) or `1 vCPU` (production)."
  type        = string
  default     = null

  validation {
    condition     = var.cpu == null || contains(["0.25 vCPU", "0.5 vCPU", "1 vCPU", "2 vCPU", "4 vCPU"], coalesce(var.cpu, "1 vCPU"))
    error_message = "cpu must be one of 0.25 vCPU, 0.5 vCPU, 1 vCPU, 2 vCPU, 4 vCPU."
  }
}

variable "memory" {
  description = "App Runner memory. Defaults to the preset: `1 GB` (staging) or `2 GB` (production)."
  type        = string
  default     = null

  validation {
    condition     = var.memory == null || contains(["0.5 GB", "1 GB", "2 GB", "3 GB", "4 GB", "6 GB", "8 GB", "10 GB", "12 GB"], coalesce(var.memory, "2 GB"))
    error_message = "memory must be one of 0.5 GB, 1 GB, 2 GB, 3 GB, 4 GB, 6 GB, 8 GB, 10 GB, 12 GB."
  }
}

variable "auto_deployments_enabled" {
  description = "Redeploy automatically when the image tag is pushed again."
  type        = bool
  default     = true
}

variable "runtime_environment_variables" {
  description = "Plain environment variables, merged over `ASPNETCORE_ENVIRONMENT` (`Staging` or `Production`)."
  type        = map(string)
  default     = {}
}

variable "runtime_secret_keys" {
  description = "Keys of the config secret exposed to the service as environment variables (RuntimeEnvironmentSecrets)."
  type        = list(string)
  default = [
    "ConnectionStrings__DefaultConnection",
    "JwtSettings__Secret",
    "SendGrid__ApiKey",
    "Twilio__AccountSid",
    "Twilio__AuthToken",
  ]

  validation {
    condition     = alltrue([for k in var.runtime_secret_keys : can(regex("^[A-Za-z_][A-Za-z0-9_]*$", k))])
    error_message = "runtime_secret_keys must be valid environment variable names."
  }
}

variable "health_check" {
  description = "App Runner health check. The seed's values are the defaults."
  type = object({
    protocol            = optional(string, "HTTP")
    path                = optional(string, "/api/health")
    interval            = optional(number, 10)
    timeout             = optional(number, 5)
    healthy_threshold   = optional(number, 1)
    unhealthy_threshold = optional(number, 5)
  })
  default = {}

  validation {
    condition     = contains(["HTTP", "TCP"], var.health_check.protocol)
    error_message = "health_check.protocol must be HTTP or TCP."
  }
  validation {
    condition     = var.health_check.interval >= 1 && var.health_check.interval <= 20 && var.health_check.timeout >= 1 && var.health_check.timeout <= 20
    error_message = "health_check.interval and timeout must be between 1 and 20 seconds."
  }
}

variable "custom_domain_name" {
  description = "Custom domain to associate (e.g. `staging.togetherhood.com`); null for none. DNS validation records are in the `custom_domain_validation_records` output."
  type        = string
  default     = null
}

################################################################################
# Network
################################################################################

variable "vpc_id" {
  description = "VPC for the database and the App Runner VPC connector. Null uses the default VPC."
  type        = string
  default     = null
}

variable "subnet_ids" {
  description = "Subnets for the database subnet group and the VPC connector. Null uses every subnet of the VPC."
  type        = list(string)
  default     = null
}

################################################################################
# Config secret
################################################################################

variable "config_secret_name" {
  description = "Name of the Secrets Manager config secret. Defaults to `<name>/<environment>/config`."
  type        = string
  default     = null
}

variable "config_secret_values" {
  description = "Config secret values by key (sandbox credentials for staging). Ephemeral: written with `secret_string_wo`, never stored in state or plan. `ConnectionStrings__DefaultConnection` is built by the module. Null leaves the secret's value to be managed outside Terraform."
  type        = map(string)
  default     = null
  sensitive   = true
  ephemeral   = true
}

variable "config_secret_version" {
  description = "Bump to write `config_secret_values` again (write-only arguments are only sent when this changes)."
  type        = number
  default     = 1
}

variable "secret_recovery_window_in_days" {
  description = "Days a deleted config secret can be restored. Defaults to the preset: 7 (staging) or 30 (production)."
  type        = number
  default     = null

  validation {
    condition     = var.secret_recovery_window_in_days == null || var.secret_recovery_window_in_days == 0 || (coalesce(var.secret_recovery_window_in_days, 7) >= 7 && coalesce(var.secret_recovery_window_in_days, 7) <= 30)
    error_message = "secret_recovery_window_in_days must be 0 (force delete) or between 7 and 30."
  }
}

variable "uploads_bucket_name" {
  description = "S3 bucket the application reads and writes (e.g. `togetherhood-staging-uploads`); the instance role gets object access to it. Null for none."
  type        = string
  default     = null
}

################################################################################
# Database (RDS MySQL 8)
################################################################################

variable "create_database" {
  description = "Create the RDS MySQL instance."
  type        = bool
  default     = true
}

variable "db_identifier" {
  description = "RDS instance identifier. Defaults to `<name>-<environment>-db`."
  type        = string
  default     = null
}

variable "db_name" {
  description = "Database name (e.g. `togetherhood_staging`)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9_]{0,63}$", var.db_name))
    error_message = "db_name must start with a letter and contain only letters, digits and underscores (at most 64)."
  }
}

variable "db_username" {
  description = "Master user name."
  type        = string
  default     = "admin"
}

variable "db_password" {
  description = "Master password. Ephemeral: written with `password_wo`, never stored in state or plan. Required when `create_database` is true."
  type        = string
  default     = null
  sensitive   = true
  ephemeral   = true
}

variable "db_password_version" {
  description = "Bump to send a changed `db_password` (write-only arguments are only sent when this changes)."
  type        = number
  default     = 1
}

variable "db_instance_class" {
  description = "RDS instance class. Defaults to the preset: `db.t3.micro` (staging) or `db.t3.large` (production)."
  type        = string
  default     = null

  validation {
    condition     = var.db_instance_class == null || can(regex("^db\\.", coalesce(var.db_instance_class, "db.")))
    error_message = "db_instance_class must start with \"db.\"."
  }
}

variable "db_engine_version" {
  description = "MySQL engine version."
  type        = string
  default     = "8.0.35"

  validation {
    condition     = startswith(var.db_engine_version, "8.0")
    error_message = "db_engine_version must be a MySQL 8.0 version."
  }
}

variable "db_allocated_storage" {
  description = "Allocated storage in GB (gp3)."
  type        = number
  default     = 20

  validation {
    condition     = var.db_allocated_storage >= 20
    error_message = "db_allocated_storage must be at least 20 GB."
  }
}

variable "db_backup_retention_period" {
  description = "Days of automated backups. Defaults to the preset: 7 (staging) or 30 (production)."
  type        = number
  default     = null

  validation {
    condition     = var.db_backup_retention_period == null || (coalesce(var.db_backup_retention_period, 1) >= 1 && coalesce(var.db_backup_retention_period, 1) <= 35)
    error_message = "db_backup_retention_period must be between 1 and 35."
  }
}

variable "db_backup_window" {
  description = "Daily backup window (UTC)."
  type        = string
  default     = "03:00-04:00"
}

variable "db_maintenance_window" {
  description = "Weekly maintenance window (UTC)."
  type        = string
  default     = "mon:04:00-mon:05:00"
}

################################################################################
# Alarms
################################################################################

variable "create_alarms" {
  description = "Create the CloudWatch alarm on failed health checks."
  type        = bool
  default     = true
}

variable "alarm_sns_topic_arn" {
  description = "SNS topic for alarms. Null creates `<name>-<environment>-alerts`."
  type        = string
  default     = null
}

variable "alarm_email" {
  description = "E-mail address subscribed to the created alerts topic; null for none."
  type        = string
  default     = null
}
