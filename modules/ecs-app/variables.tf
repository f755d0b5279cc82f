################################################################################
# Identity and presets
################################################################################

variable "name" {
  description = "Application name (e.g. `whatsapp-saas`). Resources are named `<name>-<environment>-…`."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.name))
    error_message = "name must be 3-24 characters of lowercase letters, digits and hyphens, starting with a letter (ElastiCache ids are at most 40 characters)."
  }
}

variable "environment" {
  description = "Which column of the seed's table to apply: `staging` (t3.micro everywhere, 7 days of backups and logs, no deletion protection, auto-destroy on) or `production` (db.t4g.large, cache.t4g.medium, t3.large, 30 days, deletion protection, Multi-AZ)."
  type        = string

  validation {
    condition     = contains(["staging", "production"], var.environment)
    error_message = "environment must be \"staging\" or \"production\"."
  }
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}

################################################################################
# Network
################################################################################

variable "vpc_id" {
  description = "VPC to use. Null uses the default VPC (the seed's choice, for cost)."
  type        = string
  default     = null
}

variable "subnet_ids" {
  description = "Subnets for the instances, the database and the cache. Null uses every subnet of the VPC."
  type        = list(string)
  default     = null
}

variable "allowed_ssh_cidr" {
  description = "CIDR allowed to SSH (22) to the application instances. The seed's default is 0.0.0.0/0: restrict it."
  type        = string
  default     = "0.0.0.0/0"

  validation {
    condition     = can(cidrhost(var.allowed_ssh_cidr, 0))
    error_message = "allowed_ssh_cidr must be a CIDR block."
  }
}

variable "app_port" {
  description = "Port the application listens on (opened to the internet beside 80 and 443)."
  type        = number
  default     = 3000

  validation {
    condition     = var.app_port >= 1024 && var.app_port <= 65535
    error_message = "app_port must be between 1024 and 65535."
  }
}

################################################################################
# Compute: ECS on EC2
################################################################################

variable "image" {
  description = "Container image (`<registry>/<repository>:<tag>`)."
  type        = string

  validation {
    condition     = can(regex("^[^\\s:]+(:[A-Za-z0-9_.-]+)?(@sha256:[a-f0-9]{64})?$", var.image))
    error_message = "image must be an image reference such as 123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest."
  }
}

variable "instance_type" {
  description = "EC2 instance type of the ECS container instances. Defaults to the preset: `t3.micro` (staging) or `t3.large` (production)."
  type        = string
  default     = null
}

variable "desired_count" {
  description = "Number of tasks (and container instances). Defaults to the preset: 1 (staging) or 2 (production)."
  type        = number
  default     = null

  validation {
    condition     = var.desired_count == null || coalesce(var.desired_count, 1) >= 0
    error_message = "desired_count cannot be negative."
  }
}

variable "task_cpu" {
  description = "CPU units reserved for the container."
  type        = number
  default     = 512
}

variable "task_memory" {
  description = "Memory (MiB) reserved for the container."
  type        = number
  default     = 768
}

variable "environment_variables" {
  description = "Plain environment variables of the container (merged over `NODE_ENV`)."
  type        = map(string)
  default     = {}
}

################################################################################
# Database: RDS PostgreSQL 15
################################################################################

variable "db_instance_class" {
  description = "RDS instance class. Defaults to the preset: `db.t3.micro` (staging) or `db.t4g.large` (production)."
  type        = string
  default     = null
}

variable "db_engine_version" {
  description = "PostgreSQL engine version."
  type        = string
  default     = "15.4"

  validation {
    condition     = startswith(var.db_engine_version, "15")
    error_message = "db_engine_version must be a PostgreSQL 15 version."
  }
}

variable "db_allocated_storage" {
  description = "Initial storage in GB (gp3, encrypted)."
  type        = number
  default     = 20
}

variable "db_max_allocated_storage" {
  description = "Storage autoscaling ceiling in GB."
  type        = number
  default     = 50

  validation {
    condition     = var.db_max_allocated_storage >= 20
    error_message = "db_max_allocated_storage must be at least 20."
  }
}

variable "db_name" {
  description = "Database name."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.db_name))
    error_message = "db_name must be lowercase letters, digits and underscores, starting with a letter."
  }
}

variable "db_username" {
  description = "Master user name."
  type        = string
  default     = "app_admin"
}

variable "db_password" {
  description = "Master password. Ephemeral: written with `password_wo` and into the database-url secret with `secret_string_wo`, never stored in state or plan."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "db_password_version" {
  description = "Bump to send a changed `db_password`."
  type        = number
  default     = 1
}

variable "db_backup_retention_period" {
  description = "Days of automated backups. Defaults to the preset: 7 or 30."
  type        = number
  default     = null
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
# Cache: ElastiCache Redis 7
################################################################################

variable "cache_node_type" {
  description = "ElastiCache node type. Defaults to the preset: `cache.t3.micro` (staging) or `cache.t4g.medium` (production)."
  type        = string
  default     = null
}

variable "cache_engine_version" {
  description = "Redis engine version."
  type        = string
  default     = "7.0"
}

variable "cache_snapshot_retention_limit" {
  description = "Days of Redis snapshots. Defaults to the preset: 3 (staging) or 7 (production)."
  type        = number
  default     = null
}

variable "cache_snapshot_window" {
  description = "Daily Redis snapshot window (UTC)."
  type        = string
  default     = "03:00-05:00"
}

variable "cache_maintenance_window" {
  description = "Weekly Redis maintenance window (UTC)."
  type        = string
  default     = "mon:05:00-mon:06:00"
}

################################################################################
# Secrets, logs, alerts, auto-destroy
################################################################################

variable "admin_token" {
  description = "Admin authentication token (at least 32 characters). Ephemeral: written with `secret_string_wo`, never stored in state or plan."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "secret_version" {
  description = "Bump to write changed secret values (admin token, database URL)."
  type        = number
  default     = 1
}

variable "secret_recovery_window_in_days" {
  description = "Days a deleted secret can be restored."
  type        = number
  default     = 7

  validation {
    condition     = var.secret_recovery_window_in_days == 0 || (var.secret_recovery_window_in_days >= 7 && var.secret_recovery_window_in_days <= 30)
    error_message = "secret_recovery_window_in_days must be 0 or between 7 and 30."
  }
}

variable "log_retention_in_days" {
  description = "Retention of the application and RDS log groups. Defaults to the preset: 7 or 30."
  type        = number
  default     = null

  validation {
    condition     = var.log_retention_in_days == null || contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], coalesce(var.log_retention_in_days, 7))
    error_message = "log_retention_in_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, …)."
  }
}

variable "alert_email" {
  description = "E-mail address subscribed to the alerts topic; null for none."
  type        = string
  default     = null
}

variable "alarm_thresholds" {
  description = "Alarm thresholds: RDS CPU %, RDS free storage (bytes), Redis memory %."
  type = object({
    rds_cpu_percent        = optional(number, 80)
    rds_free_storage_bytes = optional(number, 2147483648)
    redis_memory_percent   = optional(number, 80)
    evaluation_periods     = optional(number, 2)
    period_seconds         = optional(number, 300)
  })
  default = {}
}

variable "auto_destroy_enabled" {
  description = "Whether the environment is torn down after `auto_destroy_idle_days` without activity. Defaults to the preset: on for staging, off for production. Recorded as tags and outputs for the reaper (modules/auto-destroy)."
  type        = bool
  default     = null
}

variable "auto_destroy_idle_days" {
  description = "Days without activity before auto-destroy."
  type        = number
  default     = 7

  validation {
    condition     = var.auto_destroy_idle_days >= 1
    error_message = "auto_destroy_idle_days must be at least 1."
  }
}
