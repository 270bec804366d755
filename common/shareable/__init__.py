"""Shareable resources: todos, memos and contacts, and everything that makes them shareable.

Each of them has an owner, shares to other users (read or write, optional expiry; todo
shares reach sub-todos) and tag links. What they have in common is written once here:

- `routes.py`: HTTP. The handlers every shareable resource's function registers (list,
  create, get, patch, delete, tag links, shares); a function's `main.py` lists its routes.
- `access.py`: SQL. Who may see and change an item (owner, or a live share), decided in the
  statement that reads or writes it; `View` (how a resource is represented) and the two reads
  of visible items: one item, and one page of a list.
- `writes.py`: SQL. Create, update and soft-delete an item in one statement each, the caller's
  access and `If-Match` in the write's own WHERE.
- `links.py`: SQL. The owner's shares and tag links of an item.
- `todos.py`, `memos.py`, `contacts.py`: SQL. What is each resource's own (the representation,
  recurrence and sub-todos, the secret-memo rule, a contact's lists).
"""
