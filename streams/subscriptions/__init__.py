"""Subscriptions: a party's filters on deviations, verdicts and trains, delivered as signed
webhooks (the delivery worker) and resumable streams (``iotrack api``)."""
