# A staging ECS app (seed 003): ECS on EC2, PostgreSQL 15, Redis 7, secrets, logs and alarms.
#
#   export TF_VAR_db_password=... TF_VAR_admin_token=...   # ephemeral: never stored
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

variable "admin_token" {
  description = "Admin token of the example app (at least 32 characters)."
  type        = string
  sensitive   = true
  ephemeral   = true
}

module "app" {
  source = "../../modules/ecs-app"

  name             = "example-ecs"
  environment      = "staging"
  image            = "public.ecr.aws/docker/library/node:20-alpine"
  allowed_ssh_cidr = "10.0.0.0/8"
  db_name          = "example"
  db_password      = var.db_password
  admin_token      = var.admin_token
}

output "cluster_name" {
  description = "ECS cluster name."
  value       = module.app.cluster_name
}
