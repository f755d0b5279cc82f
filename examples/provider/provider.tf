terraform {
  required_providers {
    staging = {
      source = "stagecraft/staging"
    }
  }
}

provider "staging" {
  region = "us-east-1"

  # Optional: act through a role in the staging account.
  # assume_role {
  #   role_arn     = "arn:aws:iam::123456789012:role/stagecraft"
  #   session_name = "stagecraft"
  # }

  default_tags = {
    Team = "platform"
  }

  # Never touch anything tagged as production (these are the defaults).
  production_guard {
    tag_key    = "Environment"
    tag_values = ["production", "Production", "prod"]
  }
}
