# For var.domain_name (required): a regional certificate for the ALBs (origin.<domain>, backend.<domain>) and a us-east-1
# certificate for CloudFront (<domain>), both DNS-validated in var.route53_zone_id.

resource "aws_acm_certificate" "regional" {
  domain_name               = "origin.${var.domain_name}"
  subject_alternative_names = ["backend.${var.domain_name}"]
  validation_method         = "DNS"

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_acm_certificate" "cloudfront" {
  provider = aws.us_east_1

  domain_name       = var.domain_name
  validation_method = "DNS"

  lifecycle {
    create_before_destroy = true
  }
}

locals {
  certificate_validations = {
    for o in concat(tolist(aws_acm_certificate.regional.domain_validation_options), tolist(aws_acm_certificate.cloudfront.domain_validation_options)) :
    o.domain_name => o
  }
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
  certificate_arn         = aws_acm_certificate.regional.arn
  validation_record_fqdns = [for name in ["origin.${var.domain_name}", "backend.${var.domain_name}"] : aws_route53_record.certificate_validation[name].fqdn]
}

resource "aws_acm_certificate_validation" "cloudfront" {
  provider = aws.us_east_1

  certificate_arn         = aws_acm_certificate.cloudfront.arn
  validation_record_fqdns = [aws_route53_record.certificate_validation[var.domain_name].fqdn]
}

resource "aws_route53_record" "origin" {
  zone_id = var.route53_zone_id
  name    = "origin.${var.domain_name}"
  type    = "A"

  alias {
    name                   = aws_lb.public.dns_name
    zone_id                = aws_lb.public.zone_id
    evaluate_target_health = true
  }
}

resource "aws_route53_record" "backend" {
  zone_id = var.route53_zone_id
  name    = "backend.${var.domain_name}"
  type    = "A"

  alias {
    name                   = aws_lb.internal.dns_name
    zone_id                = aws_lb.internal.zone_id
    evaluate_target_health = true
  }
}

resource "aws_route53_record" "service" {
  for_each = toset(["A", "AAAA"])

  zone_id = var.route53_zone_id
  name    = var.domain_name
  type    = each.key

  alias {
    name                   = aws_cloudfront_distribution.this.domain_name
    zone_id                = aws_cloudfront_distribution.this.hosted_zone_id
    evaluate_target_health = false
  }
}
