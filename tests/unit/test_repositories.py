"""Every domain's repository stands on the one base in ``kit`` (its session, ``add`` that
flushes, reads scoped to a business), so a repository never grows its own variant of them."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import fareroom
from fareroom.kit.repository import Repository


def _repository_classes() -> list[type]:
    found = []
    for info in pkgutil.walk_packages(fareroom.__path__, "fareroom."):
        if not info.name.endswith(".repository") or info.name == "fareroom.kit.repository":
            continue
        module = importlib.import_module(info.name)
        found += [cls for name, cls in inspect.getmembers(module, inspect.isclass)
                  if name.endswith("Repository") and cls.__module__ == module.__name__]  # fmt: skip
    return found


def test_every_repository_is_built_on_the_kit_base() -> None:
    classes = _repository_classes()
    assert len(classes) >= 12  # the walk found the domains' repositories
    assert [c.__qualname__ for c in classes if not issubclass(c, Repository)] == []
    # and none keeps its own copy of what the base gives
    assert [c.__qualname__ for c in classes if "__init__" in vars(c) or "add" in vars(c)] == []
