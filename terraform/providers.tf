provider "aws" {
  region              = var.aws_region
  allowed_account_ids = var.allowed_account_ids

  default_tags {
    tags = local.tags
  }
}

# Disaster-recovery region: its key, the DynamoDB replica, the replicated buckets and the backup vault copy, all
# created by the primary stack. In a DR stack var.dr_region is the lost primary: no resource uses this provider there
# (local.is_primary), and it points at the stack's own region, so configuring it calls nothing in the lost region.
provider "aws" {
  alias               = "dr"
  region              = local.is_primary ? var.dr_region : var.aws_region
  allowed_account_ids = var.allowed_account_ids

  default_tags {
    tags = local.tags
  }
}

# CloudFront only accepts ACM certificates from us-east-1; its WAF, the billing alarm and their key live there too.
# All of it is the primary stack's: a DR stack uses none of it and points this provider at its own region, so it
# needs nothing from us-east-1 (which may be the lost primary).
provider "aws" {
  alias               = "us_east_1"
  region              = local.is_primary ? "us-east-1" : var.aws_region
  allowed_account_ids = var.allowed_account_ids

  default_tags {
    tags = local.tags
  }
}
