"""Hooks of scripts/schemathesis.sh.

A valid `Idempotency-Key` is made unique per request. Generated keys repeat, and the service
rightly answers a repeated key with the first answer again (or 422 when the request differs):
a replayed creation names a resource that may have been deleted since, which the stateful checks
would take for a resource that vanished. What replays do is tested by the service's own tests
(campaign-svc/tests/api/conventions.rs); invalid keys are left as generated, to be refused.
"""

import re
import uuid

import schemathesis

VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


@schemathesis.hook
def before_call(context, case, kwargs):
    headers = case.headers
    if not headers:
        return
    for name in list(headers):
        if name.lower() == "idempotency-key":
            value = headers[name]
            if isinstance(value, str) and VALID_KEY.match(value):
                headers[name] = str(uuid.uuid4())
