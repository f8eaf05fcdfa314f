"""The twin controller's pure rules: what instance metadata shows, names, where the proxies listen."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.twin import controller


@pytest.mark.parametrize(
    ("lifecycle_state", "target"),
    [
        ("Pending", "InService"),
        ("Pending:Wait", "InService"),
        ("Pending:Proceed", "InService"),
        ("InService", "InService"),
        ("Warmed:Pending:Wait", "Warmed:Stopped"),
        ("Warmed:Stopped", "Warmed:Stopped"),
        ("Warmed:Running", "Warmed:Running"),
        ("Terminating:Wait", "Terminated"),
        ("Standby", "Standby"),
        ("Detaching", "Detached"),
        ("", ""),
    ],
)
def test_target_lifecycle_state_shows_where_the_instance_is_going(lifecycle_state, target):
    """AWS: autoscaling/target-lifecycle-state shows the state the instance is transitioning to ("Retrieve the
    target lifecycle state through instance metadata"); an instance outside a group has none."""
    assert controller.target_lifecycle_state(lifecycle_state) == target


def test_names_follow_ec2():
    assert controller.hostname_for("10.213.0.12") == "ip-10-213-0-12"
    assert controller.image_ref("ami-0123") == "localhost/ollama-platform/ami:ami-0123"
    assert controller.container_name("i-0abc") == "ollama-twin-i-0abc"


def test_each_load_balancer_of_the_environment_has_its_own_port():
    ports = controller.proxy_ports("local")
    assert ports == {"ollama-local-alb": 18080, "ollama-local-internal-alb": 18000}
    assert controller.proxy_ports("production") == {"ollama-alb": 18080, "ollama-internal-alb": 18000}


def test_the_link_local_metadata_address_is_only_ever_a_prohibit_route():
    """The controller names AWS's link-local address once, to make it unreachable inside each container."""
    source = Path(controller.__file__).read_text()
    uses = [line for line in source.splitlines() if "LINK_LOCAL_METADATA" in line]
    assert any('"prohibit", LINK_LOCAL_METADATA' in line for line in uses), uses
