"""Schemathesis hooks for `make e2e` (loaded through SCHEMATHESIS_HOOKS).

Stateful testing needs OpenAPI links from /request's 200 to /check and /cancel: the request_id they
take lives in the request body, so each link needs a `requestBody` object with a runtime expression.
The contract cannot carry those links: OpenAPI Generator's parser (swagger-parser) accepts only a
string `requestBody` in a Link Object and refuses the whole document, although OpenAPI 3.0 allows any
value there. So the links are added here, for the fuzzer alone; Schemathesis merges the linked field
into the bodies it generates, so `code` is still fuzzed.
"""

import schemathesis

LINKS = {
    "CheckVerification": {
        "operationId": "checkVerification",
        "description": "Check the verification that was started.",
        "requestBody": {"request_id": "$response.body#/request_id"},
    },
    "CancelVerification": {
        "operationId": "cancelVerification",
        "description": "Cancel the verification that was started.",
        "requestBody": {"request_id": "$response.body#/request_id"},
    },
}


@schemathesis.hook
def before_load_schema(context, raw_schema):
    started = raw_schema["paths"]["/request"]["post"]["responses"]["200"]
    started.setdefault("links", {}).update(LINKS)
