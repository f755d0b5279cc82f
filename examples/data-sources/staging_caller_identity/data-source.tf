data "staging_caller_identity" "current" {}

output "account_id" {
  value = data.staging_caller_identity.current.account_id
}
