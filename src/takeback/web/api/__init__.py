"""HTTP routes, one module per area: HMA's ``/h`` (hashing), ``/m`` (matching), ``/c`` (curation),
and takeback's own ``/v1``. Each route is thin: parse, check the caller, call a domain service."""
