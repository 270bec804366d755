"""Pydantic request/response shapes: the API's types, named by role (TodoCreate, TodoOut...)."""

from common.schemas.base import FieldErrorOut, Health, Problem, Schema, Str

__all__ = ["FieldErrorOut", "Health", "Problem", "Schema", "Str"]
