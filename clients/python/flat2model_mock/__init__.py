"""Test helpers for flat2model-mock, the offline fake of the PiktID v2
flat-lay-on-model API: start or reach a fake, take a tenant of one's own,
choose scenarios, move the clock, assert on the request journal.

The pytest plugin (:mod:`flat2model_mock.plugin`) is registered on install;
:class:`Fake` and :class:`Tenant` work without pytest too.
"""

from .fake import Clock, Fake, Journal, Tenant, caller_of, start

__all__ = ["Clock", "Fake", "Journal", "Tenant", "caller_of", "start"]
