# A staging copy of an App Runner app (seed 000), with its own ECR repository.
#
#   export TF_VAR_db_password=...            # ephemeral: never stored
#   terraform init && terraform apply
terraform {
  required_version = ">= 1.11.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0"
    }
  }
}

provider "aws" {
  region = "us-east-1"
}

variable "db_password" {
  description = "Master password of the example database."
  type        = string
  sensitive   = true
  ephemeral   = true
}

module "app" {
  source = "../../modules/app-runner-app"

  name            = "example-app"
  environment     = "staging"
  application_tag = "ExampleApp"
  db_name         = "example_staging"
  db_password     = var.db_password
}

output "service_url" {
  description = "Default App Runner URL."
  value       = module.app.service_url
}
