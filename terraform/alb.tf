# Public ALB "ollama-alb" (only CloudFront reaches it: prefix list or HTTPS + a secret origin header; Route 53's
# health checkers its health path) and the internal ALB in front of the Ollama backend.

resource "aws_lb" "public" {
  #checkov:skip=CKV2_AWS_28:the WAF web ACL is attached at the CloudFront edge (waf.tf), where viewer IPs are visible; this ALB admits only CloudFront's prefix list and answers 403 without the secret origin header
  name                       = local.names.alb
  internal                   = false
  load_balancer_type         = "application"
  security_groups            = concat([aws_security_group.alb.id], aws_security_group.alb_health_checks[*].id)
  subnets                    = aws_subnet.public[*].id
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
  idle_timeout               = local.stream_idle_timeout # timeouts.tf

  access_logs {
    bucket  = module.logs_bucket.id
    prefix  = local.alb_log_prefixes.public
    enabled = true
  }

  depends_on = [module.logs_bucket]
}

resource "aws_lb_target_group" "frontend" {
  #checkov:skip=CKV_AWS_378:TLS terminates at the load balancer; targets sit in private subnets whose security group admits only the load balancer's group
  name                 = local.names.frontend_tg
  port                 = var.ollama_frontend_port
  protocol             = "HTTP"
  vpc_id               = aws_vpc.this.id
  deregistration_delay = local.drain_seconds # streams in flight finish (var.ollama_max_generation_seconds)

  health_check {
    path                = var.ollama_frontend_health_path
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  # Open-WebUI's socket.io falls back to long polling, which needs the same instance for a session.
  stickiness {
    type            = "lb_cookie"
    cookie_duration = 3600
    enabled         = true
  }
}

# HTTPS only: CloudFront reaches origin.<domain> over TLS; there is no plain-HTTP listener to fall back to.
resource "aws_lb_listener" "public_https" {
  load_balancer_arn = aws_lb.public.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = local.regional_certificate_arn

  default_action {
    type = "fixed-response"

    fixed_response {
      content_type = "text/plain"
      message_body = "Forbidden"
      status_code  = "403"
    }
  }
}

# The origin-verify value before the last rotation (secrets.tf: local.secret_version). The rule accepts it with the
# current one, so edges still sending it while CloudFront deploys the new value get no 403; CloudFront is updated
# only after the rule (cloudfront.tf). It stays accepted until the next rotation: rotate twice to revoke at once.
data "aws_secretsmanager_secret_version" "origin_verify_previous" {
  count = local.secret_version > 1 ? 1 : 0

  secret_id     = local.secret_arns["origin_verify"]
  version_stage = "AWSPREVIOUS"

  depends_on = [aws_secretsmanager_secret_version.this]
}

# Only requests that carry CloudFront's secret origin header reach Open-WebUI; everything else gets 403.
resource "aws_lb_listener_rule" "from_cloudfront" {
  listener_arn = aws_lb_listener.public_https.arn
  priority     = 10

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.frontend.arn
  }

  condition {
    http_header {
      http_header_name = "X-Origin-Verify"
      values           = concat([data.aws_secretsmanager_secret_version.origin_verify.secret_string], data.aws_secretsmanager_secret_version.origin_verify_previous[*].secret_string)
    }
  }
}

# The health path without the origin header: for Route 53's health checkers (the primary's failover record) and a DR
# stack's entry load balancer (failover.tf). It forwards that one path to the frontends, whose answer holds no data.
resource "aws_lb_listener_rule" "health" {
  listener_arn = aws_lb_listener.public_https.arn
  priority     = 5

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.frontend.arn
  }

  condition {
    path_pattern {
      values = [var.ollama_frontend_health_path]
    }
  }
}

resource "aws_lb" "internal" {
  name                       = local.names.internal_alb
  internal                   = true
  load_balancer_type         = "application"
  security_groups            = [aws_security_group.internal_alb.id]
  subnets                    = aws_subnet.private[*].id
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
  idle_timeout               = local.stream_idle_timeout

  access_logs {
    bucket  = module.logs_bucket.id
    prefix  = local.alb_log_prefixes.internal
    enabled = true
  }

  depends_on = [module.logs_bucket]
}

resource "aws_lb_target_group" "backend" {
  #checkov:skip=CKV_AWS_378:TLS terminates at the load balancer; targets sit in private subnets whose security group admits only the load balancer's group
  name                 = local.names.backend_tg
  port                 = var.ollama_backend_port
  protocol             = "HTTP"
  vpc_id               = aws_vpc.this.id
  deregistration_delay = local.drain_seconds # generations in flight finish (var.ollama_max_generation_seconds)

  health_check {
    path                = var.ollama_backend_health_path
    matcher             = "200"
    interval            = 15
    timeout             = 10
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

resource "aws_lb_listener" "internal" {
  load_balancer_arn = aws_lb.internal.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = local.regional_certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.backend.arn
  }
}
