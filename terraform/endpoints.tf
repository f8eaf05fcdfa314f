# Instances reach AWS APIs privately: gateway endpoints for S3 and DynamoDB, interface endpoints for the rest.

locals {
  # Instance security groups allow no internet egress, so every API the instances call needs an endpoint:
  # Session Manager (ssm, ssmmessages, ec2messages), the CloudWatch agent (logs, monitoring, ec2 for its tag
  # dimensions), secrets (secretsmanager, kms) and the backend's readiness hook (autoscaling).
  interface_endpoints = toset(["ssm", "ssmmessages", "ec2messages", "logs", "monitoring", "secretsmanager", "kms", "ec2", "autoscaling"])
}

resource "aws_vpc_endpoint" "gateway" {
  for_each = toset(["s3", "dynamodb"])

  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${var.aws_region}.${each.key}"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = aws_route_table.private[*].id

  tags = { Name = "${local.name_prefix}-${each.key}-endpoint" }
}

resource "aws_vpc_endpoint" "interface" {
  for_each = local.interface_endpoints

  vpc_id              = aws_vpc.this.id
  service_name        = "com.amazonaws.${var.aws_region}.${each.key}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = aws_subnet.private[*].id
  security_group_ids  = [aws_security_group.endpoints.id]
  private_dns_enabled = true

  tags = { Name = "${local.name_prefix}-${each.key}-endpoint" }
}
