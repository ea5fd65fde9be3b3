// A Python project's environment: `magpkg shell` enters it with Python 3.11
// from the tree; the project's own packages live in a virtual environment
// (.venv, made on first entry), where pip installs them, binary wheels from
// PyPI included. `magpkg run setup` installs requirements.txt or the
// pyproject.toml project; `magpkg run test` runs pytest when installed.
// The format is described in doc/manifest.md.
local pkgs = import "magnet/packages.jsonnet";

{
  packages: [pkgs.python3],

  env: {
    // pip and python write no bytecode next to the project's sources...
    PYTHONDONTWRITEBYTECODE: "1",
    // ...and the virtual environment's programs come first on PATH.
    VIRTUAL_ENV: "$MAGPKG_PROJECT_ROOT/.venv",
  },

  // Project directories put first on PATH (the venv's bin/ once it exists).
  path: [".venv/bin"],

  scripts: {
    venv: "test -x .venv/bin/python || python3 -m venv .venv",
    setup: [
      "test -x .venv/bin/python || python3 -m venv .venv",
      "if [ -f requirements.txt ]; then .venv/bin/pip install -r requirements.txt; fi",
      "if [ -f pyproject.toml ]; then .venv/bin/pip install -e .; fi",
    ],
    test: ".venv/bin/python -m pytest",
  },

  // Interactive shells make the virtual environment on first entry.
  shellHook: "test -x .venv/bin/python || python3 -m venv .venv",
}
