"""Importing aiogram without building every Bot API type: each is built the first time it is used.

`import aiogram` ends by calling `model_rebuild()` on each of its ≈ 450 Bot API types (aiogram/types/__init__.py,
to resolve their forward references), which makes pydantic build every validator and serializer at once: ≈ 130 MB
of RSS and ≈ 2 s in every process that imports it, although a bot uses a few dozen of them. The types already ask
for `defer_build`; only that loop defeats it.

`defer_aiogram_types()` imports aiogram with that loop's rebuilds skipped, and gives each skipped type the
namespace the loop would have used (as its pydantic parent namespace, and in its module for the names missing
there), so the first validation or dump of a type builds it exactly as the loop would have: ≈ 40 MB instead of
≈ 145 MB. The commands that use aiogram (`gridtalk api`, `bot`, `worker` with a token, `app`) call it before
anything imports aiogram; the test suite imports aiogram as it is. tests/gridtalk/test_lean_imports.py builds
every deferred type to show that each one resolves.
"""

from __future__ import annotations

import sys
from typing import Any

DEFERRED_PREFIX = "aiogram.types."


def defer_aiogram_types() -> list[type[Any]]:
    """Import aiogram with its types' build deferred; the deferred types (none if aiogram was already imported)."""
    if "aiogram" in sys.modules:
        return []
    from pydantic import BaseModel

    original = BaseModel.__dict__["model_rebuild"]
    deferred: list[tuple[type[BaseModel], Any]] = []

    def model_rebuild(
        cls: type[BaseModel],
        *,
        force: bool = False,
        raise_errors: bool = True,
        _parent_namespace_depth: int = 2,
        _types_namespace: Any = None,
    ) -> bool | None:
        if _types_namespace is not None and not force and cls.__module__.startswith(DEFERRED_PREFIX):
            deferred.append((cls, _types_namespace))
            return None
        result: bool | None = original.__func__(
            cls,
            force=force,
            raise_errors=raise_errors,
            _parent_namespace_depth=_parent_namespace_depth,
            _types_namespace=_types_namespace,
        )
        return result

    BaseModel.model_rebuild = classmethod(model_rebuild)  # type: ignore[assignment,method-assign]
    try:
        import aiogram.types  # noqa: F401 - the import is the point
    finally:
        BaseModel.model_rebuild = original  # type: ignore[method-assign]
    if deferred:
        namespace = dict(deferred[0][1])  # the loop passes one namespace: every type, and typing's names
        for cls, _ in deferred:
            cls.__pydantic_parent_namespace__ = namespace
        # A type is also built inside another one (a method's fields, say), where pydantic reads the names of the
        # type's module only: there, the names its module imports for type checkers alone.
        for name, module in list(sys.modules.items()):
            if name.startswith(DEFERRED_PREFIX) and module is not None:
                for key, value in namespace.items():
                    module.__dict__.setdefault(key, value)
    return [cls for cls, _ in deferred]
