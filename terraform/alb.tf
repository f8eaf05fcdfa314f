# Public ALB "ollama-alb" (only CloudFront reaches it: prefix list or HTTPS + a secret origin header) and the
# internal ALB in front of the Ollama backend.

resource "aws_lb" "public" {
  #checkov:skip=CKV2_AWS_28:the WAF web ACL is attached at the CloudFront edge (waf.tf), where viewer IPs are visible; this ALB admits only CloudFront's prefix list and answers 403 without the secret origin header
  name                       = local.names.alb
  internal                   = false
  load_balancer_type         = "application"
  security_groups            = [aws_security_group.alb.id]
  subnets                    = aws_subnet.public[*].id
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
  idle_timeout               = 300 # streamed generations stay open for minutes

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
  deregistration_delay = 60

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

resource "aws_lb_listener" "public_http" {
  #checkov:skip=CKV_AWS_2:with a domain this listener only redirects to HTTPS; without one it is reachable only from CloudFront's origin-facing prefix list, viewers use HTTPS at CloudFront, and requests without the secret origin header get 403
  load_balancer_arn = aws_lb.public.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = local.has_domain ? "redirect" : "fixed-response"

    dynamic "redirect" {
      for_each = local.has_domain ? [1] : []
      content {
        port        = "443"
        protocol    = "HTTPS"
        status_code = "HTTP_301"
      }
    }

    dynamic "fixed_response" {
      for_each = local.has_domain ? [] : [1]
      content {
        content_type = "text/plain"
        message_body = "Forbidden"
        status_code  = "403"
      }
    }
  }
}

resource "aws_lb_listener" "public_https" {
  count = local.has_domain ? 1 : 0

  load_balancer_arn = aws_lb.public.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = aws_acm_certificate_validation.regional[0].certificate_arn

  default_action {
    type = "fixed-response"

    fixed_response {
      content_type = "text/plain"
      message_body = "Forbidden"
      status_code  = "403"
    }
  }
}

# Only requests that carry CloudFront's secret origin header reach Open-WebUI; everything else gets 403.
resource "aws_lb_listener_rule" "from_cloudfront" {
  listener_arn = local.has_domain ? aws_lb_listener.public_https[0].arn : aws_lb_listener.public_http.arn
  priority     = 10

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.frontend.arn
  }

  condition {
    http_header {
      http_header_name = "X-Origin-Verify"
      values           = [data.aws_secretsmanager_secret_version.origin_verify.secret_string]
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
  idle_timeout               = 300

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
  deregistration_delay = 120 # let running generations finish

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
  port              = local.internal_listener_port
  protocol          = local.has_domain ? "HTTPS" : "HTTP"
  ssl_policy        = local.has_domain ? "ELBSecurityPolicy-TLS13-1-2-2021-06" : null
  certificate_arn   = local.has_domain ? aws_acm_certificate_validation.regional[0].certificate_arn : null

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.backend.arn
  }
}
