# The commands the README shows. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

export PATH := $(CURDIR)/.venv/bin:$(PATH)
export CONTAINERS_CONF := $(CURDIR)/.cache/containers.conf
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export TF_CLI_CONFIG_FILE := /dev/null

ENV ?= local

.PHONY: help setup testbed demo test lint pytest sanity molecule twin down build clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

setup: ## Install system packages, the pinned virtualenvs and (SSM_PLUGIN_DEB=file-or-https-URL) the SSM plugin
	@SSM_PLUGIN_DEB="$(SSM_PLUGIN_DEB)" SSM_PLUGIN_SHA256="$(SSM_PLUGIN_SHA256)" tools/bootstrap.sh

testbed: setup ## Build the container base image, the Ollama release archive and the Open-WebUI wheelhouse
	@tools/testbed.sh all
	@tools/open_webui_wheelhouse.sh .cache/wheelhouse/open-webui

demo: testbed ## Bring up the local twin and run site.yml against it
	@tools/twin.sh up
	ansible-playbook site.yml -i inventories/local

down: ## Remove the local twin (containers and emulator)
	@tools/twin.sh down

test: testbed ## Run the whole test suite: lint, pytest, collection sanity, molecule, local twin
	@tools/run_tests.sh all

lint: setup ## yamllint, ansible-lint, ruff, shellcheck, terraform fmt, duplicate code (pylint)
	@tools/run_tests.sh lint

pytest: setup ## Unit, integration, Terraform and load-test suites
	@tools/run_tests.sh pytest

sanity: setup ## ansible-test sanity on the collection
	@tools/run_tests.sh sanity

molecule: testbed ## Every role's molecule scenario
	@tools/run_tests.sh molecule

twin: testbed ## site.yml twice against the local twin (second run must change nothing)
	@tools/run_tests.sh twin

build: setup ## Build the collection artifact
	ansible-galaxy collection build --force --output-path .cache/dist collections/ansible_collections/ollama/platform

clean: ## Remove caches, reports and built artifacts (not the images)
	rm -rf .cache/dist .cache/ansible-facts reports .pytest_cache .ruff_cache
