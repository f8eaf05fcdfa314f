# "ollama-data-table": the platform's own records (model catalog, AMI bakes, DR drills, load-test baselines).

resource "aws_dynamodb_table" "data" {
  name                        = local.names.data_table
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = var.deletion_protection
  stream_enabled              = local.is_production
  stream_view_type            = local.is_production ? "NEW_AND_OLD_IMAGES" : null

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.data.arn
  }

  # Global table replica in the DR region (production).
  dynamic "replica" {
    for_each = local.is_production ? [var.dr_region] : []
    content {
      region_name            = replica.value
      kms_key_arn            = aws_kms_key.dr.arn
      point_in_time_recovery = true
      propagate_tags         = true
    }
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  tags = { Name = local.names.data_table }
}
