################################################################################
# Staging environment: secret → RDS → App Runner, mirrored from production
################################################################################

resource "staging_environment" "this" {
  name               = var.name
  source_service_arn = var.production_service_arn
  state              = var.state

  app_runner {
    image_tag             = var.image_tag
    cpu                   = var.cpu
    memory                = var.memory
    instance_role_arn     = var.instance_role_arn
    environment_variables = var.environment_variables
  }

  database {
    engine                  = var.database_engine
    engine_version          = var.database_engine_version
    instance_class          = var.database_instance_class
    allocated_storage       = var.database_allocated_storage
    backup_retention_period = var.database_backup_retention_period
    db_subnet_group_name    = var.database_subnet_group_name
    vpc_security_group_ids  = var.database_security_group_ids
  }

  secrets {
    # Ephemeral and write-only: the sandbox values never reach state or plan.
    values_wo             = var.secret_values
    values_wo_version     = var.secret_values_version
    connection_string_key = var.connection_string_key
  }

  tags = var.tags
}

################################################################################
# Sanitized copy of production's data into the staging database
################################################################################

resource "staging_sanitized_db_sync" "this" {
  count = var.create_db_sync ? 1 : 0

  source_secret_arn = var.production_database_url_secret_arn
  target_secret_arn = var.staging_database_url_secret_arn
  preset            = "default_pii"
  unsanitized_pii   = var.unsanitized_pii
  exclude_tables    = var.exclude_tables
  triggers          = var.sync_triggers

  # Rules for columns the preset does not cover (or `keep` after review).
  dynamic "rule" {
    for_each = var.sanitize_rules
    content {
      table     = rule.value.table
      column    = rule.value.column
      transform = rule.value.transform
      value     = rule.value.value
      length    = rule.value.length
    }
  }

  # The staging database must exist before data is copied into it.
  depends_on = [staging_environment.this]
}

################################################################################
# Auto-destroy policy: pause or destroy staging when idle
################################################################################

resource "staging_auto_destroy_policy" "this" {
  count = var.create_auto_destroy_policy ? 1 : 0

  environment_id    = staging_environment.this.id
  idle_days         = var.idle_days
  warn_before_hours = var.warn_before_hours
  notify_topic_arn  = var.notify_topic_arn
  action            = var.auto_destroy_action
  final_snapshot    = var.final_snapshot
  enabled           = var.auto_destroy_enabled
  snooze_until      = var.snooze_until

  # App Runner publishes no Requests metric without traffic: no data means idle.
  activity {
    signal       = "app_runner_requests"
    missing_data = "idle"
  }

  # Connections above the app's idle pool size count as real database use.
  activity {
    signal       = "rds_connections"
    threshold    = var.idle_connection_threshold
    missing_data = "idle"
  }

  dynamic "schedule" {
    for_each = var.working_hours == null ? [] : [var.working_hours]
    content {
      time_zone = schedule.value.time_zone
      days      = schedule.value.days
      start     = schedule.value.start
      stop      = schedule.value.stop
    }
  }
}
