variable "name" {
  description = "Name of the Lambda function, its IAM roles, log group, schedule and (when created) SNS topic."
  type        = string
  default     = "stagecraft-reaper"

  validation {
    # IAM role names stop at 64 characters and the scheduler's role is "<name>-scheduler".
    condition     = can(regex("^[A-Za-z0-9_-]{1,54}$", var.name))
    error_message = "name must be 1-54 letters, digits, '-' or '_' (it gets suffixes such as '-scheduler')."
  }
}

variable "lambda_zip_path" {
  description = "Path to the function zip: the terraform-provider-staging binary for Linux, renamed `bootstrap` (see README, \"Building the zip\")."
  type        = string

  validation {
    condition     = endswith(var.lambda_zip_path, ".zip")
    error_message = "lambda_zip_path must be the path of a .zip file."
  }
}

variable "architecture" {
  description = "Instruction set the binary in the zip was built for: `x86_64` or `arm64`."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be \"x86_64\" or \"arm64\"."
  }
}

variable "schedule_expression" {
  description = "When the reaper runs (EventBridge Scheduler expression). Hourly keeps warnings and working-hours pauses on time."
  type        = string
  default     = "rate(1 hour)"

  validation {
    condition     = can(regex("^(rate\\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\\)|cron\\([^)]+\\)|at\\([^)]+\\))$", var.schedule_expression))
    error_message = "schedule_expression must be rate(N unit), cron(...) or at(...)."
  }
}

variable "schedule_timezone" {
  description = "Time zone of a `cron(...)` schedule_expression."
  type        = string
  default     = "UTC"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$", var.schedule_timezone))
    error_message = "schedule_timezone must be an IANA time zone name such as \"UTC\" or \"Europe/Paris\"."
  }
}

variable "enabled" {
  description = "Whether the schedule is enabled. Disabling it stops every policy in the account and region at once (nothing is paused or destroyed)."
  type        = bool
  default     = true
}

variable "dry_run" {
  description = "Run the reaper in dry-run mode: it logs the same action plan and changes nothing. Useful for the first week."
  type        = bool
  default     = false
}

variable "create_sns_topic" {
  description = "Create an SNS topic for the warnings. Set false and pass sns_topic_arn to use an existing one."
  type        = bool
  default     = true
}

variable "sns_topic_arn" {
  description = "Existing SNS topic the policies' `notify_topic_arn` point at (when create_sns_topic = false). The function may publish only to this topic."
  type        = string
  default     = null

  validation {
    condition     = var.sns_topic_arn == null || can(regex("^arn:[^:]+:sns:", var.sns_topic_arn))
    error_message = "sns_topic_arn must be an SNS topic ARN."
  }
  validation {
    condition     = var.create_sns_topic == (var.sns_topic_arn == null)
    error_message = "Set either create_sns_topic = true or sns_topic_arn (with create_sns_topic = false), not both and not neither."
  }
}

variable "additional_sns_topic_arns" {
  description = "Further topics policies may notify (the function's role is allowed to publish to these too)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.additional_sns_topic_arns : can(regex("^arn:[^:]+:sns:", a))])
    error_message = "additional_sns_topic_arns must hold SNS topic ARNs."
  }
}

variable "timeout" {
  description = "Function timeout in seconds. A destroy waits for App Runner and RDS deletions, so leave room."
  type        = number
  default     = 900

  validation {
    condition     = var.timeout >= 60 && var.timeout <= 900 && floor(var.timeout) == var.timeout
    error_message = "timeout must be a whole number of seconds between 60 and 900."
  }
}

variable "memory_size" {
  description = "Function memory in MB."
  type        = number
  default     = 256

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240 && floor(var.memory_size) == var.memory_size
    error_message = "memory_size must be a whole number of MB between 128 and 10240."
  }
}

variable "log_retention_days" {
  description = "Retention of the function's log group in days. Every pause and destroy is a JSON line there: the audit trail, kept a year by default."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653, 0], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention value (1, 3, 5, 7, 14, 30, ..., 3653, or 0 for never expire)."
  }
}

variable "tags" {
  description = "Tags for every resource the module creates."
  type        = map(string)
  default     = {}
}
