#!/usr/bin/python
# Copyright: Contributors to the Ollama Platform project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only facts about an Ollama server, with an optional probe generation."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ollama_info
short_description: Report an Ollama server's version, models, loaded models and generation speed
version_added: 0.1.0
description:
  - Reads the server version (C(/api/version)), the models on disk (C(/api/tags)) and the loaded models (C(/api/ps)).
  - With O(probe_model), runs one short streamed generation and reports time to first token and tokens per second,
    measured by the client, next to the server's own figures.
  - Never changes anything on the server (a probe may load the model into memory, as any request would).
author:
  - Ollama Platform maintainers (@ollama-platform)
options:
  probe_model:
    description:
      - Model to run a probe generation with. No probe when not set.
    type: str
  probe_prompt:
    description:
      - Prompt of the probe generation.
    type: str
    default: Why is the sky blue? Answer in one sentence.
  probe_num_predict:
    description:
      - Largest number of tokens the probe generates.
    type: int
    default: 32
extends_documentation_fragment:
  - ollama.platform.ollama
attributes:
  check_mode:
    support: full
    description: Read-only; runs the same way in check mode.
seealso:
  - module: ollama.platform.ollama_model
"""

EXAMPLES = r"""
- name: Read version and models
  ollama.platform.ollama_info:
  register: ollama

- name: Probe generation speed through the proxy
  ollama.platform.ollama_info:
    api_url: http://127.0.0.1:8000
    api_token: "{{ ollama_api_token }}"
    probe_model: qwen2.5:0.5b
  register: ollama

- name: Require a usable first-token latency
  ansible.builtin.assert:
    that: ollama.probe.time_to_first_token_s < 5
    fail_msg: "first token after {{ ollama.probe.time_to_first_token_s }} s"
"""

RETURN = r"""
version:
  description: Server version.
  returned: always
  type: str
  sample: 0.12.6
models:
  description: Models on disk.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "qwen2.5:0.5b", "digest": "a8b0c515...", "size": 397821319, "parameter_size": "494.03M"}]
running_models:
  description: Models loaded in memory, with C(expires_at) and C(size_vram).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "qwen2.5:0.5b", "digest": "a8b0c515...", "size": 397821319, "expires_at": "2026-11-26T10:00:00Z"}]
probe:
  description: Result of the probe generation.
  returned: when O(probe_model) is set
  type: dict
  contains:
    model:
      description: Model used.
      type: str
      sample: qwen2.5:0.5b
    time_to_first_token_s:
      description: Seconds from sending the request to the first non-empty token, as the client saw it.
      type: float
      sample: 0.21
    tokens_per_second:
      description: Tokens per second between the first and the last token, as the client saw them.
      type: float
      sample: 24.8
    server_tokens_per_second:
      description: C(eval_count / eval_duration) reported by the server.
      type: float
      sample: 25.1
    eval_count:
      description: Tokens generated.
      type: int
      sample: 32
    prompt_eval_count:
      description: Prompt tokens evaluated.
      type: int
      sample: 12
    load_duration_s:
      description: Seconds the server spent loading the model.
      type: float
      sample: 0.0
    total_time_s:
      description: Seconds from request to the final chunk.
      type: float
      sample: 1.5
    done_reason:
      description: Why generation stopped (V(stop), V(length)).
      type: str
      sample: length
    response:
      description: Generated text.
      type: str
      sample: Rayleigh scattering.
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402 (imports follow the documentation blocks)
from ansible_collections.ollama.platform.plugins.module_utils.ollama_api import (  # noqa: E402
    OllamaAPIError,
    OllamaClient,
    client_from_module,
    common_argument_spec,
    summarize_models,
)


def argument_spec() -> dict:
    spec = common_argument_spec()
    spec.update(
        probe_model={"type": "str"},
        probe_prompt={"type": "str", "default": "Why is the sky blue? Answer in one sentence."},
        probe_num_predict={"type": "int", "default": 32},
    )
    return spec


def gather(client: OllamaClient, params: dict) -> dict:
    """Collect the facts (read-only)."""
    result: dict = {
        "changed": False,
        "version": client.version(),
        "models": summarize_models(client.tags()),
        "running_models": summarize_models(client.ps()),
    }
    if params.get("probe_model"):
        result["probe"] = client.probe_generate(
            params["probe_model"], params["probe_prompt"], num_predict=params["probe_num_predict"]
        )
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    client = client_from_module(module)
    try:
        result = gather(client, module.params)
    except OllamaAPIError as exc:
        module.fail_json(
            msg=f"Ollama API call failed: {exc}. Check that Ollama runs, api_url is right and, through the proxy, "
            "that api_token is set.",
            status=exc.status,
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
