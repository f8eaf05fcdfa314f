#!/usr/bin/env bash
# The test suite in stages: tools/run_tests.sh [all|lint|pytest|sanity|molecule|twin]...
# Named stages run one after another; `all` runs pytest and molecule, then the twin with lint and sanity beside it
# (run_twin_beside). Every stage runs even when an earlier one failed; the summary lists each stage's result and
# time, and the exit status is non-zero when any stage failed. Logs and JUnit files go to reports/.
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
# How the stages beside the twin yield the CPU to it (run_twin_beside).
SIDE_CGROUP="${RUN_TESTS_SIDE_CGROUP:-ollama-side}"
SIDE_CPU_SHARES="${RUN_TESTS_SIDE_CPU_SHARES:-64}"

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

# side_cgroup_enter: move this shell (and so everything it starts later) into the cgroup $SIDE_CGROUP with a CPU
# weight of $SIDE_CPU_SHARES against the 1024 of every other process and of podman's containers. A weight, unlike
# nice, holds for the group as a whole, however many processes it starts. Without a writable cgroup (not root, or
# cgroup v2 without the cpu controller delegated) it falls back to nice 10 and says so.
side_cgroup_enter() {
  local dir=""
  if [ -f /sys/fs/cgroup/cpu/cpu.shares ]; then  # cgroup v1
    dir="/sys/fs/cgroup/cpu/$SIDE_CGROUP"
    { mkdir -p "$dir" && echo "$SIDE_CPU_SHARES" >"$dir/cpu.shares" && echo $$ >"$dir/cgroup.procs"; } 2>/dev/null \
      || dir=""
  elif grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; then  # cgroup v2: weight 1-10000, 100 default
    dir="/sys/fs/cgroup/$SIDE_CGROUP"
    { mkdir -p "$dir" && echo $((SIDE_CPU_SHARES * 100 / 1024 + 1)) >"$dir/cpu.weight" \
      && echo $$ >"$dir/cgroup.procs"; } 2>/dev/null || dir=""
  fi
  if [ -z "$dir" ]; then
    echo "run_tests: no writable cgroup for the stages beside the twin; they run at nice 10 instead"
    renice -n 10 -p $$ >/dev/null
    return 0
  fi
  echo "run_tests: the stages beside the twin run in the cgroup $SIDE_CGROUP (CPU weight $SIDE_CPU_SHARES of 1024)"
}

run_twin_beside() {
  # The twin's bring-up and scenarios keep both cores of a two-core machine busy, its instances booting at real
  # speed against compressed lifecycle timeouts, so only stages without time limits of their own run beside it:
  # lint and sanity (measured: about 5 minutes alone, done within the bring-up in the CPU the twin leaves). pytest
  # and molecule, whose tests bound their waits and time streams, run before it on the whole machine (beside the
  # twin, starved, 13 of 1567 pytest tests failed). The twin's output follows theirs, live from then on.
  local started rc=0 stage seconds=0 twin
  rm -f "$REPORTS/twin.result"
  echo "==> twin (lint and sanity beside it; its output follows theirs, also in reports/twin.log)"
  started=$(date +%s)
  (
    tools/twin.sh test >"$REPORTS/twin.log" 2>&1
    echo "$? $(($(date +%s) - started))" >"$REPORTS/twin.result"
  ) &
  twin=$!
  side_cgroup_enter
  for stage in "$@"; do
    run_stage "$stage" "stage_$stage"
  done
  echo "==> twin"
  tail -n +1 -f --pid="$twin" "$REPORTS/twin.log"
  wait "$twin"
  read -r rc seconds <"$REPORTS/twin.result" 2>/dev/null || rc=1
  if [ "$rc" -eq 0 ]; then
    SUMMARY+=("$(printf '%-9s passed  %4ss' twin "$seconds")")
  else
    SUMMARY+=("$(printf '%-9s FAILED  %4ss' twin "$seconds")")
    FAILED=1
  fi
}

main() {
  local stages=("$@")
  [ ${#stages[@]} -eq 0 ] && stages=(all)
  local all_started beside=0
  all_started=$(date +%s)
  if [ "${stages[*]}" = all ]; then
    stages=(pytest molecule)
    beside=1
  fi
  for stage in "${stages[@]}"; do
    case "$stage" in
      lint|pytest|sanity|molecule|twin) run_stage "$stage" "stage_$stage" ;;
      *) echo "run_tests: unknown stage '$stage': use lint, pytest, sanity, molecule, twin or all" >&2; exit 2 ;;
    esac
  done
  [ "$beside" -eq 0 ] || run_twin_beside lint sanity
  echo
  echo "== summary"
  printf '  %s\n' "${SUMMARY[@]}"
  echo "  total     $(($(date +%s) - all_started))s"
  [ "$FAILED" -eq 0 ] && echo "== all stages passed" || echo "== some stages FAILED"
  return $FAILED
}

main "$@"
