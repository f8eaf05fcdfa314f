"""Edge and TLS, read as AWS runs them: no hop that carries user data or credentials crosses the internet in plain
text, nothing reaches the application except through CloudFront and its WAF, the origin header rotates without a
403 window, timeouts derive from the one stream-timeout setting the twin shares, and the WAF lets chats through.
The primary stack and a DR stack (its entry load balancers in front of the ALBs, terraform/failover.tf) are both held
to it. Each check is shown to fail on a planted violation.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from terraform_helpers import (
    REPO_ROOT,
    TERRAFORM_DIR,
    ParsedRoot,
    evaluator,
    make_provider_free_copy,
    one,
    planted_copy,
    read_tfvars,
    run_terraform,
    stack_variables,
)

from tools.hcl_eval import Evaluator
from tools.hcl_eval import origin as origin_of
from tools.provider_schema.check import parse_file
from tools.twin import proxy

TLS_POLICY = re.compile(r"^ELBSecurityPolicy-TLS13-")


def _behaviours(distribution: dict[str, Any]) -> list[dict[str, Any]]:
    found = list(distribution.get("default_cache_behavior", [])) + list(distribution.get("ordered_cache_behavior", []))
    for dynamic in distribution.get("dynamic", []):
        for content in dynamic.get("ordered_cache_behavior", {}).get("content", []):
            found.append(content)
    return found


def _passes_tls_to_an_alb(listener: dict[str, Any], target_groups: dict[str, dict[str, Any]]) -> bool:
    """A TCP listener on 443 that forwards to a target group of ALBs on 443: TLS goes through to their HTTPS
    listeners (a DR entry, terraform/failover.tf)."""
    action = one(listener.get("default_action", [{}]))
    match = re.fullmatch(r"\$\{aws_lb_target_group\.(\w+)(?:\[[^\]]+\])?\.arn\}", str(action.get("target_group_arn")))
    group = target_groups.get(match.group(1), {}) if match else {}
    return (listener.get("port"), action.get("type")) == (443, "forward") and (
        group.get("target_type"),
        group.get("port"),
    ) == ("alb", 443)


def tls_findings(root: Path) -> list[str]:
    """Every hop is TLS to a name its certificate carries."""
    model, findings = ParsedRoot(root), []
    target_groups = model.of_type("aws_lb_target_group")
    for name, listener in model.of_type("aws_lb_listener").items():
        actions = [a.get("type") for a in listener.get("default_action", [])]
        if listener.get("protocol") == "TCP" and _passes_tls_to_an_alb(listener, target_groups):
            continue
        if listener.get("protocol") != "HTTPS" and actions != ["redirect"]:
            findings.append(f"aws_lb_listener.{name}: {listener.get('protocol')} listener that does not only redirect")
        elif listener.get("protocol") == "HTTPS" and not TLS_POLICY.match(str(listener.get("ssl_policy"))):
            findings.append(f"aws_lb_listener.{name}: TLS policy {listener.get('ssl_policy')} is not a TLS 1.3 policy")
    for name, distribution in model.of_type("aws_cloudfront_distribution").items():
        for origin in distribution.get("origin", []):
            for config in origin.get("custom_origin_config", []):
                if config.get("origin_protocol_policy") != "https-only" or config.get("origin_ssl_protocols") != [
                    "TLSv1.2"
                ]:
                    findings.append(
                        f"aws_cloudfront_distribution.{name}: origin {origin['origin_id']} not TLS 1.2 only"
                    )
        for behaviour in _behaviours(distribution):
            if behaviour.get("viewer_protocol_policy") not in ("redirect-to-https", "https-only"):
                findings.append(f"aws_cloudfront_distribution.{name}: a behaviour lets viewers use plain HTTP")
        certificate = one(distribution["viewer_certificate"])
        if certificate.get("minimum_protocol_version") != "TLSv1.2_2021" or "acm_certificate" not in str(certificate):
            findings.append(f"aws_cloudfront_distribution.{name}: viewers not on the domain certificate with TLS 1.2+")
    regional = model.resources[("aws_acm_certificate", "regional")]
    names = [regional["domain_name"], *regional.get("subject_alternative_names", [])]
    for local, scheme in (("backend_url", "https://"), ("service_url", "https://"), ("origin_host", "")):
        value = str(model.locals.get(local, ""))
        if not value.startswith(scheme):
            findings.append(f"local.{local} = {value}: not {scheme or 'a host name'}")
        host = value.removeprefix(scheme)
        if local != "service_url" and host not in names and f"${{local.{local}}}" not in names:
            findings.append(f"local.{local} = {value}: {host} is not a name of the regional certificate {names}")
    # The certificate the primary issues for a DR stack's load balancers carries their names.
    dr = model.resources.get(("aws_acm_certificate", "dr"), {})
    if [dr.get("domain_name"), *dr.get("subject_alternative_names", [])] != [
        "${local.origin_host}",
        "${local.dr_backend_host}",
    ]:
        findings.append("the DR region's certificate does not carry origin_host and dr_backend_host")
    if model.outputs["ollama_internal_api_url"]["value"] != "${local.backend_url}":
        findings.append("output ollama_internal_api_url: does not use local.backend_url")
    if not re.search(r"OLLAMA_BASE_URL = local\.backend_url\b", str(model.locals["tiers"]["frontend"]["settings"])):
        findings.append("OLLAMA_BASE_URL (the frontend's backend URL): does not use local.backend_url")
    domain = model.variables["domain_name"]
    if "default" in domain or '""' in str(domain.get("validation")):
        findings.append("var.domain_name: must be required (no default, no empty value)")
    return findings


# Who may reach an internet-facing load balancer: CloudFront's origin-facing servers, and Route 53's health checkers
# (whose requests only the health path forwards, below).
CLOUDFRONT = "data.aws_ec2_managed_prefix_list.cloudfront"
HEALTH_CHECKERS = "data.aws_ec2_managed_prefix_list.route53_health_checks"


def _where(found: Any) -> str:
    place = origin_of(found)
    return "?" if place is None else place.address + ("" if place.key is None else f"[{place.key!r}]")


def _ingress(ev: Evaluator) -> dict[str, list[tuple[str, str]]]:
    """Security group -> (rule, source) of each ingress rule: a prefix list, a group or a CIDR."""
    found: dict[str, list[tuple[str, str]]] = {}
    for address in ev.of_type("aws_vpc_security_group_ingress_rule"):
        body = ev.resources[address]
        for key, scope in ev.instances(address).items():
            rule = address if key is None else f"{address}[{key!r}]"
            sources = [
                ev.value(body[a], scope) for a in ("prefix_list_id", "referenced_security_group_id") if a in body
            ]
            sources = [_where(s) for s in sources if s is not None]
            sources += [str(ev.value(body[a], scope)) for a in ("cidr_ipv4", "cidr_ipv6") if a in body]
            for source in [s for s in sources if s != "None"]:
                found.setdefault(_where(ev.value(body["security_group_id"], scope)), []).append((rule, source))
    return found


def exposure_findings(ev: Evaluator, stack: str) -> list[str]:
    """Each internet-facing load balancer of an evaluated stack admits CloudFront, Route 53's health checkers, or a
    load balancer that itself admits only those."""
    ingress, findings = _ingress(ev), []

    def open_to(group: str, seen: tuple[str, ...] = ()) -> list[str]:
        wider = []
        for rule, source in ingress.get(group, []):
            if source.split("[")[0] in (CLOUDFRONT, HEALTH_CHECKERS):
                continue
            if source.startswith("aws_security_group.") and source not in seen:
                wider += open_to(source, (*seen, group))
            else:
                wider.append(f"{rule} ({source})")
        return wider

    for address in ev.of_type("aws_lb"):
        body = ev.resources[address]
        for key, scope in ev.instances(address).items():
            if ev.value(body.get("internal", False), scope) is True:
                continue
            name = address if key is None else f"{address}[{key!r}]"
            for group in ev.value(body["security_groups"], scope):
                findings += [f"{stack}: {name}: admits more than CloudFront: {w}" for w in open_to(_where(group))]
    return findings


def _health_path_only(rule: dict[str, Any]) -> bool:
    """A listener rule that matches the frontends' health path alone and forwards it to them."""
    conditions = rule.get("condition", [])
    paths = [one(c["path_pattern"]).get("values") for c in conditions if "path_pattern" in c]
    action = one(rule.get("action", [{}]))
    return (
        len(conditions) == 1
        and paths == [["${var.ollama_frontend_health_path}"]]
        and action.get("target_group_arn") == "${aws_lb_target_group.frontend.arn}"
    )


def bypass_findings(root: Path) -> list[str]:
    """An internet-facing load balancer, of the primary stack or of a DR stack, admits only CloudFront (a DR entry, or
    Route 53's health checkers), answers 403 by default and forwards only requests that carry the origin-verify header
    (the frontends' health path excepted); the distribution has the WAF and sends the header."""
    model, findings = ParsedRoot(root), []
    for mode in ("", "failover"):
        variables = stack_variables("production", mode, "ollama-uploads-dr-1" if mode else "", root)
        findings += exposure_findings(evaluator("production", root, variables), mode or "primary")
    listeners = model.of_type("aws_lb_listener")
    for name, lb in model.of_type("aws_lb").items():
        if lb.get("internal") is True or lb.get("load_balancer_type") == "network":  # entries: TLS pass-through
            continue
        own = {n: b for n, b in listeners.items() if b["load_balancer_arn"] == f"${{aws_lb.{name}.arn}}"}
        for listener_name, listener in own.items():
            action = one(listener["default_action"])
            status = one(action.get("fixed_response", [{}])).get("status_code")
            if action.get("type") not in ("redirect",) and status != "403":
                findings.append(f"aws_lb_listener.{listener_name}: default action is not 403 on an internet-facing ALB")
        for rule_name, rule in model.of_type("aws_lb_listener_rule").items():
            if not any(f"aws_lb_listener.{n}." in rule["listener_arn"] for n in own):
                continue
            headers = [one(c["http_header"]) for c in rule.get("condition", []) if "http_header" in c]
            if _health_path_only(rule):
                continue
            if not any(
                h["http_header_name"] == "X-Origin-Verify" and "origin_verify.secret_string" in str(h["values"])
                for h in headers
            ):
                findings.append(f"aws_lb_listener_rule.{rule_name}: forwards without the origin-verify header")
    for name, distribution in model.of_type("aws_cloudfront_distribution").items():
        if "aws_wafv2_web_acl." not in str(distribution.get("web_acl_id")):
            findings.append(f"aws_cloudfront_distribution.{name}: no WAF web ACL")
        for origin in distribution.get("origin", []):
            if "custom_origin_config" in origin and "X-Origin-Verify" not in str(origin.get("custom_header")):
                findings.append(f"aws_cloudfront_distribution.{name}: origin {origin['origin_id']} lacks the header")
    return findings


def rotation_findings(root: Path) -> list[str]:
    """During a rotation the ALB accepts the current and the previous origin-verify value, before CloudFront changes."""
    model, findings = ParsedRoot(root), []
    previous = model.data.get(("aws_secretsmanager_secret_version", "origin_verify_previous"), {})
    if previous.get("version_stage") != "AWSPREVIOUS" or "origin_verify" not in str(previous.get("secret_id")):
        findings.append("no data source reads the origin-verify value of stage AWSPREVIOUS")
    if "local.secret_version > 1" not in str(previous.get("count")):
        findings.append(
            "the previous value must be read only once there was a rotation (count on local.secret_version)"
        )
    rule = model.resources[("aws_lb_listener_rule", "from_cloudfront")]
    values = str(one(one(rule["condition"])["http_header"])["values"])
    if "origin_verify.secret_string" not in values or "origin_verify_previous[*].secret_string" not in values:
        findings.append("the listener rule does not accept both the current and the previous origin-verify value")
    distribution = model.resources[("aws_cloudfront_distribution", "this")]
    if "${aws_lb_listener_rule.from_cloudfront}" not in distribution.get("depends_on", []):
        findings.append("CloudFront may send a new origin-verify value before the ALB accepts it (depends_on)")
    return findings


def timeout_findings(root: Path) -> list[str]:
    model, findings = ParsedRoot(root), []
    for name, lb in model.of_type("aws_lb").items():
        if lb.get("load_balancer_type") == "network":  # its listeners' TCP idle timeout, below
            continue
        if lb.get("idle_timeout") != "${local.stream_idle_timeout}":
            findings.append(f"aws_lb.{name}: idle_timeout {lb.get('idle_timeout')} is not local.stream_idle_timeout")
    for name, listener in model.of_type("aws_lb_listener").items():
        if (
            listener.get("protocol") == "TCP"
            and listener.get("tcp_idle_timeout_seconds") != "${local.stream_idle_timeout}"
        ):
            findings.append(f"aws_lb_listener.{name}: TCP idle timeout is not local.stream_idle_timeout")
    config = one(one(model.resources[("aws_cloudfront_distribution", "this")]["origin"][0])["custom_origin_config"])
    for key in ("origin_read_timeout", "origin_keepalive_timeout"):
        if config.get(key) != f"${{local.cloudfront_{key}}}":
            findings.append(f"CloudFront {key} = {config.get(key)} does not derive from the stream timeouts")
    return findings


CHAT_PATHS = ["/api/chat/completions", "/api/v1/chats/new", "/api/v1/files/", "/ollama/api/chat", "/ws/socket.io/"]
BODY_GROUPS = {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet", "AWSManagedRulesSQLiRuleSet"}


def waf_findings(root: Path) -> list[str]:
    model, findings = ParsedRoot(root), []
    prefixes = model.locals["waf_chat_path_prefixes"]
    for path in CHAT_PATHS:
        if not any(path.startswith(p) for p in prefixes):
            findings.append(f"chat path {path} is not in local.waf_chat_path_prefixes")
    if model.locals["waf_chat_paths_regex"] != '^(${join("|", local.waf_chat_path_prefixes)})':
        findings.append("local.waf_chat_paths_regex is not built from local.waf_chat_path_prefixes")
    for name, acl in model.of_type("aws_wafv2_web_acl").items():
        # Rules run by priority; an allow on the chat paths ends their evaluation there.
        rules = sorted(acl.get("rule", []), key=lambda r: r["priority"])
        allowed_at = min((r["priority"] for r in rules if _allows_chat_paths(r)), default=None)
        for rule in rules:
            managed = one(one(rule["statement"]).get("managed_rule_group_statement", [{}]))
            rule_name = managed.get("name") or rule["name"]
            if rule_name in BODY_GROUPS:
                scope = json.dumps(managed.get("scope_down_statement", []))
                scoped = '"not_statement"' in scope and "${local.waf_chat_paths_regex}" in scope
                if not scoped and (allowed_at is None or allowed_at > rule["priority"]):
                    findings.append(f"aws_wafv2_web_acl.{name}: {rule_name} inspects the bodies of the chat paths")
            elif allowed_at is not None and rule["priority"] > allowed_at:
                findings.append(f"aws_wafv2_web_acl.{name}: {rule_name} does not apply to the chat paths")
    return findings


def _allows_chat_paths(rule: dict[str, Any]) -> bool:
    """An allow rule whose statement matches the URI path against local.waf_chat_paths_regex."""
    match = one(one(rule["statement"]).get("regex_match_statement", [{}]))
    on_path = "uri_path" in one(match.get("field_to_match", [{}]))
    allow = "allow" in one(rule.get("action", [{}]))
    return allow and on_path and match.get("regex_string") == "${local.waf_chat_paths_regex}"


CHECKS = {
    "tls": tls_findings,
    "bypass": bypass_findings,
    "rotation": rotation_findings,
    "timeouts": timeout_findings,
    "waf": waf_findings,
}


@pytest.mark.parametrize("check", CHECKS)
def test_edge_holds(check):
    assert CHECKS[check](TERRAFORM_DIR) == []


HTTP_LISTENER = """
resource "aws_lb_listener" "public_http" {
  load_balancer_arn = aws_lb.public.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.frontend.arn
  }
}
"""

PLANTED = [
    pytest.param("tls", "alb.tf", "# HTTPS only:", HTTP_LISTENER + "\n# HTTPS only:",
                 "aws_lb_listener.public_http: HTTP listener", id="plaintext-listener"),
    pytest.param("tls", "cloudfront.tf", 'origin_protocol_policy   = "https-only"',
                 'origin_protocol_policy   = "http-only"', "not TLS 1.2 only", id="plaintext-origin"),
    pytest.param("tls", "cloudfront.tf", 'viewer_protocol_policy     = "https-only"',
                 'viewer_protocol_policy     = "allow-all"', "lets viewers use plain HTTP", id="plaintext-viewer"),
    pytest.param("tls", "data.tf", 'backend_url     = "https://${local.backend_host}"',
                 'backend_url     = "http://${local.backend_host}"', "local.backend_url", id="plaintext-backend-url"),
    pytest.param("tls", "data.tf", 'backend_url     = "https://${local.backend_host}"',
                 'backend_url     = "https://${aws_lb.internal.dns_name}"', "is not a name of the regional certificate",
                 id="backend-url-outside-certificate"),
    pytest.param("tls", "failover.tf", "  subject_alternative_names = [local.dr_backend_host]\n", "",
                 "the DR region's certificate does not carry", id="dr-certificate-without-the-backend-name"),
    pytest.param("tls", "failover.tf", '  protocol                 = "TCP"\n', '  protocol                 = "HTTP"\n',
                 "aws_lb_listener.entry: HTTP listener", id="plaintext-dr-entry"),
    pytest.param("bypass", "security_groups.tf", "    frontend_from_alb = {",
                 "    alb_from_frontend = {\n      sg = aws_security_group.alb.id, port = 443, "
                 "src = aws_security_group.frontend.id\n      desc = \"planted\"\n    }\n    frontend_from_alb = {",
                 "admits more than CloudFront", id="alb-reachable-without-cloudfront"),
    pytest.param("bypass", "alb.tf", '      http_header_name = "X-Origin-Verify"', '      http_header_name = "X-Other"',
                 "forwards without the origin-verify header", id="forward-without-header"),
    pytest.param("bypass", "cloudfront.tf", "  web_acl_id      = aws_wafv2_web_acl.this[0].arn\n", "",
                 "no WAF web ACL", id="cloudfront-without-waf"),
    pytest.param("bypass", "failover.tf",
                 "prefix_list_id               = each.value.internal ? null : data",
                 'cidr_ipv4                    = each.value.internal ? null : "0.0.0.0/0" # data',
                 "admits more than CloudFront: aws_vpc_security_group_ingress_rule.entry['public'] (0.0.0.0/0)",
                 id="dr-entry-open-to-the-internet"),
    pytest.param("bypass", "alb.tf", "      values = [var.ollama_frontend_health_path]\n", '      values = ["/*"]\n',
                 "aws_lb_listener_rule.health: forwards without the origin-verify header", id="health-rule-opens-all"),
    pytest.param("rotation", "alb.tf",
                 ", data.aws_secretsmanager_secret_version.origin_verify_previous[*].secret_string", "",
                 "does not accept both", id="rotation-403-window"),
    pytest.param("rotation", "cloudfront.tf", ", aws_lb_listener_rule.from_cloudfront]", "]",
                 "before the ALB accepts it", id="cloudfront-before-alb"),
    pytest.param("timeouts", "alb.tf", "  idle_timeout               = local.stream_idle_timeout\n",
                 "  idle_timeout               = 60\n", "aws_lb.internal: idle_timeout 60", id="hard-coded-idle"),
    pytest.param("waf", "waf.tf", '"/api/chat/", ', "", "/api/chat/completions is not in", id="chat-path-missing"),
]  # fmt: skip


@pytest.mark.parametrize(("check", "filename", "old", "new", "expected"), PLANTED)
def test_planted_edge_violation_is_caught(tmp_path, check, filename, old, new, expected):
    findings = CHECKS[check](planted_copy(tmp_path, filename, old, new))
    assert findings and all(expected in f for f in findings), findings


def test_planted_body_inspection_on_chat_paths_is_caught(tmp_path):
    allow = '    name     = "allow-chat-paths"\n    priority = 4\n'
    copy = planted_copy(tmp_path, "waf.tf", allow, allow.replace("4", "15"))  # after the Common Rule Set
    assert waf_findings(copy) == [
        "aws_wafv2_web_acl.this: AWSManagedRulesCommonRuleSet inspects the bodies of the chat paths"
    ]


def test_planted_reputation_rule_after_the_chat_paths_is_caught(tmp_path):
    """The rate limit and the address reputation rules still apply to the chat paths: they run before the allow."""
    reputation = '    name     = "AWSManagedRulesAnonymousIpList"\n    priority = 3\n'
    copy = planted_copy(tmp_path, "waf.tf", reputation, reputation.replace("3", "5"))
    assert waf_findings(copy) == [
        "aws_wafv2_web_acl.this: AWSManagedRulesAnonymousIpList does not apply to the chat paths"
    ]


# --- the one stream-timeout setting, evaluated by Terraform and read by the twin ---

TIMEOUT_OUTPUTS = """
output "stream" {
  value = {
    idle      = local.stream_idle_timeout
    read      = local.cloudfront_origin_read_timeout
    keepalive = local.cloudfront_origin_keepalive_timeout
  }
}
"""


def _evaluate_timeouts(folder: Path, terraform_bin: str, tf_env: dict[str, str], setting: dict | None = None):
    make_provider_free_copy(folder, terraform_bin, tf_env, extra_files=("timeouts.tf",))
    source = json.loads((TERRAFORM_DIR / "stream_timeouts.json").read_text())
    (folder / "stream_timeouts.json").write_text(json.dumps(setting or source))
    (folder / "stream_output.tf").write_text(TIMEOUT_OUTPUTS)
    tfvars = TERRAFORM_DIR / "environments" / "production.tfvars"
    return run_terraform(
        terraform_bin, ["apply", "-auto-approve", "-input=false", f"-var-file={tfvars}"], folder, tf_env
    )


def test_timeouts_derive_from_the_setting_the_twin_reads(tmp_path, terraform_bin, tf_env):
    result = _evaluate_timeouts(tmp_path / "root", terraform_bin, tf_env)
    assert result.returncode == 0, result.stdout + result.stderr
    output = run_terraform(terraform_bin, ["output", "-json", "stream"], tmp_path / "root", tf_env)
    stream = json.loads(output.stdout)
    setting = json.loads(proxy.STREAM_TIMEOUTS_FILE.read_text())
    assert proxy.STREAM_TIMEOUTS_FILE == TERRAFORM_DIR / "stream_timeouts.json"
    assert stream["idle"] == proxy.stream_idle_timeout_s() > setting["first_byte_seconds"]
    assert stream["idle"] > setting["token_gap_seconds"]
    quota = read_tfvars("production").get("cloudfront_origin_timeout_quota_seconds", 60)
    assert stream["read"] == min(stream["idle"], quota) >= setting["token_gap_seconds"]
    assert stream["keepalive"] < stream["idle"], "CloudFront must drop idle origin connections before the ALB does"


def test_a_token_gap_beyond_the_cloudfront_quota_is_refused(tmp_path, terraform_bin, tf_env):
    setting = {"first_byte_seconds": 300, "token_gap_seconds": 90, "margin_seconds": 10}
    result = _evaluate_timeouts(tmp_path / "root", terraform_bin, tf_env, setting)
    assert result.returncode != 0
    message = " ".join((result.stdout + result.stderr).split())
    assert "exceeds CloudFront's origin response timeout of 60 s" in message, message
    assert "cloudfront_origin_timeout_quota_seconds" in message


def test_the_twin_reads_a_broken_setting_with_a_clear_error(tmp_path):
    broken = tmp_path / "stream_timeouts.json"
    broken.write_text('{"first_byte_seconds": 300}')
    with pytest.raises(proxy.ProxyError, match="token_gap_seconds"):
        proxy.stream_idle_timeout_s(broken)


# --- WAF rate limit against the load test ---


def _loadtest_peak_per_5_minutes() -> float:
    """Requests one address sends in 5 minutes in the load test through CloudFront (docs/LOADTESTING.md): each user
    sends one chat request, which streams for at least a second, then thinks uniform(0, think time) seconds."""
    doc = (REPO_ROOT / "docs" / "LOADTESTING.md").read_text()
    (users,) = [int(m) for m in re.findall(r"--scenario webui-chat .*?--users (\d+)", doc, flags=re.DOTALL)][:1]
    run_source = (REPO_ROOT / "loadtest" / "run.py").read_text()
    think = float(re.search(r'"--think-time", type=float, default=([0-9.]+)', run_source).group(1))
    return users / (1.0 + think / 2) * 300


def test_waf_rate_limit_admits_the_load_test_with_margin_and_still_limits_abuse():
    (variable,) = [b for g in parse_file(TERRAFORM_DIR / "variables.tf")["variable"] for n, b in g.items()
                   if n == "waf_rate_limit"]  # fmt: skip
    limits = [variable["default"]] + [
        read_tfvars(e)["waf_rate_limit"] for e in ("dev", "staging", "production") if "waf_rate_limit" in read_tfvars(e)
    ]
    peak = _loadtest_peak_per_5_minutes()
    for limit in limits:
        assert limit >= 2 * peak, f"waf_rate_limit {limit} leaves less than 2x the load test's {peak:.0f} per 5 min"
        assert limit <= 100 * 300, f"waf_rate_limit {limit} lets one address send over 100 requests per second"
