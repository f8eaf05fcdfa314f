"""Which requests CloudFront answers from its cache (9.4), path by path, as CloudFront picks a cache behaviour: the
first ordered behaviour whose path pattern matches the request path, else the default one. Static assets (the assets
bucket, Open-WebUI's static files and immutable bundles) are cached with the managed caching-optimized policy; the
app, its API, chat and websockets pass through uncached to the load balancer with the viewer's headers."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from terraform_helpers import ENVIRONMENTS, evaluator, planted_copy

from tools.hcl_eval import Evaluator

CACHED = "Managed-CachingOptimized"
UNCACHED = "Managed-CachingDisabled"
ALL_VIEWER_HEADERS = "Managed-AllViewerExceptHostHeader"  # Authorization, cookies, the websocket upgrade
BUCKET = "s3 bucket"
# Request path -> where it must be served from when cached.
STATIC = {
    "/assets/logo.svg": BUCKET,
    "/static/favicon.png": "origin.",
    "/_app/immutable/entry/start.B1x9.js": "origin.",
}
DYNAMIC = [
    "/",
    "/c/3f2a9d",  # a chat page
    "/api/chat/completions",  # chat
    "/api/v1/chats/new",
    "/api/models",
    "/ollama/api/generate",
    "/ws/socket.io/",  # websockets (socket.io)
    "/oauth/oidc/callback",
]


@dataclasses.dataclass(frozen=True)
class Behaviour:
    pattern: str  # "*" for the default behaviour
    origin: str  # the origin's domain, or "s3 bucket" for a bucket read through Origin Access Control
    cache_policy: str
    request_policy: str | None
    methods: frozenset[str]


def _name(ev: Evaluator, reference: object) -> str:
    """The name of the (managed) policy a policy id comes from."""
    _, body, scope = ev.source(reference)
    return ev.value(body["name"], scope)


def behaviours(ev: Evaluator) -> tuple[Behaviour, list[Behaviour]]:
    """The distribution's default behaviour and its ordered ones."""
    ((address,),) = [ev.of_type("aws_cloudfront_distribution")]
    ((_, scope),) = ev.instances(address).items()
    body = ev.resources[address]
    origins = {ev.value(o["origin_id"], s): (o, s) for o, s in ev.blocks(body, "origin", scope)}

    def behaviour(block: dict, block_scope: dict, pattern: str) -> Behaviour:
        origin, origin_scope = origins[ev.value(block["target_origin_id"], block_scope)]
        if "origin_access_control_id" in origin:
            _, control, control_scope = ev.source(ev.value(origin["origin_access_control_id"], origin_scope))
            served_by = {"s3": BUCKET}[ev.value(control["origin_access_control_origin_type"], control_scope)]
        else:
            served_by = ev.value(origin["domain_name"], origin_scope)
        request = block.get("origin_request_policy_id")
        return Behaviour(
            pattern=pattern,
            origin=served_by,
            cache_policy=_name(ev, ev.value(block["cache_policy_id"], block_scope)),
            request_policy=_name(ev, ev.value(request, block_scope)) if request else None,
            methods=frozenset(ev.value(block["allowed_methods"], block_scope)),
        )

    ((default, default_scope),) = ev.blocks(body, "default_cache_behavior", scope)
    ordered = [
        behaviour(b, s, ev.value(b["path_pattern"], s)) for b, s in ev.blocks(body, "ordered_cache_behavior", scope)
    ]
    return behaviour(default, default_scope, "*"), ordered


def _matches(pattern: str, path: str) -> bool:
    """CloudFront's path patterns: case-sensitive, * any characters (slashes too), ? exactly one."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in "/" + pattern.lstrip("/"))
    return re.fullmatch(regex, path) is not None


def route(default: Behaviour, ordered: list[Behaviour], path: str) -> Behaviour:
    """The behaviour CloudFront applies to a request path. The parsed HCL does not keep the order between written and
    dynamic ordered behaviours, so a path two of them match is refused rather than decided."""
    matching = [b for b in ordered if _matches(b.pattern, path)]
    if len(matching) > 1:
        raise AssertionError(f"{path} matches {[b.pattern for b in matching]}: make the path patterns disjoint")
    return matching[0] if matching else default


def problems(default: Behaviour, ordered: list[Behaviour]) -> list[str]:
    found = []
    for path, origin in STATIC.items():
        b = route(default, ordered, path)
        if b.cache_policy != CACHED or not b.origin.startswith(origin) or b.methods - {"GET", "HEAD", "OPTIONS"}:
            found.append(f"{path} ({b.pattern}): {b.cache_policy} from {b.origin} for {sorted(b.methods)}")
    for path in DYNAMIC:
        b = route(default, ordered, path)
        if (b.cache_policy, b.request_policy) != (UNCACHED, ALL_VIEWER_HEADERS) or "POST" not in b.methods:
            found.append(f"{path} ({b.pattern}): {b.cache_policy} with {b.request_policy} for {sorted(b.methods)}")
        if not b.origin.startswith("origin."):
            found.append(f"{path} ({b.pattern}) is served by {b.origin}, not the load balancer")
    return found


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_static_assets_are_cached_and_the_app_api_chat_and_websockets_bypass_the_cache(environment):
    default, ordered = behaviours(evaluator(environment))
    assert problems(default, ordered) == []
    assert route(default, ordered, "/ws/socket.io/").pattern == "/ws/*"
    assert route(default, ordered, "/api/chat/completions").pattern == "/api/*"


def test_the_path_patterns_match_as_cloudfront_matches_them():
    assert _matches("/api/*", "/api/chat") and _matches("api/*", "/api/chat") and not _matches("/api/*", "/apix")
    assert _matches("/_app/immutable/*", "/_app/immutable/a/b.js") and not _matches("/_app/immutable/*", "/_APP/x")
    assert _matches("/a?c", "/abc") and not _matches("/a?c", "/abbc") and _matches("*", "/anything")


def test_api_requests_cached_at_the_edge_are_caught(tmp_path: Path):
    optimized = "      cache_policy_id            = data.aws_cloudfront_cache_policy.optimized[0].id"
    copy = planted_copy(tmp_path, "cloudfront.tf", optimized.replace("optimized", "disabled"), optimized)
    found = problems(*behaviours(evaluator("production", copy)))
    assert [line.split(" ", 1)[0] for line in found] == [
        p for p in DYNAMIC if p.startswith(("/api", "/ollama", "/ws", "/oauth"))
    ]
    assert all(f": {CACHED} with {ALL_VIEWER_HEADERS}" in line for line in found), found


def test_a_cached_default_or_an_uncached_asset_is_caught():
    default, ordered = behaviours(evaluator("dev"))
    cached_default = dataclasses.replace(default, cache_policy=CACHED)
    assert [line.split(" ", 1)[0] for line in problems(cached_default, ordered)] == ["/", "/c/3f2a9d"]
    uncached = [dataclasses.replace(b, cache_policy=UNCACHED) if b.pattern == "/assets/*" else b for b in ordered]
    assert problems(default, uncached) == [
        f"/assets/logo.svg (/assets/*): {UNCACHED} from {BUCKET} for ['GET', 'HEAD', 'OPTIONS']"
    ]


def test_overlapping_path_patterns_are_refused():
    default, ordered = behaviours(evaluator("staging"))
    with pytest.raises(AssertionError, match=r"matches \['/api/\*', '/api/chat/\*'\]"):
        route(default, [*ordered, dataclasses.replace(ordered[0], pattern="/api/chat/*")], "/api/chat/completions")
