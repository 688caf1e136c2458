"""Searchers: one module per library, a registry that maps names to factories.

Adapters import their library only when built; a missing one is named with the extra to install.
"""

from raytune_hpo.searchers._basic import planned_trials
from raytune_hpo.searchers._common import SearcherRequest
from raytune_hpo.searchers._registry import REGISTRY, SEARCHERS, SearcherInfo, get_searcher

__all__ = ["REGISTRY", "SEARCHERS", "SearcherInfo", "SearcherRequest", "get_searcher", "planned_trials"]
