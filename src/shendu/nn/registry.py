"""The registries of ``shendu.nn``: activations, weight initialisers and regularisers.

Kept in their own module so that the family modules (``activations``,
``initializers``) can import them without an import cycle through the
package ``__init__``.
"""

from __future__ import annotations

from shendu.registry import Registry

ACTIVATIONS = Registry("activation", "activations")
INITIALIZERS = Registry("initializer", "initializers")
REGULARIZERS = Registry("regularizer", "regularizers")

__all__ = ["ACTIVATIONS", "INITIALIZERS", "REGULARIZERS"]
