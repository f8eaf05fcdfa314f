"""terraform fmt: the whole terraform/ tree and the test fixtures are canonically formatted."""

from terraform_helpers import REPO_ROOT, TERRAFORM_DIR, run_terraform


def test_terraform_fmt_check_recursive(terraform_bin, tf_env):
    result = run_terraform(
        terraform_bin, ["fmt", "-check", "-recursive", "-diff", str(TERRAFORM_DIR)], REPO_ROOT, tf_env
    )
    assert result.returncode == 0, f"run 'terraform fmt -recursive terraform' to fix:\n{result.stdout}{result.stderr}"


def test_terraform_fmt_test_fixtures(terraform_bin, tf_env):
    fixtures = REPO_ROOT / "tests" / "terraform" / "fixtures"
    result = run_terraform(terraform_bin, ["fmt", "-check", "-recursive", "-diff", str(fixtures)], REPO_ROOT, tf_env)
    assert result.returncode == 0, f"run 'terraform fmt -recursive {fixtures}' to fix:\n{result.stdout}{result.stderr}"
