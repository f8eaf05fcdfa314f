# Instances reach AWS APIs privately: gateway endpoints for S3 and DynamoDB, interface endpoints for the rest.

# Instance security groups allow no internet egress, so every API the instances call needs an endpoint
# (var.vpc_interface_endpoints says which one serves what). Non-production places them in one zone
# (var.vpc_interface_endpoints_single_zone): an interface endpoint bills per zone-hour.

resource "aws_vpc_endpoint" "gateway" {
  for_each = toset(["s3", "dynamodb"])

  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${var.aws_region}.${each.key}"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = aws_route_table.private[*].id

  tags = { Name = "${local.name_prefix}-${each.key}-endpoint" }
}

resource "aws_vpc_endpoint" "interface" {
  for_each = toset(var.vpc_interface_endpoints)

  vpc_id              = aws_vpc.this.id
  service_name        = "com.amazonaws.${var.aws_region}.${each.key}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = var.vpc_interface_endpoints_single_zone ? [aws_subnet.private[0].id] : aws_subnet.private[*].id
  security_group_ids  = [aws_security_group.endpoints.id]
  private_dns_enabled = true

  tags = { Name = "${local.name_prefix}-${each.key}-endpoint" }
}
