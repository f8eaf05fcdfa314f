#!/usr/bin/python
# Copyright: Contributors to the Ollama Platform project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ensure Ollama models are present or absent."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ollama_model
short_description: Ensure Ollama models are present (pulled only when missing) or absent
version_added: 0.1.0
description:
  - Compares the requested models with the models the Ollama server lists (C(/api/tags)) and pulls only the
    missing ones, or deletes the listed ones with O(state=absent).
  - With O(prune=true), models that are not requested are removed, so the server holds exactly the list.
  - Names are compared the way Ollama stores them, so V(tinyllama) and V(tinyllama:latest) are the same model.
  - Reports the digest of every model after the change.
author:
  - Ollama Platform maintainers (@ollama-platform)
options:
  name:
    description:
      - Model names, with or without a tag (V(qwen2.5:0.5b), V(tinyllama), V(hf.co/org/repo:Q4_K_M)).
    type: list
    elements: str
    required: true
    aliases: [names, models]
  state:
    description:
      - V(present) pulls the models that are missing; V(absent) deletes the listed models that exist.
    type: str
    choices: [present, absent]
    default: present
  prune:
    description:
      - With O(state=present), delete every model that is not in O(name).
    type: bool
    default: false
  insecure:
    description:
      - Allow pulling from a registry without TLS verification (private registries only).
    type: bool
    default: false
  pull_timeout:
    description:
      - Seconds one pull may go without progress before it fails.
    type: int
    default: 3600
extends_documentation_fragment:
  - ollama.platform.ollama
attributes:
  check_mode:
    support: full
    description: Reports what would be pulled or removed without doing it.
  diff_mode:
    support: full
    description: Shows the model list before and after.
seealso:
  - module: ollama.platform.ollama_info
"""

EXAMPLES = r"""
- name: Ensure the default models are present
  ollama.platform.ollama_model:
    name:
      - qwen2.5:0.5b
      - nomic-embed-text

- name: Keep exactly these models, through the authenticating proxy
  ollama.platform.ollama_model:
    name: [llama3.2:1b]
    prune: true
    api_url: http://backend.internal:8000
    api_token: "{{ ollama_api_token }}"

- name: Remove a model
  ollama.platform.ollama_model:
    name: tinyllama
    state: absent
"""

RETURN = r"""
pulled:
  description: Models that were pulled (or would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: ["qwen2.5:0.5b"]
removed:
  description: Models that were deleted (or would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: ["tinyllama:latest"]
models:
  description: Models on the server after the change (in check mode, before it).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Model name as Ollama lists it.
      type: str
      sample: qwen2.5:0.5b
    digest:
      description: Manifest digest.
      type: str
      sample: a8b0c51577010a279d933d14c2a8ab4b268079d44c5c8830c0a93900f1827c67
    size:
      description: Size on disk in bytes.
      type: int
      sample: 397821319
  sample: [{"name": "qwen2.5:0.5b", "digest": "a8b0c515...", "size": 397821319}]
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402 (imports follow the documentation blocks)
from ansible_collections.ollama.platform.plugins.module_utils.ollama_api import (  # noqa: E402
    OllamaAPIError,
    OllamaClient,
    client_from_module,
    common_argument_spec,
    plan_models,
    summarize_models,
)


def argument_spec() -> dict:
    spec = common_argument_spec()
    spec.update(
        name={"type": "list", "elements": "str", "required": True, "aliases": ["names", "models"]},
        state={"type": "str", "choices": ["present", "absent"], "default": "present"},
        prune={"type": "bool", "default": False},
        insecure={"type": "bool", "default": False},
        pull_timeout={"type": "int", "default": 3600},
    )
    return spec


def ensure_models(client: OllamaClient, params: dict, check_mode: bool) -> dict:
    """Apply the requested state; return the module result (without ``changed`` bookkeeping left to do)."""
    wanted = [n for n in params["name"] if n and n.strip()]
    if params["state"] == "present" and params["prune"] and not wanted:
        raise ValueError("prune=true with an empty model list would delete every model; list the models to keep")
    before = summarize_models(client.tags())
    before_names = [m["name"] for m in before]
    to_pull, to_remove = plan_models(wanted, before_names, params["state"], params["prune"])
    result: dict = {
        "changed": bool(to_pull or to_remove),
        "pulled": to_pull,
        "removed": to_remove,
        "diff": {"before": {"models": sorted(before_names)}},
    }
    if check_mode:
        removed = set(to_remove)
        after_names = [n for n in before_names if n not in removed] + to_pull
        result["models"] = before
        result["diff"]["after"] = {"models": sorted(after_names)}
        return result
    for name in to_pull:
        client.pull(name, insecure=params["insecure"], timeout=params["pull_timeout"])
    for name in to_remove:
        client.delete(name)
    after = summarize_models(client.tags()) if result["changed"] else before
    result["models"] = after
    result["diff"]["after"] = {"models": sorted(m["name"] for m in after)}
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    client = client_from_module(module)
    try:
        result = ensure_models(client, module.params, module.check_mode)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    except OllamaAPIError as exc:
        module.fail_json(
            msg=f"Ollama API call failed: {exc}. Check that Ollama runs, api_url is right and, through the proxy, "
            "that api_token is set.",
            status=exc.status,
        )
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
