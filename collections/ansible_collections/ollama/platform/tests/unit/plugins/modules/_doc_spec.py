"""Shared check: a module's DOCUMENTATION options and its ARGUMENT_SPEC agree (docs cannot drift)."""

from types import ModuleType

import yaml

AWS_FRAGMENT_OPTIONS = {"region", "endpoint_url", "access_key", "secret_key", "session_token", "profile"}


def assert_doc_matches_spec(module: ModuleType) -> None:
    doc = yaml.safe_load(module.DOCUMENTATION)
    yaml.safe_load(module.EXAMPLES)
    ret = yaml.safe_load(module.RETURN)
    options = doc["options"]
    spec = module.ARGUMENT_SPEC
    assert set(options) == set(spec), f"documented {sorted(options)} vs spec {sorted(spec)}"
    for name, opt in options.items():
        assert opt["type"] == spec[name]["type"], name
        assert opt.get("required", False) == spec[name].get("required", False), name
        assert opt.get("default") == spec[name].get("default"), name
        assert opt.get("description"), name
    for key, value in ret.items():
        assert {"description", "returned", "type"} <= set(value), key
    assert "amazon.aws.common.modules" in doc["extends_documentation_fragment"]
