// The package tree's entry point: every package by name.
// `magpkg eval NAME` / `magpkg build NAME` look names up here.
{
  bootstrap: import 'bootstrap.jsonnet',
  hello: import 'hello.jsonnet',
}
