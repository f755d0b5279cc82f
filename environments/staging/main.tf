# The staging environment: both documented applications, each with the staging preset of its seed.

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      ManagedBy = "terraform"
      Stack     = "stagecraft-staging"
    }
  }
}

# Seed 000: togetherhood-app on App Runner + RDS MySQL 8.
module "togetherhood" {
  source = "../../modules/app-runner-app"

  name            = "togetherhood-app"
  environment     = "staging"
  application_tag = "TogetherhoodApp"

  # Staging deploys the `staging` tag of the repository production owns.
  create_ecr_repository = false
  ecr_repository_name   = "togetherhood-app"
  config_secret_name    = "togetherhood-app/staging/config"
  custom_domain_name    = "staging.togetherhood.com"
  uploads_bucket_name   = "togetherhood-staging-uploads"

  db_identifier = "togetherhood-staging-db"
  db_name       = "togetherhood_staging"
  db_password   = var.togetherhood_db_password

  config_secret_values = var.togetherhood_config
  alarm_email          = var.alert_email
}

# Seed 003: whatsapp-saas on ECS (EC2) + RDS PostgreSQL 15 + ElastiCache Redis 7.
module "whatsapp_saas" {
  source = "../../modules/ecs-app"

  name             = "whatsapp-saas"
  environment      = "staging"
  image            = var.whatsapp_saas_image
  allowed_ssh_cidr = var.allowed_ssh_cidr

  db_name     = "whatsapp_saas"
  db_password = var.whatsapp_saas_db_password
  admin_token = var.whatsapp_saas_admin_token
  alert_email = var.alert_email
}
