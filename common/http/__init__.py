"""From a functions-framework request to a route's handler and back.

A function's `main.py` builds one `Api`, lists its routes (`api.add(...)` or the
`@api.route(...)` decorator) and hands every request to `Api.handle`. The parts:

- `pipeline.py`: `Api`: registration, the built-in /health and /openapi.json, and what every
  request goes through: request id and trace, routing (404/405), authentication, inputs, one
  database transaction (committed once, retried on serialization failures), the response and
  the request log line.
- `inputs.py`: `Ctx` (what a handler knows of its request), the JSON body
  (400/413/415), query and body validation (422), `If-Match`, the request id and trace.
- `responses.py`: `Reply`, `etag`, and turning a handler's result into a response.
- `problems.py`: the one place that turns errors into RFC 9457 problems (503 with
  Retry-After when the database is unavailable, 500 with only the request id otherwise).
- `idempotency.py`: `Idempotency-Key` on creating POSTs.

A handler receives a `Ctx` and its validated inputs as keyword arguments, and returns its
response schema's fields (a model or a dict, 200 or the route's status), a `Reply` (another
status, headers), or None (204). It raises `common.errors` types for everything else.
"""

from common.http.inputs import Ctx
from common.http.pipeline import Api, Route
from common.http.responses import Reply, etag

__all__ = ["Api", "Ctx", "Reply", "Route", "etag"]
