# Account, partition, zones, and values derived from them.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_availability_zones" "available" {
  state = "available"

  filter {
    name   = "zone-name"
    values = [for s in var.availability_zone_suffixes : "${var.aws_region}${s}"]
  }

  lifecycle {
    postcondition {
      condition     = length(self.names) >= var.az_count
      error_message = "Only ${length(self.names)} of the zones in var.availability_zone_suffixes exist in ${var.aws_region}; var.az_count needs ${var.az_count}: list other zone letters."
    }
  }
}

locals {
  azs = slice(data.aws_availability_zones.available.names, 0, var.az_count)

  has_domain   = var.domain_name != ""
  origin_host  = local.has_domain ? "origin.${var.domain_name}" : aws_lb.public.dns_name
  account_id   = data.aws_caller_identity.current.account_id
  partition    = data.aws_partition.current.partition
  origin_proto = local.has_domain ? "https-only" : "http-only"
}
