# Web ACL at the CloudFront edge (scope CLOUDFRONT lives in us-east-1): AWS managed rule groups + a per-IP rate limit.
# The primary stack's, with the distribution (cloudfront.tf): a DR stack creates nothing in us-east-1.

locals {
  # Paths whose bodies are prompts, answers, uploads or websocket frames (Open-WebUI chat and files, the Ollama API
  # through Open-WebUI, socket.io): the body-inspecting managed groups never see them (rule allow-chat-paths).
  waf_chat_path_prefixes = ["/api/chat/", "/api/v1/chats/", "/api/v1/files/", "/ollama/", "/ws/"]
  waf_chat_paths_regex   = "^(${join("|", local.waf_chat_path_prefixes)})"
}

resource "aws_wafv2_web_acl" "this" {
  count    = local.is_primary ? 1 : 0
  provider = aws.us_east_1

  name        = local.names.waf
  description = "Edge protection for ${local.names.cloudfront}"
  scope       = "CLOUDFRONT"

  default_action {
    allow {}
  }

  rule {
    name     = "rate-limit-per-ip"
    priority = 1

    action {
      block {}
    }

    statement {
      rate_based_statement {
        limit              = var.waf_rate_limit
        aggregate_key_type = "IP"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name_prefix}-rate-limit"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "AWSManagedRulesAmazonIpReputationList"
    priority = 2

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesAmazonIpReputationList"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name_prefix}-AWSManagedRulesAmazonIpReputationList"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "AWSManagedRulesAnonymousIpList"
    priority = 3

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesAnonymousIpList"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name_prefix}-AWSManagedRulesAnonymousIpList"
      sampled_requests_enabled   = true
    }
  }

  # The chat, upload, model API and websocket paths carry prompts full of code, which the body-inspecting groups
  # below (cross-site scripting, LFI/RFI, SQL, Log4j in bodies) read as attacks: once the rate limit and the address
  # reputation rules above have passed them, they are allowed here and no later rule inspects them.
  rule {
    name     = "allow-chat-paths"
    priority = 4

    action {
      allow {}
    }

    statement {
      regex_match_statement {
        regex_string = local.waf_chat_paths_regex

        field_to_match {
          uri_path {}
        }

        text_transformation {
          priority = 0
          type     = "NONE"
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name_prefix}-allow-chat-paths"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "AWSManagedRulesCommonRuleSet"
    priority = 10

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesCommonRuleSet"

        # Chat prompts and document uploads are legitimately large bodies: count instead of block.
        rule_action_override {
          name = "SizeRestrictions_BODY"
          action_to_use {
            count {}
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name_prefix}-AWSManagedRulesCommonRuleSet"
      sampled_requests_enabled   = true
    }
  }

  # Includes the Log4JRCE rules (CVE-2021-44228).
  rule {
    name     = "AWSManagedRulesKnownBadInputsRuleSet"
    priority = 20

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesKnownBadInputsRuleSet"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.name_prefix}-AWSManagedRulesKnownBadInputsRuleSet"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = local.names.waf
    sampled_requests_enabled   = true
  }
}

# us-east-1 key: WAF logs (they must live in the Web ACL's region) and the billing alarm topic.
resource "aws_kms_key" "edge" {
  count    = local.is_primary ? 1 : 0
  provider = aws.us_east_1

  description             = "${local.name_prefix}: us-east-1 WAF logs and billing alarm topic"
  enable_key_rotation     = true
  deletion_window_in_days = local.is_production ? 30 : 7
  policy                  = data.aws_iam_policy_document.kms["edge"].json
}

resource "aws_cloudwatch_log_group" "waf" {
  #checkov:skip=CKV_AWS_338:retention is set per environment by var.log_retention_days (30-day default per the requirements, 90 in production); longer-term evidence goes to S3 and AWS Backup
  count    = local.is_primary ? 1 : 0
  provider = aws.us_east_1

  name              = local.log_groups.waf
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.edge[0].arn
}

resource "aws_wafv2_web_acl_logging_configuration" "this" {
  count    = local.is_primary ? 1 : 0
  provider = aws.us_east_1

  resource_arn            = aws_wafv2_web_acl.this[0].arn
  log_destination_configs = [aws_cloudwatch_log_group.waf[0].arn]

  redacted_fields {
    single_header {
      name = "authorization"
    }
  }

  redacted_fields {
    single_header {
      name = "cookie"
    }
  }
}
