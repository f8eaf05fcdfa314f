# Streamed answers and websockets: every timeout on the request path derives from stream_timeouts.json, the one
# setting shared with the twin's load balancers (tools/twin/proxy.py reads the same file):
#   first_byte_seconds - worst-case time to the first byte, a cold model load included;
#   token_gap_seconds  - the longest silence between two tokens of one answer;
#   margin_seconds     - slack so that the slower side (the model) is never cut off by the faster one (a proxy).

locals {
  stream_timeouts = jsondecode(file("${path.module}/stream_timeouts.json"))

  # A load balancer closes a connection after this many idle seconds: the longest silence plus the margin.
  stream_idle_timeout = max(local.stream_timeouts.first_byte_seconds, local.stream_timeouts.token_gap_seconds) + local.stream_timeouts.margin_seconds

  # CloudFront waits at most its quota ("Response timeout per origin", 60 s by default, up to 180 s on request) for
  # each byte from the origin, and keeps an idle origin connection open for less than the ALB does (else the ALB
  # closes a connection CloudFront is about to reuse: 502).
  cloudfront_origin_read_timeout      = min(local.stream_idle_timeout, var.cloudfront_origin_timeout_quota_seconds)
  cloudfront_origin_keepalive_timeout = min(local.stream_idle_timeout - 1, var.cloudfront_origin_timeout_quota_seconds)
}

resource "terraform_data" "stream_timeouts_guard" {
  input = local.stream_timeouts

  lifecycle {
    precondition {
      condition     = alltrue([for key in ["first_byte_seconds", "token_gap_seconds", "margin_seconds"] : can(local.stream_timeouts[key] >= 1)]) && local.stream_idle_timeout <= 4000
      error_message = "stream_timeouts.json must set first_byte_seconds, token_gap_seconds and margin_seconds (>= 1 s each), and the longer of the first two plus the margin must fit the ALB idle timeout limit of 4000 s."
    }
    precondition {
      condition     = local.stream_timeouts.token_gap_seconds + local.stream_timeouts.margin_seconds <= var.cloudfront_origin_timeout_quota_seconds
      error_message = "A token gap of ${local.stream_timeouts.token_gap_seconds} s plus the ${local.stream_timeouts.margin_seconds} s margin exceeds CloudFront's origin response timeout of ${var.cloudfront_origin_timeout_quota_seconds} s: request a higher 'Response timeout per origin' quota (up to 180 s) and set var.cloudfront_origin_timeout_quota_seconds, or lower token_gap_seconds in stream_timeouts.json."
    }
  }
}
