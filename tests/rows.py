"""Rows as objects, for the tests that build data with an ORM session (`session.add(User(...))`).

The application has no ORM (common/db/models.py holds Core tables, so that no function imports
`sqlalchemy.orm` at cold start); these classes map each table as it is, one class per table,
named like the table, so such tests keep writing rows as objects.
"""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from common.db import models


class Row(DeclarativeBase):
    metadata = models.metadata


class AuthCode(Row):
    __table__ = models.AuthCode


class AuthIdentity(Row):
    __table__ = models.AuthIdentity


class AuthSession(Row):
    __table__ = models.AuthSession


class Contact(Row):
    __table__ = models.Contact


class ContactAddress(Row):
    __table__ = models.ContactAddress


class ContactEmail(Row):
    __table__ = models.ContactEmail


class ContactNumber(Row):
    __table__ = models.ContactNumber


class ContactTag(Row):
    __table__ = models.ContactTag


class Device(Row):
    __table__ = models.Device


class FeedEntry(Row):
    __table__ = models.FeedEntry


class IdempotencyKey(Row):
    __table__ = models.IdempotencyKey


class LoginThrottle(Row):
    __table__ = models.LoginThrottle


class Memo(Row):
    __table__ = models.Memo


class MemoTag(Row):
    __table__ = models.MemoTag


class OutboxMail(Row):
    __table__ = models.OutboxMail


class PushDelivery(Row):
    __table__ = models.PushDelivery


class RefreshToken(Row):
    __table__ = models.RefreshToken


class SharedContact(Row):
    __table__ = models.SharedContact


class SharedMemo(Row):
    __table__ = models.SharedMemo


class SharedTodo(Row):
    __table__ = models.SharedTodo


class ShareEvent(Row):
    __table__ = models.ShareEvent


class Tag(Row):
    __table__ = models.Tag


class Todo(Row):
    __table__ = models.Todo


class TodoRecurrence(Row):
    __table__ = models.TodoRecurrence


class TodoReminder(Row):
    __table__ = models.TodoReminder


class TodoTag(Row):
    __table__ = models.TodoTag


class User(Row):
    __table__ = models.User
