# Seed 000's staging environment as one resource: secret, RDS MySQL and an App Runner service
# that mirrors production. Runs offline against local AWS (`make demo` uses examples/local);
# against a real account, set source_service_arn to your production service.
terraform {
  required_version = ">= 1.11"
  required_providers {
    staging = {
      source = "stagecraft/staging"
    }
  }
}

provider "staging" {
  region = var.region
}

resource "staging_environment" "app" {
  name               = var.name
  source_service_arn = var.production_service_arn

  app_runner {
    # Needed only without source_service_arn (otherwise mirrored from production).
    image_repository = var.production_service_arn == null ? var.image_repository : null
    access_role_arn  = var.production_service_arn == null ? var.ecr_access_role_arn : null
  }

  database {
    engine = "mysql"
  }

  secrets {
    values_wo         = var.staging_secret_values
    values_wo_version = var.staging_secret_version
  }

  tags = {
    Application = "TogetherhoodApp"
  }
}
