# Two commands a newcomer needs: `make run` and `make test`. Each sets itself up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SRC := app schema consumers upstream tests $(wildcard bench)
# The Compose specification's JSON schema, as shipped in the dclint npm package (pinned).
COMPOSE_SCHEMA := $(VENV)/compose-spec/compose.schema.json
COMPOSE_SCHEMA_PACKAGE := dclint@3.1.0
# factview's port for `make run` (`make run PORT=8010`).
PORT ?= 8000
# The browser the web app's end-to-end test drives (Debian's package; Playwright downloads none).
CHROMIUM := /usr/bin/chromium
# GraphiQL's files, laid out as strawberry's page names them on its CDN, from the same pinned npm
# packages (app/http/web/graphiql.py serves them; the page's integrity hashes check them).
GRAPHIQL_ASSETS := $(VENV)/graphiql-assets
GRAPHIQL_PACKAGES := react@18.2.0 react-dom@18.2.0 js-cookie@3.0.5 graphiql@3.8.3 @graphiql/plugin-explorer@1.0.2

# npm (with Node) fetches pinned npm packages: Debian's package where it is missing and we are root.
NEED_NPM = command -v npm >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then apt-get update -qq && apt-get install -y -qq npm >/dev/null; \
	  else echo "error: npm is needed (sudo apt-get install npm)"; exit 1; fi; }
# The graphql-ws npm client the subscription test drives (pinned by its package-lock.json).
NODE_CLIENT := tests/e2e/node
# A frontend team's tools (pinned the same way): GraphQL Code Generator and the graphql-http audit.
FRONTEND_TOOLS := tests/e2e/frontend

.PHONY: run test lint typecheck install clean mutation

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    rm -rf $(VENV); apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null && $(PYTHON) -m venv $(VENV); \
	  else echo "error: '$(PYTHON) -m venv' failed; install python3-venv (sudo apt-get install python3-venv)"; exit 1; fi; }

$(STAMP): $(BIN)/python pyproject.toml requirements.lock
	$(BIN)/pip install -q --upgrade pip==26.3
	$(BIN)/pip install -q -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

$(COMPOSE_SCHEMA): | $(BIN)/python
	@$(NEED_NPM)
	@rm -rf $(VENV)/compose-spec.tmp && mkdir -p $(VENV)/compose-spec.tmp $(dir $@)
	cd $(VENV)/compose-spec.tmp && npm pack --silent $(COMPOSE_SCHEMA_PACKAGE) >/dev/null
	tar -xzf $(VENV)/compose-spec.tmp/*.tgz -C $(VENV)/compose-spec.tmp package/schemas/compose.schema.json
	mv $(VENV)/compose-spec.tmp/package/schemas/compose.schema.json $@ && rm -rf $(VENV)/compose-spec.tmp

$(GRAPHIQL_ASSETS)/.complete: | $(BIN)/python
	@$(NEED_NPM)
	@rm -rf $(GRAPHIQL_ASSETS) $(GRAPHIQL_ASSETS).tmp && mkdir -p $(GRAPHIQL_ASSETS).tmp
	@set -e; cd $(GRAPHIQL_ASSETS).tmp; for spec in $(GRAPHIQL_PACKAGES); do \
	  file=$$(npm pack --silent $$spec); mkdir -p $$spec; tar -xzf $$file -C $$spec --strip-components=1; rm $$file; \
	done
	@mv $(GRAPHIQL_ASSETS).tmp $(GRAPHIQL_ASSETS) && touch $@

$(NODE_CLIENT)/node_modules/.package-lock.json: $(NODE_CLIENT)/package-lock.json
	@$(NEED_NPM)
	cd $(NODE_CLIENT) && npm ci --silent --no-audit --no-fund

$(FRONTEND_TOOLS)/node_modules/.package-lock.json: $(FRONTEND_TOOLS)/package-lock.json
	@$(NEED_NPM)
	cd $(FRONTEND_TOOLS) && npm ci --silent --no-audit --no-fund

$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	else echo "error: $(CHROMIUM) is missing; install Debian's chromium (sudo apt-get install chromium)"; exit 1; fi

install: $(STAMP) $(COMPOSE_SCHEMA) $(GRAPHIQL_ASSETS)/.complete

run: $(STAMP) $(GRAPHIQL_ASSETS)/.complete
	$(BIN)/factview dev --port $(PORT)

test: $(STAMP) $(COMPOSE_SCHEMA) $(GRAPHIQL_ASSETS)/.complete $(NODE_CLIENT)/node_modules/.package-lock.json \
	$(FRONTEND_TOOLS)/node_modules/.package-lock.json | $(CHROMIUM)
	$(BIN)/ruff check $(SRC)
	$(BIN)/mypy
	$(BIN)/pytest -q

# Mutation testing of the ingest core (pyproject [tool.mutmut]) against the fast tests; long
# (tens of minutes on two cores), so not part of `make test`. Results: `$(BIN)/mutmut results`.
mutation: $(STAMP)
	$(BIN)/python -m tests.support.mutation

lint: $(STAMP)
	$(BIN)/ruff check $(SRC)
	$(BIN)/ruff format --check $(SRC)

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache mutants
