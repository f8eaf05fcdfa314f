# Refuses to plan when the selected workspace is not the environment the variables describe.
resource "terraform_data" "environment_guard" {
  input = var.environment

  lifecycle {
    precondition {
      condition     = terraform.workspace == var.environment
      error_message = "Workspace \"${terraform.workspace}\" does not match var.environment \"${var.environment}\": run 'terraform workspace select ${var.environment}' or use environments/${terraform.workspace}.tfvars."
    }
  }
}
