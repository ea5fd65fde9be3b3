// A Lua project's environment: `magpkg shell` enters it, `magpkg run main`
// runs the program. The format is described in doc/manifest.md.
local pkgs = import "magnet/packages.jsonnet";

{
  packages: [pkgs.lua],

  env: {
    // Modules of the project itself, wherever it is checked out.
    LUA_PATH: "$MAGPKG_PROJECT_ROOT/?.lua;$MAGPKG_PROJECT_ROOT/?/init.lua;;",
  },

  // Project directories put first on PATH.
  path: [],

  scripts: {
    main: "lua main.lua",
  },
}
