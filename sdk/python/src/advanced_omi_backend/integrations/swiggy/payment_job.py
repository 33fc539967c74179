"""`advanced_omi_backend.integrations.swiggy.payment_job`: the original's background job that
watched an Instamart UPI payment. This host has no Swiggy integration and no job queue."""

from typing import Any

from . import _unavailable


def enqueue_instamart_payment_monitor(*args: Any, **kwargs: Any) -> str:
    """Would queue the payment monitor and return its job id; raises NotImplementedError."""
    raise _unavailable("enqueue_instamart_payment_monitor (the payment monitor job)")


__all__ = ["enqueue_instamart_payment_monitor"]
