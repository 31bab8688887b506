"""Fixtures of the release checks: a copy of the collection laid out as ansible-test wants it."""

from __future__ import annotations

import os
import shutil

import pytest

from release_run import ROOT, collection_files


@pytest.fixture(scope="session")
def collection_tree(tmp_path_factory):
    """A copy of the collection at <tmp>/ansible_collections/ceds/generate, where ansible-test wants it."""
    tree = tmp_path_factory.mktemp("sanity") / "ansible_collections" / "ceds" / "generate"
    for path in collection_files():
        target = tree / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.join(ROOT, path), str(target))
    return str(tree)
