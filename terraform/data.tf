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

  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # Every hop is TLS to a name its certificate carries (acm.tf): viewers to CloudFront (<domain>), CloudFront to the
  # public ALB (origin.<domain>), Open-WebUI to the internal ALB (backend.<domain>). A DR stack's internal ALB is
  # backend.<its region>.<domain>: the primary published that name and issued its certificate in advance
  # (failover.tf), as it did for origin.<domain>, which fails over to the DR region by health.
  service_url     = "https://${var.domain_name}"
  origin_host     = "origin.${var.domain_name}"
  dr_backend_host = "backend.${var.dr_region}.${var.domain_name}"
  backend_host    = local.is_primary ? "backend.${var.domain_name}" : "backend.${var.aws_region}.${var.domain_name}"
  backend_url     = "https://${local.backend_host}"
}
