terraform {
  # 1.11, as the other modules: write-only arguments (values_wo) and ephemeral variables need
  # 1.11, cross-variable validation 1.9.
  required_version = ">= 1.11.0"

  # Only our provider: the three resources call AWS themselves, so hashicorp/aws is not needed.
  required_providers {
    staging = {
      source  = "stagecraft/staging"
      version = ">= 0.1.0"
    }
  }
}
