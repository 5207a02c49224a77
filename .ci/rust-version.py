"""Checks that each workspace package's `rust-version` is at least the `rust-version` of
every crate it builds with (its normal and build dependencies, and theirs, all features
on): the version a package declares must be one that builds it. Dev-dependencies are
left out: they build the package's own tests, which its users never build.
The crates come from `cargo tree` (which, unlike the resolve graph of `cargo metadata`,
leaves out optional dependencies that are only named by a weak feature), their
`rust-version` from `cargo metadata`."""

import json
import subprocess
import sys


def version(text):
    parts = [int(part) for part in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def cargo(*args):
    return subprocess.run(["cargo", *args], check=True, capture_output=True, text=True).stdout


metadata = json.loads(cargo("metadata", "--format-version", "1", "--all-features"))
by_name_version = {(p["name"], p["version"]): p for p in metadata["packages"]}
failed = False
for member in metadata["workspace_members"]:
    package = next(p for p in metadata["packages"] if p["id"] == member)
    declared = package.get("rust_version")
    if not declared:
        print(f"{package['name']}: no rust-version declared")
        failed = True
        continue
    tree = cargo(
        "tree", "-p", f"{package['name']}@{package['version']}", "--all-features",
        "-e", "normal,build", "--prefix", "none", "--format", "{p}",
    )
    needed = []
    for line in tree.splitlines():
        name, _, rest = line.partition(" v")
        crate_version = rest.split(" ")[0]
        crate = by_name_version.get((name, crate_version))
        if crate and crate["id"] != member and crate.get("rust_version"):
            needed.append((version(crate["rust_version"]), name, crate["rust_version"]))
    highest = max(needed, default=((0,), "nothing", "0"))
    ok = version(declared) >= highest[0]
    print(
        f"{package['name']}: rust-version {declared}; its dependencies need {highest[2]} "
        f"({highest[1]}): {'ok' if ok else 'TOO LOW'}"
    )
    failed |= not ok
sys.exit(1 if failed else 0)
