"""Hooks of scripts/schemathesis.sh.

A valid `Idempotency-Key` is made unique per request. Generated keys repeat, and the service
rightly answers a repeated key with the first answer again (or 422 when the request differs):
a replayed creation names a resource that may have been deleted since, which the stateful checks
would take for a resource that vanished. What replays do is tested by the service's own tests
(campaign-svc/tests/api/conventions.rs); negative cases are sent as generated.
"""

import re
import uuid

import schemathesis

VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


@schemathesis.hook
def before_call(context, case, kwargs):
    headers = case.headers
    # A negative case (a header left out, a value broken on purpose) is sent as generated.
    if not headers or (case.meta is not None and case.meta.generation.mode.is_negative):
        return
    for name in list(headers):
        if name.lower() == "idempotency-key":
            value = headers[name]
            if isinstance(value, str) and VALID_KEY.match(value):
                headers[name] = str(uuid.uuid4())
