# A staging mirror of the production App Runner service (seed 000): same image repository,
# port, health check and variables; staging's own tag, size, database and sandbox secrets.
resource "staging_environment" "app" {
  name               = "togetherhood-app-staging"
  source_service_arn = var.production_service_arn

  app_runner {
    instance_role_arn = aws_iam_role.staging_instance.arn
  }

  database {
    engine = "mysql"
  }

  secrets {
    values_wo = {
      JwtSettings__Secret = var.staging_jwt_secret
      SendGrid__ApiKey    = var.sendgrid_sandbox_key
    }
    values_wo_version = 1
  }

  tags = {
    Application = "TogetherhoodApp"
  }
}
