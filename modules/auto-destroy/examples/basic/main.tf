# The reaper for one account and region, plus a staging environment with a policy that
# warns through the module's topic.
terraform {
  required_version = ">= 1.11.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0"
    }
    staging = {
      source  = "stagecraft/staging"
      version = ">= 0.1.0"
    }
  }
}

provider "aws" {
  region = "us-east-1"
}

provider "staging" {
  region = "us-east-1"
}

module "reaper" {
  source = "../.."

  lambda_zip_path = "${path.module}/reaper.zip"
  # Watch the plan in the logs for a week before letting it act.
  dry_run = true
}

resource "staging_auto_destroy_policy" "staging" {
  environment_id   = "togetherhood-app-staging"
  notify_topic_arn = module.reaper.sns_topic_arn

  activity {
    signal       = "app_runner_requests"
    missing_data = "idle"
  }
  activity {
    signal       = "rds_connections"
    threshold    = 5
    missing_data = "idle"
  }
}

output "reaper_logs" {
  value = module.reaper.log_group_name
}
