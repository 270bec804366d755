"""Pydantic request/response shapes: the API's types, named by role (TodoCreate, TodoOut...)."""

from common.schemas.base import Access, FieldErrorOut, Health, Problem, Schema, Str, Timestamp

__all__ = ["Access", "FieldErrorOut", "Health", "Problem", "Schema", "Str", "Timestamp"]
