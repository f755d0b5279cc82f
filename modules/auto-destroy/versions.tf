terraform {
  # 1.11, as the other modules: cross-variable validation (sns_topic_arn) needs 1.9 or later.
  required_version = ">= 1.11.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0"
    }
    # The binary in the zip is terraform-provider-staging; the policies it acts on are
    # staging_auto_destroy_policy resources of this provider.
    staging = {
      source  = "stagecraft/staging"
      version = ">= 0.1.0"
    }
  }
}
