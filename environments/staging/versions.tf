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

  # S3 state with DynamoDB locking. Settings come from a partial configuration:
  #   terraform init -backend-config=backend.hcl   (see backend.hcl.example)
  backend "s3" {}
}
