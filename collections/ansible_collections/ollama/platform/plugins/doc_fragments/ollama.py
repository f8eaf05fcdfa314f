# Copyright: Contributors to the Ollama Platform project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection options shared by the Ollama modules."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  api_url:
    description:
      - Base URL of the Ollama API, either Ollama itself (V(http://127.0.0.1:11434)) or the authenticating
        proxy in front of it (V(http://host:8000)).
      - If not set, the E(OLLAMA_API_URL) environment variable is used, then V(http://127.0.0.1:11434).
    type: str
  api_token:
    description:
      - "Bearer token sent as C(Authorization: Bearer <token>), needed when going through the proxy."
      - If not set, the E(OLLAMA_API_TOKEN) environment variable is used.
    type: str
  timeout:
    description:
      - Seconds to wait for an answer (for streamed operations, between two chunks).
    type: int
    default: 30
  validate_certs:
    description:
      - Verify TLS certificates for V(https://) URLs.
    type: bool
    default: true
  ca_path:
    description:
      - CA bundle used to verify V(https://) URLs.
    type: path
notes:
  - Uses only the Python standard library on the managed host.
"""
