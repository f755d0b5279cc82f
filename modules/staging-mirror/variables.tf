################################################################################
# Environment
################################################################################

variable "name" {
  description = "Name of the staging environment: the App Runner service is called this, the database `<name>-db`, the secret `<name>/config`. Changing it replaces the environment."
  type        = string

  validation {
    # App Runner service names stop at 40 characters; the RDS identifier `<name>-db` must start
    # with a letter and hold no `--`.
    condition     = can(regex("^[A-Za-z][A-Za-z0-9-]{3,39}$", var.name)) && !strcontains(var.name, "--") && !endswith(var.name, "-")
    error_message = "name must be 4-40 letters, digits or single hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "production_service_arn" {
  description = "ARN of the production App Runner service to mirror (e.g. the `service_arn` output of modules/app-runner-app with environment = \"production\"): image repository, port, health check, variables, secret keys and roles are read from it."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:apprunner:[a-z0-9-]+:[0-9]{12}:service/[A-Za-z0-9_-]+/[0-9a-f]{32}$", var.production_service_arn))
    error_message = "production_service_arn must be an App Runner service ARN (arn:aws:apprunner:REGION:ACCOUNT:service/NAME/ID)."
  }
}

variable "state" {
  description = "`running`, or `paused` (service paused, database stopped)."
  type        = string
  default     = "running"

  validation {
    condition     = contains(["running", "paused"], var.state)
    error_message = "state must be \"running\" or \"paused\"."
  }
}

variable "tags" {
  description = "Tags for every object of the environment; `Environment = Staging` is always added."
  type        = map(string)
  default     = {}
}

################################################################################
# App Runner
################################################################################

variable "image_tag" {
  description = "Image tag staging deploys from production's ECR repository."
  type        = string
  default     = "staging"

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag))
    error_message = "image_tag must be a valid image tag (letters, digits, '_', '.', '-'; at most 128 characters)."
  }
}

variable "cpu" {
  description = "vCPU per App Runner instance (seed 000's staging size: `0.5 vCPU`)."
  type        = string
  default     = "0.5 vCPU"

  validation {
    condition     = contains(["0.25 vCPU", "0.5 vCPU", "1 vCPU", "2 vCPU", "4 vCPU"], var.cpu)
    error_message = "cpu must be one of \"0.25 vCPU\", \"0.5 vCPU\", \"1 vCPU\", \"2 vCPU\", \"4 vCPU\"."
  }
}

variable "memory" {
  description = "Memory per App Runner instance (seed 000's staging size: `1 GB`)."
  type        = string
  default     = "1 GB"

  validation {
    condition     = contains(["0.5 GB", "1 GB", "2 GB", "3 GB", "4 GB", "6 GB", "8 GB", "10 GB", "12 GB"], var.memory)
    error_message = "memory must be an App Runner size such as \"1 GB\" or \"2 GB\"."
  }
}

variable "instance_role_arn" {
  description = "Role the staging service assumes (e.g. the `instance_role_arn` output of a staging modules/app-runner-app, scoped to the staging secret). Null mirrors production's, which is rarely what you want."
  type        = string
  default     = null

  validation {
    condition     = var.instance_role_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", var.instance_role_arn))
    error_message = "instance_role_arn must be an IAM role ARN."
  }
}

variable "environment_variables" {
  description = "Plain environment variables laid over production's (no secrets here: they go into secret_values)."
  type        = map(string)
  default     = {}
}

################################################################################
# Database
################################################################################

variable "database_engine" {
  description = "Engine of the staging database: `mysql` (seed 000) or `postgres` (seed 003). Changing it replaces the environment."
  type        = string
  default     = "mysql"

  validation {
    condition     = contains(["mysql", "postgres"], var.database_engine)
    error_message = "database_engine must be \"mysql\" or \"postgres\"."
  }
}

variable "database_engine_version" {
  description = "Engine version; null uses the provider's default (MySQL 8.0.35, PostgreSQL 15.4)."
  type        = string
  default     = null

  validation {
    condition     = var.database_engine_version == null || can(regex("^[0-9]+(\\.[0-9]+){0,2}$", var.database_engine_version))
    error_message = "database_engine_version must look like \"8.0.35\" or \"15.4\"."
  }
}

variable "database_instance_class" {
  description = "Instance class of the staging database (the seeds' staging size: `db.t3.micro`)."
  type        = string
  default     = "db.t3.micro"

  validation {
    condition     = can(regex("^db\\.[a-z0-9]+\\.[a-z0-9]+$", var.database_instance_class))
    error_message = "database_instance_class must be an RDS instance class such as \"db.t3.micro\"."
  }
}

variable "database_allocated_storage" {
  description = "Storage of the staging database in GB."
  type        = number
  default     = 20

  validation {
    condition     = var.database_allocated_storage >= 20 && var.database_allocated_storage <= 65536 && floor(var.database_allocated_storage) == var.database_allocated_storage
    error_message = "database_allocated_storage must be a whole number of GB between 20 and 65536."
  }
}

variable "database_backup_retention_period" {
  description = "Days of automated backups of the staging database (the seeds' staging value: 7)."
  type        = number
  default     = 7

  validation {
    condition     = var.database_backup_retention_period >= 0 && var.database_backup_retention_period <= 35 && floor(var.database_backup_retention_period) == var.database_backup_retention_period
    error_message = "database_backup_retention_period must be a whole number of days between 0 and 35."
  }
}

variable "database_subnet_group_name" {
  description = "DB subnet group of the staging database; null uses the default VPC's."
  type        = string
  default     = null
}

variable "database_security_group_ids" {
  description = "VPC security groups of the staging database; null uses the VPC's default group."
  type        = set(string)
  default     = null

  validation {
    condition     = var.database_security_group_ids == null || alltrue([for id in coalesce(var.database_security_group_ids, []) : can(regex("^sg-[0-9a-f]+$", id))])
    error_message = "database_security_group_ids must hold security group IDs (sg-...)."
  }
}

################################################################################
# Secret
################################################################################

variable "secret_values" {
  description = "Staging values of the config secret by key (sandbox credentials: every key production's service reads must come from here, never from production). Ephemeral: passed to the write-only `values_wo`, never stored in state or plan."
  type        = map(string)
  default     = null
  sensitive   = true
  ephemeral   = true
}

variable "secret_values_version" {
  description = "Bump to write `secret_values` again (write-only arguments are only sent when this changes)."
  type        = number
  default     = 1

  validation {
    condition     = var.secret_values_version >= 1 && floor(var.secret_values_version) == var.secret_values_version
    error_message = "secret_values_version must be a whole number, 1 or more."
  }
}

variable "connection_string_key" {
  description = "Secret key that receives the staging database's connection string; null uses `ConnectionStrings__DefaultConnection`."
  type        = string
  default     = null

  validation {
    condition     = var.connection_string_key == null || can(regex("^[A-Za-z_][A-Za-z0-9_.:-]*$", var.connection_string_key))
    error_message = "connection_string_key must be a plain key name."
  }
}

################################################################################
# Sanitized database sync
################################################################################

variable "create_db_sync" {
  description = "Copy production's data into the staging database with PII sanitized (preset `default_pii`)."
  type        = bool
  default     = true
}

variable "production_database_url_secret_arn" {
  description = "Secrets Manager secret holding production's database connection URL (read only, in a read-only transaction). Required when create_db_sync is true."
  type        = string
  default     = null

  validation {
    condition     = var.production_database_url_secret_arn == null || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:", var.production_database_url_secret_arn))
    error_message = "production_database_url_secret_arn must be a Secrets Manager secret ARN."
  }
  validation {
    condition     = !var.create_db_sync || var.production_database_url_secret_arn != null
    error_message = "production_database_url_secret_arn is required when create_db_sync is true."
  }
}

variable "staging_database_url_secret_arn" {
  description = "Secrets Manager secret holding the staging database's connection URL (the sync's target). Required when create_db_sync is true."
  type        = string
  default     = null

  validation {
    condition     = var.staging_database_url_secret_arn == null || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:", var.staging_database_url_secret_arn))
    error_message = "staging_database_url_secret_arn must be a Secrets Manager secret ARN."
  }
  validation {
    condition     = !var.create_db_sync || var.staging_database_url_secret_arn != null
    error_message = "staging_database_url_secret_arn is required when create_db_sync is true."
  }
  validation {
    condition     = var.staging_database_url_secret_arn == null || var.staging_database_url_secret_arn != var.production_database_url_secret_arn
    error_message = "staging_database_url_secret_arn must not be production's secret: the sync writes to its target."
  }
}

variable "unsanitized_pii" {
  description = "`error`: a column that looks like PII and has no rule fails the plan; `warn`: it is copied and reported."
  type        = string
  default     = "error"

  validation {
    condition     = contains(["error", "warn"], var.unsanitized_pii)
    error_message = "unsanitized_pii must be \"error\" or \"warn\"."
  }
}

variable "exclude_tables" {
  description = "Tables created empty in staging (e.g. audit logs)."
  type        = list(string)
  default     = []
}

variable "sanitize_rules" {
  description = "Extra sanitization rules: `transform` is template (with {id} and {column} placeholders), fixed, null, hash, random_hex or keep; `value` for template/fixed, `length` for random_hex."
  type = list(object({
    table     = string
    column    = string
    transform = string
    value     = optional(string)
    length    = optional(number)
  }))
  default = []

  validation {
    condition     = alltrue([for r in var.sanitize_rules : contains(["template", "fixed", "null", "hash", "random_hex", "keep"], r.transform)])
    error_message = "Each rule's transform must be one of template, fixed, null, hash, random_hex, keep."
  }

  validation {
    condition     = alltrue([for r in var.sanitize_rules : !contains(["template", "fixed"], r.transform) || r.value != null])
    error_message = "template and fixed rules need a value."
  }
}

variable "sync_triggers" {
  description = "Any change re-runs the sync (e.g. `{ refreshed = \"2026-05-01\" }` or a release tag)."
  type        = map(string)
  default     = {}
}

################################################################################
# Auto-destroy policy
################################################################################

variable "create_auto_destroy_policy" {
  description = "Attach a `staging_auto_destroy_policy` to the environment (acted on by the reaper, modules/auto-destroy)."
  type        = bool
  default     = true
}

variable "auto_destroy_enabled" {
  description = "`false` keeps the policy but disables it: nothing is paused or destroyed."
  type        = bool
  default     = true
}

variable "idle_days" {
  description = "Days without activity before the action (seed 003: 7). Paused time does not count."
  type        = number
  default     = 7

  validation {
    condition     = var.idle_days >= 1 && var.idle_days <= 365 && floor(var.idle_days) == var.idle_days
    error_message = "idle_days must be a whole number between 1 and 365."
  }
}

variable "warn_before_hours" {
  description = "Hours before the deadline the SNS warning goes out (seed 003: 24)."
  type        = number
  default     = 24

  validation {
    condition     = var.warn_before_hours >= 0 && floor(var.warn_before_hours) == var.warn_before_hours && var.warn_before_hours < var.idle_days * 24
    error_message = "warn_before_hours must be a whole number of hours, shorter than idle_days."
  }
}

variable "auto_destroy_action" {
  description = "`destroy` (final snapshot, then delete service, database and secret) or `pause` (App Runner pause, RDS stop)."
  type        = string
  default     = "destroy"

  validation {
    condition     = contains(["destroy", "pause"], var.auto_destroy_action)
    error_message = "auto_destroy_action must be \"destroy\" or \"pause\"."
  }
}

variable "final_snapshot" {
  description = "Snapshot the database before destroying it."
  type        = bool
  default     = true
}

variable "notify_topic_arn" {
  description = "SNS topic for the warning (e.g. the `sns_topic_arn` output of modules/auto-destroy); null sends none."
  type        = string
  default     = null

  validation {
    condition     = var.notify_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+$", var.notify_topic_arn))
    error_message = "notify_topic_arn must be an SNS topic ARN."
  }
}

variable "idle_connection_threshold" {
  description = "Database connections that still mean idle: set it to the app's idle connection pool size (a pool holding 5 connections with nobody using staging needs 5). 0 counts any connection as activity."
  type        = number
  default     = 0

  validation {
    condition     = var.idle_connection_threshold >= 0
    error_message = "idle_connection_threshold must not be negative."
  }
}

variable "working_hours" {
  description = "Working hours: outside them the reaper pauses the environment and resumes it at their start. `days` defaults to Monday to Friday. Null: no schedule."
  type = object({
    time_zone = string
    start     = string
    stop      = string
    days      = optional(list(string))
  })
  default = null

  validation {
    condition     = var.working_hours == null || (can(regex("^([01][0-9]|2[0-3]):[0-5][0-9]$", var.working_hours.start)) && can(regex("^([01][0-9]|2[0-3]):[0-5][0-9]$", var.working_hours.stop)))
    error_message = "working_hours.start and stop must be HH:MM."
  }
  validation {
    condition     = var.working_hours == null || try(tonumber(replace(var.working_hours.start, ":", "")) < tonumber(replace(var.working_hours.stop, ":", "")), false)
    error_message = "working_hours.stop must be after start."
  }
  validation {
    condition     = var.working_hours == null || alltrue([for d in coalesce(try(var.working_hours.days, null), []) : contains(["mon", "tue", "wed", "thu", "fri", "sat", "sun"], d)])
    error_message = "working_hours.days must hold mon, tue, wed, thu, fri, sat or sun."
  }
}

variable "snooze_until" {
  description = "RFC 3339 time until which the policy does nothing (holidays); afterwards the idle clock starts from it."
  type        = string
  default     = null

  validation {
    condition     = var.snooze_until == null || can(timeadd(var.snooze_until, "0s"))
    error_message = "snooze_until must be an RFC 3339 time such as \"2027-01-04T08:00:00+01:00\"."
  }
}
