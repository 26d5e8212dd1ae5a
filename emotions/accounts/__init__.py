"""API tokens and throttled logins: who a request comes from, for every domain."""
