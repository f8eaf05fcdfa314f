"""Shared helper: run a module's main() in-process and return its result instead of exiting."""

from __future__ import annotations

from collections.abc import Callable
from unittest import mock

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args


class _Exit(Exception):
    """Raised in place of exit_json/fail_json; carries the result and whether it failed."""

    def __init__(self, result: dict, failed: bool) -> None:
        super().__init__(result)
        self.result = result
        self.failed = failed


def run_module(main: Callable[[], None], args: dict, check_mode: bool = False, diff: bool = False) -> dict:
    """The module's result for ``args`` with ``failed`` set, as Ansible would report it."""
    args = dict(args)
    if check_mode:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True

    def exit_json(_self: basic.AnsibleModule, **kwargs: object) -> None:
        raise _Exit(dict(kwargs), failed=False)

    def fail_json(_self: basic.AnsibleModule, **kwargs: object) -> None:
        raise _Exit(dict(kwargs), failed=True)

    with (
        patch_module_args(args),
        mock.patch.object(basic.AnsibleModule, "exit_json", exit_json),
        mock.patch.object(basic.AnsibleModule, "fail_json", fail_json),
    ):
        try:
            main()
        except _Exit as done:
            done.result["failed"] = done.failed
            return done.result
    raise AssertionError("the module returned without calling exit_json or fail_json")
