# For var.domain_name (required): a regional certificate for the ALBs (origin.<domain>, backend.<domain>) and a us-east-1
# certificate for CloudFront (<domain>), both DNS-validated in var.route53_zone_id, and the service's records. All of
# it belongs to the primary stack: Route 53's and CloudFront's control planes are in us-east-1. A DR stack's load
# balancers use the certificate the primary issued in advance for its region (failover.tf).

resource "aws_acm_certificate" "regional" {
  count = local.is_primary ? 1 : 0

  domain_name               = local.origin_host
  subject_alternative_names = [local.backend_host]
  validation_method         = "DNS"

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_acm_certificate" "cloudfront" {
  count    = local.is_primary ? 1 : 0
  provider = aws.us_east_1

  domain_name       = var.domain_name
  validation_method = "DNS"

  lifecycle {
    create_before_destroy = true
  }
}

locals {
  # The validation records of the certificates, by domain name (the DR region's certificate's prefixed with "dr/":
  # ACM gives a domain the same record in every region of an account, so origin.<domain> appears twice).
  certificate_validations = local.is_primary ? merge(
    {
      for o in concat(tolist(aws_acm_certificate.regional[0].domain_validation_options), tolist(aws_acm_certificate.cloudfront[0].domain_validation_options)) :
      o.domain_name => o
    },
    { for o in aws_acm_certificate.dr[0].domain_validation_options : "dr/${o.domain_name}" => o },
  ) : {}
  # The certificate of this stack's load balancers: its own, or the one the primary issued for the DR region.
  regional_certificate_arn = local.is_primary ? aws_acm_certificate_validation.regional[0].certificate_arn : data.aws_acm_certificate.dr_region[0].arn
}

resource "aws_route53_record" "certificate_validation" {
  for_each = local.certificate_validations

  zone_id         = var.route53_zone_id
  name            = each.value.resource_record_name
  type            = each.value.resource_record_type
  records         = [each.value.resource_record_value]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "regional" {
  count = local.is_primary ? 1 : 0

  certificate_arn         = aws_acm_certificate.regional[0].arn
  validation_record_fqdns = [for name in [local.origin_host, local.backend_host] : aws_route53_record.certificate_validation[name].fqdn]
}

resource "aws_acm_certificate_validation" "cloudfront" {
  count    = local.is_primary ? 1 : 0
  provider = aws.us_east_1

  certificate_arn         = aws_acm_certificate.cloudfront[0].arn
  validation_record_fqdns = [aws_route53_record.certificate_validation[var.domain_name].fqdn]
}

resource "aws_route53_record" "backend" {
  count = local.is_primary ? 1 : 0

  zone_id = var.route53_zone_id
  name    = local.backend_host
  type    = "A"

  alias {
    name                   = aws_lb.internal.dns_name
    zone_id                = aws_lb.internal.zone_id
    evaluate_target_health = true
  }
}

resource "aws_route53_record" "service" {
  for_each = local.is_primary ? toset(["A", "AAAA"]) : toset([])

  zone_id = var.route53_zone_id
  name    = var.domain_name
  type    = each.key

  alias {
    name                   = aws_cloudfront_distribution.this[0].domain_name
    zone_id                = aws_cloudfront_distribution.this[0].hosted_zone_id
    evaluate_target_health = false
  }
}
