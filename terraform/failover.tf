# Traffic to the DR region with no control-plane write during an outage. CloudFront (a global service: its edges keep
# serving while a region is down) stays the entry; what fails over is its origin, origin.<domain>, a Route 53
# failover pair the primary stack creates: PRIMARY is the primary's load balancer while a Route 53 health check on it
# passes, SECONDARY the DR region's entry addresses, Elastic IPs the primary holds there in advance. A DR stack
# (drill or failover) puts a Network Load Balancer on those addresses in front of its public load balancer, and one on
# fixed private addresses, published as backend.<DR region>.<domain>, in front of its internal one; the certificate
# of both names is issued in advance too. Health checks and DNS answers are Route 53's data plane.
# var.dr_failover_routing = false (dev) keeps origin.<domain> a plain record: no health check, no addresses held.

locals {
  failover_routing = local.is_primary && var.dr_failover_routing
}

# --- Primary stack: the health check, the failover pair, and what it prepares in the DR region ---

resource "aws_route53_health_check" "primary" {
  count = local.failover_routing ? 1 : 0

  # The load balancer itself: origin.<domain> resolves to the DR region once failed over, and CloudFront follows it.
  # Its health path answers without the origin header (alb.tf), and only Route 53's checkers reach it directly.
  fqdn              = aws_lb.public.dns_name
  port              = 443
  type              = "HTTPS"
  resource_path     = var.ollama_frontend_health_path
  request_interval  = 30
  failure_threshold = 3

  tags = { Name = "${local.name_prefix}-origin-health" }
}

resource "aws_route53_record" "origin" {
  count = local.is_primary ? 1 : 0

  zone_id         = var.route53_zone_id
  name            = local.origin_host
  type            = "A"
  set_identifier  = local.failover_routing ? var.aws_region : null
  health_check_id = local.failover_routing ? aws_route53_health_check.primary[0].id : null

  dynamic "failover_routing_policy" {
    for_each = local.failover_routing ? ["PRIMARY"] : []
    content {
      type = failover_routing_policy.value
    }
  }

  alias {
    name                   = aws_lb.public.dns_name
    zone_id                = aws_lb.public.zone_id
    evaluate_target_health = true
  }
}

# The secondary is checked too: until a DR stack answers on its addresses it is unhealthy, and with both records
# unhealthy Route 53 answers with the primary, so a blip of the primary (or a non-production night at zero capacity)
# does not send users to addresses nobody serves.
resource "aws_route53_health_check" "secondary" {
  count = local.failover_routing ? 1 : 0

  ip_address        = aws_eip.dr_entry[0].public_ip
  fqdn              = local.origin_host
  port              = 443
  type              = "HTTPS"
  resource_path     = var.ollama_frontend_health_path
  request_interval  = 30
  failure_threshold = 3

  tags = { Name = "${local.name_prefix}-dr-origin-health" }
}

resource "aws_route53_record" "origin_secondary" {
  count = local.failover_routing ? 1 : 0

  zone_id         = var.route53_zone_id
  name            = local.origin_host
  type            = "A"
  ttl             = 60
  records         = aws_eip.dr_entry[*].public_ip
  set_identifier  = var.dr_region
  health_check_id = aws_route53_health_check.secondary[0].id

  failover_routing_policy {
    type = "SECONDARY"
  }

  # On an existing stack the plain origin record becomes the PRIMARY first: Route 53 refuses a failover record beside
  # a plain record of the same name and type.
  depends_on = [aws_route53_record.origin]
}

# The DR region's entry addresses, one per zone, held until a DR stack puts its entry load balancer on them.
resource "aws_eip" "dr_entry" {
  #checkov:skip=CKV2_AWS_19:held in advance for a DR stack's entry load balancer, whose subnet mappings take them; nothing holds them while the primary runs
  count    = local.failover_routing ? var.az_count : 0
  provider = aws.dr

  domain = "vpc"

  tags = { Name = "${local.names.dr_entry}-${count.index}" }
}

# The certificate of a DR stack's load balancers: origin.<domain> and its backend.<DR region>.<domain>.
resource "aws_acm_certificate" "dr" {
  count    = local.is_primary ? 1 : 0
  provider = aws.dr

  domain_name               = local.origin_host
  subject_alternative_names = [local.dr_backend_host]
  validation_method         = "DNS"

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_acm_certificate_validation" "dr" {
  count    = local.is_primary ? 1 : 0
  provider = aws.dr

  certificate_arn         = aws_acm_certificate.dr[0].arn
  validation_record_fqdns = [for name in [local.origin_host, local.dr_backend_host] : aws_route53_record.certificate_validation["dr/${name}"].fqdn]
}

# A DR stack's internal entry: fixed addresses near the end of its private subnets (the VPC is the same: the DR stack
# has the primary's variables), away from those instances get first.
locals {
  entry_private_addresses = [for cidr in local.subnet_cidrs.private : cidrhost(cidr, -6)]
}

resource "aws_route53_record" "dr_backend" {
  #checkov:skip=CKV2_AWS_23:names the fixed private addresses a DR stack's internal entry load balancer takes (below), created with that stack
  count = local.is_primary ? 1 : 0

  zone_id = var.route53_zone_id
  name    = local.dr_backend_host
  type    = "A"
  ttl     = 300
  records = local.entry_private_addresses
}

# --- DR stack: the entry load balancers on what the primary prepared ---

data "aws_acm_certificate" "dr_region" {
  count = local.is_primary ? 0 : 1

  domain      = local.origin_host
  statuses    = ["ISSUED"]
  most_recent = true
}

data "aws_eip" "dr_entry" {
  count = !local.is_primary && var.dr_failover_routing ? var.az_count : 0

  filter {
    name   = "tag:Name"
    values = ["${local.names.dr_entry}-${count.index}"]
  }
}

locals {
  # Each entry: the load balancer it fronts, its subnets and the target's health path (the public one only on the
  # addresses the primary holds, var.dr_failover_routing).
  all_entries = {
    public   = { internal = false, target = aws_lb.public.arn, target_sg = aws_security_group.alb.id, subnets = aws_subnet.public[*].id, health_path = var.ollama_frontend_health_path }
    internal = { internal = true, target = aws_lb.internal.arn, target_sg = aws_security_group.internal_alb.id, subnets = aws_subnet.private[*].id, health_path = var.ollama_backend_health_path }
  }
  entries = { for name, entry in local.all_entries : name => entry if !local.is_primary && (entry.internal || var.dr_failover_routing) }
}

resource "aws_security_group" "entry" {
  for_each = local.entries

  name        = "${local.names[each.key == "public" ? "entry" : "internal_entry"]}-sg"
  description = each.key == "public" ? "DR entry: HTTPS from CloudFront to the public ALB" : "DR internal entry: the Ollama API from Open-WebUI"
  vpc_id      = aws_vpc.this.id

  tags = { Name = "${local.names[each.key == "public" ? "entry" : "internal_entry"]}-sg" }
}

resource "aws_vpc_security_group_ingress_rule" "entry" {
  for_each = local.entries

  security_group_id            = aws_security_group.entry[each.key].id
  description                  = each.key == "public" ? "HTTPS from CloudFront origin-facing servers only" : "Ollama API from Open-WebUI"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  prefix_list_id               = each.value.internal ? null : data.aws_ec2_managed_prefix_list.cloudfront.id
  referenced_security_group_id = each.value.internal ? aws_security_group.frontend.id : null

  tags = { Name = "${local.names[each.key == "public" ? "entry" : "internal_entry"]}-in" }
}

resource "aws_vpc_security_group_egress_rule" "entry" {
  for_each = local.entries

  security_group_id            = aws_security_group.entry[each.key].id
  description                  = "To the ${each.key} ALB"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = each.value.target_sg

  tags = { Name = "${local.names[each.key == "public" ? "entry" : "internal_entry"]}-out" }
}

# The load balancers behind an entry admit it; Open-WebUI reaches the Ollama API through the internal entry.
resource "aws_vpc_security_group_ingress_rule" "from_entry" {
  for_each = local.entries

  security_group_id            = each.value.target_sg
  description                  = "HTTPS from the DR ${each.key} entry"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.entry[each.key].id

  tags = { Name = "${local.name_prefix}-${each.key}-alb-from-entry" }
}

resource "aws_vpc_security_group_egress_rule" "frontend_to_internal_entry" {
  count = local.is_primary ? 0 : 1

  security_group_id            = aws_security_group.frontend.id
  description                  = "To the Ollama API through the DR internal entry"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.entry["internal"].id

  tags = { Name = "${local.name_prefix}-frontend-to-internal-entry" }
}

resource "aws_lb" "entry" {
  #checkov:skip=CKV_AWS_91:a TCP pass-through to the ALB behind it, which logs every request; NLB access logs exist for TLS listeners only
  for_each = local.entries

  name                             = local.names[each.key == "public" ? "entry" : "internal_entry"]
  internal                         = each.value.internal
  load_balancer_type               = "network"
  security_groups                  = [aws_security_group.entry[each.key].id]
  enable_cross_zone_load_balancing = true
  enable_deletion_protection       = var.deletion_protection

  dynamic "subnet_mapping" {
    for_each = range(var.az_count)
    content {
      subnet_id            = each.value.subnets[subnet_mapping.value]
      allocation_id        = each.value.internal ? null : data.aws_eip.dr_entry[subnet_mapping.value].id
      private_ipv4_address = each.value.internal ? local.entry_private_addresses[subnet_mapping.value] : null
    }
  }
}

resource "aws_lb_target_group" "entry" {
  for_each = local.entries

  name                 = local.names[each.key == "public" ? "entry" : "internal_entry"]
  target_type          = "alb"
  port                 = 443
  protocol             = "TCP"
  vpc_id               = aws_vpc.this.id
  deregistration_delay = local.drain_seconds # streams in flight finish, as behind the ALB

  health_check {
    protocol = "HTTPS"
    path     = each.value.health_path
    matcher  = "200"
  }
}

resource "aws_lb_target_group_attachment" "entry" {
  for_each = local.entries

  target_group_arn = aws_lb_target_group.entry[each.key].arn
  target_id        = each.value.target
  port             = 443

  depends_on = [aws_lb_listener.public_https, aws_lb_listener.internal]
}

resource "aws_lb_listener" "entry" {
  for_each = local.entries

  load_balancer_arn        = aws_lb.entry[each.key].arn
  port                     = 443
  protocol                 = "TCP"
  tcp_idle_timeout_seconds = local.stream_idle_timeout # timeouts.tf, as the ALB behind it

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.entry[each.key].arn
  }
}
