provider "aws" {
  region              = var.aws_region
  allowed_account_ids = var.allowed_account_ids

  default_tags {
    tags = local.tags
  }
}

# Disaster-recovery region: DynamoDB replica, replicated backups bucket, backup vault copy.
provider "aws" {
  alias               = "dr"
  region              = var.dr_region
  allowed_account_ids = var.allowed_account_ids

  default_tags {
    tags = local.tags
  }
}

# CloudFront only accepts ACM certificates from us-east-1.
provider "aws" {
  alias               = "us_east_1"
  region              = "us-east-1"
  allowed_account_ids = var.allowed_account_ids

  default_tags {
    tags = local.tags
  }
}
