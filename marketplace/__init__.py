"""Fairtask project package and the requester side of the marketplace."""

from marketplace.celery import app as celery_app

__all__ = ("celery_app",)
