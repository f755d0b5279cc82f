terraform {
  # 1.11: write-only arguments (password_wo, secret_string_wo) and ephemeral variables.
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
