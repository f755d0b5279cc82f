# The production environment: both documented applications, each with the production preset of its seed.

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      ManagedBy = "terraform"
      Stack     = "stagecraft-production"
    }
  }
}

# Seed 000: togetherhood-app on App Runner + RDS MySQL 8.
module "togetherhood" {
  source = "../../modules/app-runner-app"

  name            = "togetherhood-app"
  environment     = "production"
  application_tag = "TogetherhoodApp"

  create_ecr_repository = true
  ecr_repository_name   = "togetherhood-app"
  config_secret_name    = "togetherhood-app/production/config"
  custom_domain_name    = "app.togetherhood.com"
  uploads_bucket_name   = "togetherhood-production-uploads"

  db_identifier = "togetherhood-production-db"
  db_name       = "togetherhood_production"
  db_password   = var.togetherhood_db_password

  config_secret_values = var.togetherhood_config
  alarm_email          = var.alert_email
}

# Seed 003: whatsapp-saas on ECS (EC2) + RDS PostgreSQL 15 + ElastiCache Redis 7.
module "whatsapp_saas" {
  source = "../../modules/ecs-app"

  name             = "whatsapp-saas"
  environment      = "production"
  image            = var.whatsapp_saas_image
  allowed_ssh_cidr = var.allowed_ssh_cidr

  db_name     = "whatsapp_saas"
  db_password = var.whatsapp_saas_db_password
  admin_token = var.whatsapp_saas_admin_token
  alert_email = var.alert_email
}
