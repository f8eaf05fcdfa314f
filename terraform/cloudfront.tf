# Static assets stay at the edge (assets bucket through Origin Access Control, Open-WebUI's immutable bundles);
# the app, its API and websockets pass through uncached to the ALB with the secret origin header. The primary stack
# owns the distribution (CloudFront's control plane is in us-east-1); in a failover it keeps serving, its origin name
# answering with the DR region's entry (failover.tf), so a DR stack creates none.

data "aws_cloudfront_cache_policy" "disabled" {
  count = local.is_primary ? 1 : 0

  name = "Managed-CachingDisabled"
}

data "aws_cloudfront_cache_policy" "optimized" {
  count = local.is_primary ? 1 : 0

  name = "Managed-CachingOptimized"
}

data "aws_cloudfront_origin_request_policy" "all_viewer_except_host" {
  count = local.is_primary ? 1 : 0

  name = "Managed-AllViewerExceptHostHeader"
}

data "aws_cloudfront_response_headers_policy" "security_headers" {
  count = local.is_primary ? 1 : 0

  name = "Managed-SecurityHeadersPolicy"
}

resource "aws_cloudfront_origin_access_control" "assets" {
  count = local.is_primary ? 1 : 0

  name                              = "${local.global_name_prefix}-assets-oac"
  description                       = "CloudFront reads the assets bucket"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

locals {
  alb_origin_id    = "alb"
  assets_origin_id = "assets"

  cached_alb_paths = ["/static/*", "/_app/immutable/*"]
  dynamic_paths    = ["/api/*", "/ollama/*", "/ws/*", "/oauth/*"]
}

resource "aws_cloudfront_distribution" "this" {
  #checkov:skip=CKV_AWS_374:a private team service used from wherever the team works; access is controlled by Open-WebUI accounts and WAF, not by country
  #checkov:skip=CKV_AWS_310:the dynamic origin fails over by DNS: origin.<domain> is a Route 53 failover pair (failover.tf) whose secondary is the DR region's entry; an origin group would fail over GET requests only, not chat
  #checkov:skip=CKV_AWS_305:the root path is Open-WebUI served by the ALB origin; a default root object would rewrite / to an S3 key
  count = local.is_primary ? 1 : 0

  enabled         = true
  is_ipv6_enabled = true
  comment         = local.names.cloudfront
  price_class     = var.cloudfront_price_class
  aliases         = [var.domain_name]
  web_acl_id      = aws_wafv2_web_acl.this[0].arn
  http_version    = "http2and3"

  origin {
    origin_id   = local.alb_origin_id
    domain_name = local.origin_host

    custom_origin_config {
      http_port                = 80
      https_port               = 443
      origin_protocol_policy   = "https-only"
      origin_ssl_protocols     = ["TLSv1.2"]
      origin_read_timeout      = local.cloudfront_origin_read_timeout # timeouts.tf
      origin_keepalive_timeout = local.cloudfront_origin_keepalive_timeout
    }

    custom_header {
      name  = "X-Origin-Verify"
      value = data.aws_secretsmanager_secret_version.origin_verify.secret_string
    }
  }

  origin {
    origin_id                = local.assets_origin_id
    domain_name              = module.assets_bucket.bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.assets[0].id
  }

  default_cache_behavior {
    target_origin_id           = local.alb_origin_id
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]
    cached_methods             = ["GET", "HEAD"]
    cache_policy_id            = data.aws_cloudfront_cache_policy.disabled[0].id
    origin_request_policy_id   = data.aws_cloudfront_origin_request_policy.all_viewer_except_host[0].id
    response_headers_policy_id = data.aws_cloudfront_response_headers_policy.security_headers[0].id
    compress                   = true
  }

  ordered_cache_behavior {
    path_pattern               = "/assets/*"
    target_origin_id           = local.assets_origin_id
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD", "OPTIONS"]
    cached_methods             = ["GET", "HEAD"]
    cache_policy_id            = data.aws_cloudfront_cache_policy.optimized[0].id
    response_headers_policy_id = data.aws_cloudfront_response_headers_policy.security_headers[0].id
    compress                   = true
  }

  dynamic "ordered_cache_behavior" {
    for_each = local.cached_alb_paths
    content {
      path_pattern               = ordered_cache_behavior.value
      target_origin_id           = local.alb_origin_id
      viewer_protocol_policy     = "redirect-to-https"
      allowed_methods            = ["GET", "HEAD", "OPTIONS"]
      cached_methods             = ["GET", "HEAD"]
      cache_policy_id            = data.aws_cloudfront_cache_policy.optimized[0].id
      response_headers_policy_id = data.aws_cloudfront_response_headers_policy.security_headers[0].id
      compress                   = true
    }
  }

  dynamic "ordered_cache_behavior" {
    for_each = local.dynamic_paths
    content {
      path_pattern               = ordered_cache_behavior.value
      target_origin_id           = local.alb_origin_id
      viewer_protocol_policy     = "https-only"
      allowed_methods            = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]
      cached_methods             = ["GET", "HEAD"]
      cache_policy_id            = data.aws_cloudfront_cache_policy.disabled[0].id
      origin_request_policy_id   = data.aws_cloudfront_origin_request_policy.all_viewer_except_host[0].id
      response_headers_policy_id = data.aws_cloudfront_response_headers_policy.security_headers[0].id
      compress                   = false # streamed tokens must not wait for a compression buffer
    }
  }

  logging_config {
    bucket          = module.logs_bucket.bucket_domain_name
    prefix          = "cloudfront/"
    include_cookies = false
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    acm_certificate_arn      = aws_acm_certificate_validation.cloudfront[0].certificate_arn
    ssl_support_method       = "sni-only"
    minimum_protocol_version = "TLSv1.2_2021"
  }

  # The ALB accepts a rotated origin-verify value before CloudFront starts sending it.
  depends_on = [module.logs_bucket, aws_lb_listener_rule.from_cloudfront]
}
