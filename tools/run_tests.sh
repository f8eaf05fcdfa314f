#!/usr/bin/env bash
# The test suite in stages: tools/run_tests.sh [all|lint|pytest|sanity|molecule|twin]...
# Stages run one after another.
# Every stage runs even when an earlier one failed; the summary lists each stage's result and time, and the exit
# status is non-zero when any stage failed. Logs and JUnit files go to reports/.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1
export PATH="$ROOT/.venv/bin:$PATH"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$ROOT/.cache/containers.conf}"
export ANSIBLE_CONFIG="${ANSIBLE_CONFIG:-$ROOT/ansible.cfg}"
[ -f "${TF_CLI_CONFIG_FILE:-}" ] || export TF_CLI_CONFIG_FILE=/dev/null  # no ~/.terraformrc warning
export ANSIBLE_FORCE_COLOR=0 PY_COLORS=0 NO_COLOR=1
REPORTS="$ROOT/reports"
COLLECTION="collections/ansible_collections/ollama/platform"
mkdir -p "$REPORTS"

declare -a SUMMARY=()
FAILED=0

run_stage() {
  local name="$1"; shift
  local start end rc
  echo "==> $name"
  start=$(date +%s)
  "$@"; rc=$?
  end=$(date +%s)
  if [ "$rc" -eq 0 ]; then
    SUMMARY+=("$(printf '%-9s passed  %4ss' "$name" $((end - start)))")
  else
    SUMMARY+=("$(printf '%-9s FAILED  %4ss' "$name" $((end - start)))")
    FAILED=1
  fi
}

shell_files() { git ls-files -co --exclude-standard -- '*.sh' .ci/run; }

stage_lint() {
  local rc=0
  echo "-- yamllint"; yamllint -s . || rc=1
  echo "-- ansible-lint"; ansible-lint --offline -q || rc=1
  echo "-- ruff"; ruff check . && ruff format --check . || rc=1
  echo "-- shellcheck"; shell_files | xargs -r shellcheck -x || rc=1
  echo "-- terraform fmt"; terraform fmt -check -recursive terraform || rc=1
  echo "-- duplicate code"; python -m tools.duplicate_code || rc=1
  return $rc
}

stage_pytest() {
  # Two workers per core (pytest-xdist): many tests wait (AWS waiters polling the emulator, podman), and the third and
  # fourth worker fill those waits (two cores: 656 s with two workers, 604 s with four, CPU 88% busy).
  # Whole modules per worker (--dist loadfile): a module's fixtures are built once (the pgvector data host, the
  # region front) and the slow modules spread over the workers. The default (load) hands out tests in blocks of
  # up to a quarter of the suite by count, not time: one worker took most of the slow integration tests while the
  # other idled (a run's test times replayed through xdist's schedulers: load 886 s, for a run that took 901 s;
  # loadfile 653 s; the sum of the test times is 1302 s).
  pytest -p no:cacheprovider -m "not twin" -n "${PYTEST_WORKERS:-$((2 * $(nproc)))}" --dist loadfile \
    --junitxml="$REPORTS/pytest.xml" -o junit_family=xunit2
}

stage_sanity() {
  # ansible-test works on a copy so that its output folders never land in the tree.
  local work rc pip_version
  # ansible-test bootstraps pip in its venvs from ci-files.testing.ansible.com; use the PyPI-only stand-in instead.
  pip_version="$(grep -ohE "pip='[0-9.]+'" "$(python -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')/_internal/python_requirements.py" | grep -oE '[0-9.]+' | head -n1)"
  mkdir -p ~/.ansible/test/cache
  if [ -n "$pip_version" ]; then
    local shim=~/.ansible/test/cache/get_pip_"${pip_version//./_}".py
    cp tools/ansible_test_get_pip.py "$shim"
    python -c 'import json, os, sys; json.dump({"cert": os.environ.get("PIP_CERT") or os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE") or "", "index_url": os.environ.get("PIP_INDEX_URL", "")}, open(sys.argv[1], "w"))' "$shim.json"
  fi
  work="$(mktemp -d)"
  mkdir -p "$work/ansible_collections/ollama"
  cp -a "$ROOT/$COLLECTION" "$work/ansible_collections/ollama/platform"
  rm -rf "$work/ansible_collections/ollama/platform/tests/output"
  # The collection ours depends on for doc fragments and module_utils must sit beside it (a copy: ansible-test
  # does not follow symlinked collections).
  cp -a "$(python -c 'import ansible_collections.amazon as m; print(m.__path__[0])')" "$work/ansible_collections/amazon"
  (cd "$work/ansible_collections/ollama/platform" && git init -q . && git add -A \
    && ansible-test sanity --python 3.11 --local --color no)
  rc=$?
  rm -rf "$work"
  return $rc
}

molecule_scenario() {
  # One scenario; its log and "<exit status> <seconds>" go to reports/molecule/<name>.{log,result}.
  local scenario="$1" name="$2" started rc
  started=$(date +%s)
  (cd "${scenario%%/molecule/*}" && molecule test -s "$(basename "$scenario")") >"$REPORTS/molecule/$name.log" 2>&1
  rc=$?
  echo "$rc $(($(date +%s) - started))" >"$REPORTS/molecule/$name.result"
}

stage_molecule() {
  local scenario name listing rc seconds passed=0 failed=0 failed_names=()
  local scenarios=() jobs="${MOLECULE_JOBS:-2}"
  # The expected scenarios are listed once, longest first (tools/molecule_scenarios.py); a missing or unlisted one
  # fails the stage. They run $jobs at a time: each has its own containers and picks free ports.
  listing="$(python -m tools.molecule_scenarios)" || return 1
  mapfile -t scenarios <<<"$listing"
  mkdir -p "$REPORTS/molecule"
  rm -f "$REPORTS"/molecule/*.result
  for scenario in "${scenarios[@]}"; do
    name="$(basename "${scenario%%/molecule/*}")"
    while [ "$(jobs -pr | wc -l)" -ge "$jobs" ]; do wait -n; done
    echo "-- molecule test: $scenario"
    molecule_scenario "$scenario" "$name" &
  done
  wait
  for scenario in "${scenarios[@]}"; do
    name="$(basename "${scenario%%/molecule/*}")"
    read -r rc seconds <"$REPORTS/molecule/$name.result" 2>/dev/null || { rc=1; seconds=0; }
    if [ "$rc" -eq 0 ]; then
      passed=$((passed + 1)); echo "   $name passed ($seconds s)"
    else
      failed=$((failed + 1)); failed_names+=("$name")
      echo "   $name FAILED after $seconds s (last lines of reports/molecule/$name.log):"
      tail -n 40 "$REPORTS/molecule/$name.log" | sed 's/^/   | /'
    fi
  done
  echo "molecule: $passed passed, $failed failed${failed_names:+ (${failed_names[*]})}"
  [ "$failed" -eq 0 ]
}

stage_twin() {
  tools/twin.sh test
}

main() {
  local stages=("$@")
  [ ${#stages[@]} -eq 0 ] && stages=(all)
  [ "${stages[*]}" = all ] && stages=(lint pytest sanity molecule twin)
  for stage in "${stages[@]}"; do
    case "$stage" in
      lint|pytest|sanity|molecule|twin) run_stage "$stage" "stage_$stage" ;;
      *) echo "run_tests: unknown stage '$stage': use lint, pytest, sanity, molecule, twin or all" >&2; exit 2 ;;
    esac
  done
  echo
  echo "== summary"
  printf '  %s\n' "${SUMMARY[@]}"
  [ "$FAILED" -eq 0 ] && echo "== all stages passed" || echo "== some stages FAILED"
  return $FAILED
}

main "$@"
