# "ollama-data-table": the platform's own records (model catalog, AMI bakes, DR drills, load-test baselines).

resource "aws_dynamodb_table" "data" {
  name                        = local.names.data_table
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = var.deletion_protection
  stream_enabled              = true # global tables replicate through the stream
  stream_view_type            = "NEW_AND_OLD_IMAGES"

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

  # Global-table replica in the DR region, every environment: the data a failover runs on (RPO: seconds). A failover
  # stack adopts the replica (the import below); a drill stack restores a copy of it (playbooks/dr.yml).
  dynamic "replica" {
    for_each = local.is_primary ? [var.dr_region] : []
    content {
      region_name            = replica.value
      kms_key_arn            = aws_kms_key.dr[0].arn
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

# A DR stack takes over the table playbooks/dr.yml prepared instead of creating it: the global-table replica of the
# lost primary (failover), or the drill's point-in-time copy of that replica (drill).
import {
  for_each = var.dr_mode != "" ? toset([local.names.data_table]) : toset([])
  to       = aws_dynamodb_table.data
  id       = each.value
}
