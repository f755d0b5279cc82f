# Seed 003's auto-destroy Lambda as a policy: staging goes after 7 days without requests or
# real database use, with an SNS warning 24 hours before and a final database snapshot.
resource "staging_auto_destroy_policy" "staging" {
  environment_id    = staging_environment.app.id
  idle_days         = 7
  warn_before_hours = 24
  notify_topic_arn  = aws_sns_topic.staging_alerts.arn
  action            = "destroy"
  final_snapshot    = true

  # App Runner publishes no Requests metric without traffic: no data means idle.
  activity {
    signal       = "app_runner_requests"
    missing_data = "idle"
  }

  # The app's connection pool keeps 5 connections open with nobody using staging.
  activity {
    signal       = "rds_connections"
    threshold    = 5
    missing_data = "idle"
  }

  # Pause nights and weekends (Berlin time); the reaper resumes at 08:00.
  schedule {
    time_zone = "Europe/Berlin"
    days      = ["mon", "tue", "wed", "thu", "fri"]
    start     = "08:00"
    stop      = "19:00"
  }

  # Nothing happens over the holidays; the idle clock restarts afterwards.
  snooze_until = "2027-01-04T08:00:00+01:00"
}

output "staging_goes_at" {
  value = staging_auto_destroy_policy.staging.destroy_after
}
