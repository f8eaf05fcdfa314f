# Redis for Open-WebUI's websocket manager (WEBSOCKET_MANAGER=redis): TLS, encryption at rest, AUTH token read from
# the stored secret (secrets.tf) the frontend instances read too.

resource "aws_elasticache_subnet_group" "webui" {
  name        = "${local.names.redis}-subnets"
  description = "Data subnets for ${local.names.redis}"
  subnet_ids  = aws_subnet.data[*].id
}

resource "aws_elasticache_replication_group" "this" {
  #checkov:skip=CKV2_AWS_50:failover is enabled whenever var.redis_num_cache_clusters >= 2 (default 2, production 3, asserted by tests/terraform); a one-node dev cache has nothing to fail over to
  #checkov:skip=CKV_AWS_31:transit encryption is on and AUTH is set through the write-only auth_token_wo (Terraform 1.11+) so the token never reaches the state; this check only recognises auth_token
  replication_group_id       = local.names.redis
  description                = "Open-WebUI websocket and session state (${var.environment})"
  engine                     = "redis"
  engine_version             = "7.1"
  node_type                  = var.redis_node_type
  num_cache_clusters         = var.redis_num_cache_clusters
  automatic_failover_enabled = var.redis_num_cache_clusters > 1
  multi_az_enabled           = var.redis_num_cache_clusters > 1
  port                       = 6379
  subnet_group_name          = aws_elasticache_subnet_group.webui.name
  security_group_ids         = [aws_security_group.redis.id]
  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.data.arn
  transit_encryption_enabled = true
  auth_token_wo              = ephemeral.aws_secretsmanager_secret_version.redis_auth_token.secret_string
  auth_token_wo_version      = local.secret_version
  auto_minor_version_upgrade = true
  snapshot_retention_limit   = local.is_production ? 7 : 1
  snapshot_window            = "01:00-02:00"
  maintenance_window         = "sun:04:30-sun:05:30"
  apply_immediately          = !local.is_production
}
